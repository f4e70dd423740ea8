"""The app's management commands: ``supportkit_init`` and ``supportkit_key``."""

from __future__ import annotations

from ....desk import Desk


def _desk() -> Desk:
    """The desk ``settings.SUPPORTKIT`` names (the one the API serves)."""
    from ..conf import get_desk

    return get_desk()
