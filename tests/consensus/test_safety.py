"""The guarded signer only signs forwards, and re-serves what it signed."""

from __future__ import annotations

import pytest

from genesis.demo_keys import demo_key
from ledger.errors import Code, LedgerError
from node.consensus.safety import GuardedSigner, MemorySignStore, Step


def _signer() -> tuple[GuardedSigner, MemorySignStore]:
    store = MemorySignStore()
    return GuardedSigner(demo_key("v"), store), store


def test_same_request_returns_the_stored_signature_even_after_a_restart() -> None:
    signer, store = _signer()
    first = signer.sign(5, 0, Step.PREVOTE, b"vote-a")
    restarted = GuardedSigner(demo_key("v"), store)
    assert restarted.sign(5, 0, Step.PREVOTE, b"vote-a") == first
    assert store.record is not None and store.record.signature == first


@pytest.mark.parametrize("height,round,step,data", [
    (5, 0, Step.PREVOTE, b"vote-b"),     # same step, different bytes
    (5, 0, Step.PROPOSE, b"p"),          # earlier step in the round
    (4, 9, Step.PRECOMMIT, b"c"),        # lower height
])
def test_refuses_to_go_backwards_or_equivocate(height: int, round: int, step: Step,
                                               data: bytes) -> None:
    signer, store = _signer()
    signer.sign(5, 0, Step.PREVOTE, b"vote-a")
    with pytest.raises(LedgerError) as caught:
        signer.sign(height, round, step, data)
    assert caught.value.code is Code.DOUBLE_SIGN_REFUSED
    assert store.record is not None and store.record.sign_bytes == b"vote-a"


def test_forward_steps_are_signed() -> None:
    signer, store = _signer()
    for position in [(5, 0, Step.PREVOTE), (5, 0, Step.PRECOMMIT), (5, 1, Step.PROPOSE), (6, 0, Step.PREVOTE)]:
        signer.sign(*position, repr(position).encode())
        assert store.record is not None and store.record.position[:2] == position[:2]


def test_saves_before_the_signature_leaves() -> None:
    class FailingStore(MemorySignStore):
        def save(self, record: object) -> None:
            raise OSError("disk full")

    signer = GuardedSigner(demo_key("v"), FailingStore())
    with pytest.raises(OSError):
        signer.sign(1, 0, Step.PREVOTE, b"x")
