"""Ints contracts keep in state are read back as ints, or refused as damage."""

from __future__ import annotations

import pytest

from contracts.stored_int import decode_int, int_or_zero
from ledger import codec
from ledger.errors import LedgerError


def test_a_stored_int_reads_back_and_an_absent_one_is_zero() -> None:
    assert decode_int(codec.encode(-7), "a count") == -7
    assert int_or_zero(codec.encode(2**63 - 1), "a count") == 2**63 - 1
    assert int_or_zero(None, "a count") == 0


@pytest.mark.parametrize("value", [True, "12", b"\x01", [1], None])
def test_anything_else_under_an_int_key_is_refused(value: object) -> None:
    with pytest.raises(LedgerError) as refused:
        int_or_zero(codec.encode(value), "a risk book")
    assert refused.value.code == "SCHEMA_MISMATCH"
    assert refused.value.message == "a risk book is not an int"
