"""The one-connection rule: both ends of a duplicate keep the same connection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node.peers.connection import kept_connection

keys = st.binary(min_size=32, max_size=32)


def direction(dialer: str, me: str) -> str:
    return "out" if dialer == me else "in"


def kept_dialer(own: bytes, peer: bytes, me: str, old_dialer: str, new_dialer: str) -> str:
    """Who dialed the connection `me` keeps, given who dialed its old and new one."""
    choice = kept_connection(own, peer, direction(old_dialer, me), direction(new_dialer, me))
    return old_dialer if choice == "old" else new_dialer


@given(keys, keys, st.booleans(), st.booleans())
def test_both_sides_keep_the_connection_dialed_by_the_smaller_key(
    a: bytes, b: bytes, a_dialed_first: bool, b_saw_a_first: bool
) -> None:
    if a == b:
        return
    a_order = ("A", "B") if a_dialed_first else ("B", "A")
    b_order = ("A", "B") if b_saw_a_first else ("B", "A")  # arrival order may differ per side
    kept_by_a = kept_dialer(a, b, "A", *a_order)
    kept_by_b = kept_dialer(b, a, "B", *b_order)
    assert kept_by_a == kept_by_b == ("A" if a < b else "B")


def test_two_connections_dialed_by_the_same_side_keep_the_newer() -> None:
    small, large = bytes(31) + b"\x01", bytes(31) + b"\x02"
    for own, peer in ((small, large), (large, small)):
        for same in ("in", "out"):
            assert kept_connection(own, peer, same, same) == "new"
