"""Proof bundles from a real chain: verdicts, round trips, and every tampering caught.

The chain is the example consortium's, driven like a validator drives it,
running the invoices contract, the test financing product `testfin` (which
assigns an invoice to a bank: a lien) and a test-only privileged `valset`
contract that swaps the validator set, so a bundle that must carry a
validator-set change is exercised too:

    height 1  SUPPLIER-01 registers FREE, FINANCED and UNCONFIRMED
    height 2  CORE-01 confirms FREE and FINANCED
    height 3  BANK-A assigns FINANCED (deal F-1): a lien
    height 4  the validator set is replaced by NEW_KEYS (they sign 5 on)
    height 5, 6  empty

The second half checks node/verify_invoice.py's combination of several
sources (newest wins, equivocation is a disagreement, stale is a lie) with
sources that read a ChainStore instead of HTTP.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import invoices
from contracts.engine import ContractRegistry
from contracts.invoices import Invoice, invoice_key
from contracts.liens import invoice_asset, lien_key
from contracts.provenance import count_key, entry_key, provenance_count
from genesis.demo_keys import demo_key
from ledger import codec
from ledger.block_builder import build_block
from ledger.certificates import make_commit
from ledger.contract_api import CallContext, Method
from ledger.errors import Code, LedgerError
from ledger.proof_bundle import (
    FORMAT,
    CertifiedHeader,
    InvoiceAnswer,
    InvoiceVerifier,
    ProofBundle,
    ProvedValue,
    ValidatorSetChange,
    Verdict,
    check_bundle,
)
from ledger.smt_proof import SparseMerkleProof
from ledger.store.chain import ChainStore
from ledger.store.memory import MemoryStore
from ledger.system_state import VALIDATORS_KEY, put_validator_set
from ledger.transition import apply_block
from ledger.types import BlockHeader, Commit, Transaction
from ledger.validators import Validator, ValidatorSet
from node.verify_invoice import (
    Outcome,
    SourcedAnswer,
    follow_validator_changes,
    verify_invoice,
)
from tests.contracts.support import TESTFIN, contracts_genesis, fingerprint_of, invoice_args
from tests.support.chain import VALIDATOR_KEYS

GENESIS = contracts_genesis()
NEW_KEYS = [demo_key(f"NEW-VALIDATOR-{i}") for i in range(4)]
FREE, FINANCED, UNCONFIRMED = (invoice_args(n) for n in ("PB-FREE", "PB-FIN", "PB-UNCONF"))
FP_FREE, FP_FINANCED, FP_UNCONFIRMED = (fingerprint_of(a) for a in (FREE, FINANCED, UNCONFIRMED))
FP_UNKNOWN = bytes(range(32))
BEFORE_CHANGE, AFTER_CHANGE = 3, 6


def _replace_validators(ctx: CallContext, args: dict[str, Any]) -> None:
    assert ctx.system_writer is not None
    put_validator_set(ctx.system_writer, ValidatorSet.of(
        [Validator(key.public_key, 1) for key in NEW_KEYS]))


class Registry:
    """invoices + testfin, and `valset.replace` (privileged, tests only)."""

    contracts = ContractRegistry([invoices.CONTRACT, TESTFIN])

    def has_contract(self, contract: str) -> bool:
        return contract == "valset" or self.contracts.has_contract(contract)

    def method(self, contract: str, name: str) -> Method | None:
        if contract == "valset":
            return _replace_validators if name == "replace" else None
        return self.contracts.method(contract, name)

    def is_privileged(self, contract: str) -> bool:
        return contract == "valset"


REGISTRY = Registry()


def _signed(chain: ChainStore, member: str, contract: str, method: str,
            args: dict[str, Any], nonce: int) -> Any:
    key = demo_key(member)
    return Transaction(GENESIS.chain_id, key.public_key, nonce, contract, method,
                       args).sign(key)


def commit_block(chain: ChainStore, txs: list[Any], *, round_: int = 0) -> None:
    tip = chain.tip()
    signers = VALIDATOR_KEYS if tip.validators.is_member(VALIDATOR_KEYS[0].public_key) \
        else NEW_KEYS
    last = None if tip.height == 0 else chain.commit(tip.height)
    built, left_out = build_block(chain, tip, txs, time_ms=tip.time_ms + 1000,
                                  proposer=signers[0].public_key, last_commit=last,
                                  registry=REGISTRY, max_txs=100)
    assert not left_out
    execution = apply_block(chain, tip, built.block, REGISTRY)
    assert all(r.succeeded for r in execution.receipts), execution.receipts
    chain.append(execution, make_commit(chain_id=tip.chain_id, height=built.block.header.height,
                                        round=round_, block_hash=built.block.hash,
                                        signers=signers[:3]))


def build_chain() -> ChainStore:
    chain = ChainStore(MemoryStore(), GENESIS)
    commit_block(chain, [_signed(chain, "SUPPLIER-01", "invoices", "register", args, nonce)
                    for nonce, args in enumerate((FREE, FINANCED, UNCONFIRMED))])
    commit_block(chain, [_signed(chain, "CORE-01", "invoices", "confirm", {"fingerprint": fp}, n)
                    for n, fp in enumerate((FP_FREE, FP_FINANCED))])
    commit_block(chain, [_signed(chain, "BANK-A", "testfin", "assign",
                            {"fingerprint": FP_FINANCED, "deal_id": "F-1"}, 0)])
    commit_block(chain, [_signed(chain, "CORE-01", "valset", "replace", {}, 2)])
    commit_block(chain, [])
    commit_block(chain, [])
    return chain


@pytest.fixture(scope="module")
def chain() -> ChainStore:
    return build_chain()


def certified(chain: ChainStore, height: int) -> CertifiedHeader:
    return CertifiedHeader(chain.block(height).header.encode(), chain.commit(height).encode())


def proved(chain: ChainStore, height: int, key: bytes) -> ProvedValue:
    value, proof = chain.state_at(height).get_with_proof(key)
    return ProvedValue(value, proof.encode())


def answer_at(chain: ChainStore, fingerprint: bytes, height: int) -> InvoiceAnswer:
    """What an honest node answers (GET /v1/invoices/{fp}?prove=1&height=H), raw."""
    invoice = proved(chain, height, invoice_key(fingerprint))
    if invoice.value is None:
        return InvoiceAnswer(certified(chain, height), invoice, None, None, ())
    count = provenance_count(chain.state_at(height), fingerprint)
    return InvoiceAnswer(
        certified(chain, height), invoice,
        proved(chain, height, lien_key(invoice_asset(fingerprint))),
        proved(chain, height, count_key(fingerprint)),
        tuple(proved(chain, height, entry_key(fingerprint, i)) for i in range(count)))


class ChainAnswerSource:
    """An honest node, read straight from a ChainStore (node/verify_invoice.AnswerSource)."""

    def __init__(self, chain: ChainStore, label: str, height: int | None = None) -> None:
        self.chain, self.label, self.height = chain, label, height

    def invoice_answer(self, fingerprint: bytes) -> SourcedAnswer:
        return SourcedAnswer(answer_at(self.chain, fingerprint, self.height or self.chain.height),
                             None)

    def header_at(self, height: int) -> bytes:
        return self.chain.block(height).header.encode()

    def validator_change_at(self, height: int) -> ValidatorSetChange:
        return ValidatorSetChange(certified(self.chain, height),
                                  proved(self.chain, height, VALIDATORS_KEY))


def learned_verifier(chain: ChainStore) -> InvoiceVerifier:
    """A verifier that has followed the change of height 4 (as verify would)."""
    verifier = InvoiceVerifier(GENESIS)
    follow_validator_changes(verifier, ChainAnswerSource(chain, "chain"),
                             chain.block(AFTER_CHANGE).header)
    return verifier


def bundle_of(chain: ChainStore, fingerprint: bytes, height: int = AFTER_CHANGE) -> ProofBundle:
    verifier = learned_verifier(chain)
    facts = verifier.verify(fingerprint, answer_at(chain, fingerprint, height))
    return ProofBundle.of(verifier, facts, checked_at_ms=chain.block(height).header.time_ms,
                          nodes=["http://node-a"])


def refused(data: bytes) -> Code:
    with pytest.raises(LedgerError) as caught:
        check_bundle(data, GENESIS)
    return caught.value.code


# -- verdicts ------------------------------------------------------------------------


@pytest.mark.parametrize(("fingerprint", "verdict"), [
    (FP_FREE, Verdict.FREE_TO_FINANCE), (FP_FINANCED, Verdict.ALREADY_FINANCED),
    (FP_UNCONFIRMED, Verdict.NOT_CONFIRMED), (FP_UNKNOWN, Verdict.UNKNOWN)])
def test_each_verdict_comes_from_the_proved_values(chain: ChainStore, fingerprint: bytes,
                                                    verdict: Verdict) -> None:
    facts = InvoiceVerifier(GENESIS).verify(fingerprint,
                                            answer_at(chain, fingerprint, BEFORE_CHANGE))
    assert facts.verdict == verdict
    assert facts.height == BEFORE_CHANGE
    assert (facts.certification.signers, facts.certification.validators,
            facts.certification.power, facts.certification.total_power) == (3, 4, 3, 4)
    if verdict == Verdict.ALREADY_FINANCED:
        assert facts.lien is not None and (facts.lien.holder, facts.lien.deal_id) == \
            ("BANK-A", "F-1")
        assert [e.action for e in facts.provenance] == ["register", "confirm", "assign"]
    if verdict == Verdict.UNKNOWN:
        assert facts.invoice is None and facts.provenance == ()


def test_a_financed_invoice_before_its_assignment_was_free(chain: ChainStore) -> None:
    facts = InvoiceVerifier(GENESIS).verify(FP_FINANCED, answer_at(chain, FP_FINANCED, 2))
    assert facts.verdict == Verdict.FREE_TO_FINANCE and facts.lien is None


# -- bundles -------------------------------------------------------------------------


@pytest.mark.parametrize("fingerprint", [FP_FREE, FP_FINANCED, FP_UNCONFIRMED, FP_UNKNOWN])
def test_a_bundle_round_trips_and_checks_offline(chain: ChainStore, fingerprint: bytes) -> None:
    bundle = bundle_of(chain, fingerprint)
    data = bundle.encode()
    assert ProofBundle.decode(data) == bundle
    assert len(bundle.changes) == 1            # the change of height 4
    checked, facts = check_bundle(data, GENESIS)
    assert checked == bundle
    assert facts.verdict == bundle.verdict and facts.height == AFTER_CHANGE
    assert facts.certification.signers == 3


def test_a_bundle_before_any_change_carries_none(chain: ChainStore) -> None:
    verifier = InvoiceVerifier(GENESIS)
    facts = verifier.verify(FP_FREE, answer_at(chain, FP_FREE, BEFORE_CHANGE))
    bundle = ProofBundle.of(verifier, facts, checked_at_ms=0, nodes=[])
    assert bundle.changes == ()
    assert check_bundle(bundle.encode(), GENESIS)[1].verdict == Verdict.FREE_TO_FINANCE


def _value(proved_value: ProvedValue, value: bytes | None) -> ProvedValue:
    return dataclasses.replace(proved_value, value=value)


def _flip_sibling(proved_value: ProvedValue) -> ProvedValue:
    proof = SparseMerkleProof.decode(proved_value.proof)
    siblings = list(proof.siblings)
    siblings[-1] = bytes([siblings[-1][0] ^ 1]) + siblings[-1][1:]
    return dataclasses.replace(proved_value, proof=SparseMerkleProof(proof.leaf, tuple(
        siblings)).encode())


def _with_status(proved_value: ProvedValue, status: str) -> ProvedValue:
    assert proved_value.value is not None
    invoice = Invoice.decode(proved_value.value)
    return _value(proved_value, dataclasses.replace(invoice, status=status).encode())


def _header(certified_header: CertifiedHeader, **changes: Any) -> CertifiedHeader:
    header = dataclasses.replace(BlockHeader.decode(certified_header.header), **changes)
    return dataclasses.replace(certified_header, header=header.encode())


def _commit_of(certified_header: CertifiedHeader, edit: str) -> CertifiedHeader:
    commit = Commit.decode(certified_header.commit)
    signatures = list(commit.signatures)
    if edit == "forge":
        first = signatures[0]
        signatures[0] = dataclasses.replace(
            first, signature=bytes([first.signature[0] ^ 1]) + first.signature[1:])
    else:
        signatures = signatures[:2]
    commit = dataclasses.replace(commit, signatures=tuple(signatures))
    return dataclasses.replace(certified_header, commit=commit.encode())


def _tamper(chain: ChainStore, bundle: ProofBundle, what: str) -> ProofBundle:
    answer = bundle.answer
    other = answer_at(chain, FP_FREE, AFTER_CHANGE)
    assert answer.lien is not None
    edits: dict[str, Any] = {
        "invoice value": lambda: {"answer": dataclasses.replace(
            answer, invoice=_with_status(answer.invoice, "confirmed"))},
        "invoice proof": lambda: {"answer": dataclasses.replace(
            answer, invoice=_flip_sibling(answer.invoice))},
        "hidden lien, other key's absence proof": lambda: {"answer": dataclasses.replace(
            answer, lien=ProvedValue(None, proved(chain, AFTER_CHANGE,
                                                  lien_key("invoice:ff")).proof))},
        "hidden lien, its own proof": lambda: {"answer": dataclasses.replace(
            answer, lien=_value(answer.lien, None))},
        "dropped lien proof": lambda: {"answer": dataclasses.replace(answer, lien=None)},
        "dropped provenance entry": lambda: {"answer": dataclasses.replace(
            answer, provenance=answer.provenance[:-1])},
        "provenance entry value": lambda: {"answer": dataclasses.replace(
            answer, provenance=(_value(answer.provenance[0], answer.provenance[1].value),
                                *answer.provenance[1:]))},
        "another invoice's answer": lambda: {"answer": other},
        "another fingerprint": lambda: {"fingerprint": FP_FREE},
        "header time": lambda: {"answer": dataclasses.replace(answer, certified=_header(
            answer.certified, time_ms=BlockHeader.decode(answer.certified.header).time_ms + 1))},
        "header state root": lambda: {"answer": dataclasses.replace(answer, certified=_header(
            answer.certified, state_root=bytes(32)))},
        "older header, newer commit": lambda: {"answer": dataclasses.replace(
            answer, certified=CertifiedHeader(certified(chain, 5).header,
                                              answer.certified.commit))},
        "forged commit signature": lambda: {"answer": dataclasses.replace(
            answer, certified=_commit_of(answer.certified, "forge"))},
        "too few signatures": lambda: {"answer": dataclasses.replace(
            answer, certified=_commit_of(answer.certified, "drop"))},
        "forged validator set": lambda: {"changes": (dataclasses.replace(
            bundle.changes[0], validators=_value(bundle.changes[0].validators, ValidatorSet.of(
                [Validator(demo_key("MALLORY").public_key, 1)]).encode())),)},
        "missing validator change": lambda: {"changes": ()},
        "verdict": lambda: {"verdict": Verdict.FREE_TO_FINANCE},
        "genesis hash": lambda: {"genesis_hash": bytes(32)},
    }
    return dataclasses.replace(bundle, **edits[what]())


TAMPERINGS = {
    "invoice value": Code.STATE_PROOF_INVALID,
    "invoice proof": Code.STATE_PROOF_INVALID,
    "hidden lien, other key's absence proof": Code.STATE_PROOF_INVALID,
    "hidden lien, its own proof": Code.STATE_PROOF_INVALID,
    "dropped lien proof": Code.ANSWER_MISMATCH,
    "dropped provenance entry": Code.ANSWER_MISMATCH,
    "provenance entry value": Code.STATE_PROOF_INVALID,
    "another invoice's answer": Code.STATE_PROOF_INVALID,
    "another fingerprint": Code.STATE_PROOF_INVALID,
    "header time": Code.UNTRUSTED_HEADER,
    "header state root": Code.UNTRUSTED_HEADER,
    "older header, newer commit": Code.UNTRUSTED_HEADER,
    "forged commit signature": Code.UNTRUSTED_HEADER,
    "too few signatures": Code.UNTRUSTED_HEADER,
    "forged validator set": Code.STATE_PROOF_INVALID,
    "missing validator change": Code.UNKNOWN_VALIDATOR_SET,
    "verdict": Code.ANSWER_MISMATCH,
    "genesis hash": Code.CHAIN_MISMATCH,
}


@pytest.mark.parametrize(("what", "code"), TAMPERINGS.items(), ids=list(TAMPERINGS))
def test_tampering_with_any_field_is_caught(chain: ChainStore, what: str, code: Code) -> None:
    """Each edit is re-encoded with a correct checksum: the proofs must catch it."""
    bundle = bundle_of(chain, FP_FINANCED)
    assert refused(_tamper(chain, bundle, what).encode()) == code


def test_a_bundle_is_refused_under_another_genesis(chain: ChainStore) -> None:
    from tests.support.chain import example_genesis

    other = example_genesis()
    assert other.hash != GENESIS.hash
    with pytest.raises(LedgerError) as caught:
        check_bundle(bundle_of(chain, FP_FREE).encode(), other)
    assert caught.value.code == Code.CHAIN_MISMATCH


def test_an_edited_file_fails_its_checksum_and_other_formats_are_refused(
        chain: ChainStore) -> None:
    bundle = bundle_of(chain, FP_FREE)
    data = bundle.encode()
    assert refused(data.replace(b"http://node-a", b"http://node-b")) == Code.ANSWER_MISMATCH
    assert refused(data.replace(b"scf-proof-bundle/1", b"scf-proof-bundle/2")) == \
        Code.UNSUPPORTED_VERSION
    assert refused(b"not a bundle") in {Code.CODEC_MALFORMED, Code.CODEC_TRAILING_BYTES,
                                        Code.CODEC_TRUNCATED}
    assert refused(data + b"\x00") == Code.CODEC_TRAILING_BYTES


@pytest.fixture(scope="module")
def financed_bundle(chain: ChainStore) -> bytes:
    return bundle_of(chain, FP_FINANCED).encode()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_flipping_any_byte_never_changes_the_verdict_silently(financed_bundle: bytes,
                                                              position: int, mask: int) -> None:
    data = bytearray(financed_bundle)
    data[position % len(data)] ^= mask
    try:
        _, facts = check_bundle(bytes(data), GENESIS)
    except LedgerError:
        return                                 # refused: the intended outcome
    assert facts.verdict == Verdict.ALREADY_FINANCED  # pragma: no cover (the checksum)


def _resealed(body: Any) -> bytes:
    """A bundle body with a correct checksum (docs/cli-verify.md), as a forger would."""
    if not isinstance(body, dict):
        return codec.encode(body)
    checksum = hashlib.sha256(FORMAT.encode() + codec.encode(body)).digest()
    return codec.encode({**body, "checksum": checksum})


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_a_changed_byte_behind_a_fixed_checksum_never_changes_the_facts(
        chain: ChainStore, financed_bundle: bytes, position: int, mask: int) -> None:
    """The proofs alone: a byte of the body changes and the checksum is recomputed.
    Either the check refuses, or the byte was one no proof covers (when, whom it
    asked) and the proved facts are exactly the original ones."""
    original = check_bundle(financed_bundle, GENESIS)[1]
    document = codec.decode(financed_bundle)
    assert isinstance(document, dict)
    del document["checksum"]
    body = bytearray(codec.encode(document))
    body[position % len(body)] ^= mask
    try:
        _, facts = check_bundle(_resealed(codec.decode(bytes(body))), GENESIS)
    except LedgerError:
        return
    assert (facts.fingerprint, facts.height, facts.invoice, facts.lien, facts.provenance,
            facts.verdict) == (original.fingerprint, original.height, original.invoice,
                               original.lien, original.provenance, original.verdict)


# -- several sources (node/verify_invoice.py) ----------------------------------------


def _now(chain: ChainStore) -> int:
    return chain.block(chain.height).header.time_ms


def test_the_newest_verified_answer_wins(chain: ChainStore) -> None:
    sources = [ChainAnswerSource(chain, "old", height=2), ChainAnswerSource(chain, "new")]
    result = verify_invoice(GENESIS, FP_FINANCED, sources, max_age_ms=60_000,
                            clock=lambda: _now(chain))
    assert [r.outcome for r in result.reports] == [Outcome.VERIFIED, Outcome.VERIFIED]
    assert result.facts is not None and result.facts.height == AFTER_CHANGE
    assert result.facts.verdict == Verdict.ALREADY_FINANCED   # at height 2 it was free
    assert result.disagreement is None and result.bundle is not None
    assert check_bundle(result.bundle.encode(), GENESIS)[1].verdict == Verdict.ALREADY_FINANCED
    assert result.bundle.nodes == ("old", "new")


def test_an_old_header_is_a_failed_verification(chain: ChainStore) -> None:
    result = verify_invoice(GENESIS, FP_FREE, [ChainAnswerSource(chain, "stale", height=1)],
                            max_age_ms=2_000, clock=lambda: _now(chain))
    assert [(r.outcome, r.code) for r in result.reports] == [(Outcome.LIED, "STALE_HEADER")]
    assert result.facts is None and result.bundle is None


def test_two_certified_blocks_at_one_height_are_a_disagreement(chain: ChainStore) -> None:
    fork = ChainStore(MemoryStore(), GENESIS)
    commit_block(fork, [], round_=1)          # another block 1, also signed by 3 of 4
    sources = [ChainAnswerSource(chain, "node-a", height=1),
               ChainAnswerSource(fork, "node-b", height=1)]
    result = verify_invoice(GENESIS, FP_UNKNOWN, sources, max_age_ms=60_000,
                            clock=lambda: _now(fork))
    assert [r.outcome for r in result.reports] == [Outcome.VERIFIED, Outcome.VERIFIED]
    assert result.disagreement is not None
    assert "node-a" in result.disagreement and "node-b" in result.disagreement


class LyingAboutChanges(ChainAnswerSource):
    """Claims the validator set changed at height 2 (it changed at 4)."""

    def validator_change_at(self, height: int) -> ValidatorSetChange:
        return super().validator_change_at(2)


def test_a_source_lying_about_validator_changes_fails(chain: ChainStore) -> None:
    result = verify_invoice(GENESIS, FP_FREE, [LyingAboutChanges(chain, "liar")],
                            max_age_ms=60_000, clock=lambda: _now(chain))
    assert [(r.outcome, r.code) for r in result.reports] == [
        (Outcome.LIED, "UNKNOWN_VALIDATOR_SET")]
