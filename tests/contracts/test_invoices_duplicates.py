"""Duplicates are refused ledger-wide; near matches are accepted with a warning event."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.invoices import MAX_DUPLICATE_WARNINGS, get_invoice
from contracts.near_match_index import near_keys
from ledger import codec
from ledger.types import Event, Receipt
from tests.contracts.support import (
    Call,
    ContractChain,
    contract_changes,
    fingerprint_of,
    invoice_args,
)

ARGS = invoice_args("INV-2026/001", issue_date="2026-11-20")
FP = fingerprint_of(ARGS)


def register(chain: ContractChain, args: dict[str, Any], member: str = "SUPPLIER-01") -> Receipt:
    return chain.run([Call(member, "register", args)])[0]


def warnings(receipt: Receipt) -> list[Event]:
    return [e for e in receipt.events if e.kind == "invoice.possible_duplicate"]


def test_a_second_registration_is_refused_and_points_at_the_first() -> None:
    chain = ContractChain()
    first = register(chain, ARGS)
    assert first.code == "OK"
    for member, args in [
        ("SUPPLIER-01", ARGS),
        ("SUPPLIER-02", ARGS),                                         # by anyone
        ("SUPPLIER-01", {**ARGS, "invoice_number": " inv 2026 001 "}),  # same once normalized
        ("SUPPLIER-01", {**ARGS, "due_date": "2027-03-01",               # fields outside the
                         "document_sha256": bytes(32), "buyer": "CORE-02"}),  # fingerprint
    ]:
        receipt = register(chain, args, member)
        assert receipt.code == "DUPLICATE_INVOICE"
        for fragment in (FP.hex(), first.tx_id.hex(), "height 1", "SUPPLIER-01"):
            assert fragment in receipt.message
        assert contract_changes(chain.last_changes) == []


def test_duplicates_in_one_block_and_after_cancellation() -> None:
    chain = ContractChain()
    receipts = chain.run([Call("SUPPLIER-01", "register", ARGS),
                          Call("SUPPLIER-02", "register", ARGS)])
    assert [r.code for r in receipts] == ["OK", "DUPLICATE_INVOICE"]
    assert chain.run([Call("SUPPLIER-01", "cancel", {"fingerprint": FP})])[0].code == "OK"
    assert register(chain, ARGS).code == "DUPLICATE_INVOICE"   # a fingerprint is used once, ever
    assert get_invoice(chain.state, FP).status == "cancelled"  # type: ignore[union-attr]


def test_near_match_same_parties_and_amount_within_three_days() -> None:
    chain = ContractChain()
    assert register(chain, ARGS).code == "OK"
    other = invoice_args("INV-2026/002", issue_date="2026-11-23")   # 3 days later
    receipt = register(chain, other)
    assert receipt.code == "OK"
    [event] = warnings(receipt)
    new_fp = fingerprint_of(other)
    assert event.attributes["fingerprint"] == new_fp.hex() and event.attributes["other"] == FP.hex()
    assert event.attributes["reasons"] == ["same_parties_and_amount"]
    assert event.attributes["subjects"] == [f"invoice:{new_fp.hex()}", f"invoice:{FP.hex()}",
                                            "member:SUPPLIER-01", "member:CORE-01"]
    assert get_invoice(chain.state, new_fp) is not None


def test_not_near_matches() -> None:
    chain = ContractChain()
    assert register(chain, ARGS).code == "OK"
    for args in [
        invoice_args("INV-3", issue_date="2026-11-16"),                 # 4 days earlier
        invoice_args("INV-4", amount=100_000_001),                      # another amount
        invoice_args("INV-5", currency="USD"),                          # another currency
        invoice_args("INV-6", buyer="CORE-02"),                         # another buyer
    ]:
        receipt = register(chain, args)
        assert receipt.code == "OK" and warnings(receipt) == [], args


def test_near_match_by_another_seller_is_not_one_but_the_same_document_is() -> None:
    chain = ContractChain()
    assert register(chain, ARGS).code == "OK"
    same_fields = invoice_args("INV-2026/002", seller_tax_id="91440300SUP0002")
    assert warnings(register(chain, same_fields, "SUPPLIER-02")) == []
    forged = invoice_args("X-77", amount=5, issue_date="2026-01-02", seller_tax_id="X",
                          document=ARGS["document_sha256"])
    receipt = register(chain, forged, "SUPPLIER-02")
    [event] = warnings(receipt)
    assert event.attributes["reasons"] == ["same_document"]
    assert event.attributes["other_seller"] == "SUPPLIER-01"
    assert "member:SUPPLIER-01" in event.attributes["subjects"]
    assert "member:SUPPLIER-02" in event.attributes["subjects"]


def test_both_reasons_and_the_same_number_on_another_day() -> None:
    chain = ContractChain()
    assert register(chain, ARGS).code == "OK"
    redated = {**ARGS, "issue_date": "2026-11-21"}   # same number and document, one day later
    [event] = warnings(register(chain, redated))
    assert event.attributes["reasons"] == ["same_parties_and_amount", "same_document"]


def test_warnings_are_capped_and_deterministic() -> None:
    chain = ContractChain()
    document = hashlib.sha256(b"one document for all").digest()
    batch = [Call("SUPPLIER-01", "register", invoice_args(f"N-{i}", document=document))
             for i in range(MAX_DUPLICATE_WARNINGS + 2)]
    receipts = chain.run(batch)
    assert all(r.code == "OK" for r in receipts)
    last = warnings(receipts[-1])
    assert len(last) == MAX_DUPLICATE_WARNINGS
    assert all(e.attributes["matches"] == MAX_DUPLICATE_WARNINGS + 1 for e in last)
    others = [e.attributes["other"] for e in last]
    assert others == sorted(others)


# -- the bounded index against the plain definition ------------------------------------------

SELLERS = {"SUPPLIER-01": "91440300SUP0001", "SUPPLIER-02": "91440300SUP0002"}
DOCUMENTS = [hashlib.sha256(bytes([i])).digest() for i in range(3)]


def expected_warnings(earlier: list[dict[str, Any]], new: dict[str, Any]) -> list[tuple[str, list[str], int]]:
    """(other fingerprint hex, reasons, matches) per warning, from the definition:
    every earlier invoice, compared field by field (what a full list would give)."""
    reasons: dict[bytes, list[str]] = {}
    for old in earlier:
        if (old["seller"], old["buyer"], old["currency"], old["face_amount"]) == \
                (new["seller"], new["buyer"], new["currency"], new["face_amount"]) \
                and abs(old["day"] - new["day"]) <= 3:
            reasons.setdefault(old["fp"], []).append("same_parties_and_amount")
        if old["document_sha256"] == new["document_sha256"]:
            reasons.setdefault(old["fp"], []).append("same_document")
    shown = sorted(reasons)[:MAX_DUPLICATE_WARNINGS]
    return [(fp.hex(), reasons[fp], len(reasons)) for fp in shown]


registrations = st.lists(st.tuples(st.sampled_from(sorted(SELLERS)),
                                   st.sampled_from(["CORE-01", "CORE-02"]),
                                   st.sampled_from([1, 2]), st.integers(0, 6),
                                   st.integers(0, len(DOCUMENTS) - 1)),
                         min_size=1, max_size=45)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registrations)
def test_warnings_match_the_definition_however_full_the_buckets(
        drawn: list[tuple[str, str, int, int, int]]) -> None:
    """Buckets keep a count and the 16 smallest fingerprints; the warnings are
    still exactly those a comparison with every earlier invoice gives,
    through the switch to per-bucket counts at a document's 17th invoice."""
    check_against_definition(drawn)


def test_a_document_past_its_17th_invoice_counts_per_bucket() -> None:
    check_against_definition([("SUPPLIER-01", "CORE-01", 1 + i % 3 // 2, i % 7, i % 2)
                              for i in range(44)])


def check_against_definition(drawn: list[tuple[str, str, int, int, int]]) -> None:
    chain = ContractChain()
    calls, registered = [], []
    for index, (seller, buyer, amount, day, document) in enumerate(drawn):
        args = invoice_args(f"N-{index}", amount=amount, buyer=buyer,
                            issue_date=f"2026-11-{14 + day}", seller_tax_id=SELLERS[seller],
                            document=DOCUMENTS[document])
        calls.append(Call(seller, "register", args))
        registered.append({**args, "seller": seller, "day": day, "fp": fingerprint_of(args)})
    receipts = chain.run(calls)
    for index, receipt in enumerate(receipts):
        assert receipt.code == "OK", receipt.message
        got = [(e.attributes["other"], e.attributes["reasons"], e.attributes["matches"])
               for e in warnings(receipt)]
        assert got == expected_warnings(registered[:index], registered[index])


def test_a_full_bucket_costs_the_same_to_read_and_write() -> None:
    chain = ContractChain()
    calls = [Call("SUPPLIER-01", "register", invoice_args(f"SAME-{i}")) for i in range(40)]
    chain.run(calls)
    buckets = [value for key, value in chain.last_changes.items()
               if b"/nearset/" in key and value is not None]
    assert len(buckets) == 1 and len(buckets[0]) < 700  # 16 fingerprints, not 40


def test_near_match_keys_hash_the_canonical_bucket_fields() -> None:
    for seller, amount, first_day in [("SUPPLIER-01", 100_000_000, 20_412), ("S", 1, -3),
                                      ("S" * 64, 2**63 - 1, 125), ("S-2", 65_535, 65_533)]:
        days = range(first_day, first_day + 7)
        assert near_keys(seller, "CORE-01", "CNY", amount, days) == [
            b"nearset/" + hashlib.sha256(codec.encode([seller, "CORE-01", "CNY", amount, day]))
            .digest() for day in days]

