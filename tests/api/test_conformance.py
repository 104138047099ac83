"""Every route of the live node, with valid and invalid input, checked against
docs/api.yaml; proved answers are also checked the way a light client would."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from ledger import codec, merkle
from ledger.crypto import SigningKey
from ledger.smt_proof import SparseMerkleProof, verify_proof
from ledger.types import BlockHeader, Commit, Receipt, SignedTransaction
from tests.api.conftest import Contract, Dropped, LiveNode, Reply, invoice_args

MSGPACK = "application/msgpack"
TX = "/v1/txs/{tx_id}"
MAX_HEIGHT = str(2**63 - 1)


def checked(contract: Contract, method: str, template: str, reply: Reply, status: int) -> Any:
    assert reply.status == status, (method, template, reply.status, reply.body[:500])
    return contract.check(method, template, reply)


def error_code(contract: Contract, method: str, template: str, reply: Reply) -> str:
    assert reply.status >= 400, (reply.status, reply.body[:300])
    document = contract.check(method, template, reply)
    code: str = document["code"]
    return code


@pytest.fixture(scope="module")
def committed(node: LiveNode, contract: Contract) -> dict[str, Any]:
    """A register transaction posted with ?wait=commit: the committed TxStatus."""
    signed = node.register_tx()
    reply = node.api.post_json("/v1/txs", {"tx": signed.encode().hex()},
                               query={"wait": "commit", "timeout": 20}, timeout=30)
    document: dict[str, Any] = checked(contract, "POST", "/v1/txs", reply, 200)
    assert document["id"] == signed.tx_id.hex() and document["code"] == "OK", document
    return document


def assert_header_is_its_raw(header: dict[str, Any]) -> BlockHeader:
    decoded = BlockHeader.decode(bytes.fromhex(header["raw"]))
    assert decoded.hash.hex() == header["hash"]
    assert (decoded.height, decoded.state_root.hex()) == (header["height"], header["state_root"])
    return decoded


def assert_proved(answer: dict[str, Any]) -> None:
    """Every value of a `prove=1` answer verifies against the certified header."""
    header = assert_header_is_its_raw(answer["header"])
    commit = Commit.decode(bytes.fromhex(answer["commit"]["raw"]))
    assert commit.height == header.height == answer["height"]
    assert commit.block_hash == header.hash
    for value in answer["values"].values():
        proof = SparseMerkleProof.decode(bytes.fromhex(value["proof"]["raw"]))
        raw = None if value["value"] is None else bytes.fromhex(value["value"])
        verify_proof(header.state_root, bytes.fromhex(value["key"]), raw, proof)


# -- chain --------------------------------------------------------------------------


def test_status(node: LiveNode, contract: Contract) -> None:
    status = checked(contract, "GET", "/v1/status", node.api.get("/v1/status"), 200)
    assert status["chain_id"] == node.chain_id and status["validator"] is True
    assert status["height"] >= 1 and status["sync"]["state"] == "caught_up"
    assert [v["member_id"] for v in status["validators"]] == ["CORE-01"]


def test_blocks_and_commits(node: LiveNode, contract: Contract) -> None:
    latest = checked(contract, "GET", "/v1/blocks/latest", node.api.get("/v1/blocks/latest"), 200)
    height = latest["header"]["height"]
    assert_header_is_its_raw(latest["header"])
    first = checked(contract, "GET", "/v1/blocks/{height}", node.api.get("/v1/blocks/1"), 200)
    assert first["header"]["height"] == 1 and first["last_commit"] is None
    second = checked(contract, "GET", "/v1/blocks/{height}", node.api.get("/v1/blocks/2"), 200) \
        if height >= 2 else None
    commit = checked(contract, "GET", "/v1/commits/{height}", node.api.get("/v1/commits/1"), 200)
    assert commit["block_hash"] == first["header"]["hash"]
    if second is not None:
        assert second["last_commit"]["block_hash"] == first["header"]["hash"]


def test_raw_entry_is_the_canonical_stored_triple(node: LiveNode, contract: Contract) -> None:
    reply = node.api.get("/v1/blocks/1/raw")
    checked(contract, "GET", "/v1/blocks/{height}/raw", reply, 200)
    block, commit, receipts = codec.decode(reply.body, max_size=len(reply.body))
    assert codec.encode([block, commit, receipts]) == reply.body
    header = checked(contract, "GET", "/v1/blocks/{height}", node.api.get("/v1/blocks/1"), 200)
    assert Commit.decode(commit).block_hash.hex() == header["header"]["hash"]


@pytest.mark.parametrize("template", ["/v1/blocks/{height}", "/v1/blocks/{height}/raw",
                                      "/v1/commits/{height}"])
@pytest.mark.parametrize(("height", "status", "code"), [
    ("0", 400, "BAD_REQUEST"), ("abc", 400, "BAD_REQUEST"), ("-1", 400, "BAD_REQUEST"),
    ("1.5", 400, "BAD_REQUEST"), ("99999999999999999999", 400, "BAD_REQUEST"),
    (MAX_HEIGHT, 404, "BLOCK_NOT_FOUND"), ("100000000", 404, "BLOCK_NOT_FOUND"),
])
def test_heights_that_are_not_blocks(node: LiveNode, contract: Contract, template: str,
                                     height: str, status: int, code: str) -> None:
    reply = node.api.get(template.replace("{height}", height))
    assert reply.status == status
    assert error_code(contract, "GET", template, reply) == code


# -- state --------------------------------------------------------------------------


def test_state_with_and_without_proof(node: LiveNode, contract: Contract) -> None:
    key = b"sys/member/SUPPLIER-01".hex()
    plain = checked(contract, "GET", "/v1/state/{key}", node.api.get(f"/v1/state/{key}"), 200)
    assert plain["values"]["key"]["key"] == key and "header" not in plain
    reply = node.api.get(f"/v1/state/{key}", query={"prove": "1", "height": 1})
    proved = checked(contract, "GET", "/v1/state/{key}", reply, 200)
    assert proved["height"] == 1 and proved["values"]["key"]["value"] is not None
    assert_proved(proved)
    absent = node.api.get(f"/v1/state/{os.urandom(20).hex()}", query={"prove": "true"})
    answer = checked(contract, "GET", "/v1/state/{key}", absent, 200)
    assert answer["values"]["key"]["value"] is None
    assert_proved(answer)


@pytest.mark.parametrize(("key", "query", "status", "code"), [
    ("0", {}, 400, "BAD_REQUEST"), ("zz", {}, 400, "BAD_REQUEST"),
    ("00" * 1025, {}, 400, "BAD_REQUEST"),
    ("00", {"prove": "yes"}, 400, "BAD_REQUEST"),
    ("00", {"prove": "1", "height": "0"}, 400, "BAD_REQUEST"),
    ("00", {"height": "-1"}, 400, "BAD_REQUEST"),
    ("00", {"height": MAX_HEIGHT}, 404, "BLOCK_NOT_FOUND"),
])
def test_state_refusals(node: LiveNode, contract: Contract, key: str, query: dict[str, str],
                        status: int, code: str) -> None:
    reply = node.api.get(f"/v1/state/{key}", query=query)
    assert reply.status == status
    assert error_code(contract, "GET", "/v1/state/{key}", reply) == code


def test_accounts(node: LiveNode, contract: Contract) -> None:
    supplier = node.key("SUPPLIER-01").public_key.hex()
    template = "/v1/accounts/{public_key}"
    account = checked(contract, "GET", template, node.api.get(f"/v1/accounts/{supplier}"), 200)
    assert account["member_id"] == "SUPPLIER-01"
    assert account["pending_next_nonce"] >= account["next_nonce"]
    stranger = SigningKey(os.urandom(32)).public_key.hex().upper()
    account = checked(contract, "GET", template, node.api.get(f"/v1/accounts/{stranger}"), 200)
    assert account == {"public_key": stranger.lower(), "member_id": None, "next_nonce": 0,
                       "pending_next_nonce": 0}
    for bad in ("00", "zz" * 32, "00" * 33):
        reply = node.api.get(f"/v1/accounts/{bad}")
        assert error_code(contract, "GET", template, reply) == "BAD_REQUEST"


def test_members(node: LiveNode, contract: Contract) -> None:
    template = "/v1/members/{member_id}"
    answer = checked(contract, "GET", template, node.api.get("/v1/members/SUPPLIER-01"), 200)
    assert answer["member"]["roles"] == ["supplier"] and answer["member"]["frozen"] is False
    assert answer["member"]["keys"] == [node.key("SUPPLIER-01").public_key.hex()]
    reply = node.api.get("/v1/members/BANK-A", query={"prove": "1"})
    assert_proved(checked(contract, "GET", template, reply, 200))
    for path, query, status, code in [
        ("/v1/members/NOBODY-99", {}, 404, "MEMBER_NOT_FOUND"),
        ("/v1/members/not%20an%20id", {}, 404, "MEMBER_NOT_FOUND"),
        ("/v1/members/BANK-A", {"height": MAX_HEIGHT}, 404, "BLOCK_NOT_FOUND"),
        ("/v1/members/BANK-A", {"prove": "1", "height": "0"}, 400, "BAD_REQUEST"),
    ]:
        reply = node.api.get(path, query=query)
        assert (reply.status, error_code(contract, "GET", template, reply)) == (status, code)


def test_invoice_answers_with_provenance_and_proofs(node: LiveNode, contract: Contract,
                                                    committed: dict[str, Any]) -> None:
    events = committed["receipt"]["events"]
    fingerprint = next(e["attributes"]["map"]["fingerprint"]["str"] for e in events
                       if e["kind"] == "invoice.registered")
    template = "/v1/invoices/{fingerprint}"
    answer = checked(contract, "GET", template, node.api.get(f"/v1/invoices/{fingerprint}"), 200)
    assert answer["invoice"]["status"] == "registered" and answer["lien"] is None
    assert answer["invoice"]["registered_tx"] == committed["id"]
    assert [entry["action"] for entry in answer["provenance"]] == ["register"]
    assert set(answer["values"]) == {"invoice", "lien", "provenance_count", "provenance/0"}
    reply = node.api.get(f"/v1/invoices/{fingerprint.upper()}", query={"prove": ""})
    proved = checked(contract, "GET", template, reply, 200)
    assert_proved(proved)
    before = node.api.get(f"/v1/invoices/{fingerprint}",
                          query={"height": committed["height"] - 1})
    assert error_code(contract, "GET", template, before) == "INVOICE_NOT_FOUND"
    for bad, code in [("00" * 32, "INVOICE_NOT_FOUND"), ("00", "BAD_REQUEST"),
                      ("g" * 64, "BAD_REQUEST")]:
        reply = node.api.get(f"/v1/invoices/{bad}")
        assert error_code(contract, "GET", template, reply) == code


# -- transactions -------------------------------------------------------------------


def test_committed_transaction_carries_verifiable_proofs(node: LiveNode, contract: Contract,
                                                         committed: dict[str, Any]) -> None:
    answer = checked(contract, "GET", TX, node.api.get(f"/v1/txs/{committed['id']}"), 200)
    assert answer == committed
    header = assert_header_is_its_raw(answer["header"])
    tx = SignedTransaction.decode(bytes.fromhex(answer["tx"]["raw"]))
    receipt = Receipt.decode(bytes.fromhex(answer["receipt"]["raw"]))
    assert tx.tx_id.hex() == answer["id"] == receipt.tx_id.hex()
    for leaf, proof, root in [(tx.encode(), answer["tx_proof"], header.txs_root),
                              (receipt.encode(), answer["receipt_proof"], header.receipts_root)]:
        path = tuple(bytes.fromhex(step) for step in proof["path"])
        merkle.verify_inclusion(leaf, merkle.InclusionProof(proof["index"], proof["tree_size"],
                                                            path), root)


def test_submit_as_msgpack_json_hex_and_base64(node: LiveNode, contract: Contract) -> None:
    key = node.key("SUPPLIER-01")
    nonce = node.next_nonce(key)
    bodies = [(node.register_tx(nonce=nonce).encode(), MSGPACK),
              (node.register_tx(nonce=nonce + 1).encode(), "application/x-msgpack")]
    for raw, content_type in bodies:
        reply = node.api.post("/v1/txs", raw, content_type)
        assert checked(contract, "POST", "/v1/txs", reply, 202)["status"] == "pending"
    signed = node.register_tx(nonce=nonce + 2)
    encoded = base64.b64encode(signed.encode()).decode()
    reply = node.api.post_json("/v1/txs", {"tx_base64": encoded})
    answer = checked(contract, "POST", "/v1/txs", reply, 202)
    assert answer["id"] == signed.tx_id.hex()
    pending = checked(contract, "GET", TX, node.api.get(f"/v1/txs/{answer['id']}"), 200)
    assert pending["status"] in ("pending", "committed")
    waited = node.api.get(f"/v1/txs/{answer['id']}", query={"wait": "commit", "timeout": 20},
                          timeout=30)
    assert checked(contract, "GET", TX, waited, 200)["status"] == "committed"


def test_admission_refusals(node: LiveNode, contract: Contract) -> None:
    key = node.key("SUPPLIER-01")
    nonce = node.next_nonce(key)
    stranger = SigningKey(os.urandom(32))
    good = node.register_tx(nonce=nonce)
    forged = SignedTransaction(good.tx, bytes(64))
    from ledger.types import Transaction

    foreign = Transaction(node.chain_id, stranger.public_key, 0, "invoices", "register",
                          invoice_args("STRANGER-1")).sign(stranger)
    cases = [
        (node.register_tx(nonce=nonce, chain_id="another-chain"), 400, "WRONG_CHAIN_ID"),
        (forged, 400, "INVALID_SIGNATURE"),
        (foreign, 403, "UNKNOWN_SENDER"),
        (node.register_tx(nonce=nonce + 10_000), 409, "NONCE_TOO_FAR"),
        (node.register_tx(nonce=nonce, expiry_height=1), 409, "TX_EXPIRED"),
    ]
    if nonce > 0:
        cases.append((node.register_tx(nonce=nonce - 1), 409, "BAD_NONCE"))
    for signed, status, code in cases:
        reply = node.api.post("/v1/txs", signed.encode(), MSGPACK)
        assert (reply.status, error_code(contract, "POST", "/v1/txs", reply)) == (status, code)


def test_transaction_lookups_that_fail(node: LiveNode, contract: Contract) -> None:
    unknown = os.urandom(32).hex()
    for path, query, status, code in [
        (f"/v1/txs/{unknown}", {}, 404, "TX_NOT_FOUND"),
        ("/v1/txs/abcd", {}, 400, "BAD_REQUEST"),
        (f"/v1/txs/{unknown}", {"wait": "forever"}, 400, "BAD_REQUEST"),
        (f"/v1/txs/{unknown}", {"wait": "commit", "timeout": "0"}, 400, "BAD_REQUEST"),
        (f"/v1/txs/{unknown}", {"wait": "commit", "timeout": "61"}, 400, "BAD_REQUEST"),
        (f"/v1/txs/{unknown}", {"wait": "commit", "timeout": "1"}, 404, "TX_NOT_FOUND"),
    ]:
        reply = node.api.get(path, query=query)
        assert (reply.status, error_code(contract, "GET", TX, reply)) == (status, code)


def test_a_dropped_transaction_reads_as_failed(dropped: Dropped, contract: Contract) -> None:
    """Dropped before commit (expired behind a nonce gap): GET answers `failed` with the
    code, and posting it again is refused with that code."""
    api = dropped.node.api
    answer = checked(contract, "GET", TX, api.get(f"/v1/txs/{dropped.tx.tx_id.hex()}"), 200)
    assert answer == {"id": dropped.tx.tx_id.hex(), "status": "failed", "code": "TX_EXPIRED",
                      "message": answer["message"]}
    again = api.post("/v1/txs", dropped.tx.encode(), MSGPACK)
    assert (again.status, error_code(contract, "POST", "/v1/txs", again)) == (409, "TX_EXPIRED")


def test_batch(node: LiveNode, contract: Contract) -> None:
    key = node.key("SUPPLIER-01")
    nonce = node.next_nonce(key)
    first, second = node.register_tx(nonce=nonce), node.register_tx(nonce=nonce + 1)
    stale = node.register_tx(nonce=nonce, chain_id="another-chain")
    reply = node.api.post_json("/v1/txs/batch", {"txs": [first.encode().hex(),
                                                         stale.encode().hex()]})
    answer = checked(contract, "POST", "/v1/txs/batch", reply, 202)
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert answer["results"][0] == {"status": 202, "id": first.tx_id.hex(), "state": "pending"}
    assert answer["results"][1]["code"] == "WRONG_CHAIN_ID"
    body = codec.encode([second.encode(), first.encode()])
    answer = checked(contract, "POST", "/v1/txs/batch",
                     node.api.post("/v1/txs/batch", body, MSGPACK), 202)
    assert [r["id"] for r in answer["results"]] == [second.tx_id.hex(), first.tx_id.hex()]


# -- events, metrics, the peer channel ----------------------------------------------


def test_subject_events_page_through_history(node: LiveNode, contract: Contract,
                                             committed: dict[str, Any]) -> None:
    template = "/v1/subjects/{subject}/events"
    path = "/v1/subjects/member:SUPPLIER-01/events"
    page = checked(contract, "GET", template, node.api.get(path, query={"limit": 1}), 200)
    assert len(page["events"]) == 1 and page["next"] == page["events"][0]["cursor"]
    following = checked(contract, "GET", template,
                        node.api.get(path, query={"limit": 100, "after": page["next"]}), 200)
    cursors = [page["next"]] + [event["cursor"] for event in following["events"]]
    assert len(set(cursors)) == len(cursors)
    assert committed["id"] in {event["tx_id"] for event in following["events"]} | {
        page["events"][0]["tx_id"]}
    empty = checked(contract, "GET", template,
                    node.api.get("/v1/subjects/member:NOBODY/events"), 200)
    assert empty == {"subject": "member:NOBODY", "events": [], "next": None}
    for query in ({"limit": "0"}, {"limit": "101"}, {"after": "1.2"}, {"after": "a.b.c"}):
        reply = node.api.get(path, query=query)
        assert error_code(contract, "GET", template, reply) == "BAD_REQUEST"


def test_metrics(node: LiveNode, contract: Contract) -> None:
    reply = node.api.get("/metrics")
    checked(contract, "GET", "/metrics", reply, 200)
    assert b"\nscf_height " in b"\n" + reply.body


def test_peer_channel_refuses_plain_http(node: LiveNode, contract: Contract) -> None:
    reply = node.api.get("/v1/peer")
    assert error_code(contract, "GET", "/v1/peer", reply) == "BAD_REQUEST"


def test_peer_channel_upgrades_and_says_hello(node: LiveNode) -> None:
    """A websocket on /v1/peer gets the node's HELLO frame: [1, {chain_id, genesis, ...}]."""
    import asyncio

    import aiohttp

    async def first_frame() -> Any:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.ws_connect(f"{node.url}/v1/peer") as ws:
                message = await ws.receive(timeout=10)
                assert message.type == aiohttp.WSMsgType.BINARY, message
                return codec.decode(message.data, max_size=len(message.data))

    kind, body = asyncio.run(first_frame())
    assert kind == 1 and body["chain_id"] == node.chain_id
