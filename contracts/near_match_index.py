"""The invoices contract's near-match index: its records and their keys.

`invoices.register` warns of earlier invoices that look like the same trade
(domain guide §3): the same parties and amount with issue dates at most
NEAR_MATCH_DAYS apart, or the same document. It finds them through buckets,
each a count and the MAX_DUPLICATE_WARNINGS smallest fingerprints, so a
registration reads a fixed number of keys however many invoices look alike
(docs/products.md). This module holds the records and the keys; the
contract's logic that reads and updates them stays in contracts/invoices.py.

Local keys (in the invoices namespace):
    nearset/<sha256([seller, buyer, currency, amount, day])>   -> MatchBucket
    docset/<document sha256>                                   -> MatchBucket
    docnear/<sha256([document, seller, buyer, currency, amount, day])> -> int
where [...] is the canonical encoding and day the issue date's day number.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from contracts.stored_int import int_or_zero
from ledger import codec
from ledger.structure import Field, Int, ListOf, Structure
from ledger.types import HASH

NEAR_MATCH_DAYS = 3           # issue dates at most this far apart are a near match
MAX_DUPLICATE_WARNINGS = 16   # events per registration (a receipt holds at most 256)


@dataclass(frozen=True, slots=True)
class MatchBucket(Structure):
    """A near-match index bucket: how many invoices it holds, and the
    fingerprints of the `MAX_DUPLICATE_WARNINGS` smallest of them, sorted."""

    count: int
    smallest: tuple[bytes, ...]

    LAYOUT: ClassVar[tuple[tuple[str, Field], ...]] = (
        ("count", Int(0)),
        ("smallest", ListOf(HASH, MAX_DUPLICATE_WARNINGS)),
    )

    def with_invoice(self, fingerprint: bytes) -> MatchBucket:
        smallest = sorted((*self.smallest, fingerprint))[:MAX_DUPLICATE_WARNINGS]
        return MatchBucket(self.count + 1, tuple(smallest))

    @property
    def names_all(self) -> bool:
        return self.count <= MAX_DUPLICATE_WARNINGS


EMPTY_BUCKET = MatchBucket(0, ())


def near_keys(seller: str, buyer: str, currency: str, amount: int,
              days: range) -> list[bytes]:
    """The keys of the parties-and-amount buckets on each of `days`."""
    # A canonical array of N <= 15 items is the byte 0x90 + N followed by
    # each item's own encoding (docs/transaction-format.md), so the four
    # fixed items are encoded once: 0x95, their encodings, then the day's.
    fixed = codec.encode([seller, buyer, currency, amount])
    head = b"\x95" + fixed[1:]
    return [b"nearset/" + hashlib.sha256(head + codec.encode(day)).digest() for day in days]


def document_key(document_sha256: bytes) -> bytes:
    return b"docset/" + document_sha256


def document_day_key(document_sha256: bytes, seller: str, buyer: str, currency: str,
                     amount: int, day: int) -> bytes:
    """The key of the count of a document's invoices with these parties,
    amount and day (kept once the document's bucket no longer names all)."""
    bucket = [document_sha256, seller, buyer, currency, amount, day]
    return b"docnear/" + hashlib.sha256(codec.encode(bucket)).digest()


def read_bucket(data: bytes | None) -> MatchBucket:
    return EMPTY_BUCKET if data is None else MatchBucket.decode(data)


def read_count(data: bytes | None) -> int:
    return int_or_zero(data, "a near-match count")
