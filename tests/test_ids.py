"""Ids: a prefix, the millisecond they were made and 80 random bits, laid out as a ULID
in lower-case Crockford base32."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportkit import ids
from supportkit.ids import _token, new_id

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
MAX_MILLISECOND = 2**48 - 1


def number(token: str) -> int:
    """The token's digits read back as one number."""
    value = 0
    for char in token:
        value = value * 32 + CROCKFORD.index(char)
    return value


@given(st.integers(0, MAX_MILLISECOND), st.binary(min_size=10, max_size=10))
def test_the_token_is_the_millisecond_then_the_random_bits(millisecond: int, random: bytes) -> None:
    token = _token(millisecond, random)
    assert len(token) == 26
    assert number(token) == millisecond << 80 | int.from_bytes(random)
    assert number(token[:10]) == millisecond  # the first 10 digits are the time


@given(
    st.tuples(st.integers(0, MAX_MILLISECOND), st.binary(min_size=10, max_size=10)),
    st.tuples(st.integers(0, MAX_MILLISECOND), st.binary(min_size=10, max_size=10)),
)
def test_tokens_sort_as_their_times_then_random_bits(
    a: tuple[int, bytes], b: tuple[int, bytes]
) -> None:
    assert (_token(*a) < _token(*b)) == (a < b)


def test_the_edges_of_the_bits() -> None:
    assert _token(0, bytes(10)) == "0" * 26
    assert _token(MAX_MILLISECOND, b"\xff" * 10) == "7" + "z" * 25
    assert _token(1, bytes(10)) == "0" * 9 + "1" + "0" * 16
    assert _token(0, bytes(9) + b"\x01") == "0" * 25 + "1"
    assert _token(0, b"\x80" + bytes(9)) == "0" * 10 + "g" + "0" * 15


def test_new_ids_carry_the_prefix_and_differ() -> None:
    made = {new_id("ticket") for _ in range(1000)}
    assert len(made) == 1000
    assert all(re.fullmatch(r"ticket_[0-9a-hjkmnp-tv-z]{26}", value) for value in made)


def test_ids_made_in_a_later_millisecond_sort_after(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_796_000_000_000_000_000]  # nanoseconds, November 2026
    monkeypatch.setattr(ids, "time_ns", lambda: now[0])
    earlier = [new_id("evt") for _ in range(50)]
    now[0] += 1_000_000
    later = [new_id("evt") for _ in range(50)]
    assert max(earlier) < min(later)
    assert {value[4:14] for value in earlier} == {_token(1_796_000_000_000, bytes(10))[:10]}
