"""The bulk methods of a storage transaction, on every backend: ``next_ticket_numbers``,
``insert_tickets`` and ``insert_events`` with many events at once.

They must behave exactly like the one-at-a-time methods they stand for (the
PostgreSQL backend sends them as one statement or one ``COPY``). Each test runs on
SQLite (a file, and ``sqlite://``) and on PostgreSQL (skipped without
SUPPORTKIT_TEST_POSTGRES_URL).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest

from supportkit.backends.sqlite import SQLiteStorage, open_sqlite
from supportkit.errors import AlreadyExists
from supportkit.models import Agent, Ticket
from supportkit.storage import Event, Storage, TicketQuery
from supportkit.testing import NOW, make_ticket

_H = timedelta(hours=1)
_DONE = ("resolved", "closed")


class _Boom(Exception):
    pass


@pytest.fixture(params=["sqlite_file", "sqlite_memory", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    opened: Storage
    if request.param == "sqlite_file":
        opened = SQLiteStorage(str(tmp_path / "support.db"))
    elif request.param == "sqlite_memory":
        opened = open_sqlite("sqlite://", {})
    else:
        from supportkit.backends.postgresql_plugin import open_postgresql

        opened = open_postgresql(request.getfixturevalue("postgres_schema_url"), {"max_size": 4})
    yield opened
    opened.close()


def _agent(n: int) -> Agent:
    return Agent(f"agent-{n}", f"Agent {n}", f"agent{n}@example.com", "network")


def _batch(first: int, count: int) -> list[tuple[Ticket, datetime | None]]:
    """``count`` varied tickets numbered from ``first``, each with its next_due_at."""
    out: list[tuple[Ticket, datetime | None]] = []
    for n in range(first, first + count):
        ticket = make_ticket(
            n,
            at=NOW - n * timedelta(minutes=1),
            # Text that COPY must escape: tabs, newlines, backslashes, \N, quotes.
            title=f"Wombat {n}\tnumber\\{n} \\N 'q'",
            description=f"Line one of {n}\nline two, café ünï \r\n end",
            priority=("low", "medium", "high", "critical")[n % 4],
            customer_id=f"cust-{n % 3}",
            tags=(f"tag-{n % 2}", "bulk") if n % 5 else (),
            agent=_agent(n % 2) if n % 3 else None,
        )
        if n % 7 == 0:
            ticket = attrs.evolve(ticket, status="resolved", resolved_at=NOW)
        due = NOW - _H if n % 2 else None
        out.append((ticket, due))
    return out


def _search(storage: Storage, **filters: object) -> set[str]:
    with storage.read() as tx:
        page = tx.search_tickets(TicketQuery(now=NOW, limit=100, **filters))  # type: ignore[arg-type]
    assert page.total == len(page.items)
    return {ticket.id for ticket in page.items}


# -- next_ticket_numbers ------------------------------------------------------------------


def test_reserved_numbers_are_consecutive_and_unique(storage: Storage) -> None:
    with storage.write() as tx:
        one = tx.next_ticket_number(2026)
        block = tx.next_ticket_numbers(2026, 5)
        second_block = tx.next_ticket_numbers(2026, 3)
        after = tx.next_ticket_number(2026)
        other_year = tx.next_ticket_numbers(2027, 4)
    assert one == 1
    assert block == 2  # 2..6
    assert second_block == 7  # 7..9
    assert after == 10
    assert other_year == 1
    with storage.write() as tx:
        assert tx.next_ticket_numbers(2026, 2) == 11
        assert tx.next_ticket_number(2027) == 5
    taken = [1, *range(2, 7), *range(7, 10), 10, 11, 12]
    assert len(set(taken)) == len(taken) == 12


def test_a_rolled_back_reservation_gives_its_numbers_back(storage: Storage) -> None:
    with storage.write() as tx:
        assert tx.next_ticket_numbers(2026, 10) == 1
    with pytest.raises(_Boom), storage.write() as tx:
        assert tx.next_ticket_numbers(2026, 50) == 11
        raise _Boom
    with storage.write() as tx:
        assert tx.next_ticket_numbers(2026, 1) == 11


def test_one_number_reserved_is_next_ticket_number(storage: Storage) -> None:
    with storage.write() as tx:
        assert tx.next_ticket_numbers(2026, 1) == 1
        assert tx.next_ticket_numbers(2026, 1) == 2
        assert tx.next_ticket_number(2026) == 3


# -- insert_tickets -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 40])
def test_inserted_tickets_read_back_and_are_indexed(storage: Storage, count: int) -> None:
    batch = _batch(1, count)
    with storage.write() as tx:
        tx.insert_tickets(batch)
    tickets = [ticket for ticket, _ in batch]
    with storage.read() as tx:
        for ticket in tickets:
            assert tx.get_ticket(ticket.id) == ticket
            assert tx.get_ticket_by_number(ticket.number) == ticket
        page = tx.search_tickets(TicketQuery(now=NOW, limit=100))
        assert page.total == count
        counts = tx.open_ticket_counts(["agent-0", "agent-1", "agent-9"], _DONE)
    # Newest first, ties by id: the same order as for one-at-a-time inserts.
    expected_order = sorted(tickets, key=lambda t: (t.created_at, t.id), reverse=True)
    assert [t.id for t in page.items] == [t.id for t in expected_order]
    assert page.items == expected_order
    # The agents' open tickets (kept by triggers on PostgreSQL).
    for agent_id in ("agent-0", "agent-1"):
        assert counts[agent_id] == sum(
            1
            for t in tickets
            if t.assigned_to is not None
            and t.assigned_to.agent_id == agent_id
            and t.status not in _DONE
        )
    assert counts["agent-9"] == 0
    # Tags, customers, words of the title and description.
    for tag in ("tag-0", "tag-1", "bulk", "none"):
        assert _search(storage, tags=(tag,)) == {t.id for t in tickets if tag in t.tags}
    assert _search(storage, customer_ids=("cust-1",)) == {
        t.id for t in tickets if t.customer_id == "cust-1"
    }
    assert _search(storage, text="wombat café") == {t.id for t in tickets}
    assert _search(storage, text="number") == {t.id for t in tickets}
    # next_due_at went in with each ticket: the due ones are claimed.
    with storage.write() as tx:
        claimed = set(tx.claim_due_tickets(NOW, 100))
    assert claimed == {t.id for t, due in batch if due is not None}


def test_inserted_tickets_match_one_at_a_time_inserts(storage: Storage) -> None:
    batch = _batch(1, 12)
    singles = [
        (attrs.evolve(t, id=f"single-{t.id}", number=t.number + "-1"), due) for t, due in batch
    ]
    with storage.write() as tx:
        tx.insert_tickets(batch)
        for ticket, due in singles:
            tx.insert_ticket(ticket, next_due_at=due)
    for tag in ("tag-0", "tag-1", "bulk"):
        found = _search(storage, tags=(tag,))
        bulk_ids = {i for i in found if not i.startswith("single-")}
        assert bulk_ids
        assert found - bulk_ids == {f"single-{i}" for i in bulk_ids}
    with storage.read() as tx:
        counts = tx.open_ticket_counts(["agent-0", "agent-1"], _DONE)
        for (bulk, _), (single, _) in zip(batch, singles, strict=True):
            assert tx.get_ticket(single.id) == single
            assert tx.get_ticket(bulk.id) == bulk
    for agent_id in ("agent-0", "agent-1"):
        expected = sum(
            1
            for t, _ in batch
            if t.assigned_to is not None
            and t.assigned_to.agent_id == agent_id
            and t.status not in _DONE
        )
        assert expected > 0 and counts[agent_id] == 2 * expected


def test_bulk_instants_are_stored_to_the_microsecond_in_any_zone(storage: Storage) -> None:
    # The bulk path may send instants in another form than the one-at-a-time path
    # (PostgreSQL's COPY takes the record's text of them); both must store the same
    # instant, whatever zone the datetime is in.
    tokyo = ZoneInfo("Asia/Tokyo")
    odd = [
        make_ticket(n, at=(NOW + n * timedelta(seconds=1, microseconds=7)).astimezone(tokyo))
        for n in range(1, 5)
    ]
    singles = [attrs.evolve(t, id=f"single-{t.id}", number=t.number + "-1") for t in odd]
    with storage.write() as tx:
        tx.insert_tickets([(t, t.created_at + _H) for t in odd])
        for ticket in singles:
            tx.insert_ticket(ticket, next_due_at=ticket.created_at + _H)
    for bulk, single in zip(odd, singles, strict=True):
        moment = bulk.created_at
        assert moment.microsecond and moment.utcoffset() == timedelta(hours=9)
        exact = {"created_after": moment, "created_before": moment + timedelta(microseconds=1)}
        assert _search(storage, **exact) == {bulk.id, single.id}
        assert _search(storage, created_after=moment + timedelta(microseconds=1)).isdisjoint(
            {bulk.id, single.id}
        )
    # next_due_at: due one microsecond after it, not one before.
    first_due = odd[0].created_at + _H
    with storage.write() as tx:
        assert set(tx.claim_due_tickets(first_due - timedelta(microseconds=1), 100)) == set()
        assert set(tx.claim_due_tickets(first_due, 100)) == {odd[0].id, singles[0].id}


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("key", ["id", "number"])
def test_a_taken_id_or_number_raises_and_the_transaction_leaves_nothing(
    storage: Storage, key: str, where: str
) -> None:
    original = make_ticket(100, at=NOW, title="Original", agent=_agent(0), tags=("kept",))
    with storage.write() as tx:
        tx.insert_ticket(original, next_due_at=None)
    batch = _batch(1, 10)
    at = {"first": 0, "middle": 5, "last": 9}[where]
    taken = attrs.evolve(batch[at][0], title="Clash")
    if key == "id":
        taken = attrs.evolve(taken, id=original.id)
    else:
        taken = attrs.evolve(taken, number=original.number)
    batch[at] = (taken, None)
    with pytest.raises(AlreadyExists), storage.write() as tx:
        tx.next_ticket_numbers(2026, 10)
        tx.insert_tickets(batch)
    with storage.read() as tx:
        assert tx.get_ticket(original.id) == original
        assert tx.search_tickets(TicketQuery(now=NOW)).total == 1
        assert tx.open_ticket_counts(["agent-0", "agent-1"], _DONE) == {
            "agent-0": 1,
            "agent-1": 0,
        }
        for ticket, _ in batch:
            if ticket is not taken:
                assert tx.get_ticket(ticket.id) is None
    assert _search(storage, tags=("bulk",)) == set()
    assert _search(storage, tags=("kept",)) == {original.id}
    assert _search(storage, text="clash") == set()
    with storage.write() as tx:
        assert tx.next_ticket_numbers(2026, 1) == 1  # the reservation was rolled back


def test_a_duplicate_inside_the_batch_raises(storage: Storage) -> None:
    batch = _batch(1, 6)
    batch.append((attrs.evolve(batch[2][0], number="SK-2026-999999"), None))
    with pytest.raises(AlreadyExists), storage.write() as tx:
        tx.insert_tickets(batch)
    assert _search(storage) == set()


def test_the_transaction_stays_usable_after_a_taken_id(storage: Storage) -> None:
    original = make_ticket(100, at=NOW, title="Original")
    with storage.write() as tx:
        tx.insert_ticket(original, next_due_at=None)
    batch = _batch(1, 5)
    batch.append((attrs.evolve(batch[0][0], id=original.id, title="Clash"), None))
    later = make_ticket(200, at=NOW, title="Later")
    with storage.write() as tx:
        with pytest.raises(AlreadyExists):
            tx.insert_tickets(batch)
        tx.insert_ticket(later, next_due_at=None)
    with storage.read() as tx:
        assert tx.get_ticket(original.id) == original
        assert tx.get_ticket(later.id) == later
    assert _search(storage, text="clash") == set()


def _streamed(first: int, count: int, seen: list[str]) -> Iterator[tuple[Ticket, datetime | None]]:
    """Like ``_batch``, made lazily as ``create_many`` makes them, with long texts so
    that a streaming backend sends rows long before the last is made."""
    for ticket, due in _batch(first, count):
        seen.append(ticket.id)
        yield attrs.evolve(ticket, description=ticket.description * 40), due


def test_tickets_can_come_from_a_generator(storage: Storage) -> None:
    seen: list[str] = []
    with storage.write() as tx:
        tx.insert_tickets(_streamed(1, 300, seen))
    assert len(seen) == 300
    with storage.read() as tx:
        assert tx.search_tickets(TicketQuery(now=NOW)).total == 300
        # The tag index was filled: every ticket but each fifth is tagged "bulk".
        assert tx.search_tickets(TicketQuery(now=NOW, tags=("bulk",))).total == 240
        for ticket_id in (seen[0], seen[150], seen[-1]):
            stored = tx.get_ticket(ticket_id)
            assert stored is not None and stored.description.startswith("Line one")


@pytest.mark.parametrize("where", [0, 150, 299])
def test_a_taken_id_in_a_long_stream_raises_already_exists(storage: Storage, where: int) -> None:
    original = make_ticket(5000, at=NOW, title="Original")
    with storage.write() as tx:
        tx.insert_ticket(original, next_due_at=None)
    seen: list[str] = []

    def clashing() -> Iterator[tuple[Ticket, datetime | None]]:
        for n, (ticket, due) in enumerate(_streamed(1, 300, seen)):
            yield (attrs.evolve(ticket, id=original.id) if n == where else ticket), due

    with pytest.raises(AlreadyExists) as raised, storage.write() as tx:
        tx.insert_tickets(clashing())
    assert raised.value.kind == "ticket"
    assert original.id in str(raised.value)
    with storage.read() as tx:
        assert tx.search_tickets(TicketQuery(now=NOW)).total == 1
        assert tx.get_ticket(original.id) == original


@pytest.mark.parametrize("where", [1, 2, 250])
def test_an_error_from_the_generator_propagates_and_nothing_is_kept(
    storage: Storage, where: int
) -> None:
    seen: list[str] = []

    def failing() -> Iterator[tuple[Ticket, datetime | None]]:
        for n, pair in enumerate(_streamed(1, 300, seen)):
            if n == where:
                raise _Boom
            yield pair

    with pytest.raises(_Boom), storage.write() as tx:
        tx.insert_tickets(failing())
    assert len(seen) == where + 1
    with storage.read() as tx:
        assert tx.search_tickets(TicketQuery(now=NOW)).total == 0
    with storage.write() as tx:  # the connection is usable again
        tx.insert_tickets(_batch(1, 3))
    assert len(_search(storage)) == 3


def test_numbering_an_event_keeps_every_other_field() -> None:
    values = {
        "id": "evt-1", "type": "comment.added", "created_at": NOW, "data": {"n": 1},
        "ticket_id": "tkt-1", "customer_id": "cust-1", "visibility": "internal", "seq": 3,
    }  # fmt: skip
    # A field added to Event must be set here, and copied by Event.numbered.
    assert set(values) == {field.name for field in attrs.fields(Event)}
    event = Event(**values)  # type: ignore[arg-type]
    assert event.numbered(9) == attrs.evolve(event, seq=9)
    assert event.numbered(None) == attrs.evolve(event, seq=None)


# -- insert_events, many at once ----------------------------------------------------------


def _events(first: int, count: int) -> list[Event]:
    return [
        Event(
            id=f"evt-{n:05d}",
            type="ticket.created" if n % 2 else "ticket.assigned",
            ticket_id=f"tkt-{n % 7:04d}" if n % 5 else None,
            customer_id=f"cust-{n % 3}" if n % 4 else None,
            visibility="customer" if n % 3 else "internal",
            # Microseconds, and a zone other than UTC for half of them.
            created_at=(NOW + n * timedelta(seconds=1, microseconds=13)).astimezone(
                ZoneInfo("America/Los_Angeles") if n % 2 else UTC
            ),
            data={"n": n, "text": "tab\there\nnewline \\ back ünï", "list": [1, None]},
        )
        for n in range(first, first + count)
    ]


@pytest.mark.parametrize("count", [3, 100])
def test_many_events_get_increasing_seqs_in_order(storage: Storage, count: int) -> None:
    with storage.write() as tx:
        first = tx.insert_events(_events(1, 2))
    events = _events(10, count)
    with storage.write() as tx:
        stored = tx.insert_events(events)
    assert [attrs.evolve(e, seq=None) for e in stored] == events
    seqs = [e.seq or 0 for e in stored]
    assert all(isinstance(e.seq, int) for e in stored)
    assert seqs == sorted(seqs) and len(set(seqs)) == count
    assert seqs[0] > max(e.seq or 0 for e in first)
    with storage.read() as tx:
        listed = tx.list_events(after_seq=first[-1].seq or 0, limit=1000)
        assert tx.event_seq(events[-1].id) == seqs[-1]
    assert listed == stored


@pytest.mark.parametrize("count", [3, 100])
def test_a_taken_event_id_raises_and_leaves_nothing(storage: Storage, count: int) -> None:
    with storage.write() as tx:
        kept = tx.insert_events(_events(1, 1))
    events = _events(10, count)
    events[count // 2] = attrs.evolve(events[count // 2], id=kept[0].id)
    with pytest.raises(AlreadyExists), storage.write() as tx:
        tx.insert_events(events)
    with storage.read() as tx:
        assert tx.list_events(limit=1000) == kept
