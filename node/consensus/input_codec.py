"""The canonical encoding of the core's inputs: what the WAL stores.

The write-ahead log (node/runtime/wal.py, docs/wal.md) stores opaque
payloads; each payload is one input of node.consensus.inputs, encoded here
as a canonical msgpack array `[1, kind, fields...]`:

| kind | input                  | fields |
|------|------------------------|--------|
| 1    | HeightStarted          | height, ValidatorSet |
| 2    | ProposalReceived       | SignedProposal |
| 3    | VoteReceived           | SignedVote |
| 4    | CertifiedBlockReceived | CertifiedBlock |
| 5    | TimeoutFired           | height, round, step (1 propose, 2 prevote, 3 precommit) |
| 6    | BlockExecuted          | height, round, block_hash, valid (bool) |
| 7    | BlockBuilt             | height, round, Block |
| 8    | ReplayFinished         | nil, or [height, round, step, sign_bytes, signature] |

Structures are nested as their arrays (docs/consensus.md, docs/
transaction-format.md). `decode_input` takes bytes read back from disk and
raises `LedgerError` (only) if they are not exactly the encoding of an input.
"""

from __future__ import annotations

from typing import Any

from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.structure import Bool, Bytes, Int, Nested
from ledger.types import HASH, HEIGHT, ROUND, SIGNATURE, Block
from ledger.validators import ValidatorSet
from node.consensus.inputs import (
    BlockBuilt,
    BlockExecuted,
    CertifiedBlockReceived,
    HeightStarted,
    Input,
    ProposalReceived,
    ReplayFinished,
    TimeoutFired,
    VoteReceived,
)
from node.consensus.messages import MAX_MESSAGE_SIZE, CertifiedBlock, SignedProposal, SignedVote
from node.consensus.safety import LastSigned, Step

_VERSION = 1
_STEP = Int(Step.PROPOSE, Step.PRECOMMIT)
_SIGN_BYTES = Bytes(max_size=MAX_MESSAGE_SIZE)


def encode_input(event: Input) -> bytes:
    return codec.encode([_VERSION, *_fields_of(event)], max_size=MAX_MESSAGE_SIZE)


def _fields_of(event: Input) -> list[Any]:
    if isinstance(event, HeightStarted):
        return [1, event.height, event.validators.to_value()]
    if isinstance(event, ProposalReceived):
        return [2, event.proposal.to_value()]
    if isinstance(event, VoteReceived):
        return [3, event.vote.to_value()]
    if isinstance(event, CertifiedBlockReceived):
        return [4, event.certified.to_value()]
    if isinstance(event, TimeoutFired):
        return [5, event.height, event.round, int(event.step)]
    if isinstance(event, BlockExecuted):
        return [6, event.height, event.round, event.block_hash, event.valid]
    if isinstance(event, BlockBuilt):
        return [7, event.height, event.round, event.block.to_value()]
    last = event.last_signed
    return [8, None if last is None else
            [last.height, last.round, int(last.step), last.sign_bytes, last.signature]]


_LAYOUTS: dict[int, tuple[Any, ...]] = {
    1: (HEIGHT, Nested(ValidatorSet)),
    2: (Nested(SignedProposal),),
    3: (Nested(SignedVote),),
    4: (Nested(CertifiedBlock),),
    5: (HEIGHT, ROUND, _STEP),
    6: (HEIGHT, ROUND, HASH, Bool()),
    7: (HEIGHT, ROUND, Nested(Block)),
    8: (None,),
}


def decode_input(data: bytes) -> Input:
    value = codec.decode(data, max_size=MAX_MESSAGE_SIZE)
    if type(value) is not list or len(value) < 2:
        raise LedgerError(Code.SCHEMA_MISMATCH, "input: expected [version, kind, ...]")
    version, kind, *rest = value
    if type(version) is not int or version != _VERSION:
        raise LedgerError(Code.UNSUPPORTED_VERSION, f"input: version {version!r} is not supported")
    if type(kind) is not int or kind not in _LAYOUTS:
        raise LedgerError(Code.SCHEMA_MISMATCH, f"input: unknown kind {kind!r}")
    layout = _LAYOUTS[kind]
    if len(rest) != len(layout):
        raise LedgerError(Code.SCHEMA_MISMATCH, f"input kind {kind}: expected {len(layout)} "
                          f"fields, got {len(rest)}")
    if kind == 8:
        return ReplayFinished(_last_signed(rest[0]))
    fields = [field.load(item, f"input.{i}") for i, (field, item) in enumerate(zip(layout, rest))]
    if kind == 1:
        return HeightStarted(fields[0], fields[1])
    if kind == 2:
        return ProposalReceived(fields[0])
    if kind == 3:
        return VoteReceived(fields[0])
    if kind == 4:
        return CertifiedBlockReceived(fields[0])
    if kind == 5:
        return TimeoutFired(fields[0], fields[1], Step(fields[2]))
    if kind == 6:
        return BlockExecuted(fields[0], fields[1], fields[2], fields[3])
    return BlockBuilt(fields[0], fields[1], fields[2])


def _last_signed(value: Any) -> LastSigned | None:
    if value is None:
        return None
    if type(value) is not list or len(value) != 5:
        raise LedgerError(Code.SCHEMA_MISMATCH, "input.last_signed: expected 5 fields or nil")
    height = HEIGHT.load(value[0], "input.last_signed.height")
    round = ROUND.load(value[1], "input.last_signed.round")
    step = Step(_STEP.load(value[2], "input.last_signed.step"))
    sign_bytes = _SIGN_BYTES.load(value[3], "input.last_signed.sign_bytes")
    signature = SIGNATURE.load(value[4], "input.last_signed.signature")
    return LastSigned(height, round, step, sign_bytes, signature)
