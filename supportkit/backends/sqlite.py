"""The embedded SQLite backend (``sqlite:///support.db``; ``sqlite://`` in memory).

- WAL mode, ``synchronous=NORMAL``, a busy timeout, and ``BEGIN IMMEDIATE`` for every
  write transaction, so concurrent writers — threads or processes — queue instead of
  failing with "database is locked".
- Schema migrations are numbered; the version is kept in ``PRAGMA user_version``.
  Opening an older database upgrades it; opening one written by a newer supportkit
  raises :class:`~supportkit.errors.SchemaVersionError`.
- Tickets keep their full record as JSON (:mod:`supportkit.records`) next to indexed
  columns for the filters and sorts of a search; FTS5 indexes titles, descriptions
  and comments for text search, kept in step by triggers.
- ``sqlite3`` errors are translated into :mod:`supportkit.errors` at this boundary.

Registered through the ``supportkit_storage_backends`` hook, like any plugin's backend.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NoReturn
from urllib.parse import unquote, urlsplit

import attrs
import sqlite_utils

from .. import records
from ..errors import (
    AlreadyExists,
    SchemaVersionError,
    StorageError,
    TicketNotFound,
    ValidationError,
    VersionConflict,
)
from ..hookspecs import StorageFactory, hookimpl
from ..models import Attachment, Comment, Ticket
from ..storage import (
    Document,
    Event,
    Page,
    StatsQuery,
    Storage,
    StoredAttachment,
    TicketQuery,
    TicketStats,
    Transaction,
)
from ._shared import (
    PRIORITY_RANK,
    SORT_COLUMNS,
    STATS_COLUMNS,
    TICKET_COLUMNS,
    search_words,
    sla_clause,
    stats,
    ticket_values,
)

__all__ = ["SQLiteStorage", "parse_url"]

logger = logging.getLogger("supportkit.backends.sqlite")

_key = records.instant_key

# -- migrations -------------------------------------------------------------------------


def _v1_tables(db: sqlite_utils.Database) -> None:
    db.table("tickets").create(
        {
            "seq": int,
            "id": str,
            "number": str,
            "customer_id": str,
            "status": str,
            "priority_rank": int,
            "category": str,
            "subcategory": str,
            "assignee": str,
            "team": str,
            "escalation_level": int,
            "created_at": str,
            "updated_at": str,
            "response_due": str,
            "resolution_due": str,
            "response_at_risk": str,
            "resolution_at_risk": str,
            "response_state": str,
            "resolution_state": str,
            "next_due_at": str,
            "version": int,
            "title": str,
            "description": str,
            "data": str,
        },
        pk="seq",
        not_null={
            "id", "number", "status", "priority_rank", "category", "escalation_level",
            "created_at", "updated_at", "version", "title", "description", "data",
        },
    )  # fmt: skip
    db.table("tickets").create_index(["id"], unique=True)
    db.table("tickets").create_index(["number"], unique=True)
    db.table("ticket_tags").create(
        {"ticket_seq": int, "tag": str},
        pk=("ticket_seq", "tag"),
        foreign_keys=[("ticket_seq", "tickets", "seq")],
    )
    db.table("ticket_tags").create_index(["tag", "ticket_seq"])
    db.table("ticket_counters").create({"year": int, "last": int}, pk="year", not_null={"last"})
    db.table("comments").create(
        {
            "seq": int,
            "id": str,
            "ticket_id": str,
            "visibility": str,
            "created_at": str,
            "content": str,
            "data": str,
        },
        pk="seq",
        not_null={"id", "ticket_id", "visibility", "created_at", "content", "data"},
    )
    db.table("comments").create_index(["id"], unique=True)
    db.table("comments").create_index(["ticket_id", "seq"])
    db.table("attachments").create(
        {
            "id": str,
            "ticket_id": str,
            "comment_id": str,
            "filename": str,
            "content_type": str,
            "size": int,
            "sha256": str,
            "created_at": str,
            "data": bytes,
        },
        pk="id",
        not_null={"ticket_id", "filename", "content_type", "size", "created_at", "data"},
    )
    db.table("attachments").create_index(["ticket_id"])
    db.table("attachments").create_index(["comment_id"])
    db.execute(
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            ticket_id TEXT,
            customer_id TEXT,
            visibility TEXT NOT NULL,
            created_at TEXT NOT NULL,
            data TEXT NOT NULL
        )"""
    )
    db.table("events").create_index(["ticket_id", "seq"])
    db.table("events").create_index(["customer_id", "seq"])
    db.table("resources").create(
        {"kind": str, "id": str, "position": int, "data": str},
        pk=("kind", "id"),
        not_null={"position", "data"},
    )
    db.table("resources").create_index(["kind", "position"])
    db.table("state").create({"key": str, "value": str}, pk="key", not_null={"value"})


def _v2_search(db: sqlite_utils.Database) -> None:
    tickets = db.table("tickets")
    for columns in (
        ["customer_id", "created_at"],
        ["status", "created_at"],
        ["assignee", "status"],
        ["team", "status"],
        ["category", "created_at"],
        ["created_at"],
        ["updated_at"],
        ["resolution_due"],
    ):
        tickets.create_index(columns)
    db.execute(
        "CREATE INDEX idx_tickets_next_due ON tickets(next_due_at) WHERE next_due_at IS NOT NULL"
    )
    # FTS5 over tickets and comments, kept in step by triggers. The stock update
    # trigger would re-index on every status change; these fire only on text changes.
    tickets.enable_fts(["title", "description"], tokenize="unicode61 remove_diacritics 2")
    db.table("comments").enable_fts(["content"], tokenize="unicode61 remove_diacritics 2")
    db.executescript(
        """
        INSERT INTO tickets_fts(rowid, title, description)
            SELECT seq, title, description FROM tickets;
        INSERT INTO comments_fts(rowid, content) SELECT seq, content FROM comments;
        CREATE TRIGGER tickets_fts_ai AFTER INSERT ON tickets BEGIN
            INSERT INTO tickets_fts(rowid, title, description)
                VALUES (new.seq, new.title, new.description);
        END;
        CREATE TRIGGER tickets_fts_ad AFTER DELETE ON tickets BEGIN
            INSERT INTO tickets_fts(tickets_fts, rowid, title, description)
                VALUES ('delete', old.seq, old.title, old.description);
        END;
        CREATE TRIGGER tickets_fts_au AFTER UPDATE OF title, description ON tickets
            WHEN old.title IS NOT new.title OR old.description IS NOT new.description
        BEGIN
            INSERT INTO tickets_fts(tickets_fts, rowid, title, description)
                VALUES ('delete', old.seq, old.title, old.description);
            INSERT INTO tickets_fts(rowid, title, description)
                VALUES (new.seq, new.title, new.description);
        END;
        CREATE TRIGGER comments_fts_ai AFTER INSERT ON comments BEGIN
            INSERT INTO comments_fts(rowid, content) VALUES (new.seq, new.content);
        END;
        CREATE TRIGGER comments_fts_ad AFTER DELETE ON comments BEGIN
            INSERT INTO comments_fts(comments_fts, rowid, content)
                VALUES ('delete', old.seq, old.content);
        END;
        """
    )
    db.execute("INSERT INTO state(key, value) VALUES ('config_version', '0')")


def _v3_meta(db: sqlite_utils.Database) -> None:
    # The configuration version had shared the callers' `state` table; it gets its own.
    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})
    db.execute(
        "INSERT INTO meta(key, value) SELECT key, value FROM state WHERE key = 'config_version'"
    )
    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('config_version', '0')")
    db.execute("DELETE FROM state WHERE key = 'config_version'")


def _v4_analytics(db: sqlite_utils.Database) -> None:
    # Aggregates (analytics, reports) read these columns instead of the JSON records.
    db.table("tickets").add_column("resolved_at", str)
    db.execute("UPDATE tickets SET resolved_at = json_extract(data, '$.resolved_at')")
    db.execute(
        "CREATE INDEX idx_tickets_resolved_at ON tickets(resolved_at) WHERE resolved_at IS NOT NULL"
    )
    db.table("comments").add_column("author_type", str)
    db.execute("UPDATE comments SET author_type = json_extract(data, '$.author.type')")
    # Documents: reports, webhook delivery attempts, … (not configuration).
    db.execute(
        """CREATE TABLE documents (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            parent TEXT,
            status TEXT,
            created_at TEXT NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (kind, id)
        )"""
    )
    db.execute("CREATE INDEX idx_documents_parent ON documents(kind, parent, seq)")
    db.execute("CREATE INDEX idx_documents_status ON documents(kind, status, seq)")


def _v5_load_and_tags(db: sqlite_utils.Database) -> None:
    # Open-ticket counts per agent for routing, kept by triggers as counts per
    # (assignee, status): reading them is a few index lookups, however many tickets
    # an agent ever had, and any lifecycle's "done" statuses can be left out.
    db.executescript(
        """
        CREATE TABLE assignee_load (
            assignee TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY (assignee, status)
        ) WITHOUT ROWID;
        INSERT INTO assignee_load(assignee, status, n)
            SELECT assignee, status, COUNT(*) FROM tickets
            WHERE assignee IS NOT NULL GROUP BY assignee, status;
        CREATE TRIGGER assignee_load_ai AFTER INSERT ON tickets
            WHEN new.assignee IS NOT NULL
        BEGIN
            INSERT INTO assignee_load(assignee, status, n) VALUES (new.assignee, new.status, 1)
                ON CONFLICT(assignee, status) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER assignee_load_au AFTER UPDATE OF assignee, status ON tickets
            WHEN old.assignee IS NOT new.assignee OR old.status IS NOT new.status
        BEGIN
            UPDATE assignee_load SET n = n - 1
                WHERE assignee = old.assignee AND status = old.status;
            INSERT INTO assignee_load(assignee, status, n)
                SELECT new.assignee, new.status, 1 WHERE new.assignee IS NOT NULL
                ON CONFLICT(assignee, status) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER assignee_load_ad AFTER DELETE ON tickets
            WHEN old.assignee IS NOT NULL
        BEGIN
            UPDATE assignee_load SET n = n - 1
                WHERE assignee = old.assignee AND status = old.status;
        END;
        """
    )
    # Tags as a JSON column, with the tag index kept by triggers: an update that does
    # not change the tags no longer rewrites them.
    db.table("tickets").add_column("tags", str)
    db.executescript(
        """
        UPDATE tickets SET tags = json_extract(data, '$.tags');
        CREATE TRIGGER ticket_tags_ai AFTER INSERT ON tickets
            WHEN new.tags IS NOT NULL AND new.tags != '[]'
        BEGIN
            INSERT OR IGNORE INTO ticket_tags(ticket_seq, tag)
                SELECT new.seq, value FROM json_each(new.tags);
        END;
        CREATE TRIGGER ticket_tags_au AFTER UPDATE OF tags ON tickets
            WHEN old.tags IS NOT new.tags
        BEGIN
            DELETE FROM ticket_tags WHERE ticket_seq = old.seq;
            INSERT OR IGNORE INTO ticket_tags(ticket_seq, tag)
                SELECT new.seq, value FROM json_each(new.tags);
        END;
        """
    )
    # The customer's view: its tickets filtered by status and priority, newest first.
    db.execute(
        "CREATE INDEX idx_tickets_customer_status_priority "
        "ON tickets(customer_id, status, priority_rank, created_at)"
    )


def _v6_shared_event_data(db: sqlite_utils.Database) -> None:
    # An event that carries the same ticket shape as an earlier event of its command
    # stores only the rest of its data and names that event (records.event_texts).
    db.execute("ALTER TABLE events ADD COLUMN shares TEXT")


#: The schema's migrations, in order; the database's version is how many have run.
MIGRATIONS: Final[tuple[Callable[[sqlite_utils.Database], None], ...]] = (
    _v1_tables,
    _v2_search,
    _v3_meta,
    _v4_analytics,
    _v5_load_and_tags,
    _v6_shared_event_data,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


# -- URL and connections ----------------------------------------------------------------


def parse_url(url: str) -> str | None:
    """The file path of a ``sqlite:`` URL, or ``None`` for an in-memory database.

    ``sqlite:///support.db`` is relative to the working directory,
    ``sqlite:////var/lib/support.db`` absolute; ``sqlite://`` and
    ``sqlite:///:memory:`` are in memory.
    """
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise ValidationError.for_field("url", f"not a sqlite URL: {url!r}")
    if parts.netloc not in ("", "localhost"):
        raise ValidationError.for_field(
            "url", f"a sqlite URL names a file, not a host: {url!r} (use sqlite:///path.db)"
        )
    path = unquote(parts.path)
    if path in ("", "/", "/:memory:"):
        return None
    return path[1:] if path.startswith("/") else path


_BUSY: Final = re.compile(r"database is locked|database table is locked|busy", re.IGNORECASE)


def _translate(exc: sqlite3.Error) -> StorageError:
    if isinstance(exc, sqlite3.OperationalError) and _BUSY.search(str(exc)):
        return StorageError(f"the SQLite database stayed busy for too long: {exc}")
    return StorageError(f"SQLite error: {exc}")


#: Write-ahead log pages after which the background checkpointer copies the log back
#: into the database (SQLite's own auto-checkpoint point).
CHECKPOINT_PAGES: Final = 1000
#: The writers' own auto-checkpoint while a background checkpointer runs: a backstop
#: that keeps the log bounded should the thread fall behind.
BACKSTOP_PAGES: Final = 4 * CHECKPOINT_PAGES
#: The backstop of a bulk import's transactions (``insert_tickets``). Each of its
#: batches writes thousands of pages, more than :data:`BACKSTOP_PAGES`, so with that
#: backstop every batch's commit would copy the whole log into the database itself,
#: while the thread checkpoints between batches anyway. The log may grow to this many
#: pages (64 MiB of 4 KiB pages) before a writer does so.
BULK_BACKSTOP_PAGES: Final = 16 * CHECKPOINT_PAGES


class _Checkpointer:
    """Copies a file database's write-ahead log back into the database, in a thread.

    With SQLite's default, the commit that takes the log past 1,000 pages copies them
    into the database file and syncs it, inside that caller's transaction: every few
    dozen writes, one write waits for the disk. Here a writer only counts its commit;
    every ``every`` commits it wakes this thread, which runs a ``PASSIVE`` checkpoint
    on a connection of its own while the writers go on. ``every`` adapts so that about
    :data:`CHECKPOINT_PAGES` pages are copied each time (from the log size each
    checkpoint reports). The writers keep SQLite's auto-checkpoint at
    :data:`BACKSTOP_PAGES`, so the log stays bounded even if this thread falls behind.

    The thread starts with the first commit (a read-only desk never has one) and again
    in a forked child process; :meth:`close` stops it.
    """

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.every = 16  # commits between checkpoints; adapts after each checkpoint
        self.runs = 0  # checkpoints run so far
        self.last: tuple[int, int, int] | None = None  # (busy, log pages, copied pages)
        self._commits = 0
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False

    def committed(self) -> None:
        """A writer committed: wake the thread when enough commits have piled up."""
        self._commits += 1
        if self._commits < self.every:
            return
        self._commits = 0
        if self._thread is None or self._pid != os.getpid():
            self._start()
        self._wake.set()

    def _forget_parent(self) -> None:
        if self._thread is not None and self._pid != os.getpid():
            # A forked child: the parent's thread is not here, and it may have held
            # the condition's lock at the fork.
            self._done = threading.Condition()
            self._thread = None

    def _start(self) -> None:
        self._forget_parent()
        with self._done:
            if self._closed or (self._thread is not None and self._pid == os.getpid()):
                return
            self._pid = os.getpid()
            self._wake = threading.Event()
            self._thread = threading.Thread(
                target=self._run, name=f"supportkit-checkpoint {self.path}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            conn.execute("PRAGMA synchronous = NORMAL")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed:
                    return
                self._checkpoint(conn)
        except sqlite3.Error as exc:  # pragma: no cover - e.g. the file was removed
            logger.warning("background checkpoints of %s stopped: %s", self.path, exc)
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            logger.debug("checkpoint of %s skipped: %s", self.path, exc)
            return
        if log > 0:
            # Aim for CHECKPOINT_PAGES per checkpoint: the log restarts after a
            # complete checkpoint, so its size is what the last `every` commits wrote.
            self.every = max(1, min(1000, self.every * CHECKPOINT_PAGES // log))
        with self._done:
            self.runs += 1
            self.last = (int(busy), int(log), int(copied))
            self._done.notify_all()

    def wait(self, runs: int, timeout: float) -> bool:
        """Wait until at least ``runs`` checkpoints have run (for tests and tools)."""
        with self._done:
            return self._done.wait_for(lambda: self.runs >= runs, timeout)

    @property
    def alive(self) -> bool:
        """Whether the thread runs (in this process)."""
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def close(self) -> None:
        """Stop the thread and wait for it (a checkpoint under way finishes first)."""
        self._forget_parent()
        with self._done:
            self._closed = True
        thread = self._thread
        self._wake.set()
        if (
            thread is not None
            and self._pid == os.getpid()
            and thread is not threading.current_thread()
        ):
            thread.join(timeout=self.busy_timeout)


#: Connections a forked child inherited: never used there (see _after_fork).
_INHERITED: Final[list[sqlite3.Connection]] = []


class SQLiteStorage(Storage):
    """Storage in one SQLite file (or in memory). See the module docstring.

    :param path: the database file; ``None`` for an in-memory database.
    :param busy_timeout: seconds a write waits for another writer before giving up.
    :param checkpoint: ``"background"`` (the default for a file) copies the
        write-ahead log back into the database in a thread of its own
        (:class:`_Checkpointer`); ``"inline"`` leaves it to SQLite, which does it
        inside the commit that takes the log past 1,000 pages.
    """

    scheme = "sqlite"

    def __init__(
        self, path: str | None, *, busy_timeout: float = 30.0, checkpoint: str = "background"
    ) -> None:
        if checkpoint not in ("background", "inline"):
            raise ValidationError.for_field("checkpoint", "expected background or inline")
        self.path = path
        self.busy_timeout = busy_timeout
        self.checkpointer = (
            _Checkpointer(str(Path(path).expanduser()), busy_timeout)
            if path is not None and checkpoint == "background"
            else None
        )
        self._connections: list[sqlite3.Connection] = []
        # A file database's connections not in a transaction now, the most recently
        # used last: a transaction takes that one, whose page cache is still warm
        # (SQLite empties a connection's cache whenever another connection has
        # written), so a few busy threads share one or two warm connections rather
        # than each keeping a cold one of its own.
        self._idle: list[sqlite3.Connection] = []
        self._registry_lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        # An in-memory database lives in one connection, shared under a lock.
        self._shared_lock = threading.RLock() if path is None else None
        self._tickets: records.RecordCache[Ticket] = records.RecordCache(Ticket)
        if path is not None:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._acquire()
            try:
                self._migrate(conn)
                self._refresh_statistics(conn)
            finally:
                self._release(conn)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    # -- connections ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(Path(self.path).expanduser())
        conn = sqlite3.connect(
            target,
            timeout=self.busy_timeout,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE / COMMIT
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        if self.path is not None:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - e.g. a read-only medium
                raise StorageError(f"could not switch {self.path} to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if self.checkpointer is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        return conn

    def _acquire(self) -> sqlite3.Connection:
        """A connection for one transaction; :meth:`_release` gives it back."""
        if self._closed:
            raise StorageError("this storage has been closed")
        if self.path is None:
            if not self._connections:
                with self._registry_lock:
                    if not self._connections:
                        self._connections.append(self._connect())
            return self._connections[0]
        if self._pid != os.getpid():
            self._after_fork()
        with self._registry_lock:
            if self._idle:
                return self._idle.pop()
        conn = self._connect()
        with self._registry_lock:
            if self._closed:
                conn.close()
                raise StorageError("this storage has been closed")
            self._connections.append(conn)
        return conn

    def _after_fork(self) -> None:
        """In a forked child: never use the parent's connections (SQLite's locks belong
        to a process, so a connection carried across ``fork()`` can corrupt the
        database); open new ones. The inherited ones are kept, unused, until exit.
        The lock is new too: another thread of the parent may have held it at the fork."""
        self._registry_lock = threading.Lock()
        _INHERITED.extend(self._connections)
        self._connections = []
        self._idle = []
        self._pid = os.getpid()

    def _release(self, conn: sqlite3.Connection) -> None:
        if self.path is None:
            return
        if conn.in_transaction:  # a failed ROLLBACK: never hand such a connection out
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if conn.in_transaction:
                with self._registry_lock:
                    if conn in self._connections:
                        self._connections.remove(conn)
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
                return
        with self._registry_lock:
            if not self._closed and conn in self._connections:
                self._idle.append(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._lock():
            self._begin(conn, immediate=True)
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise SchemaVersionError(
                        f"{self.path or 'the database'} has schema version {version}, but this"
                        f" supportkit knows only up to {SCHEMA_VERSION}; upgrade supportkit"
                    )
                db = sqlite_utils.Database(conn)
                for number in range(version, SCHEMA_VERSION):
                    MIGRATIONS[number](db)
                    conn.execute(f"PRAGMA user_version = {number + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _refresh_statistics(self, conn: sqlite3.Connection) -> None:
        """Sample planner statistics for ``tickets`` once it has rows worth sampling.

        Statistics let the search use the customer/status/priority index. Only the
        tickets table is analysed: statistics of the FTS5 shadow tables taken while
        they were small make every later FTS insert read more and more.
        """
        with self._lock():
            has_stats = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).fetchone()
            if has_stats:
                conn.execute("DELETE FROM sqlite_stat1 WHERE tbl GLOB '*_fts_*'")
            top = conn.execute("SELECT MAX(seq) FROM tickets").fetchone()[0]
            if top is not None and top >= 1000:
                conn.execute("PRAGMA analysis_limit = 1000")
                conn.execute("ANALYZE tickets")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        if self._shared_lock is None:
            yield
        else:
            with self._shared_lock:
                yield

    def _begin(self, conn: sqlite3.Connection, *, immediate: bool) -> None:
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                # The busy handler already waited; keep trying until our own deadline.
                if not _BUSY.search(str(exc)) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Transaction]:
        with self._lock():
            try:
                conn = self._acquire()
            except sqlite3.Error as exc:
                raise _translate(exc) from exc
            tx: _SQLiteTransaction | None = None
            try:
                try:
                    self._begin(conn, immediate=write)
                except sqlite3.Error as exc:
                    raise _translate(exc) from exc
                tx = _SQLiteTransaction(
                    conn,
                    self._tickets,
                    bulk_backstop=BULK_BACKSTOP_PAGES if self.checkpointer is not None else None,
                )
                try:
                    yield tx
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
                try:
                    conn.execute("COMMIT")  # its checkpoint, if any, at tx's backstop
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise _translate(exc) from exc
            finally:
                if tx is not None and tx.raised_backstop:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
                self._release(conn)
            if write and self.checkpointer is not None:
                self.checkpointer.committed()

    def write(self) -> contextlib.AbstractContextManager[Transaction]:
        return self._transaction(write=True)

    def read(self) -> contextlib.AbstractContextManager[Transaction]:
        return self._transaction(write=False)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self._pid != os.getpid():
            self._after_fork()  # a forked child closes only its own connections
        with self._registry_lock:
            self._closed = True
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
            self._idle.clear()

    def __repr__(self) -> str:
        return f"<SQLiteStorage {self.path or ':memory:'}>"


# -- the transaction ---------------------------------------------------------------------


def _ticket_row(ticket: Ticket, next_due_at: datetime | None) -> tuple[Any, ...]:
    """The ``tickets`` row of ``ticket`` (``_TICKET_COLUMNS``; instants as sortable text)."""
    # Tags as compact JSON, as the migration that added the column wrote them.
    return ticket_values(ticket, next_due_at, instant=_key, tags=records.to_json)


_TICKET_COLUMNS: Final = TICKET_COLUMNS
_TICKETS: Final = f"tickets({', '.join(_TICKET_COLUMNS)})"
_EVENTS: Final = "events(id, type, ticket_id, customer_id, visibility, created_at, data, shares)"
#: Rows per statement when many are inserted at once. SQLite runs one INSERT of many
#: rows about twice as fast as ``executemany`` of a one-row INSERT (each statement has
#: its own start and end), and 500 rows of the widest table stay well under its limit
#: of 32,766 variables.
_ROWS_PER_INSERT: Final = 500


@functools.lru_cache(maxsize=64)
def _insert_sql(into: str, width: int, rows: int = 1) -> str:
    """``INSERT INTO {into} VALUES`` with ``rows`` rows of ``width`` placeholders."""
    row = "(" + ", ".join("?" * width) + ")"
    return f"INSERT INTO {into} VALUES " + ", ".join([row] * rows)


_INSERT_TICKET: Final = _insert_sql(_TICKETS, len(_TICKET_COLUMNS))
_UPDATE_TICKET: Final = (
    "UPDATE tickets SET "
    + ", ".join(f"{c} = ?" for c in _TICKET_COLUMNS[2:])
    + " WHERE id = ? AND version = ?"
)


# Exact microseconds between two instant keys (``YYYY-MM-DDTHH:MM:SS.ffffffZ``):
# whole seconds from strftime (given no fraction: it would round it to milliseconds),
# the fraction from the text, all in integers.
_RESOLUTION_US: Final = (
    "((CAST(strftime('%s', substr(t.resolved_at, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr(t.created_at, 1, 19)) AS INTEGER)) * 1000000"
    " + CAST(substr(t.resolved_at, 21, 6) AS INTEGER)"
    " - CAST(substr(t.created_at, 21, 6) AS INTEGER))"
)
# Customer-visible agent comments on the ticket, counted only up to 2.
_AGENT_REPLIES: Final = (
    "(SELECT COUNT(*) FROM (SELECT 1 FROM comments c WHERE c.ticket_id = t.id"
    " AND c.visibility = 'customer' AND c.author_type = 'agent' LIMIT 2))"
)


def fts_words(text: str) -> list[str]:
    """Plain words as FTS5 phrase queries, one per distinct word; no syntax passes."""
    return ['"' + word.replace('"', '""') + '"' for word in search_words(text)]


class _SQLiteTransaction(Transaction):
    def __init__(
        self,
        conn: sqlite3.Connection,
        tickets: records.RecordCache[Ticket],
        *,
        bulk_backstop: int | None = None,
    ) -> None:
        self.conn = conn
        self.tickets = tickets
        #: The auto-checkpoint point for a bulk import (``None``: leave it as it is).
        self.bulk_backstop = bulk_backstop
        #: Whether this transaction set it (the storage puts the usual one back).
        self.raised_backstop = False

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    # -- tickets -----------------------------------------------------------------------

    def next_ticket_number(self, year: int) -> int:
        row = self._run(
            "INSERT INTO ticket_counters(year, last) VALUES (?, 1) "
            "ON CONFLICT(year) DO UPDATE SET last = last + 1 RETURNING last",
            (year,),
        ).fetchone()
        return int(row[0])

    def next_ticket_numbers(self, year: int, count: int) -> int:
        if count < 1:
            raise ValueError("count must be at least 1")
        row = self._run(
            "INSERT INTO ticket_counters(year, last) VALUES (?, ?) "
            "ON CONFLICT(year) DO UPDATE SET last = last + excluded.last RETURNING last",
            (year, count),
        ).fetchone()
        return int(row[0]) - count + 1

    def raise_ticket_counter(self, year: int, at_least: int) -> None:
        self._run(
            "INSERT INTO ticket_counters(year, last) VALUES (?, ?) "
            "ON CONFLICT(year) DO UPDATE SET last = MAX(last, excluded.last)",
            (year, at_least),
        )

    def insert_ticket(self, ticket: Ticket, *, next_due_at: datetime | None) -> None:
        row = _ticket_row(ticket, next_due_at)
        try:
            self.conn.execute(_INSERT_TICKET, row)  # triggers index its tags
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists("ticket", ticket.id) from exc
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        self.tickets.remember(ticket.id, row[-1], ticket)

    def insert_tickets(self, tickets: Iterable[tuple[Ticket, datetime | None]]) -> None:
        if self.bulk_backstop is not None and not self.raised_backstop:
            self._run(f"PRAGMA wal_autocheckpoint = {self.bulk_backstop}")
            self.raised_backstop = True
        rows = [_ticket_row(ticket, next_due_at) for ticket, next_due_at in tickets]
        if rows:
            self._insert_rows(_TICKETS, rows, "ticket")

    def _insert_rows(self, into: str, rows: Sequence[Sequence[Any]], kind: str) -> int:
        """Insert ``rows`` (each with its id first) into ``into`` (``table(columns)``),
        :data:`_ROWS_PER_INSERT` per statement; returns the last row's rowid (the rows
        take consecutive ones, under the write lock). On a taken id nothing is kept and
        ``AlreadyExists`` names it."""
        conn, width, step = self.conn, len(rows[0]), _ROWS_PER_INSERT
        several = len(rows) > step  # else one statement: all of it goes in or none
        try:
            if several:
                conn.execute("SAVEPOINT insert_rows")
            last = None
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                sql = _insert_sql(into, width, len(chunk))
                last = conn.execute(sql, [value for row in chunk for value in row]).lastrowid
            if several:
                conn.execute("RELEASE insert_rows")
        except sqlite3.IntegrityError as exc:
            if several:
                self._run("ROLLBACK TO insert_rows")
                self._run("RELEASE insert_rows")
            self._name_taken(into, rows, kind)
            raise _translate(exc) from exc  # not reached: that names the taken id
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        assert last is not None  # an INSERT's rowid
        return last

    def _name_taken(self, into: str, rows: Sequence[Sequence[Any]], kind: str) -> None:
        """Raise ``AlreadyExists`` for the first of ``rows`` that cannot be inserted,
        one by one, keeping none of them."""
        sql = _insert_sql(into, len(rows[0]))
        self._run("SAVEPOINT name_taken")
        try:
            for row in rows:
                try:
                    self.conn.execute(sql, row)
                except sqlite3.IntegrityError as inner:
                    raise AlreadyExists(kind, row[0]) from inner
        finally:
            self._run("ROLLBACK TO name_taken")
            self._run("RELEASE name_taken")

    def update_ticket(
        self, ticket: Ticket, *, expected_version: int, next_due_at: datetime | None
    ) -> None:
        row = _ticket_row(ticket, next_due_at)
        cursor = self._run(_UPDATE_TICKET, (*row[2:], ticket.id, expected_version))
        if cursor.rowcount == 1:
            self.tickets.remember(ticket.id, row[-1], ticket)
            return  # triggers keep the tag index and the agents' load in step
        self._conflict(ticket.id, expected_version)

    def touch_ticket(self, ticket: Ticket, *, expected_version: int) -> bool:
        updated = _key(ticket.updated_at)
        row = self._run(
            "UPDATE tickets SET updated_at = ?1, version = ?2,"
            " data = json_set(data, '$.updated_at', ?1, '$.version', ?2)"
            " WHERE id = ?3 AND version = ?4 RETURNING data",
            (updated, ticket.version, ticket.id, expected_version),
        ).fetchone()
        if row is None:
            self._conflict(ticket.id, expected_version)
        self.tickets.remember(ticket.id, row[0], ticket)
        return True

    def _conflict(self, ticket_id: str, expected_version: int) -> NoReturn:
        found = self._run("SELECT version FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if found is None:
            raise TicketNotFound(ticket_id)
        raise VersionConflict(ticket_id, expected_version, int(found[0]))

    def get_ticket(self, ticket_id: str, *, for_update: bool = False) -> Ticket | None:
        # A write transaction already holds SQLite's one write lock: no row locks needed.
        row = self._run("SELECT data FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return self.tickets.load(ticket_id, row[0]) if row else None

    def get_ticket_by_number(self, number: str) -> Ticket | None:
        row = self._run("SELECT id, data FROM tickets WHERE number = ?", (number,)).fetchone()
        return self.tickets.load(row[0], row[1]) if row else None

    def search_tickets(self, query: TicketQuery) -> Page[Ticket]:
        where: list[str] = []
        params: list[Any] = []

        def any_of(column: str, values: Sequence[Any]) -> None:
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)

        any_of("t.customer_id", query.customer_ids)
        any_of("t.status", query.statuses)
        any_of("t.priority_rank", [PRIORITY_RANK[p] for p in query.priorities])
        any_of("t.category", query.categories)
        any_of("t.subcategory", query.subcategories)
        any_of("t.assignee", query.assignees)
        any_of("t.team", query.teams)
        any_of("t.escalation_level", query.escalation_levels)
        if query.min_escalation_level is not None:
            where.append("t.escalation_level >= ?")
            params.append(query.min_escalation_level)
        for column, bound, op in (
            ("t.created_at", query.created_after, ">="),
            ("t.created_at", query.created_before, "<"),
            ("t.updated_at", query.updated_after, ">="),
            ("t.updated_at", query.updated_before, "<"),
        ):
            if bound is not None:
                where.append(f"{column} {op} ?")
                params.append(_key(bound))
        if query.tags:
            where.append(
                "t.seq IN (SELECT ticket_seq FROM ticket_tags WHERE tag IN "
                f"({', '.join('?' * len(query.tags))}))"
            )
            params.extend(query.tags)
        now = _key(query.now)
        if query.sla_statuses:
            where.append(sla_clause("resolution", query.sla_statuses, now, params, placeholder="?"))
        if query.response_sla_statuses:
            where.append(
                sla_clause("response", query.response_sla_statuses, now, params, placeholder="?")
            )
        if query.text:
            # Every word must occur somewhere in the ticket: its title, its description
            # or one of its comments (customer-visible ones only, unless internal).
            visibility = "" if query.text_internal else " AND c.visibility = 'customer'"
            for word in fts_words(query.text):
                where.append(
                    "t.seq IN (SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH ?"
                    " UNION SELECT tk.seq FROM comments_fts"
                    " JOIN comments c ON c.seq = comments_fts.rowid"
                    " JOIN tickets tk ON tk.id = c.ticket_id"
                    f" WHERE comments_fts MATCH ?{visibility})"
                )
                params.extend([word, word])
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        column = SORT_COLUMNS[query.sort]
        order = "DESC" if query.descending else "ASC"
        total = self._run(f"SELECT COUNT(*) FROM tickets t{sql_where}", params).fetchone()[0]
        offset = (query.page - 1) * query.limit
        rows = self._run(
            f"SELECT t.id, t.data FROM tickets t{sql_where} "
            f"ORDER BY {column} {order} NULLS LAST, t.id {order} LIMIT ? OFFSET ?",
            [*params, query.limit, offset],
        ).fetchall()
        load = self.tickets.load
        items = [load(row[0], row[1]) for row in rows]
        return Page(items=items, total=int(total), page=query.page, limit=query.limit)

    def open_ticket_counts(
        self, agent_ids: Sequence[str], done_statuses: Sequence[str]
    ) -> dict[str, int]:
        if not agent_ids:
            return {}
        counts = dict.fromkeys(agent_ids, 0)
        rows = self._run(
            "SELECT assignee, SUM(n) FROM assignee_load WHERE assignee IN "
            f"({', '.join('?' * len(agent_ids))}) AND status NOT IN "
            f"({', '.join('?' * len(done_statuses))}) GROUP BY assignee",
            [*agent_ids, *done_statuses],
        ).fetchall()
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    def claim_due_tickets(self, now: datetime, limit: int) -> list[str]:
        rows = self._run(
            "SELECT id FROM tickets WHERE next_due_at IS NOT NULL AND next_due_at <= ? "
            "ORDER BY next_due_at LIMIT ?",
            (_key(now), limit),
        ).fetchall()
        return [row[0] for row in rows]

    def ticket_stats(self, query: StatsQuery) -> list[TicketStats]:
        params: list[Any] = []
        prefix = join = ""
        if "bucket" in query.group_by:
            # The boundaries travel as one JSON array; consecutive pairs are the ranges.
            prefix = (
                "WITH bounds AS (SELECT CAST(key AS INTEGER) AS idx, value AS lo,"
                " lead(value) OVER (ORDER BY CAST(key AS INTEGER)) AS hi FROM json_each(?)) "
            )
            params.append(json.dumps([_key(b) for b in query.buckets]))
            join = (
                " JOIN bounds b ON b.hi IS NOT NULL"
                " AND t.created_at >= b.lo AND t.created_at < b.hi"
            )
        if query.done_statuses:
            open_case = (
                f"SUM(CASE WHEN t.status NOT IN ({', '.join('?' * len(query.done_statuses))})"
                " THEN 1 ELSE 0 END)"
            )
            params.extend(query.done_statuses)
        else:
            open_case = "COUNT(*)"
        where = ["t.created_at >= ?", "t.created_at < ?"]
        params.extend([_key(query.start), _key(query.end)])
        for column, values in (
            ("t.customer_id", query.customer_ids),
            ("t.category", query.categories),
            ("t.priority_rank", [PRIORITY_RANK[p] for p in query.priorities]),
        ):
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        groups = [STATS_COLUMNS[name] for name in query.group_by]
        select_groups = "".join(f"{g}, " for g in groups)
        group_clause = f" GROUP BY {', '.join(groups)}" if groups else ""
        rows = self._run(
            f"{prefix}SELECT {select_groups}COUNT(*), "
            "SUM(t.resolved_at IS NOT NULL), "
            f"{open_case}, "
            f"SUM(CASE WHEN t.resolved_at IS NOT NULL THEN {_RESOLUTION_US} ELSE 0 END), "
            "SUM(t.resolved_at IS NOT NULL AND t.resolution_state IN ('met', 'breached')), "
            "SUM(t.resolved_at IS NOT NULL AND t.resolution_state = 'met'), "
            "SUM(t.escalation_level > 0), "
            f"SUM(t.resolved_at IS NOT NULL AND {_AGENT_REPLIES} <= 1) "
            f"FROM tickets t{join} WHERE {' AND '.join(where)}{group_clause}",
            params,
        ).fetchall()
        return [stats(query.group_by, row) for row in rows]

    # -- comments and attachments ------------------------------------------------------

    def insert_comment(self, comment: Comment) -> None:
        try:
            self.conn.execute(
                "INSERT INTO comments(id, ticket_id, visibility, author_type, created_at, "
                "content, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    comment.id,
                    comment.ticket_id,
                    comment.visibility,
                    comment.author.type,
                    _key(comment.created_at),
                    comment.content,
                    records.dumps(comment),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists("comment", comment.id) from exc
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def list_comments(self, ticket_id: str, *, visibility: str | None = None) -> list[Comment]:
        if visibility is None:
            rows = self._run(
                "SELECT data FROM comments WHERE ticket_id = ? ORDER BY created_at, seq",
                (ticket_id,),
            )
        else:
            rows = self._run(
                "SELECT data FROM comments WHERE ticket_id = ? AND visibility = ? "
                "ORDER BY created_at, seq",
                (ticket_id, visibility),
            )
        return [records.loads(row[0], Comment) for row in rows.fetchall()]

    def move_comments(self, from_ticket: str, to_ticket: str) -> int:
        rows = self._run(
            "SELECT seq, data FROM comments WHERE ticket_id = ?", (from_ticket,)
        ).fetchall()
        for seq, data in rows:
            record = json.loads(data)
            record["ticket_id"] = to_ticket
            self._run(
                "UPDATE comments SET ticket_id = ?, data = ? WHERE seq = ?",
                (to_ticket, json.dumps(record, separators=(",", ":")), seq),
            )
        self._run(
            "UPDATE attachments SET ticket_id = ? WHERE ticket_id = ? AND comment_id IS NOT NULL",
            (to_ticket, from_ticket),
        )
        return len(rows)

    def insert_attachment(
        self,
        attachment: Attachment,
        *,
        ticket_id: str,
        comment_id: str | None,
        data: bytes,
        created_at: datetime,
    ) -> None:
        try:
            self.conn.execute(
                "INSERT INTO attachments(id, ticket_id, comment_id, filename, content_type, "
                "size, sha256, created_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attachment.id,
                    ticket_id,
                    comment_id,
                    attachment.filename,
                    attachment.content_type,
                    attachment.size,
                    attachment.sha256,
                    _key(created_at),
                    sqlite3.Binary(data),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists("attachment", attachment.id) from exc
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def get_attachment(self, attachment_id: str) -> StoredAttachment | None:
        row = self._run(
            "SELECT id, filename, content_type, size, sha256, ticket_id, comment_id, data "
            "FROM attachments WHERE id = ?",
            (attachment_id,),
        ).fetchone()
        if row is None:
            return None
        attachment = Attachment(row[0], row[1], row[2], int(row[3]), row[4])
        return StoredAttachment(attachment, row[5], row[6], bytes(row[7]))

    # -- events ------------------------------------------------------------------------

    def insert_events(self, events: Sequence[Event]) -> list[Event]:
        stored = records.event_texts((event.id, event.ticket_id, event.data) for event in events)
        rows = [
            (
                event.id, event.type, event.ticket_id, event.customer_id, event.visibility,
                _key(event.created_at), text, shares,
            )
            for event, (text, shares) in zip(events, stored, strict=True)
        ]  # fmt: skip
        if not rows:
            return []
        last = self._insert_rows(_EVENTS, rows, "event")
        first = last - len(rows) + 1
        return [event.numbered(first + offset) for offset, event in enumerate(events)]

    def list_events(
        self,
        *,
        after_seq: int = 0,
        limit: int = 100,
        ticket_id: str | None = None,
        include_internal: bool = True,
        customer_id: str | None = None,
    ) -> list[Event]:
        where = ["e.seq > ?"]
        params: list[Any] = [after_seq]
        if ticket_id is not None:
            where.append("e.ticket_id = ?")
            params.append(ticket_id)
        if customer_id is not None:
            where.append("e.customer_id = ?")
            params.append(customer_id)
        if not include_internal:
            where.append("e.visibility = 'customer'")
        rows = self._run(
            "SELECT e.seq, e.id, e.type, e.ticket_id, e.customer_id, e.visibility,"
            " e.created_at, e.data, shared.data FROM events e"
            " LEFT JOIN events shared ON shared.id = e.shares"
            f" WHERE {' AND '.join(where)} ORDER BY e.seq LIMIT ?",
            [*params, limit],
        ).fetchall()
        return [
            Event(
                id=row[1],
                type=row[2],
                ticket_id=row[3],
                customer_id=row[4],
                visibility=row[5],
                created_at=records.load(row[6], datetime),
                data=records.joined_data(row[7], row[8]),
                seq=int(row[0]),
            )
            for row in rows
        ]

    def event_seq(self, event_id: str) -> int | None:
        row = self._run("SELECT seq FROM events WHERE id = ?", (event_id,)).fetchone()
        return int(row[0]) if row else None

    # -- documents ---------------------------------------------------------------------

    def insert_document(self, document: Document) -> Document:
        try:
            cursor = self.conn.execute(
                "INSERT INTO documents(kind, id, parent, status, created_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    document.kind,
                    document.id,
                    document.parent,
                    document.status,
                    _key(document.created_at),
                    json.dumps(document.data, separators=(",", ":"), ensure_ascii=False),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(document.kind, document.id) from exc
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        return attrs.evolve(document, seq=cursor.lastrowid)

    def update_document(
        self, kind: str, document_id: str, *, data: dict[str, Any], status: str | None
    ) -> bool:
        cursor = self._run(
            "UPDATE documents SET data = ?, status = ? WHERE kind = ? AND id = ?",
            (
                json.dumps(data, separators=(",", ":"), ensure_ascii=False),
                status,
                kind,
                document_id,
            ),
        )
        return cursor.rowcount == 1

    def get_document(self, kind: str, document_id: str) -> Document | None:
        row = self._run(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE kind = ? AND id = ?",
            (kind, document_id),
        ).fetchone()
        return _document(row) if row else None

    def list_documents(
        self,
        kind: str,
        *,
        parent: str | None = None,
        status: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
        claim: bool = False,
    ) -> list[Document]:
        # A write transaction holds SQLite's one write lock: claiming needs nothing more.
        where = ["kind = ?", "seq > ?"]
        params: list[Any] = [kind, after_seq]
        if parent is not None:
            where.append("parent = ?")
            params.append(parent)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        rows = self._run(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE {' AND '.join(where)} "
            "ORDER BY seq LIMIT ?",
            [*params, limit],
        ).fetchall()
        return [_document(row) for row in rows]

    def delete_documents(
        self, kind: str, *, document_id: str | None = None, parent: str | None = None
    ) -> int:
        if document_id is None and parent is None:
            raise ValidationError.for_field("document_id", "name a document or a parent")
        where = ["kind = ?"]
        params: list[Any] = [kind]
        for column, value in (("id", document_id), ("parent", parent)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return int(self._run(f"DELETE FROM documents WHERE {' AND '.join(where)}", params).rowcount)

    # -- configuration and state -------------------------------------------------------

    def _bump_config(self) -> None:
        self._run(
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "WHERE key = 'config_version'"
        )

    def put_resource(
        self, kind: str, resource_id: str, data: dict[str, Any], *, position: int | None = None
    ) -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if position is None:
            row = self._run(
                "SELECT position FROM resources WHERE kind = ? AND id = ?", (kind, resource_id)
            ).fetchone()
            if row is not None:
                position = int(row[0])
            else:
                top = self._run(
                    "SELECT MAX(position) FROM resources WHERE kind = ?", (kind,)
                ).fetchone()[0]
                position = 0 if top is None else int(top) + 1
        self._run(
            "INSERT INTO resources(kind, id, position, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(kind, id) DO UPDATE SET position = excluded.position, "
            "data = excluded.data",
            (kind, resource_id, position, text),
        )
        self._bump_config()

    def get_resource(self, kind: str, resource_id: str) -> dict[str, Any] | None:
        row = self._run(
            "SELECT data FROM resources WHERE kind = ? AND id = ?", (kind, resource_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def list_resources(self, kind: str) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT data FROM resources WHERE kind = ? ORDER BY position, id", (kind,)
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def delete_resource(self, kind: str, resource_id: str) -> bool:
        cursor = self._run("DELETE FROM resources WHERE kind = ? AND id = ?", (kind, resource_id))
        if cursor.rowcount:
            self._bump_config()
        return bool(cursor.rowcount)

    def config_version(self) -> int:
        row = self._run("SELECT value FROM meta WHERE key = 'config_version'").fetchone()
        return int(row[0]) if row else 0

    def get_state(self, key: str) -> str | None:
        row = self._run("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO state(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


_DOCUMENT_COLUMNS: Final = "seq, kind, id, parent, status, created_at, data"


def _document(row: Sequence[Any]) -> Document:
    return Document(
        kind=row[1],
        id=row[2],
        data=json.loads(row[6]),
        created_at=records.load(row[5], datetime),
        status=row[4],
        parent=row[3],
        seq=int(row[0]),
    )


def open_sqlite(url: str, options: Mapping[str, Any]) -> SQLiteStorage:
    """The storage factory for ``sqlite:`` URLs (options: ``busy_timeout``,
    ``checkpoint``)."""
    timeout = options.get("busy_timeout", 30.0)
    if not isinstance(timeout, int | float) or timeout < 0:
        raise ValidationError.for_field("busy_timeout", "expected a non-negative number")
    return SQLiteStorage(
        parse_url(url),
        busy_timeout=float(timeout),
        checkpoint=options.get("checkpoint", "background"),  # checked there
    )


@hookimpl
def supportkit_storage_backends() -> Mapping[str, StorageFactory]:
    """The built-in ``sqlite`` backend."""
    return {"sqlite": open_sqlite}
