"""Properties of signed transactions and the typed JSON form."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.crypto import SigningKey
from ledger.errors import Code, LedgerError
from ledger.typed_json import from_json, to_json
from ledger.types import SignedTransaction, Transaction
from tests.support.values import same, values

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
arguments = st.dictionaries(st.text(max_size=10), values, max_size=5)


@st.composite
def signed_transactions(draw: st.DrawFn) -> SignedTransaction:
    key = SigningKey(draw(st.binary(min_size=32, max_size=32)))
    tx = Transaction(
        chain_id=draw(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)),
        sender=key.public_key,
        nonce=draw(st.integers(0, 2**63 - 1)),
        contract=draw(identifiers),
        method=draw(identifiers),
        args=draw(arguments),
        expiry_height=draw(st.none() | st.integers(1, 2**63 - 1)),
    )
    return tx.sign(key)


@given(signed_transactions())
def test_signed_transaction_round_trip(signed: SignedTransaction) -> None:
    data = signed.encode()
    decoded = SignedTransaction.decode(data)
    assert decoded == signed and decoded.tx_id == signed.tx_id
    assert decoded.has_valid_signature()


@given(signed_transactions(), st.data())
def test_any_byte_change_breaks_decoding_or_the_signature(signed: SignedTransaction,
                                                          data: st.DataObject) -> None:
    original = signed.encode()
    position = data.draw(st.integers(0, len(original) - 1), label="position")
    mutated = bytearray(original)
    mutated[position] ^= data.draw(st.integers(1, 255), label="xor")
    try:
        decoded = SignedTransaction.decode(bytes(mutated))
    except LedgerError:
        return
    assert decoded.tx_id != signed.tx_id
    assert not decoded.has_valid_signature()


@given(values)
def test_typed_json_round_trip(value: Any) -> None:
    assert same(from_json(to_json(value)), value)


@pytest.mark.parametrize(
    "node",
    [
        1, {"int": 1}, {"int": "01"}, {"int": "-0"}, {"int": "1.5"}, {"int": str(2**63)},
        {"bytes": "ABCD"}, {"bytes": "abc"}, {"bool": 1}, {"nil": 0}, {"str": 3},
        {"list": [1]}, {"map": {"a": 1}}, {"int": "1", "str": "x"}, {"float": "1.0"},
    ],
    ids=repr,
)
def test_typed_json_rejects(node: Any) -> None:
    with pytest.raises(LedgerError) as caught:
        from_json(node)
    assert caught.value.code in (Code.SCHEMA_MISMATCH, Code.CODEC_INT_OUT_OF_RANGE)


@pytest.mark.parametrize(
    "text,code",
    [
        ('{"map": {"a": {"int": "1"}, "a": {"int": "2"}}}', Code.SCHEMA_MISMATCH),
        ('{"str": "\\ud800"}', Code.CODEC_INVALID_UTF8),
        ('{"int": "+1"}', Code.SCHEMA_MISMATCH),
        ('{"int": " 1"}', Code.SCHEMA_MISMATCH),
        ("{not json", Code.SCHEMA_MISMATCH),
    ],
)
def test_typed_json_text_rejects(text: str, code: Code) -> None:
    from ledger.typed_json import loads

    with pytest.raises(LedgerError) as caught:
        loads(text)
    assert caught.value.code is code


def test_typed_json_text_round_trip() -> None:
    from ledger.typed_json import loads

    assert loads('{"map": {"b": {"bytes": "00ff"}, "a": {"list": [{"nil": null}]}}}') == {
        "a": [None], "b": b"\x00\xff"}
