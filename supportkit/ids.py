"""Prefixed random ids: ``ticket_…``, ``comment_…``, ``att_…``, ``evt_…``, …"""

from __future__ import annotations

import base64
import secrets

__all__ = ["new_id"]


def new_id(prefix: str) -> str:
    """A new id such as ``ticket_7mzq4k2c1x9v0bfd``: the prefix and 80 random bits."""
    token = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return f"{prefix}_{token}"
