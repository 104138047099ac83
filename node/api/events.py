"""GET /v1/events: committed events as server-sent events, filtered.

Filters (each repeatable, any match passes): `subject=` an event subject
("invoice:<fp hex>", "member:SUPPLIER-01", ...), `member=ID` (short for
subject=member:ID), `invoice=FP` (subject=invoice:FP), `kind=` an event kind.
Each SSE message has `id:` = the event's cursor `height.tx.event` and
`data:` = the event as JSON (node/api/views.py `event_view`). A comment line
is sent every `HEARTBEAT_S` so proxies keep the stream open. A client that
reads too slowly gets a final `event: overflow` and is disconnected.
"""

from __future__ import annotations

import asyncio
import json
from aiohttp import web

from ledger.errors import Code
from ledger.store.schema import is_indexable_subject
from node.api.requests import int_param, parse_decimal, node_of, bad_request
from node.api.errors import error_response
from node.api.views import event_view
from node.runtime.commit_feed import CommittedEvent, EventFilter

HEARTBEAT_S = 15
STREAM_RETRY_AFTER_S = 5
MAX_FILTERS = 64


def event_filter(request: web.Request) -> EventFilter:
    query = request.query
    subjects = set(query.getall("subject", []))
    subjects.update(f"member:{m}" for m in query.getall("member", []))
    subjects.update(f"invoice:{fp}" for fp in query.getall("invoice", []))
    kinds = set(query.getall("kind", []))
    if len(subjects) + len(kinds) > MAX_FILTERS:
        raise bad_request(f"at most {MAX_FILTERS} filters")
    if any(not s or len(s) > 256 for s in subjects | kinds):
        raise bad_request("a filter value is 1 to 256 characters")
    return EventFilter(frozenset(subjects), frozenset(kinds))


async def get_subject_events(request: web.Request) -> web.Response:
    """One page of a subject's committed events, oldest first, after `after`
    (a cursor `height.tx.event` from a previous page or from the stream)."""
    node = node_of(request)
    subject = request.match_info["subject"]
    if not is_indexable_subject(subject):
        raise bad_request("subject: 1 to 256 UTF-8 bytes, e.g. member:SUPPLIER-01")
    limit = int_param(request.query.get("limit"), "limit", default=node.config.api.page_size,
                      low=1, high=node.config.api.page_size)
    after = _cursor(request.query.get("after"))
    found = node.chain.events_for(subject, after=after, limit=limit)
    items = [event_view(CommittedEvent(e.height, e.tx_index, e.event_index, e.tx_id,
                                       node.chain.block(e.height).header.time_ms, e.event))
             for e in found]
    return web.json_response({"subject": subject, "events": items,
                              "next": items[-1]["cursor"] if len(items) == limit else None})


def _cursor(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    parts = text.split(".")
    if len(parts) != 3:
        raise bad_request("after: a cursor height.tx.event, e.g. 12.0.1")
    height, tx_index, event_index = (parse_decimal(part, "after") for part in parts)
    if height >= 2**63 or tx_index >= 2**32 or event_index >= 2**32:
        raise bad_request("after: height below 2^63, tx and event indexes below 2^32")
    return height, tx_index, event_index


async def get_events(request: web.Request) -> web.StreamResponse:
    node = node_of(request)
    chosen = event_filter(request)
    stream = node.feed.open_stream(chosen)
    if stream is None:
        return error_response(Code.TOO_MANY_STREAMS, f"the node serves at most "
                              f"{node.feed.max_streams} event streams; retry later",
                              retry_after_s=STREAM_RETRY_AFTER_S)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    try:
        await response.prepare(request)
        await response.write(b": scf-ledger events\n\n")
        while True:
            try:
                item = await asyncio.wait_for(stream.queue.get(), HEARTBEAT_S)
            except asyncio.TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if item is None:
                await response.write(b"event: overflow\ndata: {}\n\n")
                break
            view = event_view(item)
            data = json.dumps(view, separators=(",", ":"))
            await response.write(f"id: {view['cursor']}\ndata: {data}\n\n".encode())
    except ConnectionResetError:
        pass  # the client went away (a disconnect also cancels this handler)
    finally:
        node.feed.close_stream(stream)
    return response
