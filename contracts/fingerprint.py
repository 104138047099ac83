"""The invoice fingerprint: one identity per real invoice, ledger-wide.

fp = SHA-256("scf/invoice-fp/v1" || canonical([seller_tax_id, buyer_tax_id,
invoice_number_normalized, issue_date, currency, face_amount]))

where canonical is the ledger's canonical msgpack (docs/transaction-format.md),
dates are "YYYY-MM-DD" strings and the amount is in integer minor units. The
number is normalized (trimmed, upper-cased, inner whitespace and "-" / "/"
removed) so that "inv-2026/001" and "INV 2026001" are the same invoice. A
fingerprint can be registered once on the whole ledger: that is how two banks
never finance the same invoice. Used by the invoices contract, the e-invoice
importer and the CLI; nowhere else is it computed.
"""

from __future__ import annotations

import hashlib

from ledger import codec

TAG = b"scf/invoice-fp/v1"


def normalize_invoice_number(number: str) -> str:
    # str.split() drops exactly the characters str.isspace() calls whitespace
    return "".join(number.strip().upper().split()).replace("-", "").replace("/", "")


def compute_fingerprint(seller_tax_id: str, buyer_tax_id: str, invoice_number: str,
                        issue_date: str, currency: str, face_amount: int) -> bytes:
    return fingerprint_of_normalized(seller_tax_id, buyer_tax_id,
                                     normalize_invoice_number(invoice_number),
                                     issue_date, currency, face_amount)


def fingerprint_of_normalized(seller_tax_id: str, buyer_tax_id: str, normalized_number: str,
                              issue_date: str, currency: str, face_amount: int) -> bytes:
    """`compute_fingerprint` for a number the caller has normalized already."""
    body = codec.encode([seller_tax_id, buyer_tax_id, normalized_number,
                         issue_date, currency, face_amount])
    return hashlib.sha256(TAG + body).digest()
