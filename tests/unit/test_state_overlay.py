"""Overlays isolate a transaction's writes until it succeeds; accounts and validators."""

from __future__ import annotations

import pytest

from genesis.demo_keys import demo_key
from ledger.accounts import Member, consume_nonce, member_of_signer, next_nonce, put_member
from ledger.errors import Code, LedgerError
from ledger.state import EmptyState, MappingState, Namespace, Overlay
from ledger.validators import Validator, ValidatorSet

A, B = demo_key("a").public_key, demo_key("b").public_key


def test_child_writes_reach_the_parent_only_on_merge() -> None:
    block = Overlay(MappingState({b"k": b"committed"}))
    tx = block.child()
    tx.put(b"k", b"new")
    tx.delete(b"gone")
    assert block.get(b"k") == b"committed" and tx.get(b"k") == b"new"
    tx.merge_into(block)
    assert block.changes() == {b"gone": None, b"k": b"new"}
    discarded = block.child()
    discarded.put(b"k", b"never")
    assert block.get(b"k") == b"new"


def test_merge_only_into_the_parent() -> None:
    block = Overlay(EmptyState())
    with pytest.raises(ValueError):
        block.child().merge_into(Overlay(EmptyState()))


def test_namespace_prefixes_keys() -> None:
    block = Overlay(EmptyState())
    Namespace(block, b"c/x/").put(b"a", b"1")
    assert block.changes() == {b"c/x/a": b"1"}


@pytest.mark.parametrize("key,value,code", [(b"", b"v", Code.STATE_KEY_TOO_LARGE),
                                            (b"k" * 1025, b"v", Code.STATE_KEY_TOO_LARGE),
                                            (b"k", b"v" * (1 << 20 + 1), Code.STATE_VALUE_TOO_LARGE),
                                            ("k", b"v", Code.SCHEMA_MISMATCH)])
def test_bad_entries_are_refused(key: object, value: object, code: Code) -> None:
    with pytest.raises(LedgerError) as caught:
        Overlay(EmptyState()).put(key, value)  # type: ignore[arg-type]
    assert caught.value.code is code


def test_members_keys_and_nonces() -> None:
    state = Overlay(EmptyState())
    put_member(state, Member("M-1", "One", ("supplier",), (A,)))
    assert member_of_signer(state, A) is not None and member_of_signer(state, B) is None
    with pytest.raises(LedgerError) as caught:
        put_member(state, Member("M-2", "Two", ("supplier",), (A,)))
    assert caught.value.code is Code.KEY_IN_USE
    put_member(state, Member("M-1", "One", ("supplier",), (B,)))  # key rotation
    assert member_of_signer(state, A) is None and member_of_signer(state, B) is not None
    assert next_nonce(state, B) == 0
    consume_nonce(state, B)
    consume_nonce(state, B)
    assert next_nonce(state, B) == 2


def test_member_roles_sorted_and_keys_unique() -> None:
    with pytest.raises(LedgerError):
        Member("M-1", "x", ("supplier", "auditor"), (A,))
    with pytest.raises(LedgerError):
        Member("M-1", "x", ("supplier",), (A, A))


def test_validator_set_quorum_arithmetic() -> None:
    keys = sorted(demo_key(f"v{i}").public_key for i in range(4))
    validators = ValidatorSet.of([Validator(k, 1) for k in reversed(keys)])
    assert [v.public_key for v in validators.validators] == keys
    assert not validators.has_quorum(2) and validators.has_quorum(3)
    assert not validators.has_one_honest(1) and validators.has_one_honest(2)
    assert validators.power_of(keys[0]) == 1 and validators.power_of(A) == 0
    assert ValidatorSet.decode(validators.encode()) == validators
    for bad in ([], [Validator(keys[0], 1), Validator(keys[0], 1)]):
        with pytest.raises(LedgerError) as caught:
            ValidatorSet.of(bad)
        assert caught.value.code is Code.INVALID_VALIDATOR_SET
