"""Checking a node's answers from the genesis document alone.

A light client trusts genesis (its validator set) and nothing a node says
until it is proved:

* a header is trusted once its commit certificate carries signatures of
  more than 2/3 of the voting power of the validator set the header names
  (`validator_set_hash`), and that set is known;
* a validator set is known if it is genesis' set, or if it was proved, by a
  state proof of `sys/validators` at height K - 1 against a trusted header
  K - 1, to be the set that signs blocks from K on (the set signing block K
  is the one in the state after K - 1: ledger/transition.py ChainTip). So the
  client follows changes height by height, each step certified by the set
  before it;
* a value (or its absence) is trusted if its sparse Merkle proof leads to
  the state root of a trusted header, for the key the client computed
  itself (never a key the node names);
* a transaction or receipt is trusted if its RFC 6962 inclusion proof leads
  to the trusted header's txs_root / receipts_root in a tree of the header's
  `tx_count` leaves.

Freshness is the one thing a proof cannot give: a node may answer with an
old but genuine header. `check_fresh` bounds the header's age against the
caller's clock, and asking several nodes and keeping the newest trusted
header (`newest`) bounds it against the others.

Pure: no I/O, no clock (times are arguments). Raises LedgerError with
UNTRUSTED_HEADER, UNKNOWN_VALIDATOR_SET, STALE_HEADER, ANSWER_MISMATCH, or the
proof modules' STATE_PROOF_INVALID / MERKLE_* codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from genesis.document import Genesis
from ledger import merkle
from ledger.certificates import validate_commit
from ledger.errors import Code, LedgerError
from ledger.merkle import InclusionProof
from ledger.smt_proof import SparseMerkleProof, verify_proof
from ledger.system_state import VALIDATORS_KEY
from ledger.types import BlockHeader, Commit
from ledger.validators import ValidatorSet


@dataclass(frozen=True, slots=True)
class TrustedHeader:
    """A header whose certificate verified against a known validator set."""

    header: BlockHeader
    commit: Commit

    @property
    def height(self) -> int:
        return self.header.height


class LightClient:
    def __init__(self, genesis: Genesis) -> None:
        self.chain_id = genesis.chain_id
        self._sets: dict[bytes, ValidatorSet] = {genesis.validators.hash: genesis.validators}

    @property
    def known_validator_sets(self) -> int:
        return len(self._sets)

    def trust(self, header: BlockHeader, commit: Commit) -> TrustedHeader:
        """Verifies `header`'s certificate; UNTRUSTED_HEADER or UNKNOWN_VALIDATOR_SET if not."""
        if header.chain_id != self.chain_id:
            raise LedgerError(Code.UNTRUSTED_HEADER, f"the header is of chain "
                              f"{header.chain_id!r}, not {self.chain_id!r}")
        validators = self._sets.get(header.validator_set_hash)
        if validators is None:
            raise LedgerError(Code.UNKNOWN_VALIDATOR_SET, f"header {header.height} is signed by "
                              f"validator set {header.validator_set_hash.hex()[:16]}…, which no "
                              "certified change from genesis leads to")
        try:
            validate_commit(commit, chain_id=self.chain_id, height=header.height,
                            block_hash=header.hash, validators=validators)
        except LedgerError as error:
            raise LedgerError(Code.UNTRUSTED_HEADER,
                              f"header {header.height}: {error.message}") from None
        return TrustedHeader(header, commit)

    def learn_validator_set(self, before: TrustedHeader, value: bytes | None,
                            proof: SparseMerkleProof) -> ValidatorSet:
        """The validator set in the state of trusted header `before` (it signs
        block `before.height + 1` on), proved against its state root."""
        if value is None:
            raise LedgerError(Code.ANSWER_MISMATCH, "the state has no validator set")
        verify_proof(before.header.state_root, VALIDATORS_KEY, value, proof)
        validators = ValidatorSet.decode(value)
        self._sets[validators.hash] = validators
        return validators

    def check_value(self, trusted: TrustedHeader, key: bytes, value: bytes | None,
                    proof: SparseMerkleProof) -> None:
        """`value` (None: absent) is what the state at `trusted` holds under `key`."""
        verify_proof(trusted.header.state_root, key, value, proof)

    def check_tx(self, trusted: TrustedHeader, encoded_tx: bytes, proof: InclusionProof) -> None:
        _check_inclusion(trusted.header.tx_count, proof, "transaction")
        merkle.verify_inclusion(encoded_tx, proof, trusted.header.txs_root)

    def check_receipt(self, trusted: TrustedHeader, encoded_receipt: bytes,
                      proof: InclusionProof) -> None:
        _check_inclusion(trusted.header.tx_count, proof, "receipt")
        merkle.verify_inclusion(encoded_receipt, proof, trusted.header.receipts_root)


def check_fresh(trusted: TrustedHeader, *, now_ms: int, max_age_ms: int) -> None:
    """STALE_HEADER if the header's time is more than `max_age_ms` before `now_ms`."""
    age = now_ms - trusted.header.time_ms
    if age > max_age_ms:
        raise LedgerError(Code.STALE_HEADER, f"header {trusted.height} is {age // 1000} s old "
                          f"(at most {max_age_ms // 1000} s accepted)")


def newest(headers: Sequence[TrustedHeader]) -> TrustedHeader:
    """The highest of several nodes' trusted headers. Two trusted headers of
    one height are the same block (finality), unless > 1/3 of the validators
    signed two blocks: that is reported, never silently resolved."""
    best = max(headers, key=lambda t: t.height)
    for other in headers:
        if other.height == best.height and other.header.hash != best.header.hash:
            raise LedgerError(Code.UNTRUSTED_HEADER, f"two certified blocks at height "
                              f"{best.height}: the validators equivocated; do not rely on "
                              "this chain until the consortium resolves it")
    return best


def _check_inclusion(tx_count: int, proof: InclusionProof, what: str) -> None:
    if proof.tree_size != tx_count:
        raise LedgerError(Code.ANSWER_MISMATCH, f"the {what} proof is for a tree of "
                          f"{proof.tree_size} leaves; the header has {tx_count}")
