"""The storage conformance suite against every backend, plus what only SQLite promises.

``TestSQLiteFile``, ``TestSQLiteMemory`` and ``TestPostgres`` run every test of
:class:`supportkit.testing.StorageConformance`; the functions below test the SQLite
backend's own promises: a file keeps its data, WAL mode, schema versions and
migrations, and its URLs.
"""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
import sqlite_utils

import supportkit
from supportkit import records
from supportkit.backends.sqlite import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SQLiteStorage,
    open_sqlite,
    parse_url,
)
from supportkit.desk import Desk
from supportkit.errors import SchemaVersionError, StorageError, ValidationError
from supportkit.models import Author, Comment, Ticket
from supportkit.storage import Storage, TicketQuery
from supportkit.testing import NOW, StorageConformance, make_ticket

from .desk_fixtures import Clock, seed, seed_ticket


class TestSQLiteFile(StorageConformance):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        storage = SQLiteStorage(str(tmp_path / "support.db"))
        yield storage
        storage.close()


class TestSQLiteMemory(StorageConformance):
    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        storage = open_sqlite("sqlite://", {})
        yield storage
        storage.close()


class TestPostgres(StorageConformance):
    """The same suite on PostgreSQL (skipped without SUPPORTKIT_TEST_POSTGRES_URL)."""

    @pytest.fixture
    def storage(self, postgres_schema_url: str) -> Iterator[Storage]:
        from supportkit.backends.postgresql_plugin import open_postgresql

        storage = open_postgresql(postgres_schema_url, {"max_size": 4})
        yield storage
        storage.close()


# -- SQLite only ------------------------------------------------------------------------


def test_reopening_a_file_keeps_the_data(tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "dir" / "support.db")
    ticket = make_ticket(1, at=NOW, title="Persistent wombat")
    first = SQLiteStorage(path)
    with first.write() as tx:
        number = tx.next_ticket_number(2026)
        tx.insert_ticket(ticket, next_due_at=NOW)
        tx.put_resource("teams", "t1", {"name": "One"})
        tx.set_state("rr:t1", "agent-1")
        version = tx.config_version()
    first.close()

    again = open_sqlite(f"sqlite:///{path}", {"busy_timeout": 5})
    try:
        with again.read() as tx:
            assert tx.get_ticket(ticket.id) == ticket
            assert [t.id for t in tx.search_tickets(TicketQuery(now=NOW, text="wombat"))] == [
                ticket.id
            ]
            assert tx.claim_due_tickets(NOW, 10) == [ticket.id]
            assert tx.get_resource("teams", "t1") == {"name": "One"}
            assert tx.get_state("rr:t1") == "agent-1"
            assert tx.config_version() == version
        with again.write() as tx:
            assert tx.next_ticket_number(2026) == number + 1
    finally:
        again.close()


def test_a_closed_storage_refuses_work(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    storage.close()
    with pytest.raises(StorageError), storage.read() as tx:
        tx.get_ticket("x")


def test_a_file_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "support.db"
    storage = SQLiteStorage(str(path))
    try:
        with storage.write() as tx:
            tx.set_state("k", "v")
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            raw.close()
    finally:
        storage.close()


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(SchemaVersionError) as caught:
        SQLiteStorage(str(path))
    assert isinstance(caught.value, StorageError)
    assert str(SCHEMA_VERSION + 1) in str(caught.value)
    with pytest.raises(SchemaVersionError):
        open_sqlite(f"sqlite:///{path}", {})
    # Nothing was changed.
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        raw.close()


def _v1_ticket_row(ticket: Ticket) -> dict[str, object]:
    """The row schema version 1 stored for ``ticket`` (written out, not borrowed)."""
    key = records.instant_key
    assert ticket.sla is not None
    response, resolution = ticket.sla.response, ticket.sla.resolution
    assert response.due_at and resolution.due_at and response.at_risk_at
    assert resolution.at_risk_at and ticket.assigned_to is None
    return {
        "id": ticket.id,
        "number": ticket.number,
        "customer_id": ticket.customer_id,
        "status": ticket.status,
        "priority_rank": ("low", "medium", "high", "critical").index(ticket.priority),
        "category": ticket.category,
        "subcategory": ticket.subcategory,
        "assignee": None,
        "team": ticket.team,
        "escalation_level": ticket.escalation.level,
        "created_at": key(ticket.created_at),
        "updated_at": key(ticket.updated_at),
        "response_due": key(response.due_at),
        "resolution_due": key(resolution.due_at),
        "response_at_risk": key(response.at_risk_at),
        "resolution_at_risk": key(resolution.at_risk_at),
        "response_state": "running",
        "resolution_state": "running",
        "next_due_at": key(response.at_risk_at),
        "version": ticket.version,
        "title": ticket.title,
        "description": ticket.description,
        "data": records.dumps(ticket),
    }


def test_a_version_1_database_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    old = make_ticket(
        1, at=NOW - timedelta(minutes=30), title="Legacy numbat printer", customer_id="c1"
    )
    comment = Comment(
        id="c-legacy",
        ticket_id=old.id,
        content="The bilby tray is stuck",
        type="comment",
        visibility="customer",
        created_at=NOW - timedelta(minutes=20),
        author=Author("customer", "c1"),
    )
    raw = sqlite3.connect(path)
    db = sqlite_utils.Database(raw)
    MIGRATIONS[0](db)
    raw.execute("PRAGMA user_version = 1")
    db.table("tickets").insert(_v1_ticket_row(old))
    db.table("comments").insert(
        {
            "id": comment.id,
            "ticket_id": comment.ticket_id,
            "visibility": comment.visibility,
            "created_at": records.instant_key(comment.created_at),
            "content": comment.content,
            "data": records.dumps(comment),
        }
    )
    db.table("ticket_counters").insert({"year": 2026, "last": 1})
    raw.commit()
    raw.close()

    storage = SQLiteStorage(str(path))
    try:
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            raw.close()
        with storage.read() as tx:
            assert tx.get_ticket(old.id) == old
            assert tx.list_comments(old.id) == [comment]
            for word in ("numbat", "printer", "bilby"):
                page = tx.search_tickets(TicketQuery(now=NOW, text=word))
                assert [t.id for t in page.items] == [old.id], word
            by_sla = tx.search_tickets(TicketQuery(now=NOW, sla_statuses=("in_progress",)))
            assert [t.id for t in by_sla.items] == [old.id]
            assert tx.config_version() == 0
        new = make_ticket(2, at=NOW, title="Fresh numbat")
        with storage.write() as tx:
            assert tx.next_ticket_number(2026) == 2
            tx.insert_ticket(new, next_due_at=None)
            tx.update_ticket(
                attrs.evolve(old, title="Renamed quoll", version=2),
                expected_version=1,
                next_due_at=None,
            )
            tx.put_resource("teams", "t1", {})
            assert tx.config_version() == 1
        with storage.read() as tx:
            found = tx.search_tickets(TicketQuery(now=NOW, text="numbat"))
            assert [t.id for t in found.items] == [new.id]
            renamed = tx.search_tickets(TicketQuery(now=NOW, text="quoll"))
            assert [t.id for t in renamed.items] == [old.id]
            assert tx.search_tickets(TicketQuery(now=NOW, text="bilby")).total == 1
    finally:
        storage.close()
    # Opening it again runs no migration twice.
    again = SQLiteStorage(str(path))
    try:
        with again.read() as tx:
            assert tx.search_tickets(TicketQuery(now=NOW, text="quoll")).total == 1
    finally:
        again.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite://", None),
        ("sqlite:///", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///rel.db", "rel.db"),
        ("sqlite:///data/support.db", "data/support.db"),
        ("sqlite:////abs/x.db", "/abs/x.db"),
        ("sqlite://localhost/rel.db", "rel.db"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
def test_parse_url(url: str, path: str | None) -> None:
    assert parse_url(url) == path


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://db.example.com/x.db",
        "sqlite://user@host/x.db",
        "postgresql://localhost/db",
        "sqlite3:///x.db",
        "file:///x.db",
        "/just/a/path.db",
    ],
)
def test_parse_url_refuses(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_url(url)
    assert caught.value.errors[0].field == "url"


@pytest.mark.parametrize("timeout", [-1, "5", None])
def test_open_sqlite_refuses_a_bad_busy_timeout(timeout: object) -> None:
    with pytest.raises(ValidationError) as caught:
        open_sqlite("sqlite://", {"busy_timeout": timeout})
    assert caught.value.errors[0].field == "busy_timeout"


def test_nothing_in_the_package_imports_the_testing_module() -> None:
    package = Path(supportkit.__file__).parent
    for path in package.rglob("*.py"):
        if path.name == "testing.py" and path.parent == package:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                assert not any(n.endswith("testing") for n in names), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.endswith(".testing") for a in node.names), path


def test_opening_never_keeps_statistics_of_the_full_text_tables(tmp_path: Path) -> None:
    # Statistics of small FTS5 shadow tables made every later FTS insert slower.
    path = tmp_path / "stats.db"
    SQLiteStorage(str(path)).close()
    raw = sqlite3.connect(path)
    raw.execute("ANALYZE")  # as an older version did on every open
    assert raw.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl LIKE '%_fts_%'").fetchone()[0]
    raw.close()
    SQLiteStorage(str(path)).close()
    raw = sqlite3.connect(path)
    left = raw.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl GLOB '*_fts_*'")
    assert left.fetchone()[0] == 0
    raw.close()


def test_the_tags_column_holds_the_text_the_migration_wrote(tmp_path: Path) -> None:
    # Version 5 filled the column with json_extract(data, '$.tags'); new rows must write
    # the same text, or the tag trigger would see a change where there is none.
    storage = SQLiteStorage(str(tmp_path / "tags.db"))
    try:
        tagged = make_ticket(1, at=NOW, tags=("vip", "ünïcode tag", "outage"))
        with storage.write() as tx:
            tx.insert_ticket(tagged, next_due_at=None)
            tx.insert_tickets([(make_ticket(2, at=NOW, tags=("a", "b")), None)])
    finally:
        storage.close()
    raw = sqlite3.connect(tmp_path / "tags.db")
    try:
        rows = raw.execute(
            "SELECT tags, json_extract(data, '$.tags') FROM tickets ORDER BY seq"
        ).fetchall()
    finally:
        raw.close()
    assert rows == [('["vip","ünïcode tag","outage"]',) * 2, ('["a","b"]',) * 2]


def test_a_command_stores_its_tickets_shape_once(tmp_path: Path) -> None:
    # A create's ticket.created and ticket.assigned carry the same ticket shape: the
    # second event's row holds only what it adds, and names the first.
    desk = seed(Desk.open(f"sqlite:///{tmp_path / 'shared.db'}", clock=Clock()))
    try:
        ticket = desk.tickets.create(seed_ticket(attachments=[]))
        events = desk.events.list(limit=10)
    finally:
        desk.close()
    raw = sqlite3.connect(tmp_path / "shared.db")
    try:
        rows = raw.execute(
            "SELECT id, type, data, shares FROM events WHERE ticket_id = ? ORDER BY seq",
            (ticket.id,),
        ).fetchall()
    finally:
        raw.close()
    assert [row[1] for row in rows] == ["ticket.created", "ticket.assigned"]
    (created_id, _, created, no_one), (_, _, assigned, shares) = rows
    assert no_one is None and shares == created_id
    assert '"ticket"' in created and '"ticket"' not in assigned
    assert set(json.loads(assigned)) == {"assigned_to", "team"}
    listed = {event.type: event.data for event in events if event.ticket_id == ticket.id}
    assert listed["ticket.assigned"]["ticket"] == listed["ticket.created"]["ticket"]
    assert listed["ticket.assigned"]["ticket"]["id"] == ticket.id
