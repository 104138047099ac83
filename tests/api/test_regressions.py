"""Regression tests of the node bugs the API contract tests found (all fixed).

Each test states the correct behaviour; the reason string above it says what
the node used to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from ledger import codec
from tests.api.conftest import Contract, Dropped, EventStream, LiveNode, assert_error_body

MSGPACK = "application/msgpack"
F = TypeVar("F", bound=Callable[..., Any])


def regression(was: str) -> Callable[[F], F]:
    """Documents what the node used to do; the test checks what it does now."""
    def mark(test: F) -> F:
        return test
    return mark


@regression("int parameters use str.isdigit(), which is true for non-ASCII digits: "
     "'²' reaches int() and fails (500), '١' is read as 1 (200)")
@pytest.mark.parametrize("path", [
    "/v1/blocks/%C2%B2", "/v1/commits/%C2%B2", "/v1/blocks/%D9%A1",
    "/v1/state/00?height=%C2%B2", "/v1/txs/" + "00" * 32 + "?wait=commit&timeout=%C2%B2",
    "/v1/subjects/member:BANK-A/events?limit=%C2%B2",
    "/v1/subjects/member:BANK-A/events?after=%C2%B2.0.0",
])
def test_non_ascii_digits_are_not_numbers(node: LiveNode, path: str) -> None:
    reply = node.api.get(path)
    assert (reply.status, assert_error_body(reply)["code"]) == (400, "BAD_REQUEST")


@regression("hex parameters use bytes.fromhex, which skips ASCII whitespace: "
     "'/v1/state/%2000' answers for key 00")
@pytest.mark.parametrize("path", ["/v1/state/%2000", "/v1/state/00%0A",
                                  "/v1/accounts/" + "00" * 31 + "%2000"])
def test_hex_with_whitespace_is_refused(node: LiveNode, path: str) -> None:
    reply = node.api.get(path)
    assert (reply.status, assert_error_body(reply)["code"]) == (400, "BAD_REQUEST")


@regression("an `after` cursor whose tx or event index is >= 2**32 overflows u32() "
     "in the store key: 500 INTERNAL_ERROR")
@pytest.mark.parametrize("after", ["1.4294967296.0", "1.0.4294967296"])
def test_a_cursor_beyond_the_index_range_is_refused(node: LiveNode, after: str) -> None:
    reply = node.api.get("/v1/subjects/member:BANK-A/events", query={"after": after})
    assert reply.status in (200, 400), reply.body
    if reply.status == 400:
        assert assert_error_body(reply)["code"] == "BAD_REQUEST"


@regression("a subject above 256 bytes is refused with the transaction code INVALID_ARGUMENT "
     "(ChainStore.events_for), not BAD_REQUEST like every other bad parameter")
def test_a_subject_too_long_is_a_bad_request(node: LiveNode) -> None:
    reply = node.api.get(f"/v1/subjects/{'s' * 257}/events")
    assert (reply.status, assert_error_body(reply)["code"]) == (400, "BAD_REQUEST")


@regression("a batch with no accepted transaction answers 400 with the results body, so a "
     "non-2xx body is not {code, message}; the spec says 200 with the results")
def test_a_batch_with_nothing_accepted_answers_200_with_the_results(
        node: LiveNode, contract: Contract) -> None:
    foreign = node.register_tx(chain_id="another-chain")
    reply = node.api.post("/v1/txs/batch", codec.encode([foreign.encode()]), MSGPACK)
    answer = contract.check("POST", "/v1/txs/batch", reply)
    assert reply.status == 200 and answer["results"][0]["code"] == "WRONG_CHAIN_ID"


@regression("an empty batch answers 400 {accepted: 0, rejected: 0, results: []}, "
     "not a {code, message} error")
@pytest.mark.parametrize(("body", "content_type"), [
    (b"\x90", MSGPACK), (b'{"txs": []}', "application/json")])
def test_an_empty_batch_is_a_bad_request(node: LiveNode, body: bytes,
                                         content_type: str) -> None:
    reply = node.api.post("/v1/txs/batch", body, content_type)
    assert (reply.status, assert_error_body(reply)["code"]) == (400, "BAD_REQUEST")


@regression("POST /v1/txs admits the transaction before reading ?wait/?timeout: a 400 for a "
     "bad timeout is answered for a transaction that is admitted all the same")
def test_a_refused_submission_has_no_effect(node: LiveNode, contract: Contract) -> None:
    signed = node.register_tx()
    reply = node.api.post("/v1/txs", signed.encode(), MSGPACK,
                          query={"wait": "commit", "timeout": "0"})
    assert contract.check("POST", "/v1/txs", reply)["code"] == "BAD_REQUEST"
    lookup = node.api.get(f"/v1/txs/{signed.tx_id.hex()}")
    assert lookup.status == 404, lookup.body


@regression("the error middleware replaces aiohttp's 405 and drops its Allow header "
     "(RFC 9110 15.5.6: a 405 MUST carry Allow)")
def test_a_405_says_which_methods_are_allowed(node: LiveNode) -> None:
    reply = node.api.request("DELETE", "/v1/status")
    assert reply.status == 405
    assert "GET" in reply.headers.get("Allow", "").split(",")


@regression("a request line above aiohttp's 8190 bytes is answered 400 text/plain by the "
     "HTTP layer, yet /v1/events documents up to 64 filters of 256 characters")
def test_the_documented_filters_fit_in_a_request(node: LiveNode) -> None:
    query = {"kind": [f"{i:02d}" + "k" * 254 for i in range(64)]}
    with EventStream(node.api, query) as stream:
        if stream.status != 200:
            assert_error_body(stream.reply())


@regression("a stream's slot is kept after its client disconnects, until the next heartbeat "
     "write fails (up to 15 s): reconnecting clients meet TOO_MANY_STREAMS")
@pytest.mark.parametrize("fresh_node", [{"max_streams": 1}], indirect=True)
def test_a_closed_stream_frees_its_slot(fresh_node: LiveNode) -> None:
    with EventStream(fresh_node.api, {}) as stream:
        assert stream.status == 200
    deadline = time.monotonic() + 3.0
    while True:
        with EventStream(fresh_node.api, {}) as again:
            if again.status == 200:
                return
            assert assert_error_body(again.reply())["code"] == "TOO_MANY_STREAMS"
        assert time.monotonic() < deadline, "the closed stream still holds the only slot"
        time.sleep(0.2)


@regression("GET /v1/txs/{id}?wait=commit on a transaction that already failed waits the whole "
     "timeout, then answers 504 WAIT_TIMEOUT ('it is failed and may still commit') "
     "instead of its failure at once")
def test_waiting_on_a_failed_transaction_answers_its_failure(dropped: Dropped,
                                                             contract: Contract) -> None:
    path = f"/v1/txs/{dropped.tx.tx_id.hex()}"
    reply = dropped.node.api.get(path, query={"wait": "commit", "timeout": 2}, timeout=10)
    assert contract.check("GET", "/v1/txs/{tx_id}", reply)["code"] == "TX_EXPIRED"
