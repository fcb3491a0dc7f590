"""Hypothesis strategies for arbitrary JSON documents, the raw material of the HTTP fuzzers."""

from __future__ import annotations

from hypothesis import strategies as st


def json_values(
    keys: st.SearchStrategy[str],
    *,
    int_bits: int,
    text_size: int,
    container_size: int,
    max_leaves: int,
) -> st.SearchStrategy[object]:
    """JSON values (null, bools, integers beyond int64 to ``±2**int_bits``, finite floats,
    short strings) nested in lists and objects of up to ``container_size`` items, whose
    keys ``keys`` draws (field names make a validator reach deeper than random text)."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**int_bits), 2**int_bits)
        | st.floats(allow_nan=False)
        | st.text(max_size=text_size),
        lambda inner: (
            st.lists(inner, max_size=container_size) | st.dictionaries(keys, inner, max_size=container_size)
        ),
        max_leaves=max_leaves,
    )
