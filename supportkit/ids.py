"""Prefixed ids: ``ticket_…``, ``comment_…``, ``att_…``, ``evt_…``, …

An id is its prefix, ``_`` and 26 characters laid out as a ULID: the millisecond it was
made (48 bits) then 80 random bits, in lower-case Crockford base32. Ids made later sort
after earlier ones (to the millisecond, by the wall clock of the process), so each new
row goes in at the end of an index on ids, not at a random place in it: a database
whose indexes hold millions of ids writes far fewer pages per ticket that way. The 80
random bits keep ids unguessable and unique.
"""

from __future__ import annotations

import os
from time import time_ns
from typing import Final

__all__ = ["new_id"]

#: Crockford's base32 in lower case: its digits come in ASCII order, so the text of two
#: ids sorts as their numbers do.
_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
#: Every pair of digits, by the 10 bits they stand for.
_PAIRS: Final = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_RANDOM_BITS: Final = 80


def _text(n: int) -> str:
    """The 26 digits of ``n`` (below 2**130), most significant first."""
    p = _PAIRS
    return (
        f"{p[n >> 120]}{p[n >> 110 & 1023]}{p[n >> 100 & 1023]}{p[n >> 90 & 1023]}"
        f"{p[n >> 80 & 1023]}{p[n >> 70 & 1023]}{p[n >> 60 & 1023]}{p[n >> 50 & 1023]}"
        f"{p[n >> 40 & 1023]}{p[n >> 30 & 1023]}{p[n >> 20 & 1023]}{p[n >> 10 & 1023]}"
        f"{p[n & 1023]}"
    )


def _token(millisecond: int, random: bytes) -> str:
    """The 26 characters of an id made at ``millisecond`` (since the Unix epoch) with
    these 10 random bytes."""
    return _text(millisecond << _RANDOM_BITS | int.from_bytes(random))


def new_id(prefix: str) -> str:
    """A new id such as ``ticket_01m8hpnvjnzrzs1z0svztrxzhj``: the prefix, then the
    current millisecond and 80 random bits (from :func:`os.urandom`, as :mod:`secrets`
    uses)."""
    return f"{prefix}_{_token(time_ns() // 1_000_000, os.urandom(10))}"
