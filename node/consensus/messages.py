"""What validators send each other: proposals, votes, certified blocks.

Three messages travel between peers, each a versioned array structure of the
canonical codec (layouts in docs/consensus.md, "Message formats"):

* `SignedProposal` = [1, Proposal, signature, Block]. The proposed block
  travels *inside* the proposal message, so a node that holds a proposal
  always holds its block, and "proposal received" and "block received" are
  one event. The signature covers only the `Proposal` (which names the block
  by hash): signing_bytes(PROPOSAL_SIGN, chain_id, encode(Proposal)). The
  constructor refuses a block that does not hash to `proposal.block_hash`.
* `SignedVote` = [1, Vote, signature], the vote of ledger.types signed over
  signing_bytes(VOTE_SIGN, chain_id, encode(Vote)).
* `CertifiedBlock` = [1, Block, Commit]: a decided block and > 2/3 of the
  precommits for it, sent to a peer that is still at that height (catch-up).
  Its precommits are ordinary signed votes in compact form (`Commit`).

On the wire each message is wrapped in an envelope [1, kind, message] so a
peer can tell them apart (`encode_message` / `decode_message`). Decoding
peer bytes raises `LedgerError` and nothing else. Signatures are not checked
here: the core checks them (it knows the validator set).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Union

from ledger import codec
from ledger.crypto import Tag, signing_bytes
from ledger.errors import Code, LedgerError
from ledger.structure import Field, Int, Nested, Optional, Structure
from ledger.types import (
    CHAIN_ID,
    HASH,
    MAX_BLOCK_SIZE,
    PUBLIC_KEY,
    ROUND,
    SIGNATURE,
    Block,
    Commit,
    Vote,
)

#: Room for the envelope, the proposal and the signature around a full block.
MAX_MESSAGE_SIZE = MAX_BLOCK_SIZE + 64 * 1024


@dataclass(frozen=True, slots=True)
class Proposal(Structure):
    """The proposer's claim: at (height, round), `block_hash` is proposed.

    `valid_round` is the round in which the proposer saw > 2/3 prevotes for
    this block (Algorithm 1's validRound), None for "no such round" (-1 in
    the paper).
    """

    chain_id: str
    height: int
    round: int
    block_hash: bytes
    valid_round: int | None
    proposer: bytes

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("chain_id", CHAIN_ID),
        ("height", Int(1)),
        ("round", ROUND),
        ("block_hash", HASH),
        ("valid_round", Optional(ROUND)),
        ("proposer", PUBLIC_KEY),
    )

    def signing_bytes(self) -> bytes:
        return signing_bytes(Tag.PROPOSAL_SIGN, self.chain_id, self.encode())

    @property
    def pol_round(self) -> int:
        """valid_round with the paper's -1 for "none"."""
        return -1 if self.valid_round is None else self.valid_round


@dataclass(frozen=True, slots=True)
class SignedProposal(Structure):
    proposal: Proposal
    signature: bytes
    block: Block

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("proposal", Nested(Proposal)),
        ("signature", SIGNATURE),
        ("block", Nested(Block)),
    )
    MAX_SIZE: ClassVar[int] = MAX_MESSAGE_SIZE

    def __post_init__(self) -> None:
        Structure.__post_init__(self)
        if self.block.hash != self.proposal.block_hash:
            raise LedgerError(Code.INVALID_CONSENSUS_MESSAGE,
                              "proposal: the block does not hash to the proposed block hash")


@dataclass(frozen=True, slots=True)
class SignedVote(Structure):
    vote: Vote
    signature: bytes

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("vote", Nested(Vote)),
        ("signature", SIGNATURE),
    )


@dataclass(frozen=True, slots=True)
class CertifiedBlock(Structure):
    block: Block
    commit: Commit

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("block", Nested(Block)),
        ("commit", Nested(Commit)),
    )
    MAX_SIZE: ClassVar[int] = MAX_MESSAGE_SIZE

    def __post_init__(self) -> None:
        Structure.__post_init__(self)
        if (self.commit.block_hash != self.block.hash
                or self.commit.height != self.block.header.height):
            raise LedgerError(Code.INVALID_CONSENSUS_MESSAGE,
                              "certified block: the commit is for another block or height")

    def precommits(self) -> tuple[SignedVote, ...]:
        """The commit's signatures as the signed precommits they are."""
        chain_id = self.block.header.chain_id
        return tuple(SignedVote(self.commit.vote_for(chain_id, entry.validator), entry.signature)
                     for entry in self.commit.signatures)


Message = Union[SignedProposal, SignedVote, CertifiedBlock]


class MessageKind(IntEnum):
    PROPOSAL = 1
    VOTE = 2
    CERTIFIED_BLOCK = 3


_KINDS: dict[int, type[Structure]] = {
    MessageKind.PROPOSAL: SignedProposal,
    MessageKind.VOTE: SignedVote,
    MessageKind.CERTIFIED_BLOCK: CertifiedBlock,
}
_ENVELOPE_VERSION = 1


def encode_message(message: Message) -> bytes:
    """[1, kind, message]: the bytes a peer sends."""
    kind = {SignedProposal: MessageKind.PROPOSAL, SignedVote: MessageKind.VOTE,
            CertifiedBlock: MessageKind.CERTIFIED_BLOCK}[type(message)]
    return codec.encode([_ENVELOPE_VERSION, int(kind), message.to_value()],
                        max_size=MAX_MESSAGE_SIZE)


def decode_message(data: bytes) -> Message:
    """The message in `data`; raises LedgerError (only) on anything else."""
    value = codec.decode(data, max_size=MAX_MESSAGE_SIZE)
    if type(value) is not list or len(value) != 3:
        raise LedgerError(Code.SCHEMA_MISMATCH, "message: expected [version, kind, body]")
    version, kind, body = value
    if type(version) is not int or version != _ENVELOPE_VERSION:
        raise LedgerError(Code.UNSUPPORTED_VERSION,
                          f"message: envelope version {version!r} is not supported")
    if type(kind) is not int or kind not in _KINDS:
        raise LedgerError(Code.INVALID_CONSENSUS_MESSAGE, f"message: unknown kind {kind!r}")
    message = _KINDS[kind].from_value(body, "message")
    return message  # type: ignore[return-value]


def vote_from_sign_bytes(chain_id: str, sign_bytes: bytes) -> Vote | None:
    """The vote whose signing bytes are `sign_bytes`, None if they are not a vote's.

    Used on restart to learn what the guarded signer last signed.
    """
    prefix = Tag.VOTE_SIGN.value + codec.encode(chain_id)
    if not sign_bytes.startswith(prefix):
        return None
    try:
        return Vote.decode(sign_bytes[len(prefix):])
    except LedgerError:
        return None
