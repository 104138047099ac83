"""The node's limits and refusals as a client meets them: body size, batch size,
malformed bodies, unknown routes and methods, and idempotent submission."""

from __future__ import annotations

import pytest

from ledger import codec
from node.api.app import ROUTES
from tests.api.conftest import Contract, LiveNode, assert_error_body

MSGPACK = "application/msgpack"


@pytest.mark.parametrize("path", ["/v1/txs", "/v1/txs/batch"])
@pytest.mark.parametrize("content_type", [MSGPACK, "application/json"])
def test_a_body_above_the_limit_is_413(node: LiveNode, contract: Contract, path: str,
                                       content_type: str) -> None:
    body = b"\x00" * (node.api_config["max_body_bytes"] + 1)
    reply = node.api.post(path, body, content_type)
    assert reply.status == 413
    assert contract.check("POST", path, reply)["code"] == "BODY_TOO_LARGE"


def test_a_batch_above_the_limit_is_400(node: LiveNode, contract: Contract) -> None:
    count = node.api_config["max_batch"] + 1
    signed = [node.register_tx(nonce=nonce).encode() for nonce in range(count)]
    for reply in (node.api.post("/v1/txs/batch", codec.encode(signed), MSGPACK),
                  node.api.post_json("/v1/txs/batch", {"txs": [raw.hex() for raw in signed]})):
        assert reply.status == 400
        document = contract.check("POST", "/v1/txs/batch", reply)
        assert document["code"] == "BAD_REQUEST" and str(count) in document["message"]


@pytest.mark.parametrize(("path", "body", "content_type", "status", "code"), [
    ("/v1/txs", b"", MSGPACK, 400, "CODEC_TRUNCATED"),
    ("/v1/txs", b"\xc1", MSGPACK, 400, "CODEC_MALFORMED"),
    ("/v1/txs", b"\x92\x01", MSGPACK, 400, "CODEC_TRUNCATED"),
    ("/v1/txs", b"\xcb" + bytes(8), MSGPACK, 400, "CODEC_FLOAT_NOT_ALLOWED"),
    ("/v1/txs", b"\xd0\x01", MSGPACK, 400, "CODEC_NON_CANONICAL"),
    ("/v1/txs", b"\x90\x00", MSGPACK, 400, "CODEC_TRAILING_BYTES"),
    ("/v1/txs", b"\x90", MSGPACK, 400, "SCHEMA_MISMATCH"),
    ("/v1/txs", b"{", "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b"\xff", "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b"[]", "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b"[" * 100_000, "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b'{"tx": 7}', "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b'{"tx": "xyz"}', "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b'{"tx_base64": "%%"}', "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b'{"other": 1}', "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs", b"\x90", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("/v1/txs", b"\x90", "application/octet-stream", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("/v1/txs/batch", b"\xc1", MSGPACK, 400, "CODEC_MALFORMED"),
    ("/v1/txs/batch", b"\x91\x01", MSGPACK, 400, "BAD_REQUEST"),
    ("/v1/txs/batch", b"\x81\xa1a\x01", MSGPACK, 400, "BAD_REQUEST"),
    ("/v1/txs/batch", b'{"txs": "no"}', "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs/batch", b'{"txs": [1]}', "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs/batch", b'{"txs": ["zz"]}', "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs/batch", b"[]", "application/json", 400, "BAD_REQUEST"),
    ("/v1/txs/batch", b"\x90", "text/csv", 415, "UNSUPPORTED_MEDIA_TYPE"),
])
def test_malformed_bodies_get_a_stable_code(node: LiveNode, contract: Contract, path: str,
                                            body: bytes, content_type: str, status: int,
                                            code: str) -> None:
    reply = node.api.post(path, body, content_type)
    assert reply.status == status, reply.body
    assert contract.check("POST", path, reply)["code"] == code


def test_a_body_without_content_type_is_415(node: LiveNode, contract: Contract) -> None:
    raw = node.register_tx().encode()
    reply = node.api.request("POST", "/v1/txs", body=raw)
    assert reply.status == 415
    assert contract.check("POST", "/v1/txs", reply)["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/nothing", "/v1/blocks", "/v1/state/",
                                  "/v1/blocks/1/raw/more", "/v2/status", "/metrics/x"])
def test_an_unknown_route_is_404_not_found(node: LiveNode, path: str) -> None:
    for method in ("GET", "POST"):
        reply = node.api.request(method, path)
        assert reply.status == 404
        assert assert_error_body(reply)["code"] == "NOT_FOUND"


SERVED = {(verb, path) for verb, path, _ in ROUTES}
#: Every route with the methods it does not take; GET /v1/txs/batch is left out, being
#: GET /v1/txs/{tx_id} with the id "batch".
WRONG_METHODS = sorted({(method, path) for _, path in SERVED
                        for method in ("GET", "POST", "PUT", "DELETE", "PATCH")
                        if (method, path) not in SERVED} - {("GET", "/v1/txs/batch")}
                       | {("POST", "/metrics"), ("PUT", "/v1/peer")})


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_a_wrong_method_is_405_method_not_allowed(node: LiveNode, method: str,
                                                  path: str) -> None:
    concrete = path.replace("{height}", "1").replace("{member_id}", "BANK-A")
    for name in ("{tx_id}", "{public_key}", "{fingerprint}", "{key}"):
        concrete = concrete.replace(name, "00" * 32)
    concrete = concrete.replace("{subject}", "member:BANK-A")
    reply = node.api.request(method, concrete, body=b"{}",
                             headers={"Content-Type": "application/json"})
    assert reply.status == 405, (method, concrete, reply.status)
    assert assert_error_body(reply)["code"] == "METHOD_NOT_ALLOWED"


def test_posting_the_same_transaction_twice_keeps_one_copy(node: LiveNode,
                                                           contract: Contract) -> None:
    key = node.key("SUPPLIER-01")
    nonce = node.next_nonce(key)
    signed = node.register_tx(nonce=nonce)
    raw = signed.encode()
    first = contract.check("POST", "/v1/txs", node.api.post("/v1/txs", raw, MSGPACK))
    again = contract.check("POST", "/v1/txs",
                           node.api.post_json("/v1/txs", {"tx": raw.hex()}))
    assert first["id"] == again["id"] == signed.tx_id.hex()
    batch = node.api.post("/v1/txs/batch", codec.encode([raw, raw]), MSGPACK)
    answer = contract.check("POST", "/v1/txs/batch", batch)
    assert {result["id"] for result in answer["results"]} == {signed.tx_id.hex()}
    committed = node.api.post("/v1/txs", raw, MSGPACK, query={"wait": "commit", "timeout": 20},
                              timeout=30)
    status = contract.check("POST", "/v1/txs", committed)
    assert status["status"] == "committed"
    block = node.api.get(f"/v1/blocks/{status['height']}").json()
    assert [tx["id"] for tx in block["txs"]].count(signed.tx_id.hex()) == 1
    account = node.api.get(f"/v1/accounts/{key.public_key.hex()}").json()
    assert account["next_nonce"] >= nonce + 1
    after = contract.check("POST", "/v1/txs", node.api.post("/v1/txs", raw, MSGPACK))
    assert (after["id"], after["status"], after["height"]) == (
        signed.tx_id.hex(), "committed", status["height"])
