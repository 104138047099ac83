"""The JSON views the client API answers with.

Each view gives readable fields (hex for bytes, member ids, decimal money in
minor units as JSON integers) and, where a client may want to check rather
than trust, the canonical bytes themselves (`raw`, hex): a light client
decodes and verifies those, never the readable copy. Transaction arguments
use the lossless typed JSON form (ledger/typed_json.py).
"""

from __future__ import annotations

from typing import Any

from ledger.accounts import Member
from ledger.merkle import InclusionProof
from ledger.smt_proof import SparseMerkleProof
from ledger.typed_json import to_json
from ledger.types import Block, BlockHeader, Commit, Receipt, SignedTransaction
from node.runtime.commit_feed import CommittedEvent


def header_view(header: BlockHeader) -> dict[str, Any]:
    return {
        "hash": header.hash.hex(), "chain_id": header.chain_id, "height": header.height,
        "time_ms": header.time_ms, "previous_hash": header.previous_hash.hex(),
        "proposer": header.proposer.hex(), "tx_count": header.tx_count,
        "txs_root": header.txs_root.hex(), "receipts_root": header.receipts_root.hex(),
        "state_root": header.state_root.hex(),
        "validator_set_hash": header.validator_set_hash.hex(),
        "last_commit_hash": header.last_commit_hash.hex(), "raw": header.encode().hex(),
    }


def tx_view(signed: SignedTransaction) -> dict[str, Any]:
    tx = signed.tx
    return {
        "id": signed.tx_id.hex(), "chain_id": tx.chain_id, "sender": tx.sender.hex(),
        "nonce": tx.nonce, "contract": tx.contract, "method": tx.method,
        "args": to_json(dict(tx.args)), "expiry_height": tx.expiry_height,
        "raw": signed.encode().hex(),
    }


def block_view(block: Block, *, with_txs: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {"header": header_view(block.header)}
    if with_txs:
        view["txs"] = [tx_view(tx) for tx in block.txs]
    view["last_commit"] = None if block.last_commit is None else commit_view(block.last_commit)
    return view


def commit_view(commit: Commit) -> dict[str, Any]:
    return {
        "height": commit.height, "round": commit.round, "block_hash": commit.block_hash.hex(),
        "signatures": [{"validator": s.validator.hex(), "signature": s.signature.hex()}
                       for s in commit.signatures],
        "raw": commit.encode().hex(),
    }


def receipt_view(receipt: Receipt) -> dict[str, Any]:
    return {
        "tx_id": receipt.tx_id.hex(), "code": receipt.code, "message": receipt.message,
        "events": [{"kind": e.kind, "attributes": to_json(e.attributes)} for e in receipt.events],
        "raw": receipt.encode().hex(),
    }


def inclusion_view(proof: InclusionProof) -> dict[str, Any]:
    return {"index": proof.index, "tree_size": proof.tree_size,
            "path": [node.hex() for node in proof.path]}


def state_proof_view(proof: SparseMerkleProof) -> dict[str, Any]:
    return {"raw": proof.encode().hex(), "siblings": len(proof.siblings)}


def member_view(member: Member) -> dict[str, Any]:
    return {"member_id": member.member_id, "name": member.name, "roles": list(member.roles),
            "keys": [key.hex() for key in member.keys], "frozen": member.frozen}


def event_view(item: CommittedEvent) -> dict[str, Any]:
    return {"height": item.height, "tx_index": item.tx_index, "event_index": item.event_index,
            "tx_id": item.tx_id.hex(), "time_ms": item.time_ms, "kind": item.event.kind,
            "subjects": item.subjects, "attributes": to_json(item.event.attributes),
            "cursor": f"{item.height}.{item.tx_index}.{item.event_index}"}
