"""The PostgreSQL backend's statement batches (supportkit.backends._pgbatch).

The placeholder conversion runs everywhere; the rest needs PostgreSQL and is skipped
without SUPPORTKIT_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from supportkit.backends._pgbatch import Batch, Prepared, _convert
from supportkit.errors import RetryableStorageError, VersionConflict

from .desk_fixtures import seed_ticket
from .pg_helpers import client_messages, one_connection_desk


def test_placeholders_become_numbered_parameters() -> None:
    assert _convert("SELECT %s, %s") == (b"SELECT $1, $2", 2)
    assert _convert("UPDATE t SET a = %(a)s WHERE b = %(b)s AND c = %(a)s") == (
        b"UPDATE t SET a = $1 WHERE b = $2 AND c = $1",
        ("a", "b"),
    )
    assert _convert("SELECT 10 %% 3, %s") == (b"SELECT 10 % 3, $1", 1)
    assert _convert("COMMIT") == (b"COMMIT", 0)


def test_mixed_placeholders_are_refused() -> None:
    with pytest.raises(psycopg.ProgrammingError, match="mix"):
        _convert("SELECT %s, %(a)s")


@pytest.fixture
def conn(postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection set up as the backend's pool sets up its own."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.prepare_threshold = None
        yield conn


def test_answers_are_what_a_cursor_gives(conn: psycopg.Connection[Any]) -> None:
    moment = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    query = "SELECT %s::int + 1, %s::text, %s::timestamptz, %s::text[], %s::int"
    params = (41, "é", moment, ["a", "b c"], None)
    expected = conn.cursor().execute(query, params).fetchall()
    batch = Batch(conn, Prepared())
    first = batch.execute(query, params)
    named = batch.execute("SELECT %(x)s::int * 2, %(x)s::int", {"x": 21})
    empty = batch.execute("SELECT 1 WHERE false")
    assert first.fetchall() == expected == [(42, "é", moment, ["a", "b c"], None)]
    assert named.fetchone() == (42, 21)
    assert empty.fetchone() is None
    batch.close()


def test_statements_go_out_unwaited_and_one_sync_answers_them_all(
    conn: psycopg.Connection[Any],
) -> None:
    prepared = Prepared()

    def transaction() -> None:
        batch = Batch(conn, prepared)
        batch.execute("BEGIN")
        answers = [batch.execute("SELECT %s::int", (n,)) for n in range(3)]
        batch.execute("COMMIT")
        assert [answer.fetchone() for answer in answers] == [(0,), (1,), (2,)]
        batch.close()

    first = client_messages(conn, transaction)
    # A statement is prepared the second time it is sent, in the same round trip as
    # that execution, and executed by name after that: BEGIN, the SELECT unnamed, then
    # named, COMMIT.
    assert first.count("Parse") == 4
    assert first.count("Sync") == 1 and first.count("Bind") == 5
    again = client_messages(conn, transaction)
    assert again.count("Parse") == 2  # BEGIN and COMMIT only: the SELECT has its name
    assert again.count("Sync") == 1 and again.count("Bind") == 5
    assert len(prepared.names) == 1


def test_the_first_error_is_raised_and_what_followed_it_was_skipped(
    conn: psycopg.Connection[Any],
) -> None:
    prepared = Prepared()
    batch = Batch(conn, prepared)
    assert batch.execute("SELECT %s::text", ("seen",)).fetchone() == ("seen",)
    batch.close()
    batch = Batch(conn, prepared)
    batch.execute("BEGIN")
    before = batch.execute("SELECT %s::int", (1,))
    batch.execute("SELECT 1 / %s::int", (0,))
    after = batch.execute("SELECT %s::text", ("never",))  # prepared here: skipped too
    with pytest.raises(pg_errors.DivisionByZero):
        before.fetchone()  # the sync raises the first error, whichever answer is read
    assert before.fetchone() == (1,)
    with pytest.raises(pg_errors.PipelineAborted):
        after.fetchone()
    batch.close()
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    conn.rollback()
    # The connection is usable, and the statement whose preparing was skipped is
    # prepared when next sent (not executed by a name the server never saw).
    for _ in range(2):
        batch = Batch(conn, prepared)
        assert batch.execute("SELECT %s::text", ("now",)).fetchone() == ("now",)
        assert batch.execute("SELECT %s::int", (2,)).fetchone() == (2,)
        batch.close()
    assert len(prepared.names) == 2


def test_prepared_statements_outlive_a_rollback(postgres_schema_url: str) -> None:
    # psycopg deallocates every statement of its session after a ROLLBACK when it has
    # prepared any itself; the backend's connections never do, so a command after a
    # rolled-back one still finds its statements.
    desk, _ = one_connection_desk(postgres_schema_url)
    try:
        ticket = desk.tickets.create(seed_ticket(attachments=[]))
        for _ in range(6):  # more than psycopg's own prepare threshold
            desk.tickets.get(ticket.id)
        for n in range(3):
            with pytest.raises(VersionConflict):
                desk.tickets.update(ticket.id, {"metadata": {"n": n}}, if_version=99)
            desk.tickets.update(ticket.id, {"metadata": {"n": n}}, if_version=n + 1)
        assert desk.tickets.get(ticket.id).version == 4
    finally:
        desk.close()


def test_a_lost_connection_is_retried_on_a_fresh_one(
    postgres_url: str, postgres_schema_url: str
) -> None:
    desk, _ = one_connection_desk(postgres_schema_url)
    try:
        ticket = desk.tickets.create(seed_ticket(attachments=[]))
        with contextlib.closing(psycopg.connect(postgres_url, autocommit=True)) as admin:
            # Mid-transaction: the statement's answer never comes.
            with pytest.raises(RetryableStorageError), desk.storage.write() as tx:
                pid = tx.conn.info.backend_pid  # type: ignore[attr-defined]
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                tx.get_ticket(ticket.id, for_update=True)
            # Between commands: the desk runs the command again on a new connection.
            with desk.storage.read() as tx:
                pid = tx.conn.info.backend_pid  # type: ignore[attr-defined]
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            updated = desk.tickets.update(ticket.id, {"metadata": {"after": True}})
        assert updated.version == 2
        assert desk.tickets.get(ticket.id).metadata["after"] is True
    finally:
        desk.close()


def test_a_long_batch_neither_blocks_nor_loses_answers(conn: psycopg.Connection[Any]) -> None:
    # More answers than the sockets' buffers hold: the server blocks writing them
    # until the client reads, while the client is still writing statements.
    batch = Batch(conn, Prepared())
    answers = [batch.execute("SELECT %s::int, repeat('x', 2000)", (n,)) for n in range(3000)]
    assert [answer.fetchone()[0] for answer in answers] == list(range(3000))
    batch.close()
