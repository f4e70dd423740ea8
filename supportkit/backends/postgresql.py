"""The PostgreSQL backend (``postgresql://user@host:5432/db``), for many processes and
machines sharing one database.

- psycopg 3 with a ``psycopg_pool`` connection pool (extra ``supportkit[postgres]``).
  Options: ``min_size``, ``max_size`` (pool size), ``timeout`` (seconds to wait for a
  connection), ``schema`` (a schema to keep supportkit's tables in; created if missing).
  ``?schema=…`` in the URL works too.
- Transactions run at READ COMMITTED in libpq's pipeline mode, driven by
  :mod:`supportkit.backends._pgbatch`: a statement whose result is not needed yet is
  sent without waiting for its answer, and a statement sent again is prepared on its
  connection. Writes say ``BEGIN READ WRITE``; reads run without ``BEGIN``/``COMMIT``
  (at READ COMMITTED each statement has its own snapshot anyway); the connections'
  ``default_transaction_read_only`` keeps them read-only. A ticket being changed is
  locked with ``SELECT … FOR UPDATE``, and every update also checks the version it
  read, so concurrent writers never lose an update. Ticket numbers come from a
  per-year counter row updated in the creating transaction: unique, increasing, and
  without gaps (a rolled-back create gives its number back).
- Timers are claimed with ``SELECT … FOR UPDATE SKIP LOCKED``: workers on many machines
  share them without doing anything twice, and a worker that dies mid-claim releases its
  locks with its connection, so its tickets are claimed again.
- Events are appended under a transaction-scoped advisory lock taken just before commit,
  so their sequence numbers follow commit order and a reader paging with ``after=`` never
  skips an event that commits late.
- Bulk inserts (``insert_tickets``, and ``insert_events`` from 32 events) use ``COPY``
  inside a savepoint; the insert trigger (agents' load, tag index, once per statement)
  fires as for ``INSERT``, and a taken id rolls back to the savepoint and raises
  ``AlreadyExists``.
- Deadlocks, serialization failures and dropped connections raise
  :class:`~supportkit.errors.RetryableStorageError`; the Desk retries the whole command
  a bounded number of times. Nothing of psycopg leaks out.
- Schema migrations are numbered and recorded in ``supportkit_schema``; they run under
  an advisory lock, so processes starting together migrate once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import threading
import typing
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql
    from psycopg.types.json import Jsonb
    from psycopg_pool import ConnectionPool, PoolTimeout

    from supportkit.backends._pgbatch import Answer, Batch, Prepared
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the PostgreSQL backend needs psycopg 3 and psycopg_pool: "
        "pip install 'supportkit[postgres]'"
    ) from exc

from .. import records
from ..errors import (
    AlreadyExists,
    RetryableStorageError,
    SchemaVersionError,
    StorageError,
    SupportkitError,
    TicketNotFound,
    ValidationError,
    VersionConflict,
)
from ..models import Attachment, Comment, Ticket
from ..storage import (
    CreateReads,
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

__all__ = ["PostgresStorage", "open_postgres"]

_IDENT: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_EVENTS_LOCK: Final = 0x5355_5050_4F52_5401  # "SUPPORT" + 1: the event-append lock
_MIGRATE_LOCK: Final = 0x5355_5050_4F52_5402

# -- migrations ---------------------------------------------------------------------------

_V1: Final = """
CREATE TABLE tickets (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    number TEXT NOT NULL UNIQUE,
    customer_id TEXT,
    status TEXT NOT NULL,
    priority_rank SMALLINT NOT NULL,
    category TEXT NOT NULL,
    subcategory TEXT,
    assignee TEXT,
    team TEXT,
    escalation_level INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    response_due TIMESTAMPTZ,
    resolution_due TIMESTAMPTZ,
    response_at_risk TIMESTAMPTZ,
    resolution_at_risk TIMESTAMPTZ,
    response_state TEXT,
    resolution_state TEXT,
    next_due_at TIMESTAMPTZ,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE ticket_tags (
    ticket_seq BIGINT NOT NULL REFERENCES tickets(seq) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (ticket_seq, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags(tag, ticket_seq);
CREATE TABLE ticket_counters (year INTEGER PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE comments (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL,
    visibility TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    content TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX comments_ticket ON comments(ticket_id, created_at, seq);
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    comment_id TEXT,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX attachments_ticket ON attachments(ticket_id);
CREATE INDEX attachments_comment ON attachments(comment_id);
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    ticket_id TEXT,
    customer_id TEXT,
    visibility TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_ticket ON events(ticket_id, seq);
CREATE INDEX events_customer ON events(customer_id, seq);
CREATE TABLE resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX resources_order ON resources(kind, position);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta(key, value) VALUES ('config_version', '0');
"""

_V2: Final = """
CREATE INDEX tickets_customer_created ON tickets(customer_id, created_at);
CREATE INDEX tickets_status_created ON tickets(status, created_at);
CREATE INDEX tickets_assignee_status ON tickets(assignee, status);
CREATE INDEX tickets_team_status ON tickets(team, status);
CREATE INDEX tickets_category_created ON tickets(category, created_at);
CREATE INDEX tickets_created ON tickets(created_at);
CREATE INDEX tickets_updated ON tickets(updated_at);
CREATE INDEX tickets_resolution_due ON tickets(resolution_due);
CREATE INDEX tickets_next_due ON tickets(next_due_at) WHERE next_due_at IS NOT NULL;
ALTER TABLE tickets ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || description)) STORED;
CREATE INDEX tickets_search ON tickets USING GIN (search);
ALTER TABLE comments ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;
CREATE INDEX comments_search ON comments USING GIN (search);
"""

_V3: Final = """
ALTER TABLE tickets ADD COLUMN resolved_at TIMESTAMPTZ;
UPDATE tickets SET resolved_at = (data::jsonb->>'resolved_at')::timestamptz;
CREATE INDEX tickets_resolved ON tickets(resolved_at) WHERE resolved_at IS NOT NULL;
ALTER TABLE comments ADD COLUMN author_type TEXT;
UPDATE comments SET author_type = data::jsonb->'author'->>'type';
CREATE TABLE documents (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    status TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX documents_parent ON documents(kind, parent, seq);
CREATE INDEX documents_status ON documents(kind, status, seq);
"""

_V4: Final = """
CREATE TABLE assignee_load (
    assignee TEXT NOT NULL, status TEXT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (assignee, status)
);
INSERT INTO assignee_load(assignee, status, n)
    SELECT assignee, status, COUNT(*) FROM tickets
    WHERE assignee IS NOT NULL GROUP BY assignee, status;
CREATE FUNCTION supportkit_assignee_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.assignee IS NOT NULL AND (TG_OP = 'DELETE'
            OR OLD.assignee IS DISTINCT FROM NEW.assignee OR OLD.status <> NEW.status) THEN
        UPDATE assignee_load SET n = n - 1
            WHERE assignee = OLD.assignee AND status = OLD.status;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.assignee IS NOT NULL AND (TG_OP = 'INSERT'
            OR OLD.assignee IS DISTINCT FROM NEW.assignee OR OLD.status <> NEW.status) THEN
        INSERT INTO assignee_load(assignee, status, n) VALUES (NEW.assignee, NEW.status, 1)
            ON CONFLICT (assignee, status) DO UPDATE SET n = assignee_load.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_assignee_load AFTER INSERT OR UPDATE OF assignee, status OR DELETE
    ON tickets FOR EACH ROW EXECUTE FUNCTION supportkit_assignee_load();
ALTER TABLE tickets ADD COLUMN tags JSONB;
UPDATE tickets SET tags = data::jsonb->'tags';
CREATE FUNCTION supportkit_ticket_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.tags IS NOT DISTINCT FROM NEW.tags THEN
            RETURN NULL;
        END IF;
        DELETE FROM ticket_tags WHERE ticket_seq = OLD.seq;
    END IF;
    IF NEW.tags IS NOT NULL THEN
        INSERT INTO ticket_tags(ticket_seq, tag)
            SELECT NEW.seq, value FROM jsonb_array_elements_text(NEW.tags)
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_tags AFTER INSERT OR UPDATE OF tags ON tickets
    FOR EACH ROW EXECUTE FUNCTION supportkit_ticket_tags();
CREATE INDEX tickets_customer_status_priority
    ON tickets(customer_id, status, priority_rank, created_at);
"""

#: New tickets update the agents' load and the tag index once per statement, from the
#: statement's transition table, instead of once per row. A row trigger upserting
#: the same few ``assignee_load`` rows once per ticket leaves a chain of dead versions
#: of each row that every later upsert in the transaction walks: a ``COPY`` of n
#: tickets cost O(n²), and row triggers after a ``COPY`` all ran at its end. Updates
#: and deletes touch one ticket per statement and keep their row triggers.
_V5: Final = """
CREATE FUNCTION supportkit_tickets_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO assignee_load(assignee, status, n)
        SELECT assignee, status, COUNT(*) FROM inserted WHERE assignee IS NOT NULL
        GROUP BY assignee, status
        ON CONFLICT (assignee, status) DO UPDATE SET n = assignee_load.n + excluded.n;
    INSERT INTO ticket_tags(ticket_seq, tag)
        SELECT inserted.seq, tag.value
        FROM inserted, jsonb_array_elements_text(inserted.tags) AS tag
        WHERE jsonb_typeof(inserted.tags) = 'array'
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
DROP TRIGGER tickets_assignee_load ON tickets;
CREATE TRIGGER tickets_assignee_load AFTER UPDATE OF assignee, status OR DELETE
    ON tickets FOR EACH ROW EXECUTE FUNCTION supportkit_assignee_load();
DROP TRIGGER tickets_tags ON tickets;
CREATE TRIGGER tickets_tags AFTER UPDATE OF tags ON tickets
    FOR EACH ROW EXECUTE FUNCTION supportkit_ticket_tags();
CREATE TRIGGER tickets_inserted AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION supportkit_tickets_inserted();
"""

#: An event that carries the same ticket shape as an earlier event of its command
#: stores only the rest of its data and names that event (``records.event_texts``).
_V6: Final = """
ALTER TABLE events ADD COLUMN IF NOT EXISTS shares TEXT;
"""

#: The schema's migrations, in order; ``supportkit_schema`` records how many ran.
MIGRATIONS: Final = (_V1, _V2, _V3, _V4, _V5, _V6)
SCHEMA_VERSION: Final = len(MIGRATIONS)


# -- errors -------------------------------------------------------------------------------


#: The kind of value a table holds, for AlreadyExists.
_KINDS: Final = {
    "tickets": "ticket",
    "comments": "comment",
    "attachments": "attachment",
    "events": "event",
    "documents": "document",
}


def _translate(exc: BaseException) -> SupportkitError:
    if isinstance(exc, pg_errors.UniqueViolation) and exc.diag.table_name in _KINDS:
        # A statement sent without waiting for its answer (a ticket's INSERT) fails the
        # transaction at its next sync: the error says which key was taken.
        found = _DUPLICATE_KEY.match(exc.diag.message_detail or "")
        return AlreadyExists(_KINDS[exc.diag.table_name], found[2] if found else "")
    if isinstance(exc, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        return RetryableStorageError(f"PostgreSQL: {exc}".strip())
    if isinstance(exc, PoolTimeout):
        return StorageError(f"no PostgreSQL connection became free in time: {exc}")
    if isinstance(exc, psycopg.OperationalError):
        return RetryableStorageError(f"lost or could not open the PostgreSQL connection: {exc}")
    return StorageError(f"PostgreSQL error: {exc}")


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise _translate(exc) from exc
    except PoolTimeout as exc:
        raise _translate(exc) from exc


# -- the storage ----------------------------------------------------------------------------


def _split_url(url: str, options: Mapping[str, Any]) -> tuple[str, str | None]:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValidationError.for_field("url", f"not a PostgreSQL URL: {url!r}")
    query = dict(parse_qsl(parts.query))
    schema = options.get("schema") or query.pop("schema", None)
    if schema is not None and (not isinstance(schema, str) or not _IDENT.match(schema)):
        raise ValidationError.for_field(
            "schema", "expected a lower-case identifier (letters, digits, _)"
        )
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(query), ""))
    return conninfo, schema


#: Pools a forked child inherited and must neither use nor close (see _after_fork).
_INHERITED: Final[list[Any]] = []


class PostgresStorage(Storage):
    """Storage in a PostgreSQL database. See the module docstring."""

    scheme = "postgresql"

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
    ) -> None:
        self.schema = schema
        self._conninfo = conninfo
        self._sizes = (min_size, max_size, timeout)
        # Decoded tickets by record text, shared by all connections (see RecordCache).
        self._tickets: records.RecordCache[Ticket] = records.RecordCache(Ticket)
        # The pool's connections, so that a forked child can cut itself off from them.
        self._connections: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
        # The statements each connection has prepared (see _pgbatch.Batch).
        self._prepared: weakref.WeakKeyDictionary[psycopg.Connection[Any], Prepared] = (
            weakref.WeakKeyDictionary()
        )
        self._fork_lock = threading.Lock()
        self._pid = os.getpid()
        self._pool = self._new_pool()
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def _new_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        schema = self.schema
        min_size, max_size, timeout = self._sizes
        connections = self._connections

        def configure(conn: psycopg.Connection[Any]) -> None:
            connections.add(conn)
            if schema is not None:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            # Reads run outside BEGIN/COMMIT (see _transaction); the session default
            # keeps them read-only. Write transactions say BEGIN READ WRITE.
            conn.execute("SET default_transaction_read_only = on")
            conn.commit()
            # Statements are prepared by _pgbatch.Batch, never by psycopg: psycopg would
            # deallocate them all after a ROLLBACK once it had prepared any.
            conn.prepare_threshold = None
            conn.autocommit = True
            conn.read_only = False  # conn.transaction() (migrations) begins READ WRITE

        try:
            pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                self._conninfo,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
                configure=configure,
                # No check on every checkout (a round trip each time): a connection
                # that turns out to be dead raises RetryableStorageError and the Desk
                # runs the command again on a fresh one.
                open=False,
            )
            pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        return pool

    def _after_fork(self) -> None:
        """In a forked child: leave the parent's pool alone and open a pool of our own.

        The child inherits the pool's connections, whose sockets it shares with the
        parent (a host that opens its desk before its server forks workers, such as
        gunicorn with ``--preload``), but not the pool's threads. Using them would mix
        two processes' messages on one session; closing them would end the parent's
        sessions. So each inherited socket is pointed at the null device in this
        process only (the parent's stays open), and the old pool is dropped unclosed.
        """
        with self._fork_lock:
            if self._pid == os.getpid():
                return
            with open(os.devnull, "wb") as null:
                for conn in list(self._connections):
                    with contextlib.suppress(Exception):
                        os.dup2(null.fileno(), conn.pgconn.socket)
            _INHERITED.append(self._pool)
            self._connections.clear()
            self._pool = self._new_pool()
            self._pid = os.getpid()

    def _migrate(self) -> None:
        with _translated(), self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
            if self.schema is not None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                conn.execute(
                    sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema))
                )
            conn.execute("CREATE TABLE IF NOT EXISTS supportkit_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM supportkit_schema").fetchone()
            version = int(row[0]) if row and row[0] is not None else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the database has schema version {version}, but this supportkit"
                    f" knows only up to {SCHEMA_VERSION}; upgrade supportkit"
                )
            for number in range(version, SCHEMA_VERSION):
                conn.execute(MIGRATIONS[number])
                conn.execute("INSERT INTO supportkit_schema(version) VALUES (%s)", (number + 1,))

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Transaction]:
        # Connections are in autocommit mode; this manages BEGIN/COMMIT itself.
        if self._pid != os.getpid():
            self._after_fork()
        try:
            with self._pool.connection() as conn:
                prepared = self._prepared.get(conn)
                if prepared is None:
                    prepared = self._prepared[conn] = Prepared()
                tx = _PgTransaction(conn, self._tickets, write=write, prepared=prepared)
                # Pipeline mode: a statement whose result is not needed yet is sent
                # without waiting for its answer, so BEGIN costs no round trip of its
                # own, and COMMIT with its Sync is one round trip.
                tx._pipeline_on()
                try:
                    # A read needs no BEGIN/COMMIT: at READ COMMITTED every statement
                    # of a transaction sees its own snapshot anyway, so statements
                    # running on their own give the same answers, with no round trip
                    # for BEGIN/COMMIT. default_transaction_read_only (set per
                    # connection) still refuses writes.
                    if write:
                        tx._run("BEGIN READ WRITE")
                    yield tx
                    if write:
                        tx._run("COMMIT")
                    tx._pipeline_off()
                    tx._settle()
                except BaseException:
                    tx._abort()
                    raise
        except (psycopg.Error, PoolTimeout) as exc:
            raise _translate(exc) from exc

    def write(self) -> contextlib.AbstractContextManager[Transaction]:
        return self._transaction(write=True)

    def read(self) -> contextlib.AbstractContextManager[Transaction]:
        return self._transaction(write=False)

    def close(self) -> None:
        if self._pid != os.getpid():  # a forked child never opened a pool of its own
            return
        self._pool.close()

    def __repr__(self) -> str:
        where = urlsplit(self._conninfo)
        host = where.hostname or "localhost"
        return (
            f"<PostgresStorage {host}{where.path}{' schema ' + self.schema if self.schema else ''}>"
        )


# -- the transaction ------------------------------------------------------------------------

_COLUMNS: Final = TICKET_COLUMNS
_INSERT: Final = (
    f"INSERT INTO tickets ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
)
_NEXT_NUMBER: Final = (
    "INSERT INTO ticket_counters(year, last) VALUES (%s, 1) "
    "ON CONFLICT (year) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last"
)
_OPEN_COUNTS: Final = (
    "SELECT assignee, SUM(n) FROM assignee_load WHERE assignee = ANY(%s) "
    "AND NOT (status = ANY(%s)) GROUP BY assignee"
)
_STATE: Final = "SELECT value FROM state WHERE key = %s"
_CONFIG_VERSION: Final = "SELECT value FROM meta WHERE key = 'config_version'"
_COPY_TICKETS: Final = f"COPY tickets ({', '.join(_COLUMNS)}) FROM STDIN"
_EVENT_COLUMNS: Final = "id, type, ticket_id, customer_id, visibility, created_at, data, shares"
_COPY_EVENTS: Final = f"COPY events (seq, {_EVENT_COLUMNS}) FROM STDIN"
#: From this many events on, insert_events uses COPY: it costs two more round trips
#: than one multi-row INSERT, but a third of the server's time per row.
_COPY_EVENTS_FROM: Final = 32
_DUPLICATE_KEY: Final = re.compile(r"^Key \((\w+)\)=\((.*)\) already exists\.?$", re.DOTALL)
_UPDATE: Final = (
    "UPDATE tickets SET "
    + ", ".join(f"{c} = %({c})s" for c in _COLUMNS if c not in ("id", "number"))
    + " WHERE id = %(id)s AND version = %(expected_version)s RETURNING seq"
)


def _same(moment: datetime) -> datetime:
    return moment


def _values(
    ticket: Ticket,
    next_due_at: datetime | None,
    instant: Callable[[datetime], Any] = _same,
) -> tuple[Any, ...]:
    """The ticket's row, in the order of ``_COLUMNS``."""
    return ticket_values(ticket, next_due_at, instant=instant, tags=Jsonb)


#: How a COPY takes instants: as the record's text of them, which the codec remembers.
#: psycopg's formatting of a datetime costs several times more, six times a ticket row.
#: (A statement's parameters keep datetimes: text would need a cast in some of them.)
_copy_instant: Final = records.instant_key


def _row(ticket: Ticket, next_due_at: datetime | None) -> dict[str, Any]:
    return dict(zip(_COLUMNS, _values(ticket, next_due_at), strict=True))


# Exact: EXTRACT(EPOCH …) is numeric with microseconds.
_RESOLUTION_US: Final = (
    "((EXTRACT(EPOCH FROM t.resolved_at) - EXTRACT(EPOCH FROM t.created_at)) * 1000000)::bigint"
)
# Customer-visible agent comments on the ticket, counted only up to 2.
_AGENT_REPLIES: Final = (
    "(SELECT COUNT(*) FROM (SELECT 1 FROM comments c WHERE c.ticket_id = t.id"
    " AND c.visibility = 'customer' AND c.author_type = 'agent' LIMIT 2) AS replies)"
)
_DOCUMENT_COLUMNS: Final = "seq, kind, id, parent, status, created_at, data"


def _document(row: Sequence[Any]) -> Document:
    return Document(
        kind=row[1],
        id=row[2],
        data=json.loads(row[6]),
        created_at=row[5],
        status=row[4],
        parent=row[3],
        seq=int(row[0]),
    )


def _event_values(
    events: Sequence[Event], instant: Callable[[datetime], Any] = _same
) -> Iterator[tuple[Any, ...]]:
    """The events' values in the order of ``_EVENT_COLUMNS``, each made (its data
    encoded) when it is asked for."""
    stored = records.event_texts((event.id, event.ticket_id, event.data) for event in events)
    for event, (text, shares) in zip(events, stored, strict=True):
        yield (
            event.id, event.type, event.ticket_id, event.customer_id, event.visibility,
            instant(event.created_at), text, shares,
        )  # fmt: skip


class _PendingEvents(Sequence[Event]):
    """Events whose INSERT was sent without waiting: their numbers are read from its
    answer when first needed (the commit's round trip has brought it by then)."""

    def __init__(self, events: Sequence[Event], answer: Answer) -> None:
        self._events = events
        self._answer: Answer | None = answer
        self._stored: list[Event] = []

    def settle(self) -> list[Event]:
        answer, self._answer = self._answer, None
        if answer is not None:
            try:
                seqs = {row[0]: int(row[1]) for row in answer.fetchall()}
            except psycopg.Error as exc:
                self._answer = answer
                raise _translate(exc) from exc
            self._stored = [event.numbered(seqs[event.id]) for event in self._events]
        return self._stored

    @typing.overload
    def __getitem__(self, index: int) -> Event: ...
    @typing.overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self.settle()[index]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.settle())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _PendingEvents):
            other = other.settle()
        return self.settle() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.settle()) if self._answer is None else f"<{len(self)} events pending>"


class _PgTransaction(Transaction):
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        tickets: records.RecordCache[Ticket],
        *,
        write: bool,
        prepared: Prepared,
    ) -> None:
        self.conn = conn
        self.tickets = tickets
        self._prepared = prepared
        # Row locks only make sense (and are only allowed) when writing.
        self.lock = " FOR UPDATE" if write else ""
        self.claim = " FOR UPDATE SKIP LOCKED" if write else ""
        self._pipeline: Batch | None = None
        self._pending: list[_PendingEvents] = []
        # Tickets whose row this transaction has locked (read FOR UPDATE, inserted or
        # updated), with the version the row has now: no other transaction can change
        # them before this one ends.
        self._held: dict[str, int] = {}
        # Records of the tickets this transaction claimed (``claim_due_tickets`` locks
        # their rows and reads them), kept for the ``get_ticket(for_update=True)`` that
        # follows each claim: the lock keeps them current, so that read needs no query.
        self._claimed: dict[str, str] = {}

    # -- pipeline mode -----------------------------------------------------------------
    #
    # A transaction runs in pipeline mode (a _pgbatch.Batch): a statement whose result
    # is not read (``_run`` without fetching) is sent without waiting for its answer;
    # the client waits only when it reads a result, and then for everything sent
    # before it. COPY cannot run in pipeline mode, so ``_copy`` leaves it and comes
    # back.

    def _pipeline_on(self) -> None:
        self._pipeline = Batch(self.conn, self._prepared)

    def _pipeline_off(self) -> None:
        """Leave pipeline mode: send what waits with a Sync, and read every result
        (one round trip); a failed statement raises here."""
        batch, self._pipeline = self._pipeline, None
        if batch is not None:
            try:
                batch.close()
            finally:
                if batch.broken:
                    # Answers went missing (a lost connection, an interrupt): the
                    # session's state is unknown, so it is closed; the pool replaces it.
                    self.conn.close()

    def _abort(self) -> None:
        """Roll back after an error; the connection goes back to the pool idle, or is
        discarded by it if it is broken."""
        with contextlib.suppress(psycopg.Error):
            self._pipeline_off()
        if not self.conn.closed and self.conn.pgconn.status == psycopg.pq.ConnStatus.OK:
            with contextlib.suppress(psycopg.Error):
                self.conn.rollback()

    def _run(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        try:
            if self._pipeline is not None:
                return self._pipeline.execute(query, params)
            return self.conn.execute(query, params)
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def _copy(
        self, statement: str, rows: Iterable[Sequence[Any]], key: Callable[[str, str], str]
    ) -> str | None:
        """COPY ``rows`` inside a savepoint. A unique violation rolls back to it, so the
        transaction stays usable as after an ``ON CONFLICT DO NOTHING``, and returns
        ``key(column, value)`` of the duplicate; ``None`` when all went in. ``rows`` may
        be lazy: each is sent as it comes (psycopg buffers up to 32 kB). An exception
        from it ends the COPY and propagates; the transaction is then aborted."""
        self._run("SAVEPOINT supportkit_copy")
        piped = self._pipeline is not None
        try:
            self._pipeline_off()
            try:
                with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
            except pg_errors.UniqueViolation as exc:
                self.conn.execute("ROLLBACK TO SAVEPOINT supportkit_copy")
                found = _DUPLICATE_KEY.match(exc.diag.message_detail or "")
                return key(found[1], found[2]) if found else key("", "")
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        finally:
            if piped:
                self._pipeline_on()
        self._run("RELEASE SAVEPOINT supportkit_copy")
        return None

    def _unique(self, query: str, params: Any, kind: str, key: str) -> Any:
        """Run ``INSERT … ON CONFLICT DO NOTHING RETURNING …``; no row back means the
        key was taken. No savepoint and no aborted transaction: the caller decides."""
        row = self._run(query, params).fetchone()
        if row is None:
            raise AlreadyExists(kind, key)
        return row

    # -- tickets -----------------------------------------------------------------------

    def next_ticket_number(self, year: int) -> int:
        row = self._run(_NEXT_NUMBER, (year,)).fetchone()
        return int(row[0])

    def create_reads(
        self,
        *,
        year: int | None,
        agent_ids: Sequence[str],
        done_statuses: Sequence[str],
        state_key: str | None,
    ) -> CreateReads:
        # All three go out before any answer is read: one round trip.
        try:
            numbered = self._run(_NEXT_NUMBER, (year,)) if year is not None else None
            counted = (
                self._run(_OPEN_COUNTS, (list(agent_ids), list(done_statuses)))
                if agent_ids
                else None
            )
            stated = self._run(_STATE, (state_key,)) if state_key is not None else None
            number = int(numbered.fetchone()[0]) if numbered is not None else None
            counts: dict[str, int] = {}
            if counted is not None:
                counts = dict.fromkeys(agent_ids, 0)
                counts.update({row[0]: int(row[1]) for row in counted.fetchall()})
            found = stated.fetchone() if stated is not None else None
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        return CreateReads(number, counts, str(found[0]) if found else None)

    def raise_ticket_counter(self, year: int, at_least: int) -> None:
        self._run(
            "INSERT INTO ticket_counters(year, last) VALUES (%s, %s) "
            "ON CONFLICT (year) DO UPDATE SET last = GREATEST(ticket_counters.last, excluded.last)",
            (year, at_least),
        )

    def next_ticket_numbers(self, year: int, count: int) -> int:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")
        row = self._run(
            "INSERT INTO ticket_counters(year, last) VALUES (%s, %s) "
            "ON CONFLICT (year) DO UPDATE SET last = ticket_counters.last + excluded.last "
            "RETURNING last",
            (year, count),
        ).fetchone()
        return int(row[0]) - count + 1

    def insert_ticket(self, ticket: Ticket, *, next_due_at: datetime | None) -> None:
        # Triggers index its tags and count it in its agent's load.
        values = _values(ticket, next_due_at)
        # Sent without waiting (a write runs in pipeline mode): a taken id or number
        # fails the transaction at its next round trip, which raises AlreadyExists.
        self._run(_INSERT, values)
        self._held[ticket.id] = ticket.version
        self.tickets.remember(ticket.id, values[-1], ticket)

    def insert_tickets(self, tickets: Iterable[tuple[Ticket, datetime | None]]) -> None:
        pairs = iter(tickets)
        head = list(itertools.islice(pairs, 2))
        if len(head) < 2:
            for ticket, next_due_at in head:
                self.insert_ticket(ticket, next_due_at=next_due_at)
            return
        # One COPY, streamed: each row goes to the server as ``tickets`` yields it, so
        # the server writes it while the caller makes the next (create_many). COPY
        # fires the same insert trigger as INSERT (tags, agent load; once, at its end)
        # and fills the generated search column.
        sent: list[Ticket] = []

        def rows() -> Iterator[tuple[Any, ...]]:
            for ticket, next_due_at in itertools.chain(head, pairs):
                sent.append(ticket)
                yield _values(ticket, next_due_at, _copy_instant)

        def duplicate(column: str, value: str) -> str:
            if column == "number":
                return next((t.id for t in sent if t.number == value), value)
            if column == "id":
                return value
            return sent[0].id

        taken = self._copy(_COPY_TICKETS, rows(), duplicate)
        if taken is not None:
            raise AlreadyExists("ticket", taken)

    def update_ticket(
        self, ticket: Ticket, *, expected_version: int, next_due_at: datetime | None
    ) -> None:
        row = _row(ticket, next_due_at)
        row["expected_version"] = expected_version
        if self._held.get(ticket.id) == expected_version:
            # This transaction holds the row's lock at that version, so the UPDATE
            # cannot miss: it goes out without waiting, and its answer comes with the
            # next round trip (a comment or an update is then two in all).
            self._run(_UPDATE, row)
        elif self._run(_UPDATE, row).fetchone() is None:
            current = self._run(
                "SELECT version FROM tickets WHERE id = %s", (ticket.id,)
            ).fetchone()
            if current is None:
                raise TicketNotFound(ticket.id)
            raise VersionConflict(ticket.id, expected_version, int(current[0]))
        self._held[ticket.id] = ticket.version
        self._claimed.pop(ticket.id, None)
        self.tickets.remember(ticket.id, row["data"], ticket)

    def get_ticket(self, ticket_id: str, *, for_update: bool = False) -> Ticket | None:
        lock = self.lock if for_update else ""
        text = self._claimed.pop(ticket_id, None) if lock else None
        if text is None:
            query = f"SELECT data FROM tickets WHERE id = %s{lock}"
            row = self._run(query, (ticket_id,)).fetchone()
            if row is None:
                return None
            text = row[0]
        ticket = self.tickets.load(ticket_id, text)
        if lock:
            self._held[ticket_id] = ticket.version
        return ticket

    def get_ticket_by_number(self, number: str) -> Ticket | None:
        row = self._run("SELECT id, data FROM tickets WHERE number = %s", (number,)).fetchone()
        return self.tickets.load(row[0], row[1]) if row else None

    def search_tickets(self, query: TicketQuery) -> Page[Ticket]:
        where: list[str] = []
        params: list[Any] = []

        def any_of(column: str, values: Sequence[Any]) -> None:
            if values:
                where.append(f"{column} = ANY(%s)")
                params.append(list(values))

        any_of("t.customer_id", query.customer_ids)
        any_of("t.status", query.statuses)
        any_of("t.priority_rank", [PRIORITY_RANK[p] for p in query.priorities])
        any_of("t.category", query.categories)
        any_of("t.subcategory", query.subcategories)
        any_of("t.assignee", query.assignees)
        any_of("t.team", query.teams)
        any_of("t.escalation_level", query.escalation_levels)
        if query.min_escalation_level is not None:
            where.append("t.escalation_level >= %s")
            params.append(query.min_escalation_level)
        for column, bound, op in (
            ("t.created_at", query.created_after, ">="),
            ("t.created_at", query.created_before, "<"),
            ("t.updated_at", query.updated_after, ">="),
            ("t.updated_at", query.updated_before, "<"),
        ):
            if bound is not None:
                where.append(f"{column} {op} %s")
                params.append(bound)
        if query.tags:
            where.append("t.seq IN (SELECT ticket_seq FROM ticket_tags WHERE tag = ANY(%s))")
            params.append(list(query.tags))
        if query.sla_statuses:
            where.append(
                sla_clause("resolution", query.sla_statuses, query.now, params, placeholder="%s")
            )
        if query.response_sla_statuses:
            where.append(
                sla_clause(
                    "response", query.response_sla_statuses, query.now, params, placeholder="%s"
                )
            )
        if query.text:
            visibility = "" if query.text_internal else " AND c.visibility = 'customer'"
            for word in search_words(query.text):
                where.append(
                    "(t.search @@ to_tsquery('simple', %s) OR EXISTS (SELECT 1 FROM comments c"
                    " WHERE c.ticket_id = t.id AND c.search @@ to_tsquery('simple', %s)"
                    f"{visibility}))"
                )
                quoted = "'" + word.replace("'", "''") + "'"
                params.extend([quoted, quoted])
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        column = SORT_COLUMNS[query.sort]
        order = "DESC" if query.descending else "ASC"
        count_sql = f"SELECT COUNT(*) FROM tickets t{sql_where}"
        page_sql = (
            f"SELECT t.id, t.data FROM tickets t{sql_where} "
            f"ORDER BY {column} {order} NULLS LAST, t.id {order} LIMIT %s OFFSET %s"
        )
        page_params = [*params, query.limit, (query.page - 1) * query.limit]
        # Both statements go out before either result is read: one round trip.
        counted = self._run(count_sql, params)
        paged = self._run(page_sql, page_params)
        try:
            total = counted.fetchone()[0]
            rows = paged.fetchall()
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        load = self.tickets.load
        return Page(
            items=[load(row[0], row[1]) for row in rows],
            total=int(total),
            page=query.page,
            limit=query.limit,
        )

    def open_ticket_counts(
        self, agent_ids: Sequence[str], done_statuses: Sequence[str]
    ) -> dict[str, int]:
        if not agent_ids:
            return {}
        counts = dict.fromkeys(agent_ids, 0)
        rows = self._run(_OPEN_COUNTS, (list(agent_ids), list(done_statuses))).fetchall()
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    def claim_due_tickets(self, now: datetime, limit: int) -> list[str]:
        rows = self._run(
            "SELECT id, data FROM tickets WHERE next_due_at IS NOT NULL AND next_due_at <= %s "
            f"ORDER BY next_due_at LIMIT %s{self.claim}",
            (now, limit),
        ).fetchall()
        if self.claim:  # a write: the rows are locked, and what was read stays current
            self._claimed.update((row[0], row[1]) for row in rows)
        return [row[0] for row in rows]

    def ticket_stats(self, query: StatsQuery) -> list[TicketStats]:
        params: list[Any] = []
        prefix = join = ""
        if "bucket" in query.group_by:
            # The boundaries travel as one array; consecutive pairs are the ranges.
            prefix = (
                "WITH bounds AS (SELECT (u.ord - 1)::int AS idx, u.lo,"
                " lead(u.lo) OVER (ORDER BY u.ord) AS hi"
                " FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS u(lo, ord)) "
            )
            params.append(list(query.buckets))
            join = (
                " JOIN bounds b ON b.hi IS NOT NULL"
                " AND t.created_at >= b.lo AND t.created_at < b.hi"
            )
        params.append(list(query.done_statuses))
        where = ["t.created_at >= %s", "t.created_at < %s"]
        params.extend([query.start, query.end])
        for column, values in (
            ("t.customer_id", query.customer_ids),
            ("t.category", query.categories),
            ("t.priority_rank", [PRIORITY_RANK[p] for p in query.priorities]),
        ):
            if values:
                where.append(f"{column} = ANY(%s)")
                params.append(list(values))
        groups = [STATS_COLUMNS[name] for name in query.group_by]
        select_groups = "".join(f"{g}, " for g in groups)
        group_clause = f" GROUP BY {', '.join(groups)}" if groups else ""
        resolved = "t.resolved_at IS NOT NULL"
        rows = self._run(
            f"{prefix}SELECT {select_groups}COUNT(*), "
            f"COUNT(*) FILTER (WHERE {resolved}), "
            "COUNT(*) FILTER (WHERE NOT (t.status = ANY(%s::text[]))), "
            f"COALESCE(SUM({_RESOLUTION_US}) FILTER (WHERE {resolved}), 0), "
            f"COUNT(*) FILTER (WHERE {resolved} AND t.resolution_state IN ('met', 'breached')), "
            f"COUNT(*) FILTER (WHERE {resolved} AND t.resolution_state = 'met'), "
            "COUNT(*) FILTER (WHERE t.escalation_level > 0), "
            f"COUNT(*) FILTER (WHERE {resolved} AND {_AGENT_REPLIES} <= 1) "
            f"FROM tickets t{join} WHERE {' AND '.join(where)}{group_clause}",
            params,
        ).fetchall()
        return [stats(query.group_by, row) for row in rows]

    # -- comments and attachments ------------------------------------------------------

    def insert_comment(self, comment: Comment) -> None:
        # Sent without waiting, like a ticket's INSERT: a taken id fails the transaction
        # at its next round trip, which raises AlreadyExists.
        self._run(
            "INSERT INTO comments(id, ticket_id, visibility, author_type, created_at, content,"
            " data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                comment.id,
                comment.ticket_id,
                comment.visibility,
                comment.author.type,
                comment.created_at,
                comment.content,
                records.dumps(comment),
            ),
        )

    def list_comments(self, ticket_id: str, *, visibility: str | None = None) -> list[Comment]:
        if visibility is None:
            rows = self._run(
                "SELECT data FROM comments WHERE ticket_id = %s ORDER BY created_at, seq",
                (ticket_id,),
            )
        else:
            rows = self._run(
                "SELECT data FROM comments WHERE ticket_id = %s AND visibility = %s "
                "ORDER BY created_at, seq",
                (ticket_id, visibility),
            )
        return [records.loads(row[0], Comment) for row in rows.fetchall()]

    def move_comments(self, from_ticket: str, to_ticket: str) -> int:
        rows = self._run(
            f"SELECT seq, data FROM comments WHERE ticket_id = %s{self.lock}", (from_ticket,)
        ).fetchall()
        for seq, data in rows:
            record = json.loads(data)
            record["ticket_id"] = to_ticket
            self._run(
                "UPDATE comments SET ticket_id = %s, data = %s WHERE seq = %s",
                (to_ticket, json.dumps(record, separators=(",", ":"), ensure_ascii=False), seq),
            )
        self._run(
            "UPDATE attachments SET ticket_id = %s WHERE ticket_id = %s AND comment_id IS NOT NULL",
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
        # Sent without waiting, like a comment's INSERT: a taken id fails the
        # transaction at its next round trip, which raises AlreadyExists.
        self._run(
            "INSERT INTO attachments(id, ticket_id, comment_id, filename, content_type, size, "
            "sha256, created_at, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                attachment.id,
                ticket_id,
                comment_id,
                attachment.filename,
                attachment.content_type,
                attachment.size,
                attachment.sha256,
                created_at,
                data,
            ),
        )

    def get_attachment(self, attachment_id: str) -> StoredAttachment | None:
        row = self._run(
            "SELECT id, filename, content_type, size, sha256, ticket_id, comment_id, data "
            "FROM attachments WHERE id = %s",
            (attachment_id,),
        ).fetchone()
        if row is None:
            return None
        attachment = Attachment(row[0], row[1], row[2], int(row[3]), row[4])
        return StoredAttachment(attachment, row[5], row[6], bytes(row[7]))

    # -- events ------------------------------------------------------------------------

    def insert_events(self, events: Sequence[Event]) -> Sequence[Event]:
        if not events:
            return []
        # The event-append lock, held until commit: sequence numbers then follow
        # commit order.
        if len(events) >= _COPY_EVENTS_FROM:
            self._run(f"SELECT pg_advisory_xact_lock({_EVENTS_LOCK})")
            return self._copy_events(events)
        params: list[Any] = []
        for row in _event_values(events):
            params += row
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(events))
        # Not waited for: the numbers come back with the commit's round trip (or when
        # read before it); a taken id fails the transaction as AlreadyExists. The
        # statement takes the lock itself (one statement fewer): every row it inserts
        # joins the one row of ``held``, so the lock is held before any draws its number.
        answer = self._run(
            f"WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock({_EVENTS_LOCK})) "
            f"INSERT INTO events({_EVENT_COLUMNS}) SELECT values.* FROM held, "
            f"(VALUES {values}) AS values({_EVENT_COLUMNS}) RETURNING id, seq",
            params,
        )
        pending = _PendingEvents(events, answer)
        self._pending.append(pending)
        return pending

    def _settle(self) -> None:
        """After the commit's round trip: take the pending events' numbers from the
        answers it brought, before the connection goes back to the pool."""
        for pending in self._pending:
            pending.settle()
        self._pending.clear()

    def _copy_events(self, events: Sequence[Event]) -> list[Event]:
        # The numbers are drawn under the lock, in order, then COPYed with the rows.
        seqs = [
            int(row[0])
            for row in self._run(
                "SELECT nextval('events_seq_seq') FROM generate_series(1, %s) ORDER BY 1",
                (len(events),),
            ).fetchall()
        ]
        # Streamed: the server stores one event while the next one's data is encoded.
        values = _event_values(events, _copy_instant)
        rows = ((seq, *row) for seq, row in zip(seqs, values, strict=True))
        taken = self._copy(_COPY_EVENTS, rows, lambda column, value: value or events[0].id)
        if taken is not None:
            raise AlreadyExists("event", taken)
        return [event.numbered(seq) for seq, event in zip(seqs, events, strict=True)]

    def list_events(
        self,
        *,
        after_seq: int = 0,
        limit: int = 100,
        ticket_id: str | None = None,
        include_internal: bool = True,
        customer_id: str | None = None,
    ) -> list[Event]:
        where = ["e.seq > %s"]
        params: list[Any] = [after_seq]
        if ticket_id is not None:
            where.append("e.ticket_id = %s")
            params.append(ticket_id)
        if customer_id is not None:
            where.append("e.customer_id = %s")
            params.append(customer_id)
        if not include_internal:
            where.append("e.visibility = 'customer'")
        rows = self._run(
            "SELECT e.seq, e.id, e.type, e.ticket_id, e.customer_id, e.visibility,"
            " e.created_at, e.data, shared.data FROM events e"
            " LEFT JOIN events shared ON shared.id = e.shares"
            f" WHERE {' AND '.join(where)} ORDER BY e.seq LIMIT %s",
            [*params, limit],
        ).fetchall()
        return [
            Event(
                id=row[1],
                type=row[2],
                ticket_id=row[3],
                customer_id=row[4],
                visibility=row[5],
                created_at=row[6],
                data=records.joined_data(row[7], row[8]),
                seq=int(row[0]),
            )
            for row in rows
        ]

    def event_seq(self, event_id: str) -> int | None:
        row = self._run("SELECT seq FROM events WHERE id = %s", (event_id,)).fetchone()
        return int(row[0]) if row else None

    # -- documents ---------------------------------------------------------------------

    def insert_document(self, document: Document) -> Document:
        row = self._unique(
            "INSERT INTO documents(kind, id, parent, status, created_at, data) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING seq",
            (
                document.kind,
                document.id,
                document.parent,
                document.status,
                document.created_at,
                json.dumps(document.data, separators=(",", ":"), ensure_ascii=False),
            ),
            document.kind,
            document.id,
        )
        return attrs.evolve(document, seq=int(row[0]))

    def update_document(
        self, kind: str, document_id: str, *, data: dict[str, Any], status: str | None
    ) -> bool:
        row = self._run(
            "UPDATE documents SET data = %s, status = %s WHERE kind = %s AND id = %s RETURNING seq",
            (
                json.dumps(data, separators=(",", ":"), ensure_ascii=False),
                status,
                kind,
                document_id,
            ),
        ).fetchone()
        return row is not None

    def get_document(self, kind: str, document_id: str) -> Document | None:
        row = self._run(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE kind = %s AND id = %s",
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
        where = ["kind = %s", "seq > %s"]
        params: list[Any] = [kind, after_seq]
        if parent is not None:
            where.append("parent = %s")
            params.append(parent)
        if status is not None:
            where.append("status = %s")
            params.append(status)
        lock = self.claim if claim else ""
        rows = self._run(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE {' AND '.join(where)} "
            f"ORDER BY seq LIMIT %s{lock}",
            [*params, limit],
        ).fetchall()
        return [_document(row) for row in rows]

    def delete_documents(
        self, kind: str, *, document_id: str | None = None, parent: str | None = None
    ) -> int:
        if document_id is None and parent is None:
            raise ValidationError.for_field("document_id", "name a document or a parent")
        where = ["kind = %s"]
        params: list[Any] = [kind]
        for column, value in (("id", document_id), ("parent", parent)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        rows = self._run(
            f"DELETE FROM documents WHERE {' AND '.join(where)} RETURNING seq", params
        ).fetchall()
        return len(rows)

    # -- configuration and state -------------------------------------------------------

    def _bump_config(self) -> None:
        self._run("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'config_version'")

    def put_resource(
        self, kind: str, resource_id: str, data: dict[str, Any], *, position: int | None = None
    ) -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if position is None:
            row = self._run(
                "SELECT position FROM resources WHERE kind = %s AND id = %s",
                (kind, resource_id),
            ).fetchone()
            if row is not None:
                position = int(row[0])
            else:
                top = self._run(
                    "SELECT MAX(position) FROM resources WHERE kind = %s", (kind,)
                ).fetchone()[0]
                position = 0 if top is None else int(top) + 1
        self._run(
            "INSERT INTO resources(kind, id, position, data) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (kind, id) DO UPDATE SET position = excluded.position, "
            "data = excluded.data",
            (kind, resource_id, position, text),
        )
        self._bump_config()

    def get_resource(self, kind: str, resource_id: str) -> dict[str, Any] | None:
        row = self._run(
            "SELECT data FROM resources WHERE kind = %s AND id = %s", (kind, resource_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def list_resources(self, kind: str) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT data FROM resources WHERE kind = %s ORDER BY position, id", (kind,)
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def delete_resource(self, kind: str, resource_id: str) -> bool:
        row = self._run(
            "DELETE FROM resources WHERE kind = %s AND id = %s RETURNING id", (kind, resource_id)
        ).fetchone()
        if row is not None:
            self._bump_config()
        return row is not None

    def config_version(self) -> int:
        row = self._run(_CONFIG_VERSION).fetchone()
        return int(row[0]) if row else 0

    def config_version_later(self) -> Callable[[], int]:
        if self._pipeline is None:
            return super().config_version_later()
        cursor = self._run(_CONFIG_VERSION)  # sent; its answer comes with the next one

        def read() -> int:
            try:
                row = cursor.fetchone()
            except psycopg.Error as exc:
                raise _translate(exc) from exc
            return int(row[0]) if row else 0

        return read

    def get_state(self, key: str) -> str | None:
        row = self._run(_STATE, (key,)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO state(key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def open_postgres(url: str, options: Mapping[str, Any]) -> PostgresStorage:
    """The storage factory for ``postgresql:`` URLs (options: ``schema``, ``min_size``,
    ``max_size``, ``timeout``)."""
    conninfo, schema = _split_url(url, options)
    sizes: dict[str, Any] = {}
    for key, default in (("min_size", 1), ("max_size", 10), ("timeout", 30.0)):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValidationError.for_field(key, "expected a positive number")
        sizes[key] = value
    return PostgresStorage(
        conninfo,
        schema=schema,
        min_size=int(sizes["min_size"]),
        max_size=int(sizes["max_size"]),
        timeout=float(sizes["timeout"]),
    )
