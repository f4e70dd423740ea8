"""The dashboard (``desk.analytics``), its pure helpers, and the storage migrations
that give aggregates their columns."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from supportkit import records, sla, workflow
from supportkit.analytics import (
    boundaries,
    hours,
    iso_weeks,
    local_days,
    local_midnight,
    parse_period,
    percent,
)
from supportkit.backends.sqlite import MIGRATIONS, SQLiteStorage
from supportkit.calendar import BusinessCalendar
from supportkit.desk import Desk
from supportkit.errors import ValidationError
from supportkit.models import Author, Comment, Ticket
from supportkit.storage import StatsQuery

from .desk_fixtures import Clock, open_desk

LA = ZoneInfo("America/Los_Angeles")
H = timedelta(hours=1)
NOW = datetime(2024, 11, 6, 8, 0, tzinfo=UTC)  # Wed 6 Nov 00:00 PST


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def desk(backend_url: str, clock: Clock) -> Iterator[Desk]:
    yield from open_desk(backend_url, clock)


@pytest.fixture
def mem_desk(clock: Clock) -> Iterator[Desk]:
    """An in-memory desk, for what no storage can change (validation happens first)."""
    yield from open_desk("sqlite://", clock)


def body(category: str, customer: str = "cust_1234567890") -> dict[str, Any]:
    return {
        "title": f"A {category} problem",
        "description": "Something is not right.",
        "category": category,
        "priority": "medium",
        "customer_id": customer,
    }


def ticket_at(
    desk: Desk,
    clock: Clock,
    created: datetime,
    category: str,
    *,
    resolved_after: timedelta | None = None,
    customer: str = "cust_1234567890",
) -> str:
    clock.now = created
    ticket = desk.tickets.create(body(category, customer))
    if resolved_after is not None:
        clock.now = created + resolved_after
        desk.tickets.update(ticket.id, {"status": "resolved"})
    return ticket.id


def dst_scenario(desk: Desk, clock: Clock) -> None:
    """Five tickets around the end of DST in Los Angeles (Sun 3 Nov 2024, 02:00 PDT →
    01:00 PST): their local dates differ from their UTC dates. Network's resolution
    target is 8 hours, voice's 4 (24x7)."""
    # Fri 1 Nov 23:30 PDT (UTC: 2 Nov). 2 h: met.
    ticket_at(
        desk, clock, datetime(2024, 11, 2, 6, 30, tzinfo=UTC), "network", resolved_after=2 * H
    )
    # Sun 3 Nov 00:30 PDT. 5 h: breached.
    ticket_at(desk, clock, datetime(2024, 11, 3, 7, 30, tzinfo=UTC), "voice", resolved_after=5 * H)
    # Sun 3 Nov 23:30 PST, the 25th hour of that day (UTC: Mon 4 Nov). 3 h: met.
    ticket_at(
        desk, clock, datetime(2024, 11, 4, 7, 30, tzinfo=UTC), "network", resolved_after=3 * H
    )
    # Mon 4 Nov 00:30 PST: still open.
    ticket_at(desk, clock, datetime(2024, 11, 4, 8, 30, tzinfo=UTC), "network")
    # Tue 5 Nov 04:00 PST, another customer. 30 min: met.
    ticket_at(
        desk,
        clock,
        datetime(2024, 11, 5, 12, 0, tzinfo=UTC),
        "voice",
        resolved_after=H / 2,
        customer="cust_small",
    )
    clock.now = NOW


# -- the dashboard ----------------------------------------------------------------------------


def test_dashboard_around_a_dst_change(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    found = desk.analytics.dashboard(date_range="7d", timezone="America/Los_Angeles")
    assert found == {
        "dashboard": {
            "period": {
                "start": "2024-10-30T08:00:00Z",
                "end": "2024-11-06T08:00:00Z",
                "timezone": "America/Los_Angeles",
            },
            "overview": {
                "total_tickets": 5,
                "tickets_resolved": 4,
                "tickets_open": 1,
                # (2 + 5 + 3 + 0.5) / 4 = 2.625 hours
                "avg_resolution_time": "2.6 hours",
                "avg_resolution_time_seconds": 9450,
                "sla_compliance": 75.0,
                "customer_satisfaction": None,
            },
            "categories": [
                {
                    "category": "network",
                    "count": 3,
                    "avg_resolution_time": "2.5 hours",
                    "avg_resolution_time_seconds": 9000,
                    "sla_compliance": 100.0,
                },
                {
                    "category": "voice",
                    "count": 2,
                    # (5 + 0.5) / 2 = 2.75, rounded half up
                    "avg_resolution_time": "2.8 hours",
                    "avg_resolution_time_seconds": 9900,
                    "sla_compliance": 50.0,
                },
            ],
            "trends": {
                "tickets_per_day": [
                    {"date": "2024-10-30", "count": 0},
                    {"date": "2024-10-31", "count": 0},
                    {"date": "2024-11-01", "count": 1},
                    {"date": "2024-11-02", "count": 0},
                    {"date": "2024-11-03", "count": 2},
                    {"date": "2024-11-04", "count": 1},
                    {"date": "2024-11-05", "count": 1},
                ],
                "resolution_time_trend": [
                    # Mon 28 Oct – Sun 3 Nov local: (2 + 5 + 3) / 3 hours.
                    {"week": "2024-W44", "avg_hours": 3.3, "tickets_resolved": 3},
                    {"week": "2024-W45", "avg_hours": 0.5, "tickets_resolved": 1},
                ],
            },
        }
    }


def test_dashboard_days_follow_the_callers_timezone(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    utc = desk.analytics.dashboard(date_range="7d")["dashboard"]
    assert utc["period"]["timezone"] == "UTC"
    per_day = {d["date"]: d["count"] for d in utc["trends"]["tickets_per_day"]}
    assert per_day == {
        "2024-10-30": 0,
        "2024-10-31": 0,
        "2024-11-01": 0,
        "2024-11-02": 1,
        "2024-11-03": 1,
        "2024-11-04": 2,
        "2024-11-05": 1,
        "2024-11-06": 0,  # the period ends at 08:00 UTC
    }
    weeks = utc["trends"]["resolution_time_trend"]
    assert [(w["week"], w["avg_hours"]) for w in weeks] == [("2024-W44", 3.5), ("2024-W45", 1.8)]
    # Totals do not depend on the timezone.
    assert utc["overview"]["total_tickets"] == 5


def test_dashboard_of_one_customer_and_an_explicit_range(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    mine = desk.analytics.dashboard(customer_id="cust_small", date_range="30d")["dashboard"]
    assert mine["overview"] == {
        "total_tickets": 1,
        "tickets_resolved": 1,
        "tickets_open": 0,
        "avg_resolution_time": "0.5 hours",
        "avg_resolution_time_seconds": 1800,
        "sla_compliance": 100.0,
        "customer_satisfaction": None,
    }
    assert len(mine["trends"]["tickets_per_day"]) == 31  # partial days at both ends
    window = {"start": "2024-11-03T07:00:00Z", "end": "2024-11-04T08:00:00-00:00"}
    day = desk.analytics.dashboard(date_range=window, timezone="America/Los_Angeles")
    found = day["dashboard"]
    assert found["period"]["start"] == "2024-11-03T07:00:00Z"
    assert found["trends"]["tickets_per_day"] == [{"date": "2024-11-03", "count": 2}]
    assert found["overview"]["total_tickets"] == 2
    nobody = desk.analytics.dashboard(customer_id="cust_nobody")["dashboard"]
    assert nobody["overview"]["avg_resolution_time"] is None
    assert nobody["overview"]["sla_compliance"] is None
    assert nobody["categories"] == []


def test_dashboard_period_ends_at_the_given_now(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    earlier = datetime(2024, 11, 4, 8, 0, tzinfo=UTC)  # Mon 00:00 PST
    found = desk.analytics.dashboard(date_range="7d", now=earlier)["dashboard"]
    assert found["period"] == {
        "start": "2024-10-28T08:00:00Z",
        "end": "2024-11-04T08:00:00Z",
        "timezone": "UTC",
    }
    assert found["overview"]["total_tickets"] == 3


def test_dashboard_counts_without_loading_tickets(
    desk: Desk, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst_scenario(desk, clock)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dashboard loaded a ticket record")

    monkeypatch.setattr(records, "loads", refuse)
    monkeypatch.setattr(records, "load", refuse)
    found = desk.analytics.dashboard(date_range="7d")
    assert found["dashboard"]["overview"]["total_tickets"] == 5


NOV_1, NOV_2 = "2024-11-01T00:00:00Z", "2024-11-02T00:00:00Z"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"date_range": "2w"}, "date_range"),
        ({"date_range": 30}, "date_range"),
        ({"date_range": {"start": NOV_1}}, "date_range.end"),
        ({"date_range": {"start": "yesterday", "end": NOV_1}}, "date_range.start"),
        ({"date_range": {"start": "2024-11-01T00:00:00", "end": NOV_2}}, "date_range.start"),
        ({"date_range": {"start": NOV_2, "end": NOV_1}}, "date_range.end"),
        ({"date_range": {"start": "2020-01-01T00:00:00Z", "end": NOV_1}}, "date_range"),
        ({"date_range": {"start": NOV_1, "end": NOV_2, "x": 1}}, "date_range.x"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"customer_id": 42}, "customer_id"),
        ({"now": datetime(2024, 11, 1)}, "now"),
    ],
)  # fmt: skip
def test_dashboard_refuses_bad_arguments(
    mem_desk: Desk, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        mem_desk.analytics.dashboard(**arguments)
    assert [e.field for e in caught.value.errors] == [field]


# -- pure helpers -----------------------------------------------------------------------------


def test_local_days_around_both_dst_changes() -> None:
    fall = local_days(
        datetime(2024, 11, 2, 7, 0, tzinfo=UTC), datetime(2024, 11, 5, 8, 0, tzinfo=UTC), LA
    )
    assert [(d.label, (d.end - d.start) / H) for d in fall] == [
        ("2024-11-02", 24),
        ("2024-11-03", 25),
        ("2024-11-04", 24),
    ]
    spring = local_days(
        datetime(2024, 3, 10, 8, 0, tzinfo=UTC), datetime(2024, 3, 11, 7, 0, tzinfo=UTC), LA
    )
    assert [(d.label, (d.end - d.start) / H) for d in spring] == [("2024-03-10", 23)]
    # A period cut mid-day keeps the partial days at both ends.
    cut = local_days(
        datetime(2024, 11, 2, 20, 0, tzinfo=UTC), datetime(2024, 11, 3, 9, 0, tzinfo=UTC), LA
    )
    assert [d.label for d in cut] == ["2024-11-02", "2024-11-03"]
    assert boundaries(cut) == (
        datetime(2024, 11, 2, 20, 0, tzinfo=UTC),
        datetime(2024, 11, 3, 7, 0, tzinfo=UTC),
        datetime(2024, 11, 3, 9, 0, tzinfo=UTC),
    )
    assert boundaries([]) == ()


def test_local_midnight_in_a_gap_is_the_end_of_the_gap() -> None:
    # Havana springs forward at midnight: 10 March 2024 begins at 01:00 CDT.
    havana = ZoneInfo("America/Havana")
    assert local_midnight(date(2024, 3, 10), havana) == datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    assert local_midnight(date(2024, 3, 10), havana).astimezone(havana).hour == 1
    # And falls back at 01:00 to 00:00: 3 November 2024 begins at its first 00:00.
    assert local_midnight(date(2024, 11, 3), havana) == datetime(2024, 11, 3, 4, 0, tzinfo=UTC)


def test_iso_weeks_use_the_iso_year() -> None:
    weeks = iso_weeks(
        datetime(2024, 12, 25, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC), ZoneInfo("UTC")
    )
    assert [w.label for w in weeks] == ["2024-W52", "2025-W01", "2025-W02"]
    assert weeks[0].start == datetime(2024, 12, 25, tzinfo=UTC)  # cut to the period
    assert weeks[1].start == datetime(2024, 12, 30, tzinfo=UTC)  # a Monday


ZONES = ["UTC", "America/Los_Angeles", "America/Havana", "Australia/Lord_Howe", "Asia/Kathmandu"]


@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(
        min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    span=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=40)),
    probes=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), max_size=8),
)
def test_buckets_partition_the_period_by_local_date(
    zone: str, start: datetime, span: timedelta, probes: list[float]
) -> None:
    tz = ZoneInfo(zone)
    end = start + span
    for buckets, label in (
        (local_days(start, end, tz), lambda d: d.isoformat()),
        (iso_weeks(start, end, tz), lambda d: "{}-W{:02d}".format(*d.isocalendar()[:2])),
    ):
        edges = boundaries(buckets)
        assert edges[0] == start and edges[-1] == end
        assert all(a < b for a, b in itertools.pairwise(edges))
        assert len({b.label for b in buckets}) == len(buckets)
        for fraction in [0.0, *probes]:
            moment = min(start + span * fraction, end - timedelta(microseconds=1))
            inside = [b for b in buckets if b.start <= moment < b.end]
            assert len(inside) == 1
            assert inside[0].label == label(moment.astimezone(tz).date())


def test_percent_and_hours_round_half_up() -> None:
    assert percent(2, 3) == 66.7
    assert percent(1, 8) == 12.5
    assert percent(1, 16) == 6.3  # 6.25: half up, not to even
    assert percent(0, 0) is None
    assert hours(2_625 * 3_600_000, 1) == 2.6
    assert hours(9_000_000_000 + 1_800_000_000, 4) == 0.8  # 0.75 → 0.8
    assert hours(0, 0) is None


def test_parse_period_presets() -> None:
    now = datetime(2024, 11, 6, 8, 0, tzinfo=UTC)
    assert parse_period("1y", now=now) == (now - timedelta(days=365), now)
    assert parse_period(" 90d ", now=now) == (now - timedelta(days=90), now)
    with pytest.raises(ValidationError):
        parse_period("30d", now=now, presets=False)


def test_stats_queries_check_their_buckets_and_groups() -> None:
    start = datetime(2024, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="increasing"):
        StatsQuery(start, start + H, group_by=("bucket",), buckets=(start + H, start))
    with pytest.raises(ValueError, match="bucket"):
        StatsQuery(start, start + H, group_by=("bucket",))
    with pytest.raises(ValueError, match="bucket"):
        StatsQuery(start, start + H, buckets=(start, start + H))
    with pytest.raises(ValueError, match="distinct"):
        StatsQuery(start, start + H, group_by=("agent",))
    with pytest.raises(ValueError, match="distinct"):
        StatsQuery(start, start + H, group_by=("category", "category"))


# -- migrations: the columns aggregates read are filled from existing records ---------------

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _old_data() -> tuple[Ticket, Comment]:
    """A ticket resolved 2 hours after it was created, and one agent reply to it.

    (Built here rather than with ``supportkit.testing``, whose asserts pytest must
    rewrite before anything imports it.)"""
    calendar = BusinessCalendar.always_open()
    targets = sla.SlaTargets(None, "24x7", 2 * H, 8 * H)
    ticket = workflow.open_ticket(
        id="tkt-old",
        number="SK-2026-000001",
        title="Old",
        description="From before the migration",
        category="network",
        priority="medium",
        now=T0 - 3 * H,
        targets=targets,
        calendar=calendar,
        customer_id="c1",
    )
    resolved = workflow.change_status(ticket, "resolved", T0 - H, calendar)
    reply = Comment(
        id="c-1",
        ticket_id=resolved.id,
        content="Fixed",
        type="comment",
        visibility="customer",
        created_at=T0 - H,
        author=Author("agent", "a1"),
    )
    return resolved, reply


def test_sqlite_migration_fills_the_aggregate_columns(tmp_path: Path) -> None:
    from supportkit.backends.sqlite import _TICKET_COLUMNS, _ticket_row

    path = tmp_path / "v3.db"
    ticket, reply = _old_data()
    raw = sqlite3.connect(path)
    db = sqlite_utils.Database(raw)
    for migration in MIGRATIONS[:3]:
        migration(db)
    raw.execute("PRAGMA user_version = 3")
    row = dict(zip(_TICKET_COLUMNS, _ticket_row(ticket, None), strict=True))
    del row["resolved_at"], row["tags"]  # version 3 had no such columns
    db.table("tickets").insert(row)
    db.table("comments").insert(
        {
            "id": reply.id,
            "ticket_id": reply.ticket_id,
            "visibility": reply.visibility,
            "created_at": records.instant_key(reply.created_at),
            "content": reply.content,
            "data": records.dumps(reply),
        }
    )
    raw.commit()
    raw.close()
    storage = SQLiteStorage(str(path))
    try:
        with storage.read() as tx:
            (stats,) = tx.ticket_stats(StatsQuery(start=T0 - 10 * H, end=T0))
            assert tx.get_ticket(ticket.id) == ticket
        assert (stats.total, stats.resolved, stats.first_contact) == (1, 1, 1)
        assert stats.resolution_us == 2 * 3_600_000_000
    finally:
        storage.close()


def test_postgres_migration_fills_the_aggregate_columns(postgres_schema_url: str) -> None:
    import psycopg

    from supportkit.backends import postgresql as pg

    ticket, reply = _old_data()
    schema = postgres_schema_url.rsplit("schema=", 1)[1]
    server = postgres_schema_url.split("?", 1)[0]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("CREATE TABLE supportkit_schema (version INTEGER NOT NULL)")
        for number, migration in enumerate(pg.MIGRATIONS[:2], start=1):
            conn.execute(migration)
            conn.execute("INSERT INTO supportkit_schema(version) VALUES (%s)", (number,))
        row = pg._row(ticket, None)
        del row["resolved_at"], row["tags"]  # version 2 had no such columns
        columns = ", ".join(row)
        values = ", ".join(f"%({c})s" for c in row)
        conn.execute(f"INSERT INTO tickets ({columns}) VALUES ({values})", row)
        conn.execute(
            "INSERT INTO comments(id, ticket_id, visibility, created_at, content, data)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                reply.id,
                reply.ticket_id,
                reply.visibility,
                reply.created_at,
                reply.content,
                records.dumps(reply),
            ),
        )
    storage = pg.open_postgres(postgres_schema_url, {"max_size": 2})
    try:
        with storage.read() as tx:
            (stats,) = tx.ticket_stats(StatsQuery(start=T0 - 10 * H, end=T0))
            assert tx.get_ticket(ticket.id) == ticket
        assert (stats.total, stats.resolved, stats.first_contact) == (1, 1, 1)
        assert stats.resolution_us == 2 * 3_600_000_000
    finally:
        storage.close()
