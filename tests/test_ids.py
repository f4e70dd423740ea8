"""Ids: a prefix and 80 random bits in lower-case base32."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from supportkit.ids import _token, new_id


@given(st.binary(min_size=10, max_size=10))
def test_the_token_is_the_base32_of_the_random_bytes(random: bytes) -> None:
    assert _token(random) == base64.b32encode(random).decode("ascii").lower()


def test_new_ids_carry_the_prefix_and_differ() -> None:
    ids = {new_id("ticket") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"ticket_[a-z2-7]{16}", value) for value in ids)


def test_the_edges_of_the_bits() -> None:
    assert _token(bytes(10)) == "a" * 16
    assert _token(b"\xff" * 10) == "7" * 16
    assert _token(b"\x80" + bytes(9)) == "q" + "a" * 15
    assert _token(bytes(9) + b"\x01") == "a" * 15 + "b"
