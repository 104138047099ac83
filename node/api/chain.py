"""Reading the chain: blocks, certificates, status, state with proofs, members, invoices.

A proved answer carries what a light client needs to check it without
trusting this node: the value, its sparse Merkle proof (of presence or of
absence) against the state root of the header at `height`, that header, and
the commit certifying it (the > 2/3 precommits of the validators).
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from aiohttp import web

from contracts.invoices import get_invoice, invoice_key
from contracts.liens import active_lien, invoice_asset, lien_key
from contracts.provenance import count_key, entry_key, get_provenance
from ledger.accounts import get_member, member_key, member_of_signer, next_nonce
from ledger import codec
from ledger.archive import MAX_RECORD_SIZE as RAW_ENTRY_LIMIT
from ledger.errors import Code, LedgerError
from node.api.requests import MSGPACK, node_of, bad_request, flag_param, hex_path, int_param
from node.api.views import block_view, commit_view, header_view, member_view, state_proof_view

if TYPE_CHECKING:
    from node.service import Node

MAX_STATE_KEY_HEX = 2 * 1024


async def get_block(request: web.Request) -> web.Response:
    node = node_of(request)
    height = _height(request, node)
    return web.json_response(block_view(node.chain.block(height)))


async def get_latest_block(request: web.Request) -> web.Response:
    node = node_of(request)
    if node.chain.height == 0:
        raise LedgerError(Code.BLOCK_NOT_FOUND, "no block is committed yet")
    return web.json_response(block_view(node.chain.block(node.chain.height)))


async def get_raw_entry(request: web.Request) -> web.Response:
    """The stored bytes of a block, its certificate and its receipts, as one
    canonical msgpack array [block, commit, [receipt, ...]]: what an auditor
    replays (ledger/replay.py) without trusting this node's decoding."""
    node = node_of(request)
    height = _height(request, node)
    block, commit, receipts = node.chain.raw_entry(height)
    body = codec.encode([block, commit, list(receipts)], max_size=RAW_ENTRY_LIMIT)
    return web.Response(body=body, content_type=MSGPACK)


async def get_commit(request: web.Request) -> web.Response:
    node = node_of(request)
    height = _height(request, node)
    return web.json_response(commit_view(node.chain.commit(height)))


async def get_status(request: web.Request) -> web.Response:
    node = node_of(request)
    height = node.chain.height
    tip = node.chain.tip()
    validators = [{"public_key": v.public_key.hex(), "power": v.power,
                   "member_id": node.genesis.validator_members.get(v.public_key)}
                  for v in tip.validators.validators]
    return web.json_response({
        "chain_id": node.genesis.chain_id, "genesis_hash": node.genesis.hash.hex(),
        "member_id": node.config.member_id, "validator": node.home.validator_key is not None,
        "height": height, "block_hash": tip.block_hash.hex(), "time_ms": tip.time_ms,
        "consensus": {"height": node.driver.height, "round": node.driver.core.round},
        "validators": validators,
        "peers": [{"public_key": key.hex(), "height": node.sync.peer_heights.get(key)}
                  for key in node.network.connected()],
        "sync": {"state": "syncing" if node.sync.is_syncing(height) else "caught_up",
                 "best_peer_height": node.sync.best_peer_height,
                 "lag": node.sync.lag(height)},
        "mempool": {"count": len(node.mempool), "bytes": node.mempool.total_bytes},
    })


async def get_state(request: web.Request) -> web.Response:
    node = node_of(request)
    text = request.match_info["key"]
    if len(text) > MAX_STATE_KEY_HEX:
        raise bad_request(f"key: at most {MAX_STATE_KEY_HEX // 2} bytes")
    key = hex_path(request, "key", size=None)
    return web.json_response(_proved(node, request, {"key": key}))


async def get_account(request: web.Request) -> web.Response:
    """A key's member and nonces: the committed next nonce, and the next one
    after the transactions of that key pending in this node's mempool."""
    node = node_of(request)
    public_key = hex_path(request, "public_key")
    state = node.chain.state()
    member = member_of_signer(state, public_key)
    committed = next_nonce(state, public_key)
    return web.json_response({
        "public_key": public_key.hex(), "member_id": None if member is None else member.member_id,
        "next_nonce": committed,
        "pending_next_nonce": node.mempool.next_free_nonce(public_key, committed)})


async def get_member_route(request: web.Request) -> web.Response:
    node = node_of(request)
    member_id = request.match_info["member_id"]
    height = _query_height(request, node)
    member = get_member(node.chain.state_at(height), member_id)
    if member is None:
        raise LedgerError(Code.MEMBER_NOT_FOUND, f"no member {member_id!r} at height {height}")
    answer = _proved(node, request, {"member": member_key(member_id)})
    answer["member"] = member_view(member)
    return web.json_response(answer)


async def get_invoice_route(request: web.Request) -> web.Response:
    """Status, lien and provenance of an invoice, each fact with its proof if `prove=1`."""
    node = node_of(request)
    fingerprint = hex_path(request, "fingerprint")
    height = _query_height(request, node)
    state = node.chain.state_at(height)
    invoice = get_invoice(state, fingerprint)
    if invoice is None:
        raise LedgerError(Code.INVOICE_NOT_FOUND, f"no invoice {fingerprint.hex()} at height "
                          f"{height} (a proof of absence is at /v1/state/"
                          f"{invoice_key(fingerprint).hex()}?prove=1)")
    asset = invoice_asset(fingerprint)
    lien = active_lien(state, asset)
    provenance = get_provenance(state, fingerprint)
    keys: dict[str, bytes] = {"invoice": invoice_key(fingerprint), "lien": lien_key(asset),
                              "provenance_count": count_key(fingerprint)}
    for index in range(len(provenance)):
        keys[f"provenance/{index}"] = entry_key(fingerprint, index)
    answer = _proved(node, request, keys)
    answer["invoice"] = structure_view(invoice)
    answer["lien"] = None if lien is None else structure_view(lien)
    answer["provenance"] = [structure_view(entry) for entry in provenance]
    return web.json_response(answer)


def structure_view(value: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _proved(node: Node, request: web.Request, keys: dict[str, bytes]) -> dict[str, Any]:
    """{"height", "values": {name: {key, value}}} plus proofs, header and commit if `prove`."""
    height = _query_height(request, node)
    state = node.chain.state_at(height)
    prove = flag_param(request, "prove")
    values: dict[str, Any] = {}
    for name, key in keys.items():
        if prove:
            value, proof = state.get_with_proof(key)
            values[name] = {"key": key.hex(), "value": None if value is None else value.hex(),
                            "proof": state_proof_view(proof)}
        else:
            value = state.get(key)
            values[name] = {"key": key.hex(), "value": None if value is None else value.hex()}
    answer: dict[str, Any] = {"height": height, "values": values}
    if prove:
        if height == 0:
            raise bad_request("height: proofs are against a certified header, so at least 1")
        answer["header"] = header_view(node.chain.block(height).header)
        answer["commit"] = commit_view(node.chain.commit(height))
    return answer


def _height(request: web.Request, node: Node) -> int:
    height = int_param(request.match_info["height"], "height", low=1)
    if height > node.chain.height:
        raise LedgerError(Code.BLOCK_NOT_FOUND, f"height {height} is above this node's "
                          f"head {node.chain.height}")
    return height


def _query_height(request: web.Request, node: Node) -> int:
    head = node.chain.height
    height = int_param(request.query.get("height"), "height", default=head)
    if height > head:
        raise LedgerError(Code.BLOCK_NOT_FOUND, f"height {height} is above this node's head {head}")
    return height
