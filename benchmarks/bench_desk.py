"""Benchmark the Desk on SQLite against plain ``sqlite3`` doing the same writes, or
(``--backend postgresql``) the Desk on PostgreSQL against plain psycopg 3.

Run by hand from the repository root (this is not part of the test suite)::

    python benchmarks/bench_desk.py            # full run, about 10 minutes, ~5 GB of disk
    python benchmarks/bench_desk.py --quick    # smoke run, well under a minute
    python benchmarks/bench_desk.py --backend postgresql \
        --postgres-url postgresql://postgres@127.0.0.1:5432/test [--search-tickets N] [--bulk N]

The PostgreSQL mode works in fresh schemas ``bench_desk_<pid>_*`` of that database
(created through ``Desk.open``, so tables, indexes and triggers are the backend's own),
drops them at the end, and measures: ``tickets.create`` against one-row ``INSERT``
transactions (autocommit, and ``BEGIN; INSERT; COMMIT``) of rows cloned from a real
ticket, with the round trips and statements of each counted from libpq's protocol
trace; ``create_many`` against ``COPY tickets (...) FROM STDIN`` of the same rows; and
the customer search over a database built with ``COPY`` and ``ANALYZE``d, against the
desk's two statements run raw, with their ``EXPLAIN (ANALYZE, BUFFERS)``.

Every database is a file in a temporary directory (``--dir`` chooses where), created
through supportkit, so the raw side has the very same schema, indexes and FTS triggers.
Both sides run in WAL mode with ``synchronous=NORMAL``; the raw connection uses
``isolation_level=None`` with explicit ``BEGIN``/``COMMIT``. Raw rows are built the way
the backend's ``_ticket_row`` builds them: a real ticket (or comment) is created through
the Desk and its stored row is cloned with a new id and number.

Measured, side by side in the same run:

1. ``desk.tickets.create`` (one transaction per ticket, plain body and a body with a
   small attachment) against ``BEGIN IMMEDIATE; INSERT INTO tickets ...; COMMIT``, on
   plain ``sqlite3`` (SQLite's own checkpoints, in the commit that crosses 1,000
   pages of log) and on a raw connection that checkpoints in the background as the
   desk does.
2. ``desk.comments.add`` against one ``INSERT INTO comments`` per transaction.
3. A bulk import with ``create_many(batch_size=...)`` against one transaction of
   ``executemany``; ``create_many`` is also profiled with cProfile.
4. A filtered, sorted search over a large database (built fast with raw
   ``executemany``) against the equivalent hand-written queries: on the schema as the
   backend makes it, with an index on (customer_id, status, priority_rank, created_at)
   if that schema lacks one, and with planner statistics; ``EXPLAIN QUERY PLAN`` says
   which index each one uses. Also on that database: a create against a raw insert,
   and a deep unfiltered page (the desk's ``id`` tie-break against one on ``seq``).
5. Peak RSS of this process through the build, the searches and paging.

Rates are medians (and best) over rounds; latencies are medians over runs. The exit
status is 0 (a missed goal is reported but does not fail the run) unless a check of
the benchmark's own data fails.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import itertools
import json
import os
import pstats
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchlib import checkout, log, machine_lines, version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's supportkit and its test fixtures

from supportkit import records  # noqa: E402
from supportkit.backends.sqlite import (  # noqa: E402
    _TICKET_COLUMNS,
    BACKSTOP_PAGES,
    _Checkpointer,
)
from supportkit.desk import Desk  # noqa: E402
from supportkit.ids import new_id  # noqa: E402
from supportkit.models import PRIORITIES, Ticket  # noqa: E402
from tests.desk_fixtures import T0, Clock, seed, seed_ticket  # noqa: E402

# -- modes and goals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str
    rounds: int  # rounds of the single-write measurements (goals 1 and 2)
    per_round: int  # operations timed per round and side
    bulk: int  # tickets in the bulk import (goal 3)
    batch_sizes: tuple[int, ...]
    profile: int  # tickets in the profiled create_many
    search_tickets: int  # size of the search database (goals 4 and 5)
    search_runs: int  # timed runs per search variant


FULL = Mode("full", 15, 200, 100_000, (500, 2000), 5_000, 1_000_000, 300)
QUICK = Mode("quick", 3, 50, 5_000, (500, 2000), 1_000, 100_000, 200)

GOAL_CREATE = 0.4  # × the raw one-row-per-transaction rate
GOAL_COMMENT = 0.4
GOAL_BULK = 0.5  # × the raw single-transaction executemany rate
GOAL_SEARCH_MS = 1.0  # median
GOAL_SEARCH_X = 2.5  # × the best raw indexed query
GOAL_RSS_MB = 200.0

BIG_CUSTOMER = "cust_big_enterprise"
BIG_CUSTOMER_TICKETS = 1000
CUSTOMERS = 2000
SEARCH_FILTERS = {
    "customer_id": BIG_CUSTOMER,
    "status": ["open", "in_progress"],
    "priority": ["high", "critical"],
}
SEARCH_SORT = {"field": "created_at", "order": "desc"}
# Lifecycle mix of a two-year-old desk: most tickets are done.
STATUS_WEIGHTS = {
    "open": 8, "in_progress": 10, "waiting_on_customer": 5, "on_hold": 2,
    "escalated": 3, "resolved": 22, "closed": 50,
}  # fmt: skip
PRIORITY_WEIGHTS = {"low": 30, "medium": 40, "high": 20, "critical": 10}

TICKET_SQL = (
    f"INSERT INTO tickets ({', '.join(_TICKET_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_TICKET_COLUMNS))})"
)
COMMENT_BODY = {
    "content": "Thanks for the details. We are checking the MPLS circuit with the carrier now.",
    "author": {"type": "agent", "id": "agent_network_specialist"},
}

# Template bodies for the search database, one per category/subcategory of the seed.
TEMPLATE_BODIES: tuple[dict[str, Any], ...] = (
    seed_ticket(attachments=[]),
    seed_ticket(
        attachments=[],
        title="Slow throughput on the Denver branch circuit",
        description="File transfers to the data centre run at a tenth of the usual speed "
        "since this morning; latency spikes above 300 ms.",
        subcategory="performance",
        priority="medium",
        severity="major",
    ),
    seed_ticket(
        attachments=[],
        title="Choppy audio on outbound calls",
        description="Callers report robotic voice and dropped words on calls placed from "
        "the contact centre queue.",
        category="voice",
        subcategory="call_quality",
        priority="high",
        service_affected="voice_trunks",
    ),
    seed_ticket(
        attachments=[],
        title="Set up hunt group for the new sales team",
        description="Please add extensions 4410 to 4425 to a new hunt group that rings "
        "in order, with voicemail after 30 seconds.",
        category="voice",
        subcategory="features",
        priority="low",
        severity="minor",
        service_affected="voice_features",
    ),
)


# -- small helpers -----------------------------------------------------------------------


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def file_mb(path: Path) -> float:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            total += candidate.stat().st_size
    return total / 1e6


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def desk_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_desk(path: Path, *, seeded: bool = True) -> Desk:
    desk = Desk.open(desk_url(path), clock=Clock(), load_entrypoints=False)
    return seed(desk) if seeded else desk


def make_schema(path: Path) -> None:
    """Create (and seed) a database through supportkit, then let go of it."""
    open_desk(path).close()


def raw_connect(path: Path) -> sqlite3.Connection:
    """A plain connection with the backend's settings: WAL, synchronous=NORMAL."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    assert str(mode).lower() == "wal", mode
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def stored_row(path: Path, table: str, row_id: str) -> dict[str, Any]:
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()
        assert found is not None, (table, row_id)
        return dict(found)
    finally:
        conn.close()


class TicketCloner:
    """Rows like ``_ticket_row`` builds, cloned from a stored row with a new id/number."""

    def __init__(
        self, row: dict[str, Any], prefix: str, columns: Sequence[str] = _TICKET_COLUMNS
    ) -> None:
        self.row = row
        self.prefix = prefix
        self.count = 0
        assert set(row) - {"seq"} == set(columns), "the tickets table has changed"
        data = row["data"]
        assert data.count(f'"{row["id"]}"') == 1 and data.count(f'"{row["number"]}"') == 1
        head, rest = data.split(f'"{row["id"]}"')
        middle, tail = rest.split(f'"{row["number"]}"')
        self.parts = (head, middle, tail)
        self.values = [row[c] for c in columns]
        self.id_at = list(columns).index("id")
        self.number_at = list(columns).index("number")
        self.data_at = list(columns).index("data")

    def next(self) -> tuple[Any, ...]:
        self.count += 1
        ticket_id = new_id("ticket")
        number = f"{self.prefix}-{self.count:07d}"
        head, middle, tail = self.parts
        values = list(self.values)
        values[self.id_at] = ticket_id
        values[self.number_at] = number
        values[self.data_at] = f'{head}"{ticket_id}"{middle}"{number}"{tail}'
        return tuple(values)

    def many(self, n: int) -> list[tuple[Any, ...]]:
        return [self.next() for _ in range(n)]


class MixCloner:
    """Clones of several template rows, in turn (the bulk import's mix of bodies)."""

    def __init__(self, cloners: list[TicketCloner]) -> None:
        self.cloners = cloners
        self.count = 0

    def many(self, n: int) -> list[tuple[Any, ...]]:
        rows = []
        for _ in range(n):
            rows.append(self.cloners[self.count % len(self.cloners)].next())
            self.count += 1
        return rows


@dataclass
class Rates:
    """Operations per second, one figure per round."""

    per_round: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.per_round)

    @property
    def best(self) -> float:
        return max(self.per_round)


def timed_rate(n: int, action: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        action()
    return n / (time.perf_counter() - t0)


def latency_ms(runs: int, action: Callable[[], object], *, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        action()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        t0 = clock()
        action()
        samples.append((clock() - t0) / 1e6)
    return samples


def fetch_all(conn: sqlite3.Connection, sql: str) -> list[Any]:
    return conn.execute(sql).fetchall()


def interleaved(
    variants: dict[str, Callable[[], object]], runs: int, *, rounds: int = 6, warmup: int = 20
) -> dict[str, list[float]]:
    """ms per call of each variant: ``runs`` calls each, in ``rounds`` interleaved
    blocks, so that a slow spell of the machine hits every variant alike."""
    for action in variants.values():
        for _ in range(warmup):
            action()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    clock = time.perf_counter_ns
    for r in range(rounds):
        block = runs // rounds + (1 if r < runs % rounds else 0)
        for name, action in variants.items():
            out = samples[name]
            for _ in range(block):
                t0 = clock()
                action()
                out.append((clock() - t0) / 1e6)
    return samples


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ms(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"


# -- goals 1 and 2: one write per transaction ----------------------------------------------


@dataclass
class SingleWrites:
    create_plain: Rates
    create_attachment: Rates
    raw_ticket: Rates
    comment: Rates
    raw_comment: Rates
    # What a comment must write at the least, done raw: the comment row, the ticket's
    # updated_at/version stamp and the comment.added event row, in one transaction.
    raw_comment_floor: Rates = field(default_factory=Rates)
    # The raw ticket insert with the desk's way of checkpointing: SQLite's
    # auto-checkpoint at the backstop and a background checkpointer.
    raw_ticket_background: Rates = field(default_factory=Rates)
    comment_profile: str = ""


def bench_single_writes(mode: Mode, tmp: Path) -> SingleWrites:
    desk_path, raw_path = tmp / "single_desk.db", tmp / "single_raw.db"
    background_path = tmp / "single_raw_background.db"
    desk = open_desk(desk_path)
    make_schema(raw_path)
    raw = raw_connect(raw_path)
    make_schema(background_path)
    raw_background = raw_connect(background_path)
    raw_background.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
    checkpointer = _Checkpointer(str(background_path), 30.0)
    plain = seed_ticket(attachments=[])
    with_attachment = seed_ticket()  # one 33-byte PDF, base64 in the body

    template = desk.tickets.create(plain)
    cloner = TicketCloner(stored_row(desk_path, "tickets", template.id), "RAW")

    def raw_insert(rows: Iterator[tuple[Any, ...]]) -> Callable[[], None]:
        def insert() -> None:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(TICKET_SQL, next(rows))
            raw.execute("COMMIT")

        return insert

    def raw_insert_background(rows: Iterator[tuple[Any, ...]]) -> Callable[[], None]:
        def insert() -> None:
            raw_background.execute("BEGIN IMMEDIATE")
            raw_background.execute(TICKET_SQL, next(rows))
            raw_background.execute("COMMIT")
            checkpointer.committed()

        return insert

    # Warm up both sides (statement caches, the desk's configuration snapshot).
    for _ in range(20):
        desk.tickets.create(plain)
        desk.tickets.create(with_attachment)
    raw_insert(iter(cloner.many(20)))()
    raw_insert_background(iter(cloner.many(20)))()

    result = SingleWrites(Rates(), Rates(), Rates(), Rates(), Rates())
    n = mode.per_round
    log(f"create: {mode.rounds} rounds × {n} tickets per side")
    for r in range(mode.rounds):
        rows = iter(cloner.many(n))  # built before timing: the raw side times SQLite only
        background_rows = iter(cloner.many(n))
        sides: list[tuple[Rates, Callable[[], object]]] = [
            (result.create_plain, lambda: desk.tickets.create(plain)),
            (result.create_attachment, lambda: desk.tickets.create(with_attachment)),
            (result.raw_ticket, raw_insert(rows)),
            (result.raw_ticket_background, raw_insert_background(background_rows)),
        ]
        shift = r % len(sides)  # rotate the order so that no side always goes first
        for rates, action in sides[shift:] + sides[:shift]:
            rates.per_round.append(timed_rate(n, action))

    # Comments go round-robin over 100 tickets on each side.
    desk_tickets = [desk.tickets.create(plain).id for _ in range(100)]
    template_comment = desk.comments.add(desk_tickets[0], COMMENT_BODY)
    comment_row = stored_row(desk_path, "comments", template_comment.id)
    raw_tickets = [
        row[0] for row in raw.execute("SELECT id FROM tickets ORDER BY seq LIMIT 100").fetchall()
    ]
    old_ticket = comment_row["ticket_id"]
    head, tail = comment_row["data"].split(f'"{template_comment.id}"')
    # Every column the backend filled in, whatever the schema version has.
    columns = [c for c in comment_row if c != "seq"]
    comment_sql = (
        f"INSERT INTO comments ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )

    def comment_rows(count: int) -> Iterator[tuple[Any, ...]]:
        built = []
        for i in range(count):
            comment_id = new_id("comment")
            ticket_id = raw_tickets[i % len(raw_tickets)]
            data = f'{head}"{comment_id}"{tail}'.replace(f'"{old_ticket}"', f'"{ticket_id}"')
            values = {**comment_row, "id": comment_id, "ticket_id": ticket_id, "data": data}
            built.append(tuple(values[c] for c in columns))
        return iter(built)

    def raw_comment(rows: Iterator[tuple[Any, ...]]) -> Callable[[], None]:
        def insert() -> None:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(comment_sql, next(rows))
            raw.execute("COMMIT")

        return insert

    event_id = desk.events.list(limit=1000)[-1].id  # the template comment's event
    event_row = stored_row(desk_path, "events", event_id)
    event_columns = [c for c in event_row if c != "seq"]
    event_sql = (
        f"INSERT INTO events ({', '.join(event_columns)}) "
        f"VALUES ({', '.join('?' * len(event_columns))})"
    )
    stamp_sql = (
        "UPDATE tickets SET updated_at = ?1, version = version + 1,"
        " data = json_set(data, '$.updated_at', ?1, '$.version', version + 1) WHERE id = ?2"
    )
    stamp = event_row["created_at"]

    def raw_comment_floor(rows: Iterator[tuple[Any, ...]]) -> Callable[[], None]:
        def insert() -> None:
            row = next(rows)
            ticket_id = row[columns.index("ticket_id")]
            event = {**event_row, "id": new_id("evt"), "ticket_id": ticket_id}
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(comment_sql, row)
            raw.execute(stamp_sql, (stamp, ticket_id))
            raw.execute(event_sql, tuple(event[c] for c in event_columns))
            raw.execute("COMMIT")

        return insert

    counter = iter(range(10**9))

    def desk_comment() -> None:
        desk.comments.add(desk_tickets[next(counter) % len(desk_tickets)], COMMENT_BODY)

    for _ in range(20):
        desk_comment()
    raw_comment(comment_rows(20))()
    raw_comment_floor(comment_rows(20))()
    log(f"comments: {mode.rounds} rounds × {n} comments per side")
    for r in range(mode.rounds):
        rows = comment_rows(n)
        floor_rows = comment_rows(n)
        sides = [
            (result.comment, desk_comment),
            (result.raw_comment, raw_comment(rows)),
            (result.raw_comment_floor, raw_comment_floor(floor_rows)),
        ]
        shift = r % len(sides)
        for rates, action in sides[shift:] + sides[:shift]:
            rates.per_round.append(timed_rate(n, action))

    log("comments: profiling 1,000 comments.add")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(1000):
        desk_comment()
    profiler.disable()
    result.comment_profile = profile_report(profiler, 15)[1]

    desk.close()
    raw.close()
    checkpointer.close()
    raw_background.close()
    remove_db(desk_path)
    remove_db(raw_path)
    remove_db(background_path)
    return result


# -- goal 3: bulk import -------------------------------------------------------------------


@dataclass
class Bulk:
    count: int
    desk: dict[int, tuple[float, float]]  # batch size -> (seconds, tickets/s)
    deciles: dict[int, list[float]]  # batch size -> tickets/s in each tenth of the import
    raw_seconds: float  # the faster raw run
    raw_rate: float
    raw_runs: list[float]  # seconds of each raw run (before and after the desk's)
    # The same ticket rows plus the two event rows the desk writes for each (its
    # ticket.created and ticket.assigned, cloned), in one executemany transaction.
    raw_events_runs: list[float]
    profile_count: int
    profile_seconds: float
    profile_text: str
    breakdown: list[tuple[str, float, float]]  # (what, cumulative s, share)


def bodies(
    n: int, marks: list[tuple[int, float]] | None = None, batch_size: int = 1
) -> Iterator[dict[str, Any]]:
    """``n`` create bodies, the four templates in turn; ``marks`` gets (count, time)
    about every tenth of the way (on a batch boundary: ``create_many`` pulls a whole
    batch before writing it), to show how the rate changes as the database grows."""
    step = max(batch_size, -(-n // 10 // batch_size) * batch_size)
    for i in range(n):
        if marks is not None and i % step == 0:
            marks.append((i, time.perf_counter()))
        yield dict(TEMPLATE_BODIES[i % len(TEMPLATE_BODIES)])
    if marks is not None:
        marks.append((n, time.perf_counter()))


# What create_many spends its time on: (label, function names split by "|", file
# suffix). A batch plans each ticket's routing first and decides it as it makes it.
BREAKDOWN = (
    ("validate the body (parse_ticket)", "parse_ticket", "validation.py"),
    ("route (plan, decide)", "_plan|_decide", "desk.py"),
    ("select SLA targets", "select_targets", "sla.py"),
    ("open the ticket, start SLA clocks", "open_ticket", "workflow.py"),
    ("next escalation timer (once per batch and clocks)", "next_timer", "escalation.py"),
    ("ticket row + JSON record (records.dumps)", "_ticket_row", "sqlite.py"),
    ("event payloads (to_dict in emit)", "emit", "desk.py"),
    ("store events (json.dumps + INSERT)", "insert_events", "sqlite.py"),
    ("  of which sqlite3 execute (all SQL)", "execute", "sqlite3.Connection"),
    ("  of which the COMMITs", "__exit__", "contextlib.py"),
)


def template_events(tmp: Path) -> list[list[dict[str, Any]]]:
    """The stored event rows of each template body's ticket, created through the Desk
    (a ticket.created and a ticket.assigned each)."""
    path = tmp / "template_events.db"
    desk = open_desk(path)
    ids = [desk.tickets.create(body).id for body in TEMPLATE_BODIES]
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        found = [
            [dict(row) for row in conn.execute(
                "SELECT * FROM events WHERE ticket_id = ? ORDER BY seq", (ticket_id,)
            )]
            for ticket_id in ids
        ]  # fmt: skip
    finally:
        conn.close()
    desk.close()
    remove_db(path)
    assert all(len(rows) == 2 for rows in found), [len(rows) for rows in found]
    return found


class EventCloner:
    """The template tickets' event rows for each cloned ticket row, in turn."""

    def __init__(
        self, templates: list[list[dict[str, Any]]], ticket_columns: Sequence[str] = _TICKET_COLUMNS
    ) -> None:
        self.columns = [c for c in templates[0][0] if c != "seq"]
        self.templates = templates
        self.ticket_id_at = list(ticket_columns).index("id")
        self.id_at = self.columns.index("id")
        self.ticket_at = self.columns.index("ticket_id")
        self.data_at = self.columns.index("data")
        # An event that shares its ticket's shape names the event holding it.
        self.shares_at = self.columns.index("shares") if "shares" in self.columns else None

    def rows(self, ticket_rows: list[tuple[Any, ...]], first: int) -> list[tuple[Any, ...]]:
        out = []
        for offset, ticket_row in enumerate(ticket_rows):
            ticket_id = ticket_row[self.ticket_id_at]
            renamed: dict[str, str] = {}
            for event in self.templates[(first + offset) % len(self.templates)]:
                values = [event[c] for c in self.columns]
                values[self.data_at] = event["data"].replace(event["ticket_id"], ticket_id)
                values[self.id_at] = renamed[event["id"]] = new_id("evt")
                values[self.ticket_at] = ticket_id
                if self.shares_at is not None and event["shares"] is not None:
                    values[self.shares_at] = renamed[event["shares"]]
                out.append(tuple(values))
        return out

    @property
    def sql(self) -> str:
        return (
            f"INSERT INTO events ({', '.join(self.columns)}) "
            f"VALUES ({', '.join('?' * len(self.columns))})"
        )


def raw_bulk(
    tmp: Path,
    template_rows: list[dict[str, Any]],
    n: int,
    events: list[list[dict[str, Any]]] | None = None,
) -> float:
    """Seconds to insert ``n`` cloned rows (the templates in turn) in one transaction
    of ``executemany``, with ``events`` also their event rows; the rows are built in
    chunks, outside the timing."""
    path = tmp / "bulk_raw.db"
    make_schema(path)
    raw = raw_connect(path)
    cloner = MixCloner([TicketCloner(row, f"RAW{k}") for k, row in enumerate(template_rows)])
    event_cloner = EventCloner(events) if events is not None else None
    spent = 0.0
    t0 = time.perf_counter()
    raw.execute("BEGIN IMMEDIATE")
    spent += time.perf_counter() - t0
    done = 0
    while done < n:
        chunk = cloner.many(min(10_000, n - done))
        event_rows = event_cloner.rows(chunk, done) if event_cloner is not None else []
        t0 = time.perf_counter()
        raw.executemany(TICKET_SQL, chunk)
        if event_cloner is not None:
            raw.executemany(event_cloner.sql, event_rows)
        spent += time.perf_counter() - t0
        done += len(chunk)
        del chunk, event_rows
    t0 = time.perf_counter()
    raw.execute("COMMIT")
    spent += time.perf_counter() - t0
    assert raw.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == n
    if event_cloner is not None:
        assert raw.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2 * n
    raw.close()
    remove_db(path)
    return spent


def bench_bulk(mode: Mode, tmp: Path) -> Bulk:
    n = mode.bulk
    results: dict[int, tuple[float, float]] = {}
    deciles: dict[int, list[float]] = {}
    # Stored rows of the four template bodies, created through the Desk.
    template_rows = search_templates(tmp)
    # The raw import runs before and after the desk's (which take minutes), and the
    # faster of the two is the baseline: a busy spell cannot flatter the ratio.
    events = template_events(tmp)
    raw_runs: list[float] = []
    raw_events_runs: list[float] = []
    log(f"bulk: raw executemany of {n:,} ticket rows in one transaction")
    raw_runs.append(raw_bulk(tmp, template_rows, n))
    log(f"bulk: raw executemany of {n:,} ticket rows and their {2 * n:,} event rows")
    raw_events_runs.append(raw_bulk(tmp, template_rows, n, events))
    for batch_size in mode.batch_sizes:
        path = tmp / f"bulk_desk_{batch_size}.db"
        desk = open_desk(path)
        log(f"bulk: create_many of {n:,} tickets, batch_size={batch_size}")
        marks: list[tuple[int, float]] = []
        t0 = time.perf_counter()
        created = desk.tickets.create_many(bodies(n, marks, batch_size), batch_size=batch_size)
        elapsed = time.perf_counter() - t0
        assert created == n
        results[batch_size] = (elapsed, n / elapsed)
        marks[-1] = (n, t0 + elapsed)  # the last batch ends when create_many returns
        deciles[batch_size] = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in itertools.pairwise(marks)]
        log(f"bulk: {elapsed:.0f} s; tickets/s by step: "
            + ", ".join(fmt_rate(x) for x in deciles[batch_size]))  # fmt: skip
        desk.close()
        remove_db(path)
    log(f"bulk: raw executemany of {n:,} ticket rows in one transaction, again")
    raw_runs.append(raw_bulk(tmp, template_rows, n))
    log(f"bulk: raw executemany of {n:,} ticket rows and their event rows, again")
    raw_events_runs.append(raw_bulk(tmp, template_rows, n, events))
    spent = min(raw_runs)

    path = tmp / "bulk_profile.db"
    desk = open_desk(path)
    log(f"bulk: profiling create_many of {mode.profile:,} tickets (batch_size=500)")
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    desk.tickets.create_many(bodies(mode.profile), batch_size=500)
    profiler.disable()
    profile_seconds = time.perf_counter() - t0
    desk.close()
    remove_db(path)
    stats, text = profile_report(profiler, 15)
    total = stats.total_tt  # type: ignore[attr-defined]
    breakdown = []
    raw_stats = stats.stats  # type: ignore[attr-defined]
    for label, func, where in BREAKDOWN:
        cumulative = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in raw_stats.items():
            if where.endswith(".py"):
                match = filename.endswith(where) and name in func.split("|")
            else:  # a built-in method, e.g. "<method 'execute' of 'sqlite3.Connection' ...>"
                match = func in name and where in name
            if match:
                if func == "__exit__":
                    continue  # handled below
                cumulative += ct
        if func == "__exit__":
            cumulative = commit_time(raw_stats)
        breakdown.append((label, cumulative, cumulative / total if total else 0.0))
    return Bulk(
        n, results, deciles, spent, n / spent, raw_runs, raw_events_runs, mode.profile,
        profile_seconds, text,
        breakdown,
    )  # fmt: skip


def profile_report(profiler: cProfile.Profile, top: int) -> tuple[pstats.Stats, str]:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    text = "\n".join(
        line
        for line in out.getvalue().splitlines()
        if line.strip() and "Ordered by" not in line and "List reduced" not in line
    )
    return stats, text


def commit_time(raw_stats: dict[Any, Any]) -> float:
    """Time in COMMIT: sqlite3 execute calls made from the storage's _transaction."""
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, _ct, callers) in raw_stats.items():
        if "execute" in name and "sqlite3.Connection" in name:
            for (caller_file, _cl, caller_name), caller_stats in callers.items():
                if caller_file.endswith("sqlite.py") and caller_name == "_transaction":
                    total += caller_stats[3]
        del filename
    return total


# -- goal 4: search over a large database ----------------------------------------------


@dataclass
class Search:
    tickets: int
    build_seconds: float
    db_mb: float
    big_total: int
    matches: int
    desk_ms: list[float]
    desk_cold_ms: list[float]  # the backend's decoded-ticket cache cleared before each
    decode_ms: list[float]
    desk_with_index_ms: list[float] | None  # None: the stock schema has the index
    desk_analyzed_ms: list[float]
    covering: str  # the index on (customer_id, status, priority_rank, created_at)
    index_added: bool  # ... added by this script (the stock schema lacks one)
    stats_after_open: bool  # did opening the Desk leave planner statistics behind?
    raw: list[tuple[str, str, list[float], list[str]]]  # (name, index set, ms, plans)
    desk_plan: list[str]
    rss_before_search: float
    paging: list[tuple[str, float, int]]  # (what, ms, items)
    rss_after_paging: float
    create_ms: list[float]  # desk.tickets.create on the large database
    raw_insert_ms: list[float]  # one-row raw transactions on it
    split: list[tuple[str, list[float]]]  # the desk's SQL: count and page apart
    deep: list[tuple[str, float, str]]  # raw unfiltered page 1,000: (order, best ms, plan)


def search_templates(tmp: Path) -> list[dict[str, Any]]:
    """Real stored rows of tickets created through the Desk, one per template body."""
    path = tmp / "templates.db"
    desk = open_desk(path)
    rows = [stored_row(path, "tickets", desk.tickets.create(body).id) for body in TEMPLATE_BODIES]
    desk.close()
    remove_db(path)
    return rows


class RowFactory:
    """Realistic ticket rows for the search database, generated lazily in order."""

    def __init__(
        self,
        templates: list[dict[str, Any]],
        count: int,
        seed_value: int = 7,
        columns: Sequence[str] = _TICKET_COLUMNS,
        native_times: bool = False,  # timestamp columns as datetimes (PostgreSQL)
    ) -> None:
        self.count = count
        self.native_times = native_times
        self.rng = random.Random(seed_value)
        self.templates = []
        for row in templates:
            record = json.loads(row["data"])
            patched = dict(record)
            for key in ("id", "number", "customer_id", "status", "priority", "created_at",
                        "updated_at"):  # fmt: skip
                patched[key] = f"@@{key}@@"
            text = json.dumps(patched, separators=(",", ":"), ensure_ascii=False)
            text = text.replace("{", "{{").replace("}", "}}")
            for key in ("id", "number", "customer_id", "status", "priority", "created_at",
                        "updated_at"):  # fmt: skip
                assert text.count(f'"@@{key}@@"') == 1, key
                text = text.replace(f'"@@{key}@@"', f'"{{{key}}}"')
            values = [row[c] for c in columns]
            self.templates.append((text, values))
        others = [f"cust_{k:05d}" for k in range(1, CUSTOMERS)]
        # A mild skew (the busiest regular customer has ~3× the quietest one's tickets);
        # one enterprise customer gets exactly BIG_CUSTOMER_TICKETS.
        weights = [1 / (k + 1000) for k in range(len(others))]
        self.others = others
        self.cum_customers = list(_accumulate(weights))
        self.big_at = set(self.rng.sample(range(count), min(BIG_CUSTOMER_TICKETS, count)))
        self.statuses = list(STATUS_WEIGHTS)
        self.cum_statuses = list(_accumulate(STATUS_WEIGHTS.values()))
        self.priorities = list(PRIORITY_WEIGHTS)
        self.cum_priorities = list(_accumulate(PRIORITY_WEIGHTS.values()))
        self.end = T0 - timedelta(hours=1)
        self.start = self.end - timedelta(days=730)
        self.step_us = int(timedelta(days=730) / timedelta(microseconds=1)) // count
        self.at = {c: k for k, c in enumerate(columns)}

    def rows(self, first: int, stop: int) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        at = self.at
        stop_statuses = ("resolved", "closed")
        for i in range(first, stop):
            text, template = self.templates[i % len(self.templates)]
            created = self.start + timedelta(
                microseconds=i * self.step_us + rng.randrange(self.step_us)
            )
            updated = created + timedelta(seconds=rng.randrange(3 * 86400))
            customer = (
                BIG_CUSTOMER
                if i in self.big_at
                else rng.choices(self.others, cum_weights=self.cum_customers)[0]
            )
            status = rng.choices(self.statuses, cum_weights=self.cum_statuses)[0]
            priority = rng.choices(self.priorities, cum_weights=self.cum_priorities)[0]
            ticket_id = new_id("ticket")
            number = f"SK-{created.year}-{i + 1:07d}"
            created_key = records.instant_key(created)
            updated_key = records.instant_key(updated)
            values = list(template)
            values[at["id"]] = ticket_id
            values[at["number"]] = number
            values[at["customer_id"]] = customer
            values[at["status"]] = status
            values[at["priority_rank"]] = PRIORITIES.index(priority)
            values[at["created_at"]] = created if self.native_times else created_key
            values[at["updated_at"]] = updated if self.native_times else updated_key
            if status in stop_statuses:
                values[at["next_due_at"]] = None
            values[at["data"]] = text.format(
                id=ticket_id, number=number, customer_id=customer, status=status,
                priority=priority, created_at=created_key, updated_at=updated_key,
            )  # fmt: skip
            yield tuple(values)


def _accumulate(values: Any) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def build_search_db(path: Path, templates: list[dict[str, Any]], count: int) -> float:
    make_schema(path)
    # Opening a desk may leave planner statistics of the empty database behind
    # (sqlite_stat1 rows for the FTS5 shadow tables: "2 rows"); with those, every FTS5
    # insert reads more and more as the index grows, and a million-row build takes
    # hours. They are dropped before the build (the desk opened later on the built
    # database makes its own). This is setup only; see docs/performance.md.
    stale = sqlite3.connect(str(path))
    if stale.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        stale.execute("DELETE FROM sqlite_stat1")
        stale.commit()
    stale.close()
    factory = RowFactory(templates, count)
    conn = raw_connect(path)  # a fresh connection: it loads no statistics
    # Build-only settings: no fsync at all and a 64 MiB page cache. The rows are
    # generated lazily, so the process never holds more than one row at a time.
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -65536")
    chunk = 50_000
    t0 = time.perf_counter()
    for first in range(0, count, chunk):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(TICKET_SQL, factory.rows(first, min(first + chunk, count)))
        conn.execute("COMMIT")
        if (first // chunk) % 4 == 3:
            log(f"search db: {first + chunk:,} of {count:,} rows, {time.perf_counter() - t0:.0f} s")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elapsed = time.perf_counter() - t0
    conn.close()
    # Written with synchronous=OFF: flush it now, so that the kernel's write-back does
    # not compete with the timed searches.
    if hasattr(os, "sync"):
        os.sync()
    return elapsed


def search_where() -> tuple[str, list[Any]]:
    statuses = SEARCH_FILTERS["status"]
    ranks = [PRIORITIES.index(p) for p in SEARCH_FILTERS["priority"]]
    return (
        "t.customer_id IN (?) AND t.status IN (?, ?) AND t.priority_rank IN (?, ?)",
        [BIG_CUSTOMER, *statuses, *ranks],
    )


# Raw variants: (name, ORDER BY clause). Each runs COUNT(*) and the page in one read
# transaction and fetches the JSON text (no decoding).
RAW_ORDERS = (
    ("desk's SQL verbatim", "t.created_at DESC NULLS LAST, t.id DESC"),
    ("ORDER BY created_at DESC", "t.created_at DESC"),
    ("ORDER BY created_at DESC, seq DESC", "t.created_at DESC, t.seq DESC"),
)
FILTER_INDEX_COLUMNS = ["customer_id", "status", "priority_rank", "created_at"]
BETTER_INDEX_NAME = "bench_tickets_customer_status_priority"
BETTER_INDEX = f"CREATE INDEX {BETTER_INDEX_NAME} ON tickets({', '.join(FILTER_INDEX_COLUMNS)})"
FORCED = "INDEXED BY that index, ORDER BY created_at DESC"


def covering_index(conn: sqlite3.Connection) -> str | None:
    """The stock index on exactly (customer_id, status, priority_rank, created_at)."""
    for row in conn.execute("PRAGMA index_list(tickets)").fetchall():
        name = row[1]
        columns = [info[2] for info in conn.execute(f"PRAGMA index_info({name})").fetchall()]
        if columns == FILTER_INDEX_COLUMNS:
            return str(name)
    return None


def has_stats(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
    if found is None:
        return False
    return conn.execute("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'tickets'").fetchone() is not None


def plan(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


def bench_search(mode: Mode, tmp: Path) -> Search:
    path = tmp / "search.db"
    templates = search_templates(tmp)
    n = mode.search_tickets
    log(f"search db: building {n:,} tickets with raw executemany")
    build_seconds = build_search_db(path, templates, n)
    db_mb = file_mb(path)
    log(f"search db: built in {build_seconds:.0f} s, {db_mb:,.0f} MB")

    desk = open_desk(path, seeded=False)  # already seeded when the schema was made
    big = desk.tickets.search({"customer_id": BIG_CUSTOMER}, limit=1)
    some = desk.tickets.search(SEARCH_FILTERS, sort=SEARCH_SORT, limit=25)
    assert isinstance(some.items[0], Ticket)
    assert all(
        t.customer_id == BIG_CUSTOMER and t.status in ("open", "in_progress")
        and t.priority in ("high", "critical")
        for t in some.items
    )  # fmt: skip
    keys = [t.created_at for t in some.items]
    assert keys == sorted(keys, reverse=True)
    rss_before = peak_rss_mb()

    def desk_search() -> object:
        return desk.tickets.search(SEARCH_FILTERS, sort=SEARCH_SORT, limit=25)

    def desk_search_cold() -> object:
        desk.storage._tickets.clear()  # type: ignore[attr-defined]  # every record decoded
        return desk.tickets.search(SEARCH_FILTERS, sort=SEARCH_SORT, limit=25)

    raw = raw_connect(path)
    where, params = search_where()
    count_sql = f"SELECT COUNT(*) FROM tickets t WHERE {where}"
    page_sqls = {
        name: f"SELECT t.data FROM tickets t WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        for name, order in RAW_ORDERS
    }
    page_params = [*params, 25, 0]
    verbatim = page_sqls[RAW_ORDERS[0][0]]
    desk_plan = [f"count: {p}" for p in plan(raw, count_sql, params)] + [
        f"page: {p}" for p in plan(raw, verbatim, page_params)
    ]
    # What the desk decodes: records.loads of the 25 JSON records of the page.
    page_data = [row[0] for row in raw.execute(verbatim, page_params)]

    def decode() -> object:
        return [records.loads(d, Ticket) for d in page_data]

    def raw_query(sql: str) -> Callable[[], object]:
        def run() -> object:
            raw.execute("BEGIN")
            total = raw.execute(count_sql, params).fetchone()[0]
            rows = raw.execute(sql, page_params).fetchall()
            raw.execute("COMMIT")
            return total, rows

        return run

    def plans_of(sql: str) -> list[str]:
        return [f"count: {p}" for p in plan(raw, count_sql, params)] + [
            f"page: {p}" for p in plan(raw, sql, page_params)
        ]

    runs = mode.search_runs
    results: list[tuple[str, str, list[float], list[str]]] = []
    stats_after_open = has_stats(raw)  # the Desk has been opened on this database
    covering = covering_index(raw)
    index_added = covering is None

    def forced_sql(index: str) -> str:
        return (
            f"SELECT t.data FROM tickets t INDEXED BY {index} WHERE {where} "
            "ORDER BY t.created_at DESC LIMIT ? OFFSET ?"
        )

    # 1. The schema as the backend makes it: the desk, its parts, and the raw queries
    #    (forced onto the covering index too, if the schema has one), interleaved.
    stock = "stock"
    stock_sqls = dict(page_sqls)
    if covering is not None:
        stock_sqls[FORCED] = forced_sql(covering)
    log(f"search: {stock}, {runs} runs of each variant")
    variants: dict[str, Callable[[], object]] = {
        "desk": desk_search,
        "desk_cold": desk_search_cold,
        "decode": decode,
        "count": lambda: raw.execute(count_sql, params).fetchone(),
        "page": lambda: raw.execute(verbatim, page_params).fetchall(),
    }
    variants.update({name: raw_query(sql) for name, sql in stock_sqls.items()})
    got = interleaved(variants, runs)
    desk_ms, desk_cold_ms, decode_ms = got["desk"], got["desk_cold"], got["decode"]
    split = [("COUNT(*) alone", got["count"]), ("page query alone", got["page"])]
    results += [(name, stock, got[name], plans_of(sql)) for name, sql in stock_sqls.items()]

    # 2. Only if the schema lacks it: an index that covers the filters.
    desk_with_index_ms: list[float] | None = None
    if covering is None:
        log("search: adding an index on (customer_id, status, priority_rank, created_at)")
        raw.execute(BETTER_INDEX)
        covering = BETTER_INDEX_NAME
        added_sqls = {**page_sqls, FORCED: forced_sql(covering)}
        desk.close()
        desk = open_desk(path, seeded=False)  # a fresh connection sees the new index
        log(f"search: + index, {runs} runs of each variant")
        variants = {"desk": desk_search}
        variants.update({name: raw_query(sql) for name, sql in added_sqls.items()})
        got = interleaved(variants, runs)
        desk_with_index_ms = got["desk"]
        results += [(name, "+ index", got[name], plans_of(sql)) for name, sql in added_sqls.items()]
    raw.execute("BEGIN")
    matches = int(raw.execute(count_sql, params).fetchone()[0])
    assert len(raw.execute(forced_sql(covering), page_params).fetchall()) == min(25, matches)
    raw.execute("COMMIT")

    # 3. What the planner picks with statistics (the sampled ANALYZE of PRAGMA optimize).
    log("search: ANALYZE (analysis_limit=1000)")
    raw.execute("PRAGMA analysis_limit = 1000")
    raw.execute("ANALYZE")
    desk.close()
    desk = open_desk(path, seeded=False)
    analyzed_sqls = {name: page_sqls[name] for name in [n for n, _ in RAW_ORDERS][:2]}
    log(f"search: + ANALYZE, {runs} runs of each variant")
    variants = {"desk": desk_search}
    variants.update({name: raw_query(sql) for name, sql in analyzed_sqls.items()})
    got = interleaved(variants, runs)
    desk_analyzed_ms = got["desk"]
    results += [
        (name, "+ ANALYZE", got[name], plans_of(sql)) for name, sql in analyzed_sqls.items()
    ]
    desk.close()
    # Back to the schema as it was for the rest.
    if not stats_after_open:
        raw.execute("DROP TABLE sqlite_stat1")
    if index_added:
        raw.execute(f"DROP INDEX {BETTER_INDEX_NAME}")

    # Writes on the large database, against one-row raw transactions.
    log("create on the large database")
    desk = open_desk(path, seeded=False)
    plain = seed_ticket(attachments=[])
    runs = 10 if mode is QUICK else 30
    create_ms = latency_ms(runs, lambda: desk.tickets.create(plain), warmup=3)
    cloner = TicketCloner(templates[0], "BIGRAW")

    def raw_insert() -> None:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(TICKET_SQL, cloner.next())
        raw.execute("COMMIT")

    raw_insert_ms = latency_ms(runs, raw_insert, warmup=3)
    raw.close()
    desk.close()

    # Goal 5: page through the big database in a fresh desk (its caches start cold).
    gc.collect()
    desk = open_desk(path, seeded=False)
    paging: list[tuple[str, float, int]] = []
    log("paging: 40 pages of 25 of the big customer")
    t0 = time.perf_counter()
    seen = 0
    for page in range(1, 41):
        found = desk.tickets.search({"customer_id": BIG_CUSTOMER}, page=page, limit=25)
        seen += len(found.items)
    paging.append(("40 pages × 25, one customer (total)", (time.perf_counter() - t0) * 1e3, seen))
    for page in (1, 1000):
        log(f"paging: no filters, page {page}")
        t0 = time.perf_counter()
        found = desk.tickets.search(None, page=page, limit=25)
        paging.append(
            (f"no filters, page {page} of 25", (time.perf_counter() - t0) * 1e3, len(found.items))
        )
    desk.close()
    rss_after = peak_rss_mb()
    # The same unfiltered page 1,000 in raw SQL: the desk's ORDER BY (tie-break on id)
    # against a tie-break on seq, which the created_at index already holds.
    raw = raw_connect(path)
    deep: list[tuple[str, float, str]] = []
    for what, order in (
        ("desk's ORDER BY … NULLS LAST, t.id DESC", "t.created_at DESC NULLS LAST, t.id DESC"),
        ("ORDER BY t.created_at DESC, t.seq DESC", "t.created_at DESC, t.seq DESC"),
    ):
        sql = f"SELECT t.data FROM tickets t ORDER BY {order} LIMIT 25 OFFSET 24975"
        best = min(latency_ms(3, functools.partial(fetch_all, raw, sql), warmup=1))
        deep.append((what, best, "; ".join(plan(raw, sql, ()))))
    raw.close()
    remove_db(path)
    return Search(
        tickets=n,
        build_seconds=build_seconds,
        db_mb=db_mb,
        big_total=big.total,
        matches=matches,
        desk_ms=desk_ms,
        desk_cold_ms=desk_cold_ms,
        decode_ms=decode_ms,
        desk_with_index_ms=desk_with_index_ms,
        desk_analyzed_ms=desk_analyzed_ms,
        covering=covering,
        index_added=index_added,
        stats_after_open=stats_after_open,
        raw=results,
        desk_plan=desk_plan,
        rss_before_search=rss_before,
        paging=paging,
        rss_after_paging=rss_after,
        create_ms=create_ms,
        raw_insert_ms=raw_insert_ms,
        split=split,
        deep=deep,
    )


# -- the report ------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--dir", help="where to put the temporary databases")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="the PostgreSQL database (--backend postgresql); fresh schemas, dropped after",
    )
    parser.add_argument("--search-tickets", type=int, help="size of the PostgreSQL search database")
    parser.add_argument("--bulk", type=int, help="tickets in the PostgreSQL bulk import")
    options = parser.parse_args(argv)
    if options.backend == "postgresql":
        return main_postgresql(options)
    mode = QUICK if options.quick else FULL

    print("Desk on SQLite benchmark: supportkit vs plain sqlite3 on the same schema")
    print(f"  mode:      {mode.name}")
    print("\n".join(machine_lines()))
    print(f"  sqlite:    {sqlite3.sqlite_version} (Python sqlite3 module)")
    print(f"  checkout:  {checkout()}")
    print(
        "  packages:  "
        + ", ".join(
            f"{name} {version(name)}" for name in ("supportkit", "attrs", "cattrs", "sqlite-utils")
        )
    )
    print(
        f"  sizes:     {mode.rounds} rounds × {mode.per_round} single writes; bulk "
        f"{mode.bulk:,}; search database {mode.search_tickets:,} tickets, "
        f"{mode.search_runs} runs per search"
    )
    print("  settings:  files in a temporary directory, WAL, synchronous=NORMAL on both sides")
    if hasattr(os, "getloadavg"):
        print(f"  load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at start)")
    print(flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="bench_desk_", dir=options.dir))
    try:
        single = bench_single_writes(mode, tmp)
        search = bench_search(mode, tmp)
        bulk = bench_bulk(mode, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if hasattr(os, "getloadavg"):
        print(f"  load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at end)\n")

    # -- single writes
    print("Single writes, one transaction each: operations/s, median (best) of the rounds")
    header = f"{'operation':<44} {'supportkit':>18} {'raw sqlite3':>18} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    rows = (
        ("tickets.create, plain body", single.create_plain, single.raw_ticket),
        ("tickets.create, body with a 33 B attachment", single.create_attachment,
         single.raw_ticket),
        ("tickets.create vs raw, background checkpoints", single.create_plain,
         single.raw_ticket_background),
        ("comments.add", single.comment, single.raw_comment),
        ("comments.add against comment + stamp + event", single.comment,
         single.raw_comment_floor),
    )  # fmt: skip
    for label, desk_rates, raw_rates in rows:
        print(
            f"{label:<44} "
            f"{fmt_rate(desk_rates.median) + ' (' + fmt_rate(desk_rates.best) + ')':>18} "
            f"{fmt_rate(raw_rates.median) + ' (' + fmt_rate(raw_rates.best) + ')':>18} "
            f"{desk_rates.median / raw_rates.median:>6.2f}×"
        )
    print()

    print("cProfile of 1,000 comments.add (one transaction each): top 15 by cumulative time")
    print(single.comment_profile)
    print()

    # -- bulk
    print(f"Bulk import of {bulk.count:,} tickets (the four template bodies in turn)")
    for batch_size, (seconds, rate) in bulk.desk.items():
        print(
            f"  create_many(batch_size={batch_size:<5}) {seconds:8.1f} s {fmt_rate(rate):>9} "
            f"tickets/s   {rate / bulk.raw_rate:.3f}× raw"
        )
        print(
            "      tickets/s, each tenth of the import: "
            + ", ".join(fmt_rate(x) for x in bulk.deciles[batch_size])
        )
    print(
        f"  raw executemany, one transaction  {bulk.raw_seconds:8.1f} s "
        f"{fmt_rate(bulk.raw_rate):>9} tickets/s   (faster of the runs before and after: "
        + ", ".join(f"{x:.1f} s" for x in bulk.raw_runs)
        + ")"
    )
    raw_events_seconds = min(bulk.raw_events_runs)
    print(
        f"  raw executemany, with the events   {raw_events_seconds:8.1f} s "
        f"{fmt_rate(bulk.count / raw_events_seconds):>9} tickets/s   (runs: "
        + ", ".join(f"{x:.1f} s" for x in bulk.raw_events_runs)
        + "; the desk's best: "
        f"{max(r for _, r in bulk.desk.values()) * raw_events_seconds / bulk.count:.3f}× of it)"
    )
    print()
    print(
        f"cProfile of create_many({bulk.profile_count:,} tickets, batch_size=500): "
        f"{bulk.profile_seconds:.1f} s under the profiler; top 15 by cumulative time"
    )
    print(bulk.profile_text)
    print()
    print("Where create_many's time goes (cumulative, share of the profiled total)")
    for label, seconds, share in bulk.breakdown:
        print(f"  {label:<46} {seconds:7.2f} s {share:7.1%}")
    print()

    # -- search
    desk_median = statistics.median(search.desk_ms)
    print(
        f"Search over {search.tickets:,} tickets (built in {search.build_seconds:.0f} s, "
        f"{search.db_mb:,.0f} MB); customer {BIG_CUSTOMER} has {search.big_total:,} tickets, "
        f"{search.matches} match the filters; planner statistics after Desk.open: "
        f"{'yes' if search.stats_after_open else 'no'}"
    )
    print(
        "  desk.tickets.search({customer_id, status: [open, in_progress], "
        "priority: [high, critical]}, sort created_at desc, limit 25)"
    )
    header = f"  {'variant':<46} {'indexes':<18} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}"
    print(header)
    print("  " + "-" * (len(header) - 2))

    def line(name: str, index_set: str, samples: list[float]) -> None:
        print(
            f"  {name:<46} {index_set:<18} {fmt_ms(statistics.median(samples)):>10} "
            f"{fmt_ms(p90(samples)):>8} {fmt_ms(min(samples)):>8}"
        )

    line("desk.tickets.search", "stock", search.desk_ms)
    line("desk.tickets.search, decoded-ticket cache cleared", "stock", search.desk_cold_ms)
    line("  records.loads × 25 (decoding without the cache)", "", search.decode_ms)
    for what, samples in search.split:
        line(f"  of which the SQL: {what}", "stock", samples)
    if search.desk_with_index_ms is not None:
        line("desk.tickets.search", "+ index", search.desk_with_index_ms)
    line("desk.tickets.search", "+ ANALYZE", search.desk_analyzed_ms)
    for name, index_set, samples, _plans in search.raw:
        line(f"raw: {name}", index_set, samples)
    best_name, best_set, best_samples, _ = min(
        search.raw, key=lambda item: statistics.median(item[2])
    )
    best_raw = statistics.median(best_samples)
    print()
    print("  EXPLAIN QUERY PLAN")
    print("    desk's SQL, stock indexes:")
    for item in search.desk_plan:
        print(f"      {item}")
    for name, index_set, _samples, plans in search.raw:
        if name == "desk's SQL verbatim" and index_set == "stock":
            continue
        print(f"    raw {name} [{index_set}]:")
        for item in plans:
            print(f"      {item}")
    print()
    print(f"Writes on the {search.tickets:,}-ticket database, ms per operation: median (min)")
    for what, samples in (
        ("desk.tickets.create, plain body", search.create_ms),
        ("raw one-row insert transaction", search.raw_insert_ms),
    ):
        print(f"  {what:<42} {fmt_ms(statistics.median(samples)):>9} ({fmt_ms(min(samples))})")
    print()
    print("Paging the search database (fresh desk, stock indexes)")
    for what, ms, items in search.paging:
        print(f"  {what:<40} {fmt_ms(ms):>10} ms  {items:>5} tickets")
    print("  raw page 1,000 of 25 without filters (best of 3):")
    for what, ms, how in search.deep:
        print(f"    {what:<42} {fmt_ms(ms):>9} ms  {how}")
    print(
        f"  peak RSS: {search.rss_before_search:.0f} MB after building the database, "
        f"{search.rss_after_paging:.0f} MB after searching and paging"
    )
    final_rss = peak_rss_mb()
    print(f"  peak RSS of the whole run (after the bulk import too): {final_rss:.0f} MB")
    print()

    # -- goals
    create_x = single.create_plain.median / single.raw_ticket.median
    comment_x = single.comment.median / single.raw_comment.median
    bulk_best_size, (_, bulk_best_rate) = max(bulk.desk.items(), key=lambda kv: kv[1][1])
    bulk_x = bulk_best_rate / bulk.raw_rate
    search_x = desk_median / best_raw
    print("Goals")
    goals = (
        (
            f"tickets.create ≥ {GOAL_CREATE}× raw one-row transactions",
            f"{create_x:.2f}× ({fmt_rate(single.create_plain.median)} vs "
            f"{fmt_rate(single.raw_ticket.median)}/s; against a raw side that also "
            f"checkpoints in the background: "
            f"{single.create_plain.median / single.raw_ticket_background.median:.2f}×)",
            create_x >= GOAL_CREATE,
        ),
        (
            f"comments.add ≥ {GOAL_COMMENT}× raw one-row transactions",
            f"{comment_x:.2f}× ({fmt_rate(single.comment.median)} vs "
            f"{fmt_rate(single.raw_comment.median)}/s; the raw floor of comment + stamp + "
            f"event: {single.raw_comment_floor.median / single.raw_comment.median:.2f}×)",
            comment_x >= GOAL_COMMENT,
        ),
        (
            f"create_many ≥ {GOAL_BULK}× raw executemany ({bulk.count:,})",
            f"{bulk_x:.3f}× (batch_size={bulk_best_size}: {fmt_rate(bulk_best_rate)} vs "
            f"{fmt_rate(bulk.raw_rate)}/s; against raw rows with their events: "
            f"{bulk_best_rate * min(bulk.raw_events_runs) / bulk.count:.3f}×)",
            bulk_x >= GOAL_BULK,
        ),
        (
            f"search median ≤ {GOAL_SEARCH_MS:g} ms ({search.tickets:,} tickets)",
            f"{fmt_ms(desk_median)} ms (decoded-ticket cache cleared first: "
            f"{fmt_ms(statistics.median(search.desk_cold_ms))} ms)",
            desk_median <= GOAL_SEARCH_MS,
        ),
        (
            f"search ≤ {GOAL_SEARCH_X}× best raw indexed query",
            f"{search_x:.1f}× (best raw: {best_name} [{best_set}], {fmt_ms(best_raw)} ms)",
            search_x <= GOAL_SEARCH_X,
        ),
        (
            f"peak RSS < {GOAL_RSS_MB:g} MB through build, search, paging",
            f"{search.rss_after_paging:.0f} MB",
            search.rss_after_paging < GOAL_RSS_MB,
        ),
    )
    for label, measured, ok in goals:
        print(f"  {label:<56} {measured:<62} {verdict(ok)}")
    return 0


# -- PostgreSQL ----------------------------------------------------------------------------
#
# ``--backend postgresql --postgres-url URL``: the same comparisons against plain psycopg 3
# on the same schema. Every database is a fresh schema (``?schema=``) created through
# ``Desk.open`` and seeded, so tables, indexes and triggers are identical on both sides;
# all of them are dropped at the end.


@dataclass(frozen=True)
class PgMode:
    name: str
    rounds: int
    per_round: int
    bulk: int
    batch_sizes: tuple[int, ...]
    profile: int  # creates under cProfile (and counted round trips)
    search_tickets: int
    search_runs: int


PG_FULL = PgMode("full", 10, 200, 10_000, (500, 2000), 500, 1_000_000, 300)
PG_QUICK = PgMode("quick", 3, 50, 1_000, (500,), 200, 50_000, 200)

PG_GOAL_CREATE = 0.4  # × raw one-row-per-transaction INSERT
PG_GOAL_BULK = 0.5  # × raw COPY
PG_GOAL_SEARCH_MS = 2.0  # median, 1,000,000 tickets


def pg_modules() -> tuple[Any, Any]:
    import psycopg
    from psycopg.rows import dict_row

    return psycopg, dict_row


def pg_columns() -> tuple[str, ...]:
    from supportkit.backends.postgresql import _COLUMNS

    return tuple(_COLUMNS)


class PgBench:
    """Schemas of one run: ``{prefix}_{name}``, each made through ``Desk.open``."""

    def __init__(self, url: str) -> None:
        psycopg, _ = pg_modules()
        self.url = url
        self.prefix = f"bench_desk_{os.getpid()}"
        self.schemas: list[str] = []
        self.admin = psycopg.connect(url, autocommit=True)

    def schema(self, name: str) -> str:
        schema = f"{self.prefix}_{name}"
        self.admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        self.schemas.append(schema)
        return schema

    def desk_url(self, schema: str) -> str:
        return f"{self.url}{'&' if '?' in self.url else '?'}schema={schema}"

    def desk(self, schema: str, *, seeded: bool = True) -> Desk:
        desk = Desk.open(self.desk_url(schema), clock=Clock(), load_entrypoints=False)
        return seed(desk) if seeded else desk

    def raw(self, schema: str, *, autocommit: bool = True) -> Any:
        psycopg, _ = pg_modules()
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute(f"SET search_path TO {schema}")
        conn.autocommit = autocommit
        return conn

    def stored_row(self, schema: str, ticket_id: str) -> dict[str, Any]:
        from psycopg.types.json import Jsonb

        _, dict_row = pg_modules()
        conn = self.raw(schema)
        try:
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute(
                f"SELECT {', '.join(pg_columns())} FROM tickets WHERE id = %s", (ticket_id,)
            ).fetchone()
        finally:
            conn.close()
        assert row is not None, ticket_id
        if row["tags"] is not None:
            row["tags"] = Jsonb(row["tags"])
        return dict(row)

    def drop(self, schema: str) -> None:
        self.admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    def close(self) -> None:
        for schema in self.schemas:
            self.drop(schema)
        self.admin.close()


def pg_insert_sql() -> str:
    cols = pg_columns()
    return f"INSERT INTO tickets ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"


def pg_copy_sql(*, binary: bool = False) -> str:
    text = f"COPY tickets ({', '.join(pg_columns())}) FROM STDIN"
    return text + " (FORMAT BINARY)" if binary else text


def pg_copy_types() -> dict[str, dict[str, str]]:
    """The column types a binary ``COPY`` of ticket and event rows names."""
    instants = (
        "created_at", "updated_at", "response_due", "resolution_due", "response_at_risk",
        "resolution_at_risk", "next_due_at", "resolved_at",
    )  # fmt: skip
    tickets = dict.fromkeys(pg_columns(), "text")
    tickets.update(priority_rank="smallint", escalation_level="integer", version="integer")
    tickets.update(tags="jsonb", **dict.fromkeys(instants, "timestamptz"))
    events = dict.fromkeys(
        ("id", "type", "ticket_id", "customer_id", "visibility", "data", "shares"), "text"
    )
    events.update(seq="bigint", created_at="timestamptz")
    return {"tickets": tickets, "events": events}


def pg_templates(bench: PgBench) -> list[dict[str, Any]]:
    schema = bench.schema("templates")
    desk = bench.desk(schema)
    rows = [bench.stored_row(schema, desk.tickets.create(body).id) for body in TEMPLATE_BODIES]
    desk.close()
    bench.drop(schema)
    return rows


def protocol_trace(conn: Any, action: Callable[[], object], times: int) -> tuple[float, float]:
    """(round trips, statements) per call of ``action``, from libpq's protocol trace of
    ``conn``. A statement is a ``Bind`` or simple ``Query`` message. A round trip is a
    time the client waits for the server: it asks for answers (``Sync``, ``Flush``, a
    simple ``Query``, ``CopyDone``), the server answers, and only then does the client
    send anything else (a ``Flush`` right after its own ``Sync`` is part of the same
    wait). In pipeline mode the server may answer while the client is still sending,
    so server messages between client ones are not by themselves a round trip."""
    with tempfile.TemporaryFile("w+") as out:
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(1)  # PQTRACE_SUPPRESS_TIMESTAMPS
        try:
            for _ in range(times):
                action()
        finally:
            conn.pgconn.untrace()
        out.seek(0)
        trips = statements = 0
        asked = answered = False
        for line in out:
            direction, _, rest = line.partition("\t")
            rest = rest.split("\t", 1)[-1]
            if direction == "B":
                answered = answered or asked
                continue
            if direction != "F":
                continue
            if asked and answered and not rest.startswith("Flush"):
                trips += 1
                asked = answered = False
            if rest.startswith(("Bind", "Query")):
                statements += 1
            if rest.startswith(("Sync", "Flush", "Query", "CopyDone")):
                asked = True
        if asked:
            trips += 1
    return trips / times, statements / times


@dataclass
class PgSingle:
    create_plain: Rates
    create_attachment: Rates
    raw_autocommit: Rates  # one INSERT, autocommit: an implicit transaction, 1 round trip
    raw_explicit: Rates  # BEGIN; INSERT; COMMIT through conn.transaction()
    profile_text: str
    trips_per_create: float
    statements_per_create: float
    raw_trips_per_insert: float
    raw_statements_per_insert: float
    profile_seconds: float
    breakdown: list[tuple[str, float, float]]
    # The customer search (on this small database: the statements are the same) and
    # one create_many batch of PG_TRACE_BATCH tickets, from the same trace.
    trips_per_search: float = 0.0
    statements_per_search: float = 0.0
    trips_per_batch: float = 0.0
    statements_per_batch: float = 0.0


PG_TRACE_BATCH = 100
PG_BREAKDOWN = (
    ("validate the body (parse_ticket)", "parse_ticket", "validation.py"),
    ("route (_route)", "_route", "desk.py"),
    ("select SLA targets", "select_targets", "sla.py"),
    ("open the ticket, start SLA clocks", "open_ticket", "workflow.py"),
    ("ticket row + JSON record (_values)", "_values", "postgresql.py"),
    ("event payloads (to_dict in emit)", "emit", "desk.py"),
    ("store events (insert_events)", "insert_events", "postgresql.py"),
    ("waits on the server (_pgbatch.Batch._wait)", "_wait", "_pgbatch.py"),
)


def pg_breakdown(stats: pstats.Stats) -> list[tuple[str, float, float]]:
    raw_stats = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    out = []
    for label, func, where in PG_BREAKDOWN:
        cumulative = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in raw_stats.items():
            if filename.endswith(where) and name == func:
                cumulative += ct
        out.append((label, cumulative, cumulative / total if total else 0.0))
    return out


def pg_bench_single(mode: PgMode, bench: PgBench) -> PgSingle:
    desk_schema, raw_schema = bench.schema("single_desk"), bench.schema("single_raw")
    desk = bench.desk(desk_schema)
    bench.desk(raw_schema).close()
    plain = seed_ticket(attachments=[])
    with_attachment = seed_ticket()
    template = desk.tickets.create(plain)
    cols = pg_columns()
    cloner = TicketCloner(bench.stored_row(desk_schema, template.id), "RAW", cols)
    insert_sql = pg_insert_sql()
    auto = bench.raw(raw_schema, autocommit=True)
    explicit = bench.raw(raw_schema, autocommit=True)

    def raw_auto(rows: Iterator[tuple[Any, ...]]) -> Callable[[], None]:
        def insert() -> None:
            auto.execute(insert_sql, next(rows))

        return insert

    def raw_explicit(rows: Iterator[tuple[Any, ...]]) -> Callable[[], None]:
        def insert() -> None:
            with explicit.transaction():
                explicit.execute(insert_sql, next(rows))

        return insert

    for _ in range(20):
        desk.tickets.create(plain)
        desk.tickets.create(with_attachment)
    warm = iter(cloner.many(40))
    for _ in range(20):
        raw_auto(warm)()
        raw_explicit(warm)()

    result = PgSingle(Rates(), Rates(), Rates(), Rates(), "", 0.0, 0.0, 0.0, 0.0, 0.0, [])
    n = mode.per_round
    log(f"pg create: {mode.rounds} rounds × {n} tickets per side")
    for r in range(mode.rounds):
        rows_a, rows_e = iter(cloner.many(n)), iter(cloner.many(n))
        sides: list[tuple[Rates, Callable[[], object]]] = [
            (result.create_plain, lambda: desk.tickets.create(plain)),
            (result.create_attachment, lambda: desk.tickets.create(with_attachment)),
            (result.raw_autocommit, raw_auto(rows_a)),
            (result.raw_explicit, raw_explicit(rows_e)),
        ]
        shift = r % len(sides)
        for rates, action in sides[shift:] + sides[:shift]:
            rates.per_round.append(timed_rate(n, action))

    log(f"pg create: profiling {mode.profile} creates")
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    for _ in range(mode.profile):
        desk.tickets.create(plain)
    profiler.disable()
    result.profile_seconds = time.perf_counter() - t0
    stats, result.profile_text = profile_report(profiler, 15)
    result.breakdown = pg_breakdown(stats)
    desk.close()
    # Round trips and statements, from the protocol trace of a one-connection pool.
    desk = Desk.open(
        bench.desk_url(desk_schema), clock=Clock(), load_entrypoints=False,
        storage_options={"min_size": 1, "max_size": 1},
    )  # fmt: skip
    desk.tickets.create(plain)
    with desk.storage._pool.connection() as conn:  # type: ignore[attr-defined]
        pass
    result.trips_per_create, result.statements_per_create = protocol_trace(
        conn, lambda: desk.tickets.create(plain), 20
    )
    result.trips_per_search, result.statements_per_search = protocol_trace(
        conn, lambda: desk.tickets.search(SEARCH_FILTERS, sort=SEARCH_SORT, limit=25), 20
    )
    desk.tickets.create_many(bodies(PG_TRACE_BATCH), batch_size=PG_TRACE_BATCH)
    result.trips_per_batch, result.statements_per_batch = protocol_trace(
        conn,
        lambda: desk.tickets.create_many(bodies(PG_TRACE_BATCH), batch_size=PG_TRACE_BATCH),
        3,
    )
    rows = iter(cloner.many(20))
    result.raw_trips_per_insert, result.raw_statements_per_insert = protocol_trace(
        explicit, raw_explicit(rows), 20
    )
    desk.close()
    auto.close()
    explicit.close()
    bench.drop(desk_schema)
    bench.drop(raw_schema)
    return result


@dataclass
class PgBulk:
    count: int
    desk: dict[int, tuple[float, float]]
    copy_runs: list[float]
    insert_runs: list[float]  # executemany of INSERTs in one transaction, for scale
    # COPY of the same ticket rows, then a COPY of their event rows (two each).
    copy_events_runs: list[float] = field(default_factory=list)

    @property
    def copy_seconds(self) -> float:
        return min(self.copy_runs)


def pg_template_events(bench: PgBench) -> list[list[dict[str, Any]]]:
    """The stored event rows of each template body's ticket (as ``template_events``)."""
    _, dict_row = pg_modules()
    schema = bench.schema("template_events")
    desk = bench.desk(schema)
    ids = [desk.tickets.create(body).id for body in TEMPLATE_BODIES]
    desk.close()
    conn = bench.raw(schema)
    try:
        cur = conn.cursor(row_factory=dict_row)
        found = [
            [dict(row) for row in cur.execute(
                "SELECT * FROM events WHERE ticket_id = %s ORDER BY seq", (ticket_id,)
            ).fetchall()]
            for ticket_id in ids
        ]  # fmt: skip
    finally:
        conn.close()
    bench.drop(schema)
    assert all(len(rows) == 2 for rows in found), [len(rows) for rows in found]
    return found


def pg_raw_bulk(
    bench: PgBench,
    templates: list[dict[str, Any]],
    n: int,
    *,
    copy: bool,
    events: list[list[dict[str, Any]]] | None = None,
    binary: bool = False,
) -> float:
    """Seconds to write ``n`` cloned ticket rows in one transaction (``COPY``, or
    ``executemany`` of INSERTs); with ``events`` (``COPY`` only), a second ``COPY``
    of their event rows follows, as the desk's batches write them. ``binary``: the
    COPYs are in binary format, with the columns' types (the desk's are text: see
    docs/performance.md); the goal takes the faster format as its baseline."""
    schema = bench.schema("bulk_raw")
    bench.desk(schema).close()
    conn = bench.raw(schema, autocommit=False)
    cols = pg_columns()
    cloner = MixCloner([TicketCloner(row, f"RAW{k}", cols) for k, row in enumerate(templates)])
    event_cloner = EventCloner(events, cols) if events is not None else None
    event_rows: list[tuple[Any, ...]] = []
    spent = 0.0
    done = 0
    with conn.cursor() as cur:
        if copy:
            # Rows built outside the timer, in chunks, each chunk a write_row loop into
            # one COPY in one transaction.
            types = pg_copy_types()
            t0 = time.perf_counter()
            with cur.copy(pg_copy_sql(binary=binary)) as cp:
                if binary:
                    cp.set_types([types["tickets"][c] for c in cols])
                spent += time.perf_counter() - t0
                while done < n:
                    chunk = cloner.many(min(10_000, n - done))
                    if event_cloner is not None:
                        event_rows += event_cloner.rows(chunk, done)
                    t0 = time.perf_counter()
                    for row in chunk:
                        cp.write_row(row)
                    spent += time.perf_counter() - t0
                    done += len(chunk)
                t0 = time.perf_counter()
            if event_cloner is not None:
                copy_events = f"COPY events ({', '.join(event_cloner.columns)}) FROM STDIN"
                with cur.copy(copy_events + (" (FORMAT BINARY)" if binary else "")) as cp:
                    if binary:
                        cp.set_types([types["events"][c] for c in event_cloner.columns])
                    for row in event_rows:
                        cp.write_row(row)
            conn.commit()
            spent += time.perf_counter() - t0
            if event_cloner is not None:
                counted = cur.execute("SELECT COUNT(*) FROM events").fetchone()
                assert counted is not None and counted[0] == 2 * n
        else:
            sql = pg_insert_sql()
            while done < n:
                chunk = cloner.many(min(10_000, n - done))
                t0 = time.perf_counter()
                cur.executemany(sql, chunk)
                spent += time.perf_counter() - t0
                done += len(chunk)
            t0 = time.perf_counter()
            conn.commit()
            spent += time.perf_counter() - t0
        count = cur.execute("SELECT COUNT(*) FROM tickets").fetchone()
    assert count is not None and count[0] == n
    conn.close()
    bench.drop(schema)
    return spent


def pg_bench_bulk(mode: PgMode, bench: PgBench, templates: list[dict[str, Any]]) -> PgBulk:
    n = mode.bulk
    result = PgBulk(n, {}, [], [])
    events = pg_template_events(bench)
    raw_copies(bench, templates, n, events, result)
    log(f"pg bulk: raw executemany INSERT of {n:,} rows")
    result.insert_runs.append(pg_raw_bulk(bench, templates, n, copy=False))
    for batch_size in mode.batch_sizes:
        schema = bench.schema(f"bulk_desk_{batch_size}")
        desk = bench.desk(schema)
        log(f"pg bulk: create_many of {n:,}, batch_size={batch_size}")
        t0 = time.perf_counter()
        created = desk.tickets.create_many(bodies(n), batch_size=batch_size)
        elapsed = time.perf_counter() - t0
        assert created == n
        result.desk[batch_size] = (elapsed, n / elapsed)
        log(f"pg bulk: {elapsed:.1f} s")
        desk.close()
        bench.drop(schema)
    raw_copies(bench, templates, n, events, result, again=", again")
    return result


def runs_text(runs: list[float]) -> str:
    """The raw COPY runs, made text and binary in turn (:func:`raw_copies`)."""
    return ", ".join(
        f"{('text', 'binary')[i % 2]} {seconds:.2f} s" for i, seconds in enumerate(runs)
    )


def raw_copies(
    bench: PgBench,
    templates: list[dict[str, Any]],
    n: int,
    events: list[list[dict[str, Any]]],
    result: PgBulk,
    again: str = "",
) -> None:
    """The raw COPYs, in text and in binary format: the faster is the baseline."""
    for binary in (False, True):
        form = "binary" if binary else "text"
        log(f"pg bulk: raw {form} COPY of {n:,} rows{again}")
        result.copy_runs.append(pg_raw_bulk(bench, templates, n, copy=True, binary=binary))
        log(f"pg bulk: raw {form} COPY of {n:,} rows and their {2 * n:,} event rows{again}")
        result.copy_events_runs.append(
            pg_raw_bulk(bench, templates, n, copy=True, events=events, binary=binary)
        )


@dataclass
class PgSearch:
    tickets: int
    build_seconds: float
    analyze_seconds: float
    table_mb: float
    big_total: int
    matches: int
    desk_ms: list[float]
    desk_cold_ms: list[float]  # the backend's decoded-ticket cache cleared before each
    raw_ms: list[float]  # the desk's two statements in one read transaction, no decoding
    raw_pipelined_ms: list[float]  # the two statements sent together, no transaction
    decode_ms: list[float]
    explain: list[tuple[str, str, list[str]]]  # (what, sql, EXPLAIN ANALYZE lines)
    create_ms: list[float]
    raw_insert_ms: list[float]


PG_WHERE = "t.customer_id = ANY(%s) AND t.status = ANY(%s) AND t.priority_rank = ANY(%s)"
# The desk's statements, as search_tickets builds them for these filters.
PG_COUNT_SQL = f"SELECT COUNT(*) FROM tickets t WHERE {PG_WHERE}"
PG_PAGE_SQL = (
    f"SELECT t.id, t.data FROM tickets t WHERE {PG_WHERE} "
    "ORDER BY t.created_at DESC NULLS LAST, t.id DESC LIMIT %s OFFSET %s"
)


def pg_build_search(
    bench: PgBench, schema: str, templates: list[dict[str, Any]], count: int
) -> tuple[float, float]:
    bench.desk(schema).close()
    factory = RowFactory(templates, count, columns=pg_columns(), native_times=True)
    conn = bench.raw(schema, autocommit=False)
    conn.execute("SET synchronous_commit = off")  # this build connection only
    chunk = 50_000
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        for first in range(0, count, chunk):
            with cur.copy(pg_copy_sql()) as cp:
                for row in factory.rows(first, min(first + chunk, count)):
                    cp.write_row(row)
            conn.commit()
            if (first // chunk) % 4 == 3:
                log(
                    f"pg search db: {first + chunk:,} of {count:,}, "
                    f"{time.perf_counter() - t0:.0f} s"
                )
    build = time.perf_counter() - t0
    conn.autocommit = True
    t0 = time.perf_counter()
    conn.execute("ANALYZE")
    analyze = time.perf_counter() - t0
    conn.execute("CHECKPOINT")
    conn.close()
    return build, analyze


def pg_bench_search(mode: PgMode, bench: PgBench, templates: list[dict[str, Any]]) -> PgSearch:
    schema = bench.schema("search")
    n = mode.search_tickets
    log(f"pg search db: building {n:,} tickets with COPY")
    build_seconds, analyze_seconds = pg_build_search(bench, schema, templates, n)
    raw = bench.raw(schema, autocommit=True)
    table_mb = raw.execute("SELECT pg_total_relation_size('tickets')").fetchone()[0] / 1e6
    log(
        f"pg search db: {build_seconds:.0f} s + ANALYZE {analyze_seconds:.1f} s, {table_mb:,.0f} MB"
    )

    desk = bench.desk(schema, seeded=False)
    big = desk.tickets.search({"customer_id": BIG_CUSTOMER}, limit=1)
    some = desk.tickets.search(SEARCH_FILTERS, sort=SEARCH_SORT, limit=25)
    assert all(
        t.customer_id == BIG_CUSTOMER and t.status in ("open", "in_progress")
        and t.priority in ("high", "critical")
        for t in some.items
    )  # fmt: skip
    keys = [t.created_at for t in some.items]
    assert keys == sorted(keys, reverse=True)

    params = [
        [BIG_CUSTOMER],
        list(SEARCH_FILTERS["status"]),
        [PRIORITIES.index(p) for p in SEARCH_FILTERS["priority"]],
    ]
    page_params = [*params, 25, 0]
    matches = raw.execute(PG_COUNT_SQL, params).fetchone()[0]
    assert matches == some.total, (matches, some.total)
    page_data = [row[1] for row in raw.execute(PG_PAGE_SQL, page_params)]
    assert [records.loads(d, Ticket).id for d in page_data] == [t.id for t in some.items]

    def desk_search() -> object:
        return desk.tickets.search(SEARCH_FILTERS, sort=SEARCH_SORT, limit=25)

    cache = getattr(desk.storage, "_tickets", None)  # the backend's decoded-ticket cache

    def desk_search_cold() -> object:
        if cache is not None:
            cache.clear()
        return desk.tickets.search(SEARCH_FILTERS, sort=SEARCH_SORT, limit=25)

    def raw_search() -> object:
        with raw.transaction():
            total = raw.execute(PG_COUNT_SQL, params).fetchone()[0]
            rows = raw.execute(PG_PAGE_SQL, page_params).fetchall()
        return total, rows

    def raw_pipelined() -> object:
        with raw.pipeline():
            counted = raw.execute(PG_COUNT_SQL, params)
            paged = raw.execute(PG_PAGE_SQL, page_params)
        return counted.fetchone()[0], paged.fetchall()

    def decode() -> object:
        return [records.loads(d, Ticket) for d in page_data]

    log(f"pg search: {mode.search_runs} runs of each variant")
    got = interleaved(
        {
            "desk": desk_search,
            "desk_cold": desk_search_cold,
            "raw": raw_search,
            "raw_pipelined": raw_pipelined,
            "decode": decode,
        },
        mode.search_runs,
    )
    explain = []
    for what, sql, args in (("COUNT(*)", PG_COUNT_SQL, params), ("page", PG_PAGE_SQL, page_params)):
        lines = [
            row[0] for row in raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, args).fetchall()
        ]
        explain.append((what, sql, lines))

    log("pg: create on the large database")
    plain = seed_ticket(attachments=[])
    create_ms = latency_ms(30, lambda: desk.tickets.create(plain), warmup=3)
    cloner = TicketCloner(bench.stored_row(schema, some.items[0].id), "BIGRAW", pg_columns())
    insert_sql = pg_insert_sql()
    raw_insert_ms = latency_ms(30, lambda: raw.execute(insert_sql, cloner.next()), warmup=3)
    desk.close()
    raw.close()
    bench.drop(schema)
    return PgSearch(
        tickets=n,
        build_seconds=build_seconds,
        analyze_seconds=analyze_seconds,
        table_mb=table_mb,
        big_total=big.total,
        matches=int(matches),
        desk_ms=got["desk"],
        desk_cold_ms=got["desk_cold"],
        raw_ms=got["raw"],
        raw_pipelined_ms=got["raw_pipelined"],
        decode_ms=got["decode"],
        explain=explain,
        create_ms=create_ms,
        raw_insert_ms=raw_insert_ms,
    )


def main_postgresql(options: argparse.Namespace) -> int:
    import psycopg

    mode = PG_QUICK if options.quick else PG_FULL
    if options.search_tickets:
        mode = PgMode(**{**mode.__dict__, "search_tickets": options.search_tickets})
    if options.bulk:
        mode = PgMode(**{**mode.__dict__, "bulk": options.bulk})
    bench = PgBench(options.postgres_url)
    server = {
        name: bench.admin.execute(f"SHOW {name}").fetchone()[0]
        for name in ("server_version", "synchronous_commit", "shared_buffers", "fsync",
                     "wal_level", "max_wal_size", "work_mem")
    }  # fmt: skip
    where = bench.admin.info
    print("Desk on PostgreSQL benchmark: supportkit vs plain psycopg 3 on the same schema")
    print(f"  mode:      {mode.name}")
    print("\n".join(machine_lines()))
    print(
        f"  psycopg:   {psycopg.__version__} ({psycopg.pq.__impl__}), libpq {psycopg.pq.version()}"
    )
    print(
        f"  server:    PostgreSQL {server['server_version']} at {where.host}:{where.port}; "
        + ", ".join(f"{k}={v}" for k, v in server.items() if k != "server_version")
    )
    print(f"  checkout:  {checkout()}")
    print(
        f"  sizes:     {mode.rounds} rounds × {mode.per_round} single writes; bulk "
        f"{mode.bulk:,}; search database {mode.search_tickets:,} tickets, "
        f"{mode.search_runs} runs per search"
    )
    print(f"  schemas:   {bench.prefix}_* (dropped at the end)")
    if hasattr(os, "getloadavg"):
        print(f"  load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at start)")
    print(flush=True)
    try:
        templates = pg_templates(bench)
        single = pg_bench_single(mode, bench)
        bulk = pg_bench_bulk(mode, bench, templates)
        search = pg_bench_search(mode, bench, templates)
    finally:
        bench.close()
    if hasattr(os, "getloadavg"):
        print(f"  load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at end)\n")

    print("Single writes, one transaction each: tickets/s, median (best) of the rounds")
    header = f"{'operation':<52} {'tickets/s':>18} {'ms each':>8}"
    print(header)
    print("-" * len(header))
    for label, rates in (
        ("tickets.create, plain body", single.create_plain),
        ("tickets.create, body with a 33 B attachment", single.create_attachment),
        ("raw INSERT, autocommit (implicit transaction)", single.raw_autocommit),
        ("raw BEGIN; INSERT; COMMIT", single.raw_explicit),
    ):
        print(
            f"{label:<52} {fmt_rate(rates.median) + ' (' + fmt_rate(rates.best) + ')':>18} "
            f"{1e3 / rates.median:>8.3f}"
        )
    print()
    print(
        f"Protocol trace: tickets.create sends {single.statements_per_create:.1f} statements "
        f"in {single.trips_per_create:.1f} round trips per ticket; raw BEGIN; INSERT; COMMIT "
        f"{single.raw_statements_per_insert:.1f} statements in "
        f"{single.raw_trips_per_insert:.1f} round trips"
    )
    print(
        f"Protocol trace: desk.tickets.search sends {single.statements_per_search:.1f} "
        f"statements in {single.trips_per_search:.1f} round trips; create_many, one batch of "
        f"{PG_TRACE_BATCH}: {single.statements_per_batch:.1f} statements in "
        f"{single.trips_per_batch:.1f} round trips"
    )
    print(
        f"cProfile of {mode.profile} tickets.create ({single.profile_seconds:.1f} s under the "
        "profiler): top 15 by cumulative time"
    )
    print(single.profile_text)
    print("Where create's time goes (cumulative, share of the profiled total)")
    for label, seconds, share in single.breakdown:
        print(f"  {label:<50} {seconds:7.2f} s {share:7.1%}")
    print()

    print(f"Bulk import of {bulk.count:,} tickets (the four template bodies in turn)")
    copy_rate = bulk.count / bulk.copy_seconds
    for batch_size, (seconds, rate) in bulk.desk.items():
        print(
            f"  create_many(batch_size={batch_size:<5}) {seconds:8.1f} s {fmt_rate(rate):>9} "
            f"tickets/s   {rate / copy_rate:.3f}× COPY"
        )
    print(
        f"  raw COPY, one transaction        {bulk.copy_seconds:8.1f} s {fmt_rate(copy_rate):>9} "
        "tickets/s   (fastest of the runs before and after: " + runs_text(bulk.copy_runs) + ")"
    )
    with_events = min(bulk.copy_events_runs)
    best_desk = max(rate for _, rate in bulk.desk.values())
    print(
        f"  raw COPY with the events         {with_events:8.1f} s "
        f"{fmt_rate(bulk.count / with_events):>9} tickets/s   (runs: "
        + runs_text(bulk.copy_events_runs)
        + f"; the desk's best: {best_desk * with_events / bulk.count:.3f}× of it)"
    )
    ins = min(bulk.insert_runs)
    print(
        f"  raw executemany INSERT, one tx.  {ins:8.1f} s {fmt_rate(bulk.count / ins):>9} "
        "tickets/s   (for scale)"
    )
    print()

    desk_median = statistics.median(search.desk_ms)
    print(
        f"Search over {search.tickets:,} tickets (COPY in {search.build_seconds:.0f} s, ANALYZE "
        f"{search.analyze_seconds:.1f} s, tickets table with indexes {search.table_mb:,.0f} MB); "
        f"customer {BIG_CUSTOMER} has {search.big_total:,} tickets, {search.matches} match"
    )
    header = f"  {'variant':<58} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for name, samples in (
        ("desk.tickets.search", search.desk_ms),
        ("desk.tickets.search, decoded-ticket cache cleared first", search.desk_cold_ms),
        ("raw: the desk's COUNT + page in one transaction", search.raw_ms),
        ("raw: COUNT + page pipelined, no BEGIN/COMMIT", search.raw_pipelined_ms),
        ("records.loads × 25 (decoding without the cache)", search.decode_ms),
    ):
        print(
            f"  {name:<58} {fmt_ms(statistics.median(samples)):>10} "
            f"{fmt_ms(p90(samples)):>8} {fmt_ms(min(samples)):>8}"
        )
    print()
    for what, sql, lines in search.explain:
        print(f"  EXPLAIN (ANALYZE, BUFFERS) of the {what} statement: {sql}")
        for line in lines:
            print(f"    {line}")
    print()
    print(f"Writes on the {search.tickets:,}-ticket database, ms: median (min) of 30")
    for what, samples in (
        ("desk.tickets.create, plain body", search.create_ms),
        ("raw INSERT, autocommit", search.raw_insert_ms),
    ):
        print(f"  {what:<42} {fmt_ms(statistics.median(samples)):>9} ({fmt_ms(min(samples))})")
    print()

    raw_best = max(single.raw_autocommit.median, single.raw_explicit.median)
    create_x = single.create_plain.median / raw_best
    bulk_size, (_, bulk_rate) = max(bulk.desk.items(), key=lambda kv: kv[1][1])
    bulk_x = bulk_rate / copy_rate
    print("Goals")
    goals = (
        (
            f"tickets.create ≥ {PG_GOAL_CREATE}× raw one-row transactions",
            f"{create_x:.2f}× ({fmt_rate(single.create_plain.median)} vs "
            f"{fmt_rate(raw_best)}/s, the faster raw side)",
            create_x >= PG_GOAL_CREATE,
        ),
        (
            f"create_many ≥ {PG_GOAL_BULK}× raw COPY ({bulk.count:,})",
            f"{bulk_x:.3f}× (batch_size={bulk_size}: {fmt_rate(bulk_rate)} vs "
            f"{fmt_rate(copy_rate)}/s; against COPY of the rows with their events: "
            f"{bulk_rate * min(bulk.copy_events_runs) / bulk.count:.3f}×)",
            bulk_x >= PG_GOAL_BULK,
        ),
        (
            f"search median ≤ {PG_GOAL_SEARCH_MS:g} ms ({search.tickets:,} tickets)",
            f"{fmt_ms(desk_median)} ms",
            desk_median <= PG_GOAL_SEARCH_MS,
        ),
    )
    for label, measured, ok in goals:
        print(f"  {label:<52} {measured:<58} {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
