"""Hypothesis strategies for codec values and a type-strict equality."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ledger.codec import INT_MAX, INT_MIN

scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT_MIN, INT_MAX)
    | st.binary(max_size=300)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
)

values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=8).filter(lambda s: s.isprintable()), children, max_size=6),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equality that tells True from 1 and a list from a map (Python's == does not)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return sorted(a) == sorted(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)
