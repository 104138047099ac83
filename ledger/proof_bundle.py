"""An invoice's facts proved from genesis, and the offline bundle that keeps the proofs.

Theory of operation. Before funding, a bank asks nodes for an invoice's
record, its lien and its provenance, each with a sparse Merkle proof against
a certified header (`GET /v1/invoices/{fp}?prove=1`). `InvoiceVerifier`
believes none of it until it is proved from genesis (ledger/light_client.py):

* the header's commit carries > 2/3 of the power of a validator set the
  verifier knows: genesis' set, or one it learned from a `ValidatorSetChange`
  (a certified header K - 1 and the proof of `sys/validators` in its state,
  which is the set that signs from K on);
* every value (or its absence) is proved against that header's state root
  under the key the verifier computes itself from the fingerprint, never a
  key the node names:

      invoice       contracts.invoices.invoice_key(fp)
      lien          contracts.liens.lien_key(invoice_asset(fp))   absent: no lien
      count         contracts.provenance.count_key(fp)
      entry i       contracts.provenance.entry_key(fp, i), for every i < count

* the verdict is computed from the proved values alone (`verdict_of`).

A `ProofBundle` keeps exactly those raw bytes, the validator-set changes the
verifier had to learn on its way from genesis, the verdict, when and whom it
asked; `check_bundle` redoes the whole check with the genesis document and no
node. The format is one canonical msgpack map (docs/cli-verify.md):

    {"format": "scf-proof-bundle/1", "genesis_hash": bin32, "fingerprint": bin32,
     "validator_set_changes": [{"header", "commit", "validators", "proof"}, ...],
     "header": bin, "commit": bin,
     "invoice": {"value": bin | nil, "proof": bin},
     "lien": {...} | nil, "provenance_count": {...} | nil, "provenance": [{...}, ...],
     "verdict": str, "checked_at_ms": int, "nodes": [str, ...],
     "checksum": bin32}

`checksum` is SHA-256("scf-proof-bundle/1" || canonical map without it). It
only catches corruption (anyone can recompute it); forgery is caught by the
proofs. With canonical decoding, any changed byte of a bundle is an error.

Pure: no I/O, no clock. Every failure is a LedgerError: UNTRUSTED_HEADER,
UNKNOWN_VALIDATOR_SET, STATE_PROOF_INVALID, ANSWER_MISMATCH (an answer or
bundle inconsistent with its own proofs), CHAIN_MISMATCH (another genesis),
SCHEMA_MISMATCH / UNSUPPORTED_VERSION / CODEC_* (not a bundle).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contracts.invoices import Invoice, Status, invoice_key
from contracts.liens import Lien, invoice_asset, lien_key
from contracts.provenance import ProvenanceEntry, count_key, entry_key
from genesis.document import Genesis
from ledger import codec
from ledger.errors import Code, LedgerError
from ledger.light_client import LightClient, TrustedHeader
from ledger.smt_proof import SparseMerkleProof
from ledger.types import BlockHeader, Commit
from ledger.validators import ValidatorSet

FORMAT = "scf-proof-bundle/1"
MAX_BUNDLE_SIZE = codec.DEFAULT_MAX_SIZE
FINGERPRINT_SIZE = 32
#: The keys of a bundle's map besides "checksum".
BUNDLE_FIELDS = frozenset({
    "format", "genesis_hash", "fingerprint", "validator_set_changes", "header", "commit",
    "invoice", "lien", "provenance_count", "provenance", "verdict", "checked_at_ms", "nodes"})


class Verdict(StrEnum):
    FREE_TO_FINANCE = "FREE_TO_FINANCE"      # confirmed, lien proved absent
    ALREADY_FINANCED = "ALREADY_FINANCED"    # a lien is active
    NOT_CONFIRMED = "NOT_CONFIRMED"          # registered, disputed, settled, cancelled, ...
    UNKNOWN = "UNKNOWN"                      # the invoice is proved absent


@dataclass(frozen=True, slots=True)
class ProvedValue:
    """A state value (None: absent) and its encoded sparse Merkle proof."""

    value: bytes | None
    proof: bytes


@dataclass(frozen=True, slots=True)
class CertifiedHeader:
    """A block header and the commit certifying it, as canonical bytes."""

    header: bytes
    commit: bytes


@dataclass(frozen=True, slots=True)
class ValidatorSetChange:
    """`validators` is the state's `sys/validators` at `before`: the set that
    signs the blocks after it."""

    before: CertifiedHeader
    validators: ProvedValue


@dataclass(frozen=True, slots=True)
class InvoiceAnswer:
    """A node's proved answer about one invoice, raw. An absent invoice has
    no lien, count or entries."""

    certified: CertifiedHeader
    invoice: ProvedValue
    lien: ProvedValue | None
    provenance_count: ProvedValue | None
    provenance: tuple[ProvedValue, ...]


@dataclass(frozen=True, slots=True)
class Certification:
    """Who signed a trusted header: `signers` of `validators`, power `power`/`total_power`."""

    signers: int
    validators: int
    power: int
    total_power: int


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """What an answer proved, and the answer itself (to bundle it)."""

    fingerprint: bytes
    trusted: TrustedHeader
    certification: Certification
    invoice: Invoice | None
    lien: Lien | None
    provenance: tuple[ProvenanceEntry, ...]
    answer: InvoiceAnswer

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.invoice, self.lien)

    @property
    def height(self) -> int:
        return self.trusted.height


def verdict_of(invoice: Invoice | None, lien: Lien | None) -> Verdict:
    if invoice is None:
        return Verdict.UNKNOWN
    if lien is not None:
        return Verdict.ALREADY_FINANCED
    if invoice.status != Status.CONFIRMED:
        return Verdict.NOT_CONFIRMED
    return Verdict.FREE_TO_FINANCE


class InvoiceVerifier:
    """A light client that also remembers the validator sets it knows and the
    changes that taught it them (a bundle must carry those)."""

    def __init__(self, genesis: Genesis) -> None:
        self.genesis_hash = genesis.hash
        self._client = LightClient(genesis)
        self._sets: dict[bytes, ValidatorSet] = {genesis.validators.hash: genesis.validators}
        self._changes: list[ValidatorSetChange] = []

    @property
    def changes(self) -> tuple[ValidatorSetChange, ...]:
        return tuple(self._changes)

    def knows(self, validator_set_hash: bytes) -> bool:
        return validator_set_hash in self._sets

    def trust(self, certified: CertifiedHeader) -> TrustedHeader:
        return self._client.trust(BlockHeader.decode(certified.header),
                                  Commit.decode(certified.commit))

    def learn(self, change: ValidatorSetChange) -> ValidatorSet:
        """Learns the set a change proves (its header must be trusted already)."""
        before = self.trust(change.before)
        proof = SparseMerkleProof.decode(change.validators.proof)
        validators = self._client.learn_validator_set(before, change.validators.value, proof)
        if validators.hash not in self._sets:
            self._sets[validators.hash] = validators
            self._changes.append(change)
        return validators

    def verify(self, fingerprint: bytes, answer: InvoiceAnswer) -> InvoiceFacts:
        """The facts `answer` proves about `fingerprint`, or a LedgerError."""
        if type(fingerprint) is not bytes or len(fingerprint) != FINGERPRINT_SIZE:
            raise LedgerError(Code.INVALID_ARGUMENT, "fingerprint: expected 32 bytes")
        trusted = self.trust(answer.certified)
        certification = self._certification(trusted)
        data = self._proved(trusted, invoice_key(fingerprint), answer.invoice, "invoice")
        if data is None:
            if answer.lien is not None or answer.provenance_count is not None \
                    or answer.provenance:
                raise _mismatch("the invoice is proved absent, yet the answer carries a lien "
                                "or provenance")
            return InvoiceFacts(fingerprint, trusted, certification, None, None, (), answer)
        invoice = Invoice.decode(data)
        if invoice.fingerprint != fingerprint:
            raise _mismatch(f"the record under the invoice's key is of invoice "
                            f"{invoice.fingerprint.hex()}")
        if answer.lien is None or answer.provenance_count is None:
            raise _mismatch("the answer proves the invoice but not its lien and provenance")
        asset = invoice_asset(fingerprint)
        lien_data = self._proved(trusted, lien_key(asset), answer.lien, "lien")
        lien = None if lien_data is None else Lien.decode(lien_data)
        if lien is not None and lien.asset != asset:
            raise _mismatch(f"the lien under the invoice's key is on {lien.asset}")
        count = _count(self._proved(trusted, count_key(fingerprint), answer.provenance_count,
                                    "provenance count"))
        if len(answer.provenance) != count:
            raise _mismatch(f"the proved history has {count} entries; the answer carries "
                            f"{len(answer.provenance)}")
        entries = []
        for index, proved in enumerate(answer.provenance):
            entry = self._proved(trusted, entry_key(fingerprint, index), proved,
                                 f"provenance entry {index}")
            if entry is None:
                raise _mismatch(f"provenance entry {index} is proved absent")
            entries.append(ProvenanceEntry.decode(entry))
        return InvoiceFacts(fingerprint, trusted, certification, invoice, lien, tuple(entries),
                            answer)

    def _proved(self, trusted: TrustedHeader, key: bytes, proved: ProvedValue, name: str
                ) -> bytes | None:
        """`proved.value` once its proof for `key` verifies; errors name the value."""
        try:
            proof = SparseMerkleProof.decode(proved.proof)
            self._client.check_value(trusted, key, proved.value, proof)
        except LedgerError as error:
            raise LedgerError(error.code, f"{name}: {error.message}") from None
        return proved.value

    def _certification(self, trusted: TrustedHeader) -> Certification:
        validators = self._sets[trusted.header.validator_set_hash]
        signatures = trusted.commit.signatures
        return Certification(len(signatures), len(validators.validators),
                             sum(validators.power_of(s.validator) for s in signatures),
                             validators.total_power)


@dataclass(frozen=True, slots=True)
class ProofBundle:
    genesis_hash: bytes
    fingerprint: bytes
    changes: tuple[ValidatorSetChange, ...]
    answer: InvoiceAnswer
    verdict: Verdict
    checked_at_ms: int
    nodes: tuple[str, ...]

    @classmethod
    def of(cls, verifier: InvoiceVerifier, facts: InvoiceFacts, *, checked_at_ms: int,
           nodes: Iterable[str]) -> ProofBundle:
        """The bundle of verified `facts` (the verifier that checked them knows the
        validator-set changes they rely on)."""
        return cls(verifier.genesis_hash, facts.fingerprint, verifier.changes, facts.answer,
                   facts.verdict, checked_at_ms, tuple(nodes))

    def encode(self) -> bytes:
        body = self._body()
        return codec.encode({**body, "checksum": _checksum(body)}, max_size=MAX_BUNDLE_SIZE)

    @classmethod
    def decode(cls, data: bytes) -> ProofBundle:
        document = codec.decode(data, max_size=MAX_BUNDLE_SIZE)
        if type(document) is not dict:
            raise _schema("the bundle is not a map")
        if document.get("format") != FORMAT:
            shown = repr(document.get("format"))[:40]
            raise LedgerError(Code.UNSUPPORTED_VERSION, f"bundle format {shown} is not "
                              f"supported (expected {FORMAT!r})")
        body = _fields(document, BUNDLE_FIELDS | {"checksum"}, "bundle")
        checksum = body.pop("checksum")
        if checksum != _checksum(body):
            raise LedgerError(Code.ANSWER_MISMATCH, "the bundle's checksum does not match its "
                              "content: the file is corrupted or was edited")
        answer = InvoiceAnswer(
            CertifiedHeader(_bytes(body["header"], "header"), _bytes(body["commit"], "commit")),
            _proved_value(body["invoice"], "invoice"),
            _optional(body["lien"], "lien"),
            _optional(body["provenance_count"], "provenance_count"),
            tuple(_proved_value(item, f"provenance[{index}]")
                  for index, item in enumerate(_list(body["provenance"], "provenance"))))
        changes = tuple(_change(item, f"validator_set_changes[{index}]") for index, item in
                        enumerate(_list(body["validator_set_changes"], "validator_set_changes")))
        verdict = body["verdict"]
        if type(verdict) is not str or verdict not in Verdict.__members__:
            raise _schema(f"verdict: {verdict!r:.40} is not a verdict")
        checked_at = body["checked_at_ms"]
        if type(checked_at) is not int or checked_at < 0:
            raise _schema("checked_at_ms: expected a non-negative int")
        nodes = _list(body["nodes"], "nodes")
        if not all(type(node) is str for node in nodes):
            raise _schema("nodes: expected strings")
        return cls(_bytes(body["genesis_hash"], "genesis_hash", size=32),
                   _bytes(body["fingerprint"], "fingerprint", size=FINGERPRINT_SIZE),
                   changes, answer, Verdict(verdict), checked_at, tuple(nodes))

    def _body(self) -> dict[str, Any]:
        answer = self.answer
        return {
            "format": FORMAT,
            "genesis_hash": self.genesis_hash,
            "fingerprint": self.fingerprint,
            "validator_set_changes": [
                {"header": c.before.header, "commit": c.before.commit,
                 "validators": c.validators.value, "proof": c.validators.proof}
                for c in self.changes],
            "header": answer.certified.header,
            "commit": answer.certified.commit,
            "invoice": _proved_map(answer.invoice),
            "lien": None if answer.lien is None else _proved_map(answer.lien),
            "provenance_count": (None if answer.provenance_count is None
                                 else _proved_map(answer.provenance_count)),
            "provenance": [_proved_map(entry) for entry in answer.provenance],
            "verdict": self.verdict.value,
            "checked_at_ms": self.checked_at_ms,
            "nodes": list(self.nodes),
        }


def check_bundle(data: bytes, genesis: Genesis) -> tuple[ProofBundle, InvoiceFacts]:
    """Re-verifies a bundle from `genesis` alone; its facts, or a LedgerError.

    Freshness is not checked (a bundle is read after the fact): the caller
    reports the header's time instead.
    """
    bundle = ProofBundle.decode(data)
    if bundle.genesis_hash != genesis.hash:
        raise LedgerError(Code.CHAIN_MISMATCH, f"the bundle is for genesis "
                          f"{bundle.genesis_hash.hex()[:16]}…, not {genesis.hash.hex()[:16]}… "
                          f"({genesis.chain_id})")
    verifier = InvoiceVerifier(genesis)
    for change in bundle.changes:
        verifier.learn(change)
    facts = verifier.verify(bundle.fingerprint, bundle.answer)
    if facts.verdict != bundle.verdict:
        raise _mismatch(f"the bundle says {bundle.verdict.value}, its proofs show "
                        f"{facts.verdict.value}")
    return bundle, facts


# -- decoding helpers: every shape error is SCHEMA_MISMATCH naming the field --------


def _checksum(body: dict[str, Any]) -> bytes:
    return hashlib.sha256(FORMAT.encode() + codec.encode(body, max_size=MAX_BUNDLE_SIZE)).digest()


def _proved_map(proved: ProvedValue) -> dict[str, Any]:
    return {"value": proved.value, "proof": proved.proof}


def _fields(value: Any, names: frozenset[str], where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _schema(f"{where}: expected a map")
    if set(value) != names:
        missing, extra = sorted(names - set(value)), sorted(set(value) - names)
        raise _schema(f"{where}: missing {missing}, unexpected {extra}")
    return dict(value)


def _bytes(value: Any, where: str, size: int | None = None) -> bytes:
    if type(value) is not bytes or (size is not None and len(value) != size):
        raise _schema(f"{where}: expected {'bytes' if size is None else f'{size} bytes'}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if type(value) is not list:
        raise _schema(f"{where}: expected a list")
    return value


def _proved_value(value: Any, where: str) -> ProvedValue:
    fields = _fields(value, frozenset({"value", "proof"}), where)
    data = fields["value"]
    return ProvedValue(None if data is None else _bytes(data, f"{where}.value"),
                       _bytes(fields["proof"], f"{where}.proof"))


def _optional(value: Any, where: str) -> ProvedValue | None:
    return None if value is None else _proved_value(value, where)


def _change(value: Any, where: str) -> ValidatorSetChange:
    fields = _fields(value, frozenset({"header", "commit", "validators", "proof"}), where)
    return ValidatorSetChange(
        CertifiedHeader(_bytes(fields["header"], f"{where}.header"),
                        _bytes(fields["commit"], f"{where}.commit")),
        ProvedValue(_bytes(fields["validators"], f"{where}.validators"),
                    _bytes(fields["proof"], f"{where}.proof")))


def _count(data: bytes | None) -> int:
    if data is None:
        return 0
    value = codec.decode(data)
    if type(value) is not int or value < 0:
        raise LedgerError(Code.SCHEMA_MISMATCH, "the provenance count is not a count")
    return value


def _schema(message: str) -> LedgerError:
    return LedgerError(Code.SCHEMA_MISMATCH, f"proof bundle: {message}")


def _mismatch(message: str) -> LedgerError:
    return LedgerError(Code.ANSWER_MISMATCH, message)
