"""Helpers for tests of the PostgreSQL backend: a one-connection desk, and what the
client sends on that connection (libpq's protocol trace)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import psycopg

from supportkit.desk import Desk

from .desk_fixtures import Clock, seed


def one_connection_desk(url: str) -> tuple[Desk, psycopg.Connection[Any]]:
    """A seeded desk whose pool holds one connection, and that connection (to trace)."""
    desk = seed(
        Desk.open(
            url, clock=Clock(), load_entrypoints=False,
            storage_options={"min_size": 1, "max_size": 1},
        )
    )  # fmt: skip
    with desk.storage.read() as tx:
        conn: psycopg.Connection[Any] = tx.conn  # type: ignore[attr-defined]
    return desk, conn


def client_messages(conn: psycopg.Connection[Any], action: Callable[[], object]) -> list[str]:
    """The types of the messages the client sends on ``conn`` during ``action``
    (``Parse``, ``Bind``, ``Sync`` …), from libpq's protocol trace."""
    with tempfile.TemporaryFile("w+") as out:
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(1)  # no timestamps
        try:
            action()
        finally:
            conn.pgconn.untrace()
        out.seek(0)
        return [line.split("\t")[2].split()[0] for line in out if line.startswith("F\t")]


def waits(conn: psycopg.Connection[Any], action: Callable[[], object]) -> int:
    """How many times the client waits for the server's answers during ``action``:
    the messages that ask for them (``Sync``, ``Flush``, a simple ``Query``), a
    ``Flush`` right after a ``Sync`` counting with it."""
    sent = client_messages(conn, action)
    count = 0
    for before, message in zip(["", *sent], sent, strict=False):
        if message in ("Sync", "Query") or (message == "Flush" and before != "Sync"):
            count += 1
    return count
