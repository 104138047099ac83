"""POST /v1/txs, POST /v1/txs/batch, GET /v1/txs/{id}: submitting and tracking.

Submission checks what can be checked before consensus (decoding, chain id,
member, nonce window, signature: node/runtime/admission.py) and answers 202
with the id; posting the same signed transaction again answers with the same
id and its current status (idempotent). `?wait=commit` holds the answer until
the transaction is in a committed block (or the timeout: 504 WAIT_TIMEOUT,
after which it may still commit).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ledger.errors import Code, LedgerError
from node.api.errors import STATUS_OF
from node.api.requests import (
    node_of,
    JSON,
    bad_request,
    bytes_field,
    content_kind,
    hex_path,
    int_param,
    json_body,
    msgpack_byte_list,
    read_body,
)
from node.api.views import header_view, inclusion_view, receipt_view, tx_view

if TYPE_CHECKING:
    from node.service import Node

DEFAULT_WAIT_S = 30


async def post_tx(request: web.Request) -> web.Response:
    node = node_of(request)
    if content_kind(request) == JSON:
        raw = bytes_field(await json_body(request), "tx")
    else:
        raw = await read_body(request)
    wait_s = _wait_seconds(request, node)  # a bad query is refused before any effect
    submitted = node.submit(raw)
    if wait_s is not None:
        await _wait_commit(node, submitted.tx_id, wait_s)
    status = tx_status(node, submitted.tx_id)
    return web.json_response(status, status=200 if wait_s is not None else 202)


async def post_batch(request: web.Request) -> web.Response:
    """Each transaction is answered on its own: 202-like or its error code."""
    node = node_of(request)
    limit = node.config.api.max_batch
    if content_kind(request) == JSON:
        document = await json_body(request)
        items = document.get("txs")
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise bad_request('the JSON body must be {"txs": [hex, ...]}')
        if len(items) > limit:
            raise bad_request(f"at most {limit} transactions per batch, got {len(items)}")
        raws = [bytes_field({"tx": item}, "tx") for item in items]
    else:
        raws = msgpack_byte_list(await read_body(request), limit)
    if not raws:
        raise bad_request("an empty batch: send at least one signed transaction")
    results: list[dict[str, Any]] = []
    accepted = 0
    for raw in raws:
        try:
            submitted = node.submit(raw)
        except LedgerError as error:
            results.append({"status": STATUS_OF.get(error.code, 400), **error.to_dict()})
            continue
        accepted += 1
        results.append({"status": 202, "id": submitted.tx_id.hex(),
                        "state": "pending" if submitted.added else
                        tx_status(node, submitted.tx_id)["status"]})
    # 202 when anything was taken in; 200 when nothing was (each result says why)
    return web.json_response({"accepted": accepted, "rejected": len(raws) - accepted,
                              "results": results}, status=202 if accepted else 200)


async def get_tx(request: web.Request) -> web.Response:
    node = node_of(request)
    tx_id = hex_path(request, "tx_id")
    wait_s = _wait_seconds(request, node)
    if wait_s is not None:
        # also for an id not seen yet: it may reach this node by gossip or in a block
        try:
            await _wait_commit(node, tx_id, wait_s)
        except LedgerError as error:
            if error.code != Code.WAIT_TIMEOUT or tx_status(node, tx_id)["status"] != "unknown":
                raise
    status = tx_status(node, tx_id)
    if status["status"] == "unknown":
        raise LedgerError(Code.TX_NOT_FOUND, f"no transaction {tx_id.hex()} is pending or "
                          "committed on this node")
    return web.json_response(status)


def tx_status(node: Node, tx_id: bytes) -> dict[str, Any]:
    """pending, committed (with receipt and proofs), failed (with code), or unknown."""
    location = node.chain.tx_location(tx_id)
    if location is not None:
        height, index = location
        provable = node.block_proofs.at(height)
        block, receipt = provable.block, provable.receipts[index]
        return {
            "id": tx_id.hex(), "status": "committed", "height": height, "index": index,
            "code": receipt.code, "tx": tx_view(block.txs[index]),
            "receipt": receipt_view(receipt), "header": header_view(block.header),
            "tx_proof": inclusion_view(provable.txs_tree.inclusion_proof(index)),
            "receipt_proof": inclusion_view(provable.receipts_tree.inclusion_proof(index)),
        }
    if tx_id in node.mempool:
        return {"id": tx_id.hex(), "status": "pending"}
    failure = node.app.failures.get(tx_id)
    if failure is not None:
        return {"id": tx_id.hex(), "status": "failed", "code": failure.code.value,
                "message": failure.message}
    return {"id": tx_id.hex(), "status": "unknown"}


def _wait_seconds(request: web.Request, node: Node) -> int | None:
    wait = request.query.get("wait")
    if wait is None:
        return None
    if wait != "commit":
        raise bad_request("wait: the only value is 'commit'")
    return int_param(request.query.get("timeout"), "timeout", default=DEFAULT_WAIT_S, low=1,
                     high=node.config.api.max_wait_s)


async def _wait_commit(node: Node, tx_id: bytes, seconds: int) -> None:
    if node.chain.tx_location(tx_id) is not None:
        return
    failure = node.app.failures.get(tx_id)
    if failure is not None:
        raise failure  # it was dropped as inadmissible: it will not commit
    future = node.feed.wait_for(tx_id)
    try:
        await asyncio.wait_for(asyncio.shield(future), seconds)
    except asyncio.TimeoutError:
        raise LedgerError(Code.WAIT_TIMEOUT, f"not committed within {seconds} s; it is "
                          f"{tx_status(node, tx_id)['status']} and may still commit") from None
    finally:
        node.feed.cancel_wait(tx_id, future)
    failure = node.app.failures.get(tx_id)
    if failure is not None and node.chain.tx_location(tx_id) is None:
        raise failure
