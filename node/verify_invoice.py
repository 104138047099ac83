"""Asking nodes about an invoice and believing only what their proofs show.

`verify_invoice` is the bank's check before funding (`scf invoice verify`).
For each node it asks (an `AnswerSource`; `NodeAnswerSource` over HTTP):

1. `GET /v1/invoices/{fp}?prove=1`; on 404, `GET /v1/state/{invoice_key(fp)}?prove=1`
   for a certified proof that the invoice is absent;
2. if the answer's header names a validator set the verifier does not know,
   walks back from it (`GET /v1/blocks/{h}`) to the last header signed by a
   known set, and learns each change on the way forward: the set signing
   K is `sys/validators` in the state of K - 1, proved against the certified
   header K - 1 (`GET /v1/state/<sys/validators>?height=K-1&prove=1`);
3. verifies the answer from genesis (ledger/proof_bundle.py: header
   certificate, then every value under keys computed here), compares the
   node's readable copy with the proved values (ANSWER_MISMATCH: the node
   lied), and checks the header's age against the local clock.

Each node ends verified, lied (a LedgerError says which check failed) or
silent (unreachable, or it refused to answer). Of the verified answers the
newest header wins; two different certified blocks at one height are a
disagreement, never resolved silently. What to do with liars is the
caller's choice (`Verification.liars`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from contracts.invoices import invoice_key
from contracts.liens import invoice_asset, lien_key
from contracts.provenance import count_key, entry_key
from genesis.document import Genesis
from ledger.errors import Code, LedgerError
from ledger.light_client import check_fresh
from ledger.proof_bundle import (
    CertifiedHeader,
    InvoiceAnswer,
    InvoiceFacts,
    InvoiceVerifier,
    ProofBundle,
    ProvedValue,
    ValidatorSetChange,
)
from ledger.system_state import VALIDATORS_KEY
from ledger.types import BlockHeader
from node.client import ApiError, NodeClient

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How far below an answer's header the walk looks for a known validator set.
MAX_WALK_BLOCKS = 10_000


@dataclass(frozen=True, slots=True)
class Claims:
    """What a node said in readable form (hex for bytes), to hold against its proofs."""

    height: int
    invoice: Any
    lien: Any
    provenance: Any
    keys: dict[str, str]  # value name -> the key the node named, hex


@dataclass(frozen=True, slots=True)
class SourcedAnswer:
    answer: InvoiceAnswer
    claims: Claims | None


class AnswerSource(Protocol):
    """Where answers come from. Raises ApiError if it cannot answer, LedgerError
    if what it sent is not even a well-formed answer."""

    label: str

    def invoice_answer(self, fingerprint: bytes) -> SourcedAnswer: ...

    def header_at(self, height: int) -> bytes: ...

    def validator_change_at(self, height: int) -> ValidatorSetChange: ...


class NodeAnswerSource:
    """A node's HTTP API as an AnswerSource."""

    def __init__(self, client: NodeClient) -> None:
        self.client = client
        self.label = client.url

    def invoice_answer(self, fingerprint: bytes) -> SourcedAnswer:
        found = self._invoice(fingerprint)
        if found is not None:
            return found
        absence = self._absence(fingerprint)
        if absence is not None:
            return absence
        # registered between the two requests? then the invoice route has it now
        found = self._invoice(fingerprint)
        if found is None:
            raise LedgerError(Code.ANSWER_MISMATCH, "the node says there is no such invoice, "
                              "yet its state holds a record under the invoice's key")
        return found

    def header_at(self, height: int) -> bytes:
        document = _json(lambda: self.client.block(height))
        return _parse(lambda d: _hex(d["header"]["raw"]), document)

    def validator_change_at(self, height: int) -> ValidatorSetChange:
        document = _json(lambda: self.client.state(VALIDATORS_KEY, height=height, prove=True))

        def parse(d: dict[str, Any]) -> ValidatorSetChange:
            return ValidatorSetChange(_certified(d), _proved_value(d["values"]["key"]))
        return _parse(parse, document)

    def _invoice(self, fingerprint: bytes) -> SourcedAnswer | None:
        """The proved answer; None if the node says 404 INVOICE_NOT_FOUND."""
        try:
            document = _json(lambda: self.client.invoice(fingerprint, prove=True))
        except ApiError as error:
            if error.status == 404 and error.code == Code.INVOICE_NOT_FOUND:
                return None
            raise
        return _parse(_invoice_answer, document)

    def _absence(self, fingerprint: bytes) -> SourcedAnswer | None:
        """The proved absence of the invoice's record; None if the state holds one."""
        document = _json(lambda: self.client.state(invoice_key(fingerprint), prove=True))

        def parse(d: dict[str, Any]) -> SourcedAnswer | None:
            entry = d["values"]["key"]
            if entry["value"] is not None:
                return None
            answer = InvoiceAnswer(_certified(d), _proved_value(entry), None, None, ())
            return SourcedAnswer(answer, Claims(_int(d["height"]), None, None, [],
                                                {"invoice": entry["key"]}))
        return _parse(parse, document)


class Outcome(StrEnum):
    VERIFIED = "verified"
    LIED = "lied"
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class NodeReport:
    source: str
    outcome: Outcome
    code: str | None = None
    message: str = ""
    facts: InvoiceFacts | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    fingerprint: bytes
    reports: tuple[NodeReport, ...]
    facts: InvoiceFacts | None        # the newest verified answer
    disagreement: str | None          # two certified blocks at one height
    bundle: ProofBundle | None        # of `facts`, if any

    @property
    def liars(self) -> tuple[NodeReport, ...]:
        return tuple(r for r in self.reports if r.outcome == Outcome.LIED)

    @property
    def silent(self) -> tuple[NodeReport, ...]:
        return tuple(r for r in self.reports if r.outcome == Outcome.SILENT)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def verify_invoice(genesis: Genesis, fingerprint: bytes, sources: Sequence[AnswerSource], *,
                   max_age_ms: int, clock: Callable[[], int] = wall_clock_ms) -> Verification:
    """Asks every source, verifies every answer; see the module docstring."""
    verifier = InvoiceVerifier(genesis)
    reports: list[NodeReport] = []
    for source in sources:
        try:
            facts = ask(verifier, source, fingerprint, clock=clock, max_age_ms=max_age_ms)
        except LedgerError as error:
            log.info("%s failed verification: %s", source.label, error)
            reports.append(NodeReport(source.label, Outcome.LIED, error.code.value,
                                      error.message))
        except ApiError as error:
            reports.append(NodeReport(source.label, Outcome.SILENT, error.code, error.message))
        else:
            reports.append(NodeReport(source.label, Outcome.VERIFIED, facts=facts))
    verified = [(r.source, r.facts) for r in reports if r.facts is not None]
    # the newest header wins; on a tie, the first source asked
    best = max((facts for _, facts in verified), key=lambda f: f.height, default=None)
    bundle = None if best is None else ProofBundle.of(
        verifier, best, checked_at_ms=clock(), nodes=[r.source for r in reports])
    return Verification(fingerprint, tuple(reports), best, _disagreement(verified), bundle)


def ask(verifier: InvoiceVerifier, source: AnswerSource, fingerprint: bytes, *,
        clock: Callable[[], int], max_age_ms: int) -> InvoiceFacts:
    """One source's answer, verified and fresh; LedgerError if it is not."""
    sourced = source.invoice_answer(fingerprint)
    header = BlockHeader.decode(sourced.answer.certified.header)
    if not verifier.knows(header.validator_set_hash):
        follow_validator_changes(verifier, source, header)
    facts = verifier.verify(fingerprint, sourced.answer)
    if sourced.claims is not None:
        compare_claims(facts, sourced.claims)
    check_fresh(facts.trusted, now_ms=clock(), max_age_ms=max_age_ms)
    return facts


def follow_validator_changes(verifier: InvoiceVerifier, source: AnswerSource,
                             header: BlockHeader) -> None:
    """Learns, height by height, the validator sets from the last known one up to
    the one `header` names. The walk's headers are not trusted: each change is
    proved, and a node that lies about where changes are only fails the check."""
    below: list[BlockHeader] = [header]
    while not verifier.knows(below[-1].validator_set_hash):
        height = below[-1].height - 1
        if height < 1 or header.height - height > MAX_WALK_BLOCKS:
            raise LedgerError(Code.UNKNOWN_VALIDATOR_SET, f"no header signed by a known "
                              f"validator set within {header.height - height} blocks below "
                              f"header {header.height}")
        walked = BlockHeader.decode(source.header_at(height))
        if walked.height != height:
            raise LedgerError(Code.ANSWER_MISMATCH, f"asked for header {height}, got "
                              f"{walked.height}")
        below.append(walked)
    for before, after in zip(reversed(below), list(reversed(below))[1:]):
        if not verifier.knows(after.validator_set_hash):
            learned = verifier.learn(source.validator_change_at(before.height))
            if learned.hash != after.validator_set_hash:
                raise LedgerError(Code.UNKNOWN_VALIDATOR_SET, f"header {after.height} names "
                                  f"validator set {after.validator_set_hash.hex()[:16]}…; the "
                                  f"state of {before.height} proves "
                                  f"{learned.hash.hex()[:16]}…")


def compare_claims(facts: InvoiceFacts, claims: Claims) -> None:
    """ANSWER_MISMATCH unless the node's readable copy is what its proofs show."""
    if claims.height != facts.height:
        raise LedgerError(Code.ANSWER_MISMATCH, f"the node says height {claims.height}; its "
                          f"certified header is {facts.height}")
    shown = {"invoice": readable(facts.invoice), "lien": readable(facts.lien),
             "provenance": [readable(entry) for entry in facts.provenance]}
    for name, said in (("invoice", claims.invoice), ("lien", claims.lien),
                       ("provenance", claims.provenance)):
        if said != shown[name]:
            raise LedgerError(Code.ANSWER_MISMATCH, f"the node's readable {name} is not what "
                              f"its proofs show{_differences(said, shown[name])}")
    fp = facts.fingerprint
    keys = {"invoice": invoice_key(fp), "lien": lien_key(invoice_asset(fp)),
            "provenance_count": count_key(fp)}
    keys.update({f"provenance/{i}": entry_key(fp, i) for i in range(len(facts.provenance))})
    for name, said_key in claims.keys.items():
        if name in keys and said_key != keys[name].hex():
            raise LedgerError(Code.ANSWER_MISMATCH, f"the node names key {said_key[:24]}… "
                              f"for the {name}; its key is {keys[name].hex()[:24]}…")


def readable(value: Any) -> Any:
    """A ledger structure as the node's JSON shows it: fields by name, bytes as hex."""
    if value is None:
        return None
    return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _differences(said: Any, shown: Any) -> str:
    if isinstance(said, dict) and isinstance(shown, dict):
        names = sorted(n for n in set(said) | set(shown) if said.get(n) != shown.get(n))
        return f" ({', '.join(names)})" if names else ""
    return ""


def _disagreement(verified: list[tuple[str, InvoiceFacts]]) -> str | None:
    by_height: dict[int, tuple[str, InvoiceFacts]] = {}
    for source, facts in verified:
        first_source, first = by_height.setdefault(facts.height, (source, facts))
        if first.trusted.header.hash != facts.trusted.header.hash:
            return (f"{first_source} and {source} gave different certified blocks at height "
                    f"{facts.height} ({first.trusted.header.hash.hex()[:16]}… and "
                    f"{facts.trusted.header.hash.hex()[:16]}…): the validators equivocated; "
                    "do not rely on this chain until the consortium resolves it")
        if first.verdict != facts.verdict:
            return (f"{first_source} and {source} prove different verdicts at height "
                    f"{facts.height}")
    return None


# -- parsing a node's JSON: any shape error is the node's ANSWER_MISMATCH ------------


def _json(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return call()
    except ValueError as error:  # the body was not JSON
        raise LedgerError(Code.ANSWER_MISMATCH, f"the answer is not JSON: {error}") from None


def _parse(parse: Callable[[Any], T], document: Any) -> T:
    try:
        return parse(document)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise LedgerError(Code.ANSWER_MISMATCH, f"malformed answer ({type(error).__name__}: "
                          f"{error})") from None


def _invoice_answer(document: dict[str, Any]) -> SourcedAnswer:
    values = document["values"]
    provenance: list[ProvedValue] = []
    while f"provenance/{len(provenance)}" in values:
        provenance.append(_proved_value(values[f"provenance/{len(provenance)}"]))
    answer = InvoiceAnswer(_certified(document), _proved_value(values["invoice"]),
                           _proved_value(values["lien"]), _proved_value(values["provenance_count"]),
                           tuple(provenance))
    keys = {name: str(entry["key"]) for name, entry in values.items()}
    return SourcedAnswer(answer, Claims(_int(document["height"]), document["invoice"],
                                        document["lien"], document["provenance"], keys))


def _certified(document: dict[str, Any]) -> CertifiedHeader:
    return CertifiedHeader(_hex(document["header"]["raw"]), _hex(document["commit"]["raw"]))


def _proved_value(entry: dict[str, Any]) -> ProvedValue:
    value = entry["value"]
    return ProvedValue(None if value is None else _hex(value), _hex(entry["proof"]["raw"]))


def _hex(text: Any) -> bytes:
    if type(text) is not str:
        raise TypeError(f"expected hex text, got {type(text).__name__}")
    return bytes.fromhex(text)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return value
