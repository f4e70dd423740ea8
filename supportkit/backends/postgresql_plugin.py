"""Registers the PostgreSQL backend, importing psycopg only when it is used.

``postgresql://`` works wherever ``supportkit[postgres]`` is installed; without it,
opening such a URL says what to install instead of failing at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import StorageError
from ..hookspecs import StorageFactory, hookimpl
from ..storage import Storage

__all__ = ["open_postgresql"]


def open_postgresql(url: str, options: Mapping[str, Any]) -> Storage:
    """Open a :class:`~supportkit.backends.postgresql.PostgresStorage`."""
    try:
        from .postgresql import open_postgres
    except ImportError as exc:
        raise StorageError(
            "the PostgreSQL backend needs psycopg 3: pip install 'supportkit[postgres]'"
        ) from exc
    return open_postgres(url, options)


@hookimpl
def supportkit_storage_backends() -> Mapping[str, StorageFactory]:
    """The built-in ``postgresql`` backend (``postgres://`` URLs are accepted too)."""
    return {"postgresql": open_postgresql, "postgres": open_postgresql}
