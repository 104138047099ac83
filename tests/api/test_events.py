"""GET /v1/events: a filtered stream receives the events of a new transaction, in
the documented shape; beyond `api.max_streams` a stream is refused."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Contract, EventStream, LiveNode

MSGPACK = "application/msgpack"


def events_of(stream: EventStream, tx_id: str, contract: Contract) -> list[dict[str, Any]]:
    """The stream's events up to the first one of `tx_id`, each checked against the spec."""
    schema = contract.spec["paths"]["/v1/events"]["get"]["responses"]["200"]["content"][
        "text/event-stream"]["x-item-schema"]
    received: list[dict[str, Any]] = []
    while not any(event["tx_id"] == tx_id for event in received):
        message = stream.next_message()
        assert set(message) == {"id", "data"}, message
        event = json.loads(message["data"])
        contract.validate(schema, event)
        assert message["id"] == event["cursor"] == (
            f"{event['height']}.{event['tx_index']}.{event['event_index']}")
        received.append(event)
    return received


def test_a_filtered_stream_receives_the_events_of_a_new_transaction(
        node: LiveNode, contract: Contract) -> None:
    with EventStream(node.api, {"member": "SUPPLIER-01"}) as by_member, \
            EventStream(node.api, {"kind": "invoice.registered"}) as by_kind:
        assert (by_member.status, by_kind.status) == (200, 200)
        assert by_member.response.headers["Content-Type"] == "text/event-stream"
        signed = node.register_tx()
        reply = node.api.post("/v1/txs", signed.encode(), MSGPACK)
        assert reply.status == 202, reply.body
        tx_id = signed.tx_id.hex()
        for event in events_of(by_member, tx_id, contract):
            assert "member:SUPPLIER-01" in event["subjects"]
        registered = events_of(by_kind, tx_id, contract)
        assert {event["kind"] for event in registered} == {"invoice.registered"}
        mine = [event for event in registered if event["tx_id"] == tx_id]
        assert mine[0]["attributes"]["map"]["seller"] == {"str": "SUPPLIER-01"}


def test_a_stream_refuses_bad_filters(node: LiveNode, contract: Contract) -> None:
    for query in ({"subject": ""}, {"kind": "k" * 257}, {"member": "M" * 250},
                  {"kind": [f"k{i}" for i in range(65)]}):
        with EventStream(node.api, query) as stream:
            reply = stream.reply()
        assert reply.status == 400, (query, reply.body)
        assert contract.check("GET", "/v1/events", reply)["code"] == "BAD_REQUEST"


def test_streams_beyond_the_limit_are_refused(tight_node: LiveNode,
                                              contract: Contract) -> None:
    api = tight_node.api.from_source("127.0.0.2")
    limit = tight_node.api_config["max_streams"]
    streams = [EventStream(api, {}) for _ in range(limit)]
    try:
        assert [stream.status for stream in streams] == [200] * limit
        with EventStream(api, {"kind": "anything"}) as refused:
            reply = refused.reply()
        assert reply.status == 429
        assert contract.check("GET", "/v1/events", reply)["code"] == "TOO_MANY_STREAMS"
    finally:
        for stream in streams:
            stream.close()
