"""An int a contract keeps in state (a count, a book, a limit, a parameter, a next id).

Contracts write these with `codec.encode(int)` only, so anything else under
such a key is damage, and is refused as SCHEMA_MISMATCH naming what was read,
never used as a number (`int()` would take a bool, or a str of digits).
"""

from __future__ import annotations

from ledger import codec
from ledger.errors import Code, LedgerError


def decode_int(data: bytes, what: str) -> int:
    value = codec.decode(data)
    if type(value) is not int:
        raise LedgerError(Code.SCHEMA_MISMATCH, f"{what} is not an int")
    return value


def int_or_zero(data: bytes | None, what: str) -> int:
    """The stored int; 0 if the key is absent (a count or a book never written)."""
    return 0 if data is None else decode_int(data, what)
