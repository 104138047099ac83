"""Provenance in order and provable; liens one per asset; every event names its subjects."""

from __future__ import annotations

import re

from contracts.invoices import invoice_key
from contracts.liens import active_lien, invoice_asset, lien_key
from contracts.provenance import count_key, entry_key, get_provenance
from ledger import codec
from ledger.smt_proof import verify_proof
from tests.contracts.support import (
    Call,
    ContractChain,
    contract_changes,
    fingerprint_of,
    invoice_args,
)

ARGS = invoice_args()
FP = fingerprint_of(ARGS)
ASSET = invoice_asset(FP)
DAY = 86_400_000
SUBJECT = r"(invoice|certificate|receipt|member):[\w.:-]+"
PATH = [
    Call("SUPPLIER-01", "register", ARGS),
    Call("CORE-01", "confirm", {"fingerprint": FP, "amount": 99_000_000}),
    Call("BANK-A", "assign", {"fingerprint": FP, "deal_id": "F-1"}, "testfin"),
    Call("BANK-A", "overdue", {"fingerprint": FP}, "testfin"),
    Call("CORE-01", "settle", {"fingerprint": FP, "deal_id": "F-1"}, "testfin"),
]


def test_provenance_is_ordered_complete_and_provable() -> None:
    chain = ContractChain()
    receipts = [chain.run([call], step_ms=DAY)[0] for call in PATH]
    assert [r.code for r in receipts] == ["OK"] * len(PATH)
    history = get_provenance(chain.state, FP)
    assert [(e.action, e.status, e.signer) for e in history] == [
        ("register", "registered", "SUPPLIER-01"),
        ("confirm", "confirmed", "CORE-01"),
        ("assign", "assigned", "BANK-A"),
        ("overdue", "overdue", "BANK-A"),
        ("settle", "settled", "CORE-01"),
    ]
    assert history[1].detail == "amount 99000000" and history[2].detail == "deal F-1 to BANK-A"
    for height, (entry, receipt) in enumerate(zip(history, receipts), start=1):
        header = chain.store.block(height).header
        assert (entry.tx_id, entry.height, entry.time_ms) == (receipt.tx_id, height, header.time_ms)
        assert chain.store.tx_location(entry.tx_id) == (height, 0)
    # every entry, and the count, is proved against the newest certified state root
    top = chain.store.height
    root = chain.store.block(top).header.state_root
    for key in [count_key(FP), invoice_key(FP)] + [entry_key(FP, i) for i in range(len(history))]:
        value, proof = chain.store.state_at(top).get_with_proof(key)
        assert value is not None
        verify_proof(root, key, value, proof)
    # the settled invoice's lien is gone, provably
    value, proof = chain.store.state_at(top).get_with_proof(lien_key(ASSET))
    assert value is None
    verify_proof(root, lien_key(ASSET), None, proof)



def test_every_event_names_its_subjects() -> None:
    chain = ContractChain()
    events = [e for call in PATH for e in chain.run([call])[0].events]
    kinds = [e.kind for e in events]
    assert kinds == ["invoice.registered", "invoice.confirmed", "lien.placed", "invoice.assigned",
                     "invoice.overdue", "lien.released", "invoice.settled"]
    for event in events:
        subjects = event.attributes["subjects"]
        assert subjects and len(set(subjects)) == len(subjects)
        assert all(re.fullmatch(SUBJECT, s) for s in subjects)
        assert ASSET in subjects
    bank_history = [e.kind for e in events if "member:BANK-A" in e.attributes["subjects"]]
    assert bank_history == ["lien.placed", "invoice.assigned", "invoice.overdue", "lien.released",
                            "invoice.settled"]
    # the chain store's event index lists the same histories by subject
    assert [found.event.kind for found in chain.store.events_for(ASSET)] == kinds
    assert [found.event.kind for found in chain.store.events_for("member:BANK-A")] == bank_history


def _lien(chain: ContractChain, member: str, method: str, asset: str, deal: str) -> tuple[str, str]:
    receipt = chain.run([Call(member, method, {"asset": asset, "deal_id": deal}, "testfin")])[0]
    return receipt.code, receipt.message


def test_one_active_lien_per_asset() -> None:
    chain = ContractChain()
    asset = "certificate:C-0001"
    assert _lien(chain, "BANK-A", "place_lien", asset, "P-1")[0] == "OK"
    code, message = _lien(chain, "BANK-B", "place_lien", asset, "P-2")
    assert code == "ASSET_ENCUMBERED" and "BANK-A" in message and "P-1" in message
    assert contract_changes(chain.last_changes) == []
    assert _lien(chain, "BANK-A", "place_lien", asset, "P-1")[0] == "ASSET_ENCUMBERED"
    code, message = _lien(chain, "BANK-B", "release_lien", asset, "P-2")
    assert code == "LIEN_NOT_FOUND" and "P-1" in message
    assert _lien(chain, "BANK-A", "release_lien", asset, "P-1")[0] == "OK"
    assert active_lien(chain.state, asset) is None
    assert _lien(chain, "BANK-A", "release_lien", asset, "P-1")[0] == "LIEN_NOT_FOUND"
    assert _lien(chain, "BANK-B", "place_lien", asset, "P-2")[0] == "OK"
    lien = active_lien(chain.state, asset)
    assert lien is not None and (lien.holder, lien.deal_id) == ("BANK-B", "P-2")


def test_asset_ids_are_checked() -> None:
    chain = ContractChain()
    for asset in ("car:1", "invoice:", "receipt: 1", "certificate:" + "x" * 200):
        code, message = _lien(chain, "BANK-A", "place_lien", asset, "P-1")
        assert code == "INVALID_ARGUMENT" and message.startswith("asset:"), (asset, message)


def test_an_invoice_under_another_products_lien_cannot_move() -> None:
    chain = ContractChain()
    assert chain.run([PATH[0], PATH[1]])[1].code == "OK"
    assert _lien(chain, "BANK-B", "place_lien", ASSET, "CERT-9")[0] == "OK"
    for call in [Call("CORE-01", "dispute", {"fingerprint": FP}),
                 Call("BANK-A", "assign", {"fingerprint": FP, "deal_id": "F-1"}, "testfin"),
                 Call("CORE-01", "settle", {"fingerprint": FP}, "testfin")]:
        receipt = chain.run([call])[0]
        assert receipt.code == "ASSET_ENCUMBERED" and "CERT-9" in receipt.message
        assert contract_changes(chain.last_changes) == []
    receipts = chain.run([Call("CORE-01", "consent_cancel", {"fingerprint": FP}),
                          Call("SUPPLIER-01", "cancel", {"fingerprint": FP})])
    assert [r.code for r in receipts] == ["OK", "ASSET_ENCUMBERED"]


def test_a_registration_writes_the_record_its_history_and_its_two_buckets() -> None:
    chain = ContractChain()
    assert chain.run([PATH[0]])[0].code == "OK"
    changes = chain.last_changes
    keys = contract_changes(changes)
    assert count_key(FP) in keys and entry_key(FP, 0) in keys and invoice_key(FP) in keys
    assert len(keys) == 5  # and the near-match and document buckets
    assert codec.decode(changes[count_key(FP)]) == 1  # type: ignore[arg-type]
    assert get_provenance(chain.state, FP)[0].action == "register"
