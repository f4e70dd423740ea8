"""The storage conformance suite: the tests every storage backend must pass.

:class:`StorageConformance` holds, as test methods, everything the
:class:`~supportkit.storage.Storage` and :class:`~supportkit.storage.Transaction`
interface promises: transactions that commit and roll back as a whole, tickets that
read back as equal values, optimistic versions, ticket numbers, every filter, sort
and page of :class:`~supportkit.storage.TicketQuery`, aggregates of
:class:`~supportkit.storage.StatsQuery` (checked against a reference computation),
comments and attachments, the event log, documents (claimed by one worker at a time),
configuration resources and small state. The SQLite backend runs it in
``tests/test_storage_conformance.py``; a new backend (PostgreSQL, say) runs the very
same tests by subclassing it in its own test suite and providing a ``storage`` fixture
that yields a fresh, *empty* storage and closes it afterwards::

    # tests/conftest.py: let pytest rewrite the suite's asserts, so that a failure
    # shows the values compared (it must run before supportkit.testing is imported).
    import pytest

    pytest.register_assert_rewrite("supportkit.testing")

    # tests/test_my_backend.py
    from collections.abc import Iterator

    import pytest

    from supportkit.storage import Storage
    from supportkit.testing import StorageConformance
    from my_backend import MyStorage


    class TestMyStorage(StorageConformance):
        @pytest.fixture
        def storage(self, tmp_path) -> Iterator[Storage]:
            storage = MyStorage(f"my://{tmp_path}/test")
            yield storage
            storage.close()

pytest collects classes whose names start with ``Test``: the suite's own name does not,
so it only runs through a subclass. The ``storage`` fixture may also come from a
``conftest.py``. Every test builds its own data with one fixed instant, :data:`NOW`
(no test reads a clock), and uses nothing but the ``Storage`` and ``Transaction``
interface, so the suite holds for any database. One test writes from several threads
at once: a storage must be usable from more than one thread. To leave out a test a
backend cannot pass yet, override it in the subclass and mark it
``@pytest.mark.skip(reason=...)``, so the gap stays visible.

Some behaviour the interface leaves open, and the suite does not pin down: the numbers
``next_ticket_number`` gives after a rolled-back transaction (there may be a gap; they
stay unique and increasing), the values of ``config_version`` (it must change on every
configuration change and never return to an earlier value), and what a search whose
text has no words at all does (it may refuse it with ``ValidationError``).

What the suite requires where the docstrings are terse, because callers rely on it:

- a search sorts tickets that have no value for the sort field (no SLA, or a clock
  standing still so that its due date is unknown) after all others, in either
  direction, and breaks ties by ticket id, the same way throughout one search;
- ``text`` is plain words, matched case-insensitively; every word must occur somewhere
  in the ticket — its title, its description or its searched comments — but not
  necessarily all in the same one; query syntax of any engine (``OR``, ``*``, ``"``,
  ``NEAR(…)``, ``col:word``, ``-word``, ``%``) is neither an error nor syntax;
- SLA statuses are those of :func:`supportkit.sla.clock_status` at ``query.now``,
  including its boundaries (at risk from the warning instant on, breached only after
  the due instant);
- comments are listed oldest first by ``created_at``, whatever order they were stored
  or moved in;
- a duplicate ticket id or number, and a duplicate comment id, raise
  :class:`~supportkit.errors.AlreadyExists` and change nothing.

This module is for tests: it imports pytest, and nothing else in supportkit imports it.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import attrs
import pytest

from . import escalation as esc
from . import sla as sla_mod
from . import workflow
from .calendar import BusinessCalendar
from .errors import AlreadyExists, TicketNotFound, ValidationError, VersionConflict
from .models import (
    PRIORITIES,
    Agent,
    Assignee,
    Attachment,
    Author,
    Comment,
    Contact,
    Location,
    Pause,
    Ticket,
)
from .storage import (
    SORT_FIELDS,
    Document,
    Event,
    Page,
    StatsQuery,
    Storage,
    TicketQuery,
    TicketStats,
    Transaction,
)

__all__ = ["CALENDAR", "NOW", "TARGETS", "StorageConformance", "make_ticket"]

#: The one instant every test measures from (microseconds on purpose).
NOW: Final = datetime(2026, 3, 10, 12, 0, 0, 250_000, tzinfo=UTC)
#: The calendar of every SLA in the suite: open around the clock.
CALENDAR: Final = BusinessCalendar.always_open()
#: SLA targets of every ticket in the suite: respond in 2 hours, resolve in 8, at risk
#: at 75 % of either.
TARGETS: Final = sla_mod.SlaTargets(None, "24x7", timedelta(hours=2), timedelta(hours=8))

_H: Final = timedelta(hours=1)
_M: Final = timedelta(minutes=1)
_US: Final = timedelta(microseconds=1)
_DONE: Final = ("resolved", "closed")
_SLA_STATUSES: Final = ("in_progress", "at_risk", "paused", "met", "breached")


class _Boom(Exception):
    """Raised inside a write transaction to roll it back."""


# -- building data --------------------------------------------------------------------------


def make_ticket(
    n: int,
    *,
    at: datetime,
    ticket_id: str | None = None,
    title: str | None = None,
    description: str | None = None,
    priority: str = "medium",
    category: str = "network",
    **options: Any,
) -> Ticket:
    """A new ticket with SLA clocks started at ``at`` (:data:`TARGETS`, 24x7).

    ``n`` gives the number ``SK-2026-<n>`` and, unless ``ticket_id`` is given, the id;
    ``options`` are passed to :func:`supportkit.workflow.open_ticket`.
    """
    return workflow.open_ticket(
        id=ticket_id or f"tkt-{n:04d}",
        number=f"SK-2026-{n:06d}",
        title=title or f"Ticket {n}",
        description=description or f"Details of ticket {n}",
        category=category,
        priority=priority,
        now=at,
        targets=TARGETS,
        calendar=CALENDAR,
        **options,
    )


def _move(ticket: Ticket, *moves: tuple[str, datetime]) -> Ticket:
    """``ticket`` moved through ``(status, at)`` in order."""
    for status, at in moves:
        ticket = workflow.change_status(ticket, status, at, CALENDAR)
    return ticket


def _assign(ticket: Ticket, agent_id: str | None, team: str | None = None) -> Ticket:
    assignee = None if agent_id is None else Assignee.of(Agent(agent_id, agent_id.title()))
    return attrs.evolve(ticket, assigned_to=assignee, team=team)


def _escalate(ticket: Ticket, at: datetime, reason: str) -> Ticket:
    decision = esc.manual(ticket, at, reason=reason)
    return workflow.escalate(ticket, decision, at, CALENDAR)


def _paused_response(ticket: Ticket, since: datetime) -> Ticket:
    """``ticket`` with its response clock standing still since ``since`` (a state the
    default lifecycle never produces, but one a clock may be stored in)."""
    assert ticket.sla is not None
    clock = ticket.sla.response
    assert clock.running_since is not None
    standing = attrs.evolve(
        clock,
        consumed=since - clock.running_since,
        running_since=None,
        due_at=None,
        at_risk_at=None,
        pauses=(Pause("on_hold", since),),
    )
    return attrs.evolve(ticket, sla=attrs.evolve(ticket.sla, response=standing))


def _corpus() -> list[Ticket]:
    """Tickets in every state a filter, a sort or an SLA status can tell apart.

    Ids deliberately do not follow creation order; some tickets share their creation
    instant, priority, status or due date, so that sorts have ties to break.
    """
    t = make_ticket
    tickets = [
        # Both clocks in progress.
        _assign(
            t(1, at=NOW - _H, ticket_id="t-m", priority="high", customer_id="cust-a",
              subcategory="vpn", tags=("vip",)),
            "agent-1", "team-net",
        ),
        # Response at risk; in progress.
        _assign(
            _move(
                t(2, at=NOW - 105 * _M, ticket_id="t-c", priority="low", category="billing",
                  customer_id="cust-b", subcategory="invoice"),
                ("in_progress", NOW - 100 * _M),
            ),
            None, "team-fin",
        ),
        # Escalated by its timers three times; resolution at risk from exactly NOW.
        _assign(
            workflow.run_timers(
                t(3, at=NOW - 7 * _H, ticket_id="t-k", priority="critical",
                  category="hardware", customer_id="cust-a", tags=("outage", "vip")),
                NOW - 30 * _M, CALENDAR,
            )[0],
            "agent-2", "team-net",
        ),
        # Resolution breached while running; escalated once by hand.
        _escalate(
            t(4, at=NOW - 9 * _H, ticket_id="t-a", customer_id="cust-b", subcategory="wifi",
              tags=("billing",)),
            NOW - 20 * _M, "Customer called",
        ),
        # Resolution paused (waiting on the customer), response breached.
        _assign(
            _move(
                t(5, at=NOW - 3 * _H, ticket_id="t-q", customer_id="cust-a"),
                ("waiting_on_customer", NOW - 2 * _H),
            ),
            "agent-1", "team-net",
        ),
        # Resolution paused after its due date passed: breached.
        _move(
            t(6, at=NOW - 10 * _H, ticket_id="t-f", priority="high", category="hardware"),
            ("on_hold", NOW - _H),
        ),
        # Resolved in time: both met.
        _assign(
            _move(
                t(7, at=NOW - 5 * _H, ticket_id="t-x", category="billing",
                  customer_id="cust-a", subcategory="invoice", tags=("vip",)),
                ("resolved", NOW - 4 * _H),
            ),
            "agent-1", "team-fin",
        ),
        # Resolved late, then closed: both breached.
        _assign(
            _move(
                t(8, at=NOW - 20 * _H, ticket_id="t-b", priority="low", customer_id="cust-b"),
                ("resolved", NOW - 10 * _H),
                ("closed", NOW - 5 * _H),
            ),
            "agent-1", "team-net",
        ),
        # Resolution at risk from exactly NOW.
        t(9, at=NOW - 6 * _H, ticket_id="t-p", priority="critical", customer_id="cust-b"),
        # Resolution due exactly at NOW (at risk, not yet breached); answered exactly
        # at the response due date (met).
        workflow.record_response(
            t(10, at=NOW - 8 * _H, ticket_id="t-e", category="billing", customer_id="cust-a"),
            NOW - 6 * _H, CALENDAR,
        ),
        # Created at the same instant as t-m; answered in time.
        _assign(
            workflow.record_response(
                t(11, at=NOW - _H, ticket_id="t-h", priority="high", customer_id="cust-b",
                  subcategory="vpn"),
                NOW - 50 * _M, CALENDAR,
            ),
            "agent-2", None,
        ),
        # Answered late: response breached (stopped).
        workflow.record_response(
            t(12, at=NOW - 4 * _H, ticket_id="t-r", customer_id="cust-a", tags=("outage",)),
            NOW - _H, CALENDAR,
        ),
        # Response clock standing still.
        _paused_response(
            t(13, at=NOW - 30 * _M, ticket_id="t-d", priority="low", customer_id="cust-b"),
            NOW - 20 * _M,
        ),
        # No SLA at all.
        attrs.evolve(t(14, at=NOW - 2 * _H, ticket_id="t-n", category="hardware"), sla=None),
        # Created at the same instant as t-k, with the same priority and due dates.
        _assign(
            t(15, at=NOW - 7 * _H, ticket_id="t-g", priority="critical", category="hardware",
              customer_id="cust-a"),
            "agent-2", "team-net",
        ),
    ]  # fmt: skip
    return tickets


def _seed(storage: Storage, tickets: Sequence[Ticket]) -> None:
    with storage.write() as tx:
        for ticket in tickets:
            tx.insert_ticket(ticket, next_due_at=None)


def _comment(
    comment_id: str,
    ticket_id: str,
    content: str,
    *,
    at: datetime,
    visibility: str = "customer",
    attachments: tuple[Attachment, ...] = (),
) -> Comment:
    author = (
        Author("customer", "cust-a", "Zoë Client", "zoe@example.com")
        if visibility == "customer"
        else Author("agent", "agent-1", "Agent One")
    )
    return Comment(
        id=comment_id,
        ticket_id=ticket_id,
        content=content,
        type="comment" if visibility == "customer" else "note",
        visibility=visibility,
        created_at=at,
        author=author,
        attachments=attachments,
        metadata={"source": "email", "ünïcode": ["✓", 1, None]},
    )


def _event(
    event_id: str,
    *,
    type: str = "ticket.updated",
    ticket_id: str | None = None,
    customer_id: str | None = None,
    visibility: str = "customer",
    at: datetime = NOW,
) -> Event:
    return Event(
        id=event_id,
        type=type,
        created_at=at,
        data={"id": event_id, "nested": {"list": [1, 2.5, True, None], "text": "ünï ✓"}},
        ticket_id=ticket_id,
        customer_id=customer_id,
        visibility=visibility,
    )


def _search(tx: Transaction, **filters: Any) -> Page[Ticket]:
    filters.setdefault("limit", 100)
    return tx.search_tickets(TicketQuery(now=filters.pop("now", NOW), **filters))


def _ids(page: Page[Ticket]) -> set[str]:
    return {ticket.id for ticket in page.items}


def _assert_filter(
    storage: Storage,
    tickets: Sequence[Ticket],
    predicate: Callable[[Ticket], bool],
    *,
    meaningful: bool = True,
    **filters: Any,
) -> None:
    """The search with ``filters`` finds exactly the tickets ``predicate`` holds for,
    each equal to the one stored, and counts them in ``total``."""
    expected = {ticket.id for ticket in tickets if predicate(ticket)}
    if meaningful:
        assert expected, f"the corpus has no ticket for {filters}"
        assert len(expected) < len(tickets), f"every ticket of the corpus matches {filters}"
    with storage.read() as tx:
        page = _search(tx, **filters)
    assert _ids(page) == expected, filters
    assert page.total == len(expected), filters
    assert len(page.items) == len(expected), f"duplicates in {filters}"
    by_id = {ticket.id: ticket for ticket in tickets}
    for found in page.items:
        assert found == by_id[found.id]


def _sort_key(field: str, ticket: Ticket) -> Any:
    """The value a search sorts ``ticket`` by; ``None`` when it has none."""
    sla = ticket.sla
    keys: dict[str, Callable[[], Any]] = {
        "created_at": lambda: ticket.created_at,
        "updated_at": lambda: ticket.updated_at,
        "priority": lambda: PRIORITIES.index(ticket.priority),
        "status": lambda: ticket.status,
        "number": lambda: ticket.number,
        "escalation_level": lambda: ticket.escalation.level,
        "resolution_due": lambda: sla.resolution.due_at if sla else None,
        "response_due": lambda: sla.response.due_at if sla else None,
    }
    return keys[field]()


def _full_ticket() -> Ticket:
    """A ticket using every field: SLA clocks with a closed pause, a stopped response
    clock, fired escalation triggers and their history, microsecond instants, nested
    JSON and unicode."""
    created = NOW - timedelta(hours=6, microseconds=123_457)
    ticket = make_ticket(
        1,
        at=created,
        ticket_id="tkt-round-trip-Ω",
        title="Ünïcode title ✓ 日本語 \"quoted\" 'single' 🎫",
        description="Line one\nline two\ttabbed; 100% <b>not html</b> \\ backslash",
        priority="high",
        customer_id="cust-ä",
        customer_tier="gold",
        severity="major",
        subcategory="vpn",
        contact=Contact("Zoë Ω", "zoe@example.com", "+41 44 000 00 00", "CTO"),
        location=Location("site-7", "Bahnhofstrasse 1, Zürich", "Europe/Zurich"),
        service_affected="email",
        metadata={
            "nested": {"list": [1, 2.5, True, None, "ü"], "deep": {"deeper": {"k": "v"}}},
            "emoji": "🎫✓",
            "empty": {},
            "empty_list": [],
            "big": 2**53,
            "negative": -1.5e-7,
            'quote"key': "value with 'quotes'",
        },
        custom_fields={"order": 42, "flags": ["a", "b"], "note": None},
        tags=("vip", "outage", "ünï"),
        agent=Agent("agent-1", "Agent One", "one@example.com", "network"),
    )
    ticket = attrs.evolve(
        ticket,
        team="team-net",
        escalate_after=timedelta(hours=4, microseconds=1),
        auto_update_frequency=timedelta(minutes=30),
        next_update_at=created + 30 * _M,
        routing_rules=("rule-vip", "rule-network"),
        estimated_resolution=NOW + timedelta(days=1, microseconds=7),
        linked_tickets=("tkt-other",),
        attachments=(Attachment("att-1", "screen shot.png", "image/png", 1234, "ab" * 32),),
    )
    ticket = _move(ticket, ("in_progress", created + 10 * _M))
    ticket = workflow.record_response(ticket, created + 20 * _M, CALENDAR)
    ticket = _move(
        ticket,
        ("waiting_on_customer", created + _H),
        ("in_progress", created + 2 * _H + 3 * _US),
    )
    # The escalate_after threshold (4 h of running time) passes at about +5 h.
    ticket, fired = workflow.run_timers(ticket, created + 5 * _H + _M, CALENDAR)
    assert fired, "the round-trip ticket should have fired a timer"
    assert ticket.escalation.fired and ticket.escalation.history
    assert ticket.sla is not None and ticket.sla.resolution.pauses
    return attrs.evolve(ticket, version=5)


def _minimal_ticket() -> Ticket:
    """A ticket with every optional field empty, its instants in another offset."""
    india = timezone(timedelta(hours=5, minutes=30))
    return Ticket(
        id="tkt-minimal",
        number="SK-2026-000002",
        title="x",
        description="",
        status="open",
        priority="low",
        category="general",
        created_at=datetime(2026, 3, 10, 17, 0, 0, 1, tzinfo=india),
        updated_at=datetime(2026, 3, 10, 17, 0, 0, 1, tzinfo=india),
    )


# -- aggregates and documents ------------------------------------------------------------


def _reply(comment_id: str, ticket_id: str, *, by: str, visibility: str, at: datetime) -> Comment:
    """A comment by an ``agent`` or a ``customer`` (for first-contact resolution)."""
    return Comment(
        id=comment_id,
        ticket_id=ticket_id,
        content=f"{by} says {comment_id}",
        type="comment" if visibility == "customer" else "internal_note",
        visibility=visibility,
        created_at=at,
        author=Author(by, f"{by}-1"),
    )


def _stats_corpus() -> tuple[list[Ticket], list[Comment]]:
    """Tickets around the period ``[NOW - 10 h, NOW)`` of the aggregate tests, and their
    comments. Resolution times have microseconds; the target of every SLA is 8 hours."""
    t = make_ticket
    start = NOW - 10 * _H
    tickets = [
        # Resolved in 1 h: met; one agent reply.
        _move(t(1, at=NOW - 9 * _H, ticket_id="s-1", priority="high", customer_id="cust-a"),
              ("resolved", NOW - 8 * _H)),
        # Resolved in 2 h and 999,999 µs: met; only internal notes and a customer reply.
        _move(t(2, at=NOW - 9 * _H, ticket_id="s-2", customer_id="cust-b"),
              ("in_progress", NOW - 8 * _H),
              ("resolved", NOW - 7 * _H + 999_999 * _US)),
        # Created before the period: never counted.
        _move(t(3, at=start - _US, ticket_id="s-3", customer_id="cust-a"),
              ("resolved", NOW - 9 * _H)),
        # Created exactly at the start; in progress and escalated.
        _escalate(
            _move(t(4, at=start, ticket_id="s-4", priority="low", category="billing",
                    customer_id="cust-b"), ("in_progress", NOW - 9 * _H)),
            NOW - 8 * _H, "Customer called",
        ),
        # Created exactly at the end: not counted.
        t(5, at=NOW, ticket_id="s-5", customer_id="cust-a"),
        # Resolved after 8.5 h: breached; two agent replies; escalated.
        _move(
            _escalate(t(6, at=NOW - 9 * _H - 30 * _M, ticket_id="s-6", priority="critical"),
                      NOW - 5 * _H, "Slow"),
            ("resolved", NOW - _H),
        ),
        # Closed without being resolved: neither resolved nor open.
        _move(t(7, at=NOW - 3 * _H, ticket_id="s-7", category="hardware", customer_id="cust-a"),
              ("closed", NOW - 2 * _H)),
        # Resolved, then reopened: open again, no resolution instant.
        _move(t(8, at=NOW - 2 * _H, ticket_id="s-8", customer_id="cust-a"),
              ("resolved", NOW - 90 * _M), ("open", NOW - _H)),
        # No SLA; resolved in 1 h 0.75 s.
        _move(attrs.evolve(t(9, at=NOW - 4 * _H, ticket_id="s-9", category="billing"), sla=None),
              ("resolved", NOW - 3 * _H + 750_000 * _US)),
    ]  # fmt: skip
    comments = [
        _reply("r-1", "s-1", by="agent", visibility="customer", at=NOW - 8 * _H - _M),
        _reply("r-2", "s-1", by="agent", visibility="internal", at=NOW - 8 * _H - _M),
        _reply("r-3", "s-2", by="agent", visibility="internal", at=NOW - 8 * _H),
        _reply("r-4", "s-2", by="agent", visibility="internal", at=NOW - 8 * _H),
        _reply("r-5", "s-2", by="customer", visibility="customer", at=NOW - 8 * _H),
        _reply("r-6", "s-6", by="agent", visibility="customer", at=NOW - 9 * _H),
        _reply("r-7", "s-6", by="agent", visibility="customer", at=NOW - 8 * _H),
        _reply("r-8", "s-3", by="agent", visibility="customer", at=NOW - 9 * _H),
    ]
    return tickets, comments


def _expected_stats(
    tickets: Sequence[Ticket], comments: Sequence[Comment], query: StatsQuery
) -> dict[tuple[str | int | None, ...], TicketStats]:
    """What :meth:`Transaction.ticket_stats` must answer, computed from the values."""
    replies: dict[str, int] = {}
    for comment in comments:
        if comment.visibility == "customer" and comment.author.type == "agent":
            replies[comment.ticket_id] = replies.get(comment.ticket_id, 0) + 1
    found: dict[tuple[str | int | None, ...], list[int]] = {}
    for ticket in tickets:
        if not query.start <= ticket.created_at < query.end:
            continue
        if query.customer_ids and ticket.customer_id not in query.customer_ids:
            continue
        if query.categories and ticket.category not in query.categories:
            continue
        if query.priorities and ticket.priority not in query.priorities:
            continue
        values: dict[str, str | int | None] = {
            "category": ticket.category,
            "priority": ticket.priority,
            "customer": ticket.customer_id,
        }
        if query.buckets:
            index = bisect.bisect_right(query.buckets, ticket.created_at) - 1
            if not 0 <= index < len(query.buckets) - 1:
                continue
            values["bucket"] = index
        key = tuple(values[name] for name in query.group_by)
        numbers = found.setdefault(key, [0] * 8)
        resolved = ticket.resolved_at is not None
        clock = ticket.sla.resolution if ticket.sla is not None else None
        measured = resolved and clock is not None and clock.stopped_at is not None
        met = measured and clock is not None and sla_mod.clock_status(clock, NOW) == "met"
        for i, counts in enumerate(
            (
                True,
                resolved,
                ticket.status not in query.done_statuses,
                False,
                measured,
                met,
                ticket.escalation.level > 0,
                resolved and replies.get(ticket.id, 0) <= 1,
            )
        ):
            numbers[i] += int(counts)
        if ticket.resolved_at is not None:
            numbers[3] += (ticket.resolved_at - ticket.created_at) // _US
    if not query.group_by and not found:
        found[()] = [0] * 8
    return {key: TicketStats(key, *numbers) for key, numbers in found.items()}


def _document(n: int, *, kind: str = "report", **options: Any) -> Document:
    return Document(
        kind=kind,
        id=f"doc-{n}",
        data={"n": n, "nested": {"list": [1, 2.5, True, None], "text": "ünï ✓"}},
        created_at=NOW + n * _US,
        **options,
    )


# -- the suite ------------------------------------------------------------------------------


class StorageConformance:
    """The storage conformance suite; see the module docstring.

    Subclass it as ``Test…`` and provide a ``storage`` fixture, in the subclass or in a
    ``conftest.py``, that yields a fresh, empty :class:`~supportkit.storage.Storage` and
    closes it afterwards. Every test asks for that fixture; nothing else is needed.
    """

    # -- transactions ---------------------------------------------------------------------

    def test_write_commits_on_normal_exit(self, storage: Storage) -> None:
        ticket = make_ticket(1, at=NOW)
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
            # A transaction reads its own writes.
            assert tx.get_ticket(ticket.id) == ticket
        with storage.read() as tx:
            assert tx.get_ticket(ticket.id) == ticket
        with storage.write() as tx:
            assert tx.get_ticket(ticket.id) == ticket

    def test_read_sees_what_was_committed_before(self, storage: Storage) -> None:
        first, second = make_ticket(1, at=NOW), make_ticket(2, at=NOW + _US)
        with storage.write() as tx:
            tx.insert_ticket(first, next_due_at=None)
        with storage.read() as tx:
            assert tx.get_ticket(first.id) == first
            assert tx.get_ticket(second.id) is None
        with storage.write() as tx:
            tx.insert_ticket(second, next_due_at=None)
            tx.put_resource("teams", "team-1", {"name": "One"})
            tx.set_state("rr:team-1", "agent-1")
        with storage.read() as tx:
            assert tx.get_ticket(second.id) == second
            assert _search(tx).total == 2
            assert tx.get_resource("teams", "team-1") == {"name": "One"}
            assert tx.get_state("rr:team-1") == "agent-1"

    def test_write_rolls_back_everything_when_the_block_raises(self, storage: Storage) -> None:
        kept = make_ticket(1, at=NOW - _H, title="Kept ticket")
        doomed = make_ticket(2, at=NOW, title="Doomed xylophone ticket")
        with storage.write() as tx:
            committed_number = tx.next_ticket_number(2026)
            tx.insert_ticket(kept, next_due_at=None)
            tx.put_resource("teams", "team-kept", {"name": "Kept"})
            tx.set_state("rr:team-kept", "agent-1")
            tx.insert_events([_event("ev-kept", ticket_id=kept.id)])
        with storage.read() as tx:
            kept_events = tx.list_events()

        attachment = Attachment("att-doomed", "doomed.txt", "text/plain", 3)
        with pytest.raises(_Boom), storage.write() as tx:
            tx.next_ticket_number(2026)
            tx.insert_ticket(doomed, next_due_at=NOW - _H)
            changed = attrs.evolve(kept, title="Changed xylophone", status="in_progress", version=2)
            tx.update_ticket(changed, expected_version=1, next_due_at=NOW - _H)
            tx.insert_comment(_comment("c-doomed", kept.id, "doomed xylophone words", at=NOW))
            tx.insert_attachment(
                attachment, ticket_id=kept.id, comment_id="c-doomed", data=b"abc", created_at=NOW
            )
            tx.insert_events([_event("ev-doomed-1"), _event("ev-doomed-2", ticket_id=doomed.id)])
            tx.put_resource("teams", "team-doomed", {"name": "Doomed"})
            tx.put_resource("teams", "team-kept", {"name": "Overwritten"})
            tx.set_state("rr:team-kept", "agent-doomed")
            tx.set_state("doomed", "yes")
            # Everything is visible inside the transaction until it fails.
            assert tx.get_ticket(doomed.id) == doomed
            assert tx.get_ticket(kept.id) == changed
            raise _Boom

        with storage.read() as tx:
            assert tx.get_ticket(doomed.id) is None
            assert tx.get_ticket_by_number(doomed.number) is None
            assert tx.get_ticket(kept.id) == kept
            assert tx.list_comments(kept.id) == []
            assert tx.get_attachment(attachment.id) is None
            assert tx.list_events() == kept_events
            assert tx.event_seq("ev-doomed-1") is None
            assert tx.event_seq("ev-doomed-2") is None
            assert tx.get_resource("teams", "team-doomed") is None
            assert tx.list_resources("teams") == [{"name": "Kept"}]
            assert tx.get_state("rr:team-kept") == "agent-1"
            assert tx.get_state("doomed") is None
            assert tx.claim_due_tickets(NOW, 10) == []
            assert [t.id for t in _search(tx).items] == [kept.id]
            assert _search(tx, text="xylophone").total == 0
            assert _search(tx, statuses=("in_progress",)).total == 0
        # The counter may leave a gap after a rollback, but never hands a number twice.
        with storage.write() as tx:
            assert tx.next_ticket_number(2026) > committed_number
        # The storage is still usable: the same ids can be written now.
        with storage.write() as tx:
            tx.insert_ticket(doomed, next_due_at=None)
            tx.insert_comment(_comment("c-doomed", kept.id, "second try", at=NOW))
            tx.insert_events([_event("ev-doomed-1")])
        with storage.read() as tx:
            assert tx.get_ticket(doomed.id) == doomed
            assert [c.content for c in tx.list_comments(kept.id)] == ["second try"]
            seq = tx.event_seq("ev-doomed-1")
            assert seq is not None and seq > max(e.seq or 0 for e in kept_events)

    def test_the_exception_that_rolled_back_propagates_unchanged(self, storage: Storage) -> None:
        error = _Boom("the original")
        with pytest.raises(_Boom) as caught, storage.write() as tx:
            tx.set_state("k", "v")
            raise error
        assert caught.value is error
        with storage.read() as tx:
            assert tx.get_state("k") is None

    # -- tickets: insert, get, update -----------------------------------------------------

    def test_ticket_round_trips_to_an_equal_value(self, storage: Storage) -> None:
        full, minimal = _full_ticket(), _minimal_ticket()
        with storage.write() as tx:
            tx.insert_ticket(full, next_due_at=NOW)
            tx.insert_ticket(minimal, next_due_at=None)
        with storage.read() as tx:
            for ticket in (full, minimal):
                got = tx.get_ticket(ticket.id)
                assert got == ticket
                assert tx.get_ticket_by_number(ticket.number) == ticket
        assert got is not None
        assert got.created_at.utcoffset() is not None, "instants come back aware"
        with storage.write() as tx:
            assert tx.get_ticket(full.id, for_update=True) == full

    def test_round_trip_keeps_sla_clocks_pauses_and_escalation(self, storage: Storage) -> None:
        full = _full_ticket()
        with storage.write() as tx:
            tx.insert_ticket(full, next_due_at=None)
        with storage.read() as tx:
            got = tx.get_ticket(full.id)
        assert got is not None and got.sla is not None and full.sla is not None
        assert got.sla.response == full.sla.response
        assert got.sla.resolution.pauses == full.sla.resolution.pauses
        assert got.sla.resolution.consumed == full.sla.resolution.consumed
        assert got.escalation.fired == full.escalation.fired
        assert isinstance(got.escalation.fired, frozenset)
        assert got.escalation.history == full.escalation.history
        assert got.metadata == full.metadata
        assert got.created_at == full.created_at
        assert got.created_at.microsecond == full.created_at.microsecond

    def test_get_of_a_missing_ticket_is_none(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.insert_ticket(make_ticket(1, at=NOW), next_due_at=None)
        with storage.read() as tx:
            assert tx.get_ticket("no-such-ticket") is None
            assert tx.get_ticket("") is None
            assert tx.get_ticket_by_number("SK-2026-999999") is None
            # An id is not a number and a number is not an id.
            assert tx.get_ticket("SK-2026-000001") is None
            assert tx.get_ticket_by_number("tkt-0001") is None

    def test_duplicate_ticket_id_already_exists(self, storage: Storage) -> None:
        original = make_ticket(1, at=NOW, title="Original")
        with storage.write() as tx:
            tx.insert_ticket(original, next_due_at=None)
        copy = attrs.evolve(make_ticket(2, at=NOW, title="Copy"), id=original.id)
        with pytest.raises(AlreadyExists), storage.write() as tx:
            tx.insert_ticket(copy, next_due_at=None)
        with storage.read() as tx:
            assert tx.get_ticket(original.id) == original
            assert tx.get_ticket_by_number(copy.number) is None
            assert _search(tx).total == 1

    def test_duplicate_ticket_number_already_exists(self, storage: Storage) -> None:
        original = make_ticket(1, at=NOW)
        with storage.write() as tx:
            tx.insert_ticket(original, next_due_at=None)
        copy = make_ticket(1, at=NOW, ticket_id="tkt-other")
        with pytest.raises(AlreadyExists), storage.write() as tx:
            tx.insert_ticket(copy, next_due_at=None)
        with storage.read() as tx:
            assert tx.get_ticket_by_number(original.number) == original
            assert tx.get_ticket(copy.id) is None

    def test_update_with_the_right_version_replaces(self, storage: Storage) -> None:
        ticket = make_ticket(1, at=NOW - _H, title="Alpaca printer", tags=("old-tag",))
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
        changed = attrs.evolve(
            _escalate(_move(ticket, ("in_progress", NOW)), NOW, "Manual"),
            title="Llama scanner",
            tags=("new-tag",),
            version=2,
        )
        with storage.write() as tx:
            tx.update_ticket(changed, expected_version=1, next_due_at=NOW)
        with storage.read() as tx:
            assert tx.get_ticket(ticket.id) == changed
            assert tx.get_ticket_by_number(ticket.number) == changed
            # The search sees the new values, not the old ones.
            assert _ids(_search(tx, statuses=(changed.status,))) == {ticket.id}
            assert _search(tx, statuses=("open",)).total == 0
            assert _ids(_search(tx, tags=("new-tag",))) == {ticket.id}
            assert _search(tx, tags=("old-tag",)).total == 0
            assert _ids(_search(tx, min_escalation_level=1)) == {ticket.id}
            assert _ids(_search(tx, text="llama")) == {ticket.id}
            assert _search(tx, text="alpaca").total == 0
            assert tx.claim_due_tickets(NOW, 10) == [ticket.id]
        again = attrs.evolve(changed, title="Third title", version=3)
        with storage.write() as tx:
            tx.update_ticket(again, expected_version=2, next_due_at=None)
        with storage.read() as tx:
            assert tx.get_ticket(ticket.id) == again
            assert tx.claim_due_tickets(NOW, 10) == []

    def test_update_with_a_stale_version_conflicts(self, storage: Storage) -> None:
        ticket = make_ticket(1, at=NOW, title="Original")
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
        current = attrs.evolve(ticket, title="Second", version=2)
        with storage.write() as tx:
            tx.update_ticket(current, expected_version=1, next_due_at=None)
        stale = attrs.evolve(ticket, title="Based on version 1", version=2)
        with pytest.raises(VersionConflict) as caught, storage.write() as tx:
            tx.update_ticket(stale, expected_version=1, next_due_at=NOW)
        assert caught.value.key == ticket.id
        assert caught.value.expected == 1
        assert caught.value.actual == 2
        with pytest.raises(VersionConflict) as caught, storage.write() as tx:
            tx.update_ticket(stale, expected_version=3, next_due_at=NOW)
        assert (caught.value.expected, caught.value.actual) == (3, 2)
        with storage.read() as tx:
            assert tx.get_ticket(ticket.id) == current
            assert _search(tx, text="based").total == 0
            assert tx.claim_due_tickets(NOW, 10) == []

    def test_update_of_a_missing_ticket_is_not_found(self, storage: Storage) -> None:
        ticket = make_ticket(1, at=NOW)
        with pytest.raises(TicketNotFound) as caught, storage.write() as tx:
            tx.update_ticket(ticket, expected_version=1, next_due_at=None)
        assert caught.value.key == ticket.id
        with storage.read() as tx:
            assert tx.get_ticket(ticket.id) is None
            assert _search(tx).total == 0

    # -- ticket numbers -------------------------------------------------------------------

    def test_ticket_numbers_count_per_year(self, storage: Storage) -> None:
        with storage.write() as tx:
            assert [tx.next_ticket_number(2026) for _ in range(3)] == [1, 2, 3]
            assert tx.next_ticket_number(2027) == 1
        with storage.write() as tx:
            assert tx.next_ticket_number(2026) == 4
            assert tx.next_ticket_number(2027) == 2
            assert tx.next_ticket_number(2025) == 1
        with storage.read() as tx:
            assert _search(tx).total == 0  # reserving a number creates no ticket

    def test_raising_the_ticket_counter_never_lowers_it(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.raise_ticket_counter(2026, 41)
            assert tx.next_ticket_number(2026) == 42
            tx.raise_ticket_counter(2026, 7)  # lower: no effect
            assert tx.next_ticket_number(2026) == 43
            tx.raise_ticket_counter(2030, 0)
            assert tx.next_ticket_number(2030) == 1

    def test_ticket_numbers_are_unique_under_concurrent_writers(self, storage: Storage) -> None:
        numbers: list[int] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def reserve() -> None:
            try:
                for _ in range(10):
                    with storage.write() as tx:
                        number = tx.next_ticket_number(2026)
                    with lock:
                        numbers.append(number)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        workers = [threading.Thread(target=reserve) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert not errors, errors
        assert len(numbers) == 40
        assert len(set(numbers)) == 40, sorted(numbers)
        assert min(numbers) >= 1

    # -- search: filters ------------------------------------------------------------------

    def test_search_without_filters_finds_everything(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        _assert_filter(storage, tickets, lambda t: True, meaningful=False)

    def test_search_an_empty_storage(self, storage: Storage) -> None:
        with storage.read() as tx:
            page = _search(tx, text="anything", statuses=("open",), sort="priority")
        assert (page.items, page.total, page.pages) == ([], 0, 1)

    def test_search_by_customer(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        _assert_filter(
            storage, tickets, lambda t: t.customer_id == "cust-a", customer_ids=("cust-a",)
        )
        _assert_filter(
            storage,
            tickets,
            lambda t: t.customer_id in ("cust-a", "cust-b"),
            customer_ids=("cust-a", "cust-b"),
        )
        _assert_filter(
            storage, tickets, lambda t: False, meaningful=False, customer_ids=("cust-nobody",)
        )

    def test_search_by_status(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        _assert_filter(storage, tickets, lambda t: t.status == "open", statuses=("open",))
        _assert_filter(storage, tickets, lambda t: t.status in _DONE, statuses=_DONE)
        _assert_filter(storage, tickets, lambda t: t.status == "escalated", statuses=("escalated",))

    def test_search_by_priority(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        for priority in PRIORITIES:

            def same(ticket: Ticket, priority: str = priority) -> bool:
                return ticket.priority == priority

            _assert_filter(storage, tickets, same, priorities=(priority,))
        _assert_filter(
            storage,
            tickets,
            lambda t: t.priority in ("low", "critical"),
            priorities=("low", "critical"),
        )

    def test_search_by_category_and_subcategory(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        _assert_filter(storage, tickets, lambda t: t.category == "billing", categories=("billing",))
        _assert_filter(
            storage,
            tickets,
            lambda t: t.category in ("billing", "hardware"),
            categories=("billing", "hardware"),
        )
        _assert_filter(storage, tickets, lambda t: t.subcategory == "vpn", subcategories=("vpn",))
        _assert_filter(
            storage,
            tickets,
            lambda t: t.subcategory in ("vpn", "wifi"),
            subcategories=("vpn", "wifi"),
        )

    def test_search_by_assignee_and_team(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)

        def agent(ticket: Ticket) -> str | None:
            return ticket.assigned_to.agent_id if ticket.assigned_to else None

        _assert_filter(storage, tickets, lambda t: agent(t) == "agent-1", assignees=("agent-1",))
        _assert_filter(
            storage,
            tickets,
            lambda t: agent(t) in ("agent-1", "agent-2"),
            assignees=("agent-1", "agent-2"),
        )
        _assert_filter(storage, tickets, lambda t: t.team == "team-fin", teams=("team-fin",))
        _assert_filter(
            storage,
            tickets,
            lambda t: t.team in ("team-fin", "team-net"),
            teams=("team-fin", "team-net"),
        )

    def test_search_by_tags(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        _assert_filter(storage, tickets, lambda t: "vip" in t.tags, tags=("vip",))
        # Any of the tags; a ticket with both is found once.
        _assert_filter(
            storage,
            tickets,
            lambda t: bool({"vip", "outage"} & set(t.tags)),
            tags=("vip", "outage"),
        )
        _assert_filter(storage, tickets, lambda t: False, meaningful=False, tags=("nope",))

    def test_search_by_escalation_level(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        levels = {t.escalation.level for t in tickets}
        assert len(levels) >= 3, levels
        _assert_filter(storage, tickets, lambda t: t.escalation.level == 0, escalation_levels=(0,))
        top = max(levels)
        _assert_filter(
            storage, tickets, lambda t: t.escalation.level in (1, top), escalation_levels=(1, top)
        )
        _assert_filter(storage, tickets, lambda t: t.escalation.level >= 1, min_escalation_level=1)
        _assert_filter(
            storage, tickets, lambda t: t.escalation.level >= top, min_escalation_level=top
        )
        _assert_filter(storage, tickets, lambda t: True, meaningful=False, min_escalation_level=0)
        _assert_filter(
            storage,
            tickets,
            lambda t: t.escalation.level in (1, top),
            escalation_levels=(1, top),
            min_escalation_level=1,
            meaningful=False,
        )

    def test_search_by_creation_range(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        bound = NOW - 7 * _H  # two tickets were created exactly then
        assert sum(t.created_at == bound for t in tickets) == 2
        _assert_filter(storage, tickets, lambda t: t.created_at >= bound, created_after=bound)
        _assert_filter(storage, tickets, lambda t: t.created_at < bound, created_before=bound)
        upper = NOW - _H
        _assert_filter(
            storage,
            tickets,
            lambda t: bound <= t.created_at < upper,
            created_after=bound,
            created_before=upper,
        )
        # The same instants written in another offset select the same tickets.
        zurich = timezone(timedelta(hours=1))
        _assert_filter(
            storage,
            tickets,
            lambda t: bound <= t.created_at < upper,
            created_after=bound.astimezone(zurich),
            created_before=upper.astimezone(zurich),
        )
        # A microsecond matters.
        _assert_filter(
            storage, tickets, lambda t: t.created_at >= bound + _US, created_after=bound + _US
        )
        _assert_filter(
            storage,
            tickets,
            lambda t: False,
            meaningful=False,
            created_after=upper,
            created_before=bound,
        )

    def test_search_by_update_range(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        bound = NOW - 30 * _M  # t-k was last updated exactly then
        assert any(t.updated_at == bound for t in tickets)
        _assert_filter(storage, tickets, lambda t: t.updated_at >= bound, updated_after=bound)
        _assert_filter(storage, tickets, lambda t: t.updated_at < bound, updated_before=bound)
        lower = NOW - 5 * _H
        _assert_filter(
            storage,
            tickets,
            lambda t: lower <= t.updated_at < bound,
            updated_after=lower,
            updated_before=bound,
        )

    @pytest.mark.parametrize("status", _SLA_STATUSES)
    def test_search_by_resolution_sla_status(self, storage: Storage, status: str) -> None:
        self._check_sla_status(storage, "resolution", status)

    @pytest.mark.parametrize("status", _SLA_STATUSES)
    def test_search_by_response_sla_status(self, storage: Storage, status: str) -> None:
        self._check_sla_status(storage, "response", status)

    def _check_sla_status(self, storage: Storage, clock: str, status: str) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        name = "sla_statuses" if clock == "resolution" else "response_sla_statuses"

        def status_at(now: datetime) -> Callable[[Ticket], bool]:
            def holds(ticket: Ticket) -> bool:
                if ticket.sla is None:
                    return False
                return sla_mod.clock_status(getattr(ticket.sla, clock), now) == status

            return holds

        # NOW sits exactly on some due and warning instants; every status occurs.
        filters: dict[str, Any] = {name: (status,)}
        _assert_filter(storage, tickets, status_at(NOW), **filters)
        # The status is computed against query.now, not when the ticket was stored.
        for now in (NOW - 2 * _H, NOW + _US, NOW + 3 * _H, NOW + 2 * 24 * _H):
            _assert_filter(storage, tickets, status_at(now), meaningful=False, now=now, **filters)

    def test_search_by_several_sla_statuses(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)

        def resolution_in(*statuses: str) -> Callable[[Ticket], bool]:
            return lambda t: (
                t.sla is not None and (sla_mod.clock_status(t.sla.resolution, NOW) in statuses)
            )

        def response_in(*statuses: str) -> Callable[[Ticket], bool]:
            return lambda t: (
                t.sla is not None and (sla_mod.clock_status(t.sla.response, NOW) in statuses)
            )

        _assert_filter(
            storage,
            tickets,
            resolution_in("at_risk", "breached"),
            sla_statuses=("at_risk", "breached"),
        )
        _assert_filter(
            storage,
            tickets,
            resolution_in("paused", "met", "in_progress"),
            sla_statuses=("paused", "met", "in_progress"),
        )
        _assert_filter(storage, tickets, lambda t: t.sla is not None, sla_statuses=_SLA_STATUSES)
        # Both filters must hold.
        _assert_filter(
            storage,
            tickets,
            lambda t: resolution_in("in_progress")(t) and response_in("met")(t),
            sla_statuses=("in_progress",),
            response_sla_statuses=("met",),
        )

    def test_search_with_combined_filters(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        _assert_filter(
            storage,
            tickets,
            lambda t: (
                t.customer_id == "cust-a"
                and "vip" in t.tags
                and t.status not in _DONE
                and t.priority in ("high", "critical")
            ),
            customer_ids=("cust-a",),
            tags=("vip",),
            statuses=("open", "in_progress", "escalated"),
            priorities=("high", "critical"),
        )
        bound = NOW - 7 * _H
        _assert_filter(
            storage,
            tickets,
            lambda t: (
                t.category == "hardware"
                and t.created_at >= bound
                and t.assigned_to is not None
                and t.assigned_to.agent_id == "agent-2"
                and t.escalation.level == 0
            ),
            categories=("hardware",),
            created_after=bound,
            assignees=("agent-2",),
            escalation_levels=(0,),
        )
        _assert_filter(
            storage,
            tickets,
            lambda t: (
                t.team == "team-net"
                and t.sla is not None
                and sla_mod.clock_status(t.sla.response, NOW) == "breached"
            ),
            teams=("team-net",),
            response_sla_statuses=("breached",),
        )
        # Filters that contradict each other find nothing, and say so in the total.
        _assert_filter(
            storage,
            tickets,
            lambda t: False,
            meaningful=False,
            statuses=("closed",),
            sla_statuses=("in_progress",),
        )

    # -- search: text ---------------------------------------------------------------------

    def _text_corpus(self, storage: Storage) -> None:
        tickets = [
            make_ticket(1, at=NOW, ticket_id="txt-a", title="Quokka printer offline in Zürich",
                        description="Nothing prints since Monday."),
            make_ticket(2, at=NOW, ticket_id="txt-b", title="Mail delay",
                        description="Outgoing messages wait in the marmot queue."),
            make_ticket(3, at=NOW, ticket_id="txt-c", title="Slow laptop",
                        description="Fans are loud."),
            make_ticket(4, at=NOW, ticket_id="txt-d", title="Licence renewal",
                        description="Renew before March."),
            make_ticket(5, at=NOW, ticket_id="txt-e", title="Gecko calendar sync",
                        description="The tapir feed is stale."),
            make_ticket(6, at=NOW, ticket_id="txt-f", title="Wombat access",
                        description="Door badge problem."),
            make_ticket(7, at=NOW, ticket_id="txt-g", title="Gecko",
                        description="Only one word here."),
        ]  # fmt: skip
        comments = [
            _comment("c-1", "txt-c", "The ocelot logo flickers on boot.", at=NOW + _M),
            _comment("c-2", "txt-d", "Vendor pangolin contract expires.", at=NOW + _M,
                     visibility="internal"),
            _comment("c-3", "txt-d", "Any update on this?", at=NOW + 2 * _M),
            _comment("c-4", "txt-f", "The axolotl reader rejects it.", at=NOW + _M),
        ]  # fmt: skip
        with storage.write() as tx:
            for ticket in tickets:
                tx.insert_ticket(ticket, next_due_at=None)
            for comment in comments:
                tx.insert_comment(comment)

    def _text(self, storage: Storage, text: str, *, internal: bool = True) -> set[str]:
        with storage.read() as tx:
            page = _search(tx, text=text, text_internal=internal)
        assert page.total == len(page.items), text
        return _ids(page)

    def test_search_text_in_title_description_and_comments(self, storage: Storage) -> None:
        self._text_corpus(storage)
        assert self._text(storage, "quokka") == {"txt-a"}  # title
        assert self._text(storage, "marmot") == {"txt-b"}  # description
        assert self._text(storage, "ocelot") == {"txt-c"}  # customer comment
        assert self._text(storage, "pangolin") == {"txt-d"}  # internal comment
        assert self._text(storage, "gecko") == {"txt-e", "txt-g"}
        assert self._text(storage, "nonexistentword") == set()

    def test_search_text_ignores_case(self, storage: Storage) -> None:
        self._text_corpus(storage)
        assert self._text(storage, "QUOKKA") == {"txt-a"}
        assert self._text(storage, "qUoKkA") == {"txt-a"}
        assert self._text(storage, "OCELOT") == {"txt-c"}
        assert self._text(storage, "zürich") == {"txt-a"}
        assert self._text(storage, "Zürich") == {"txt-a"}

    def test_search_text_without_internal_comments(self, storage: Storage) -> None:
        self._text_corpus(storage)
        assert self._text(storage, "pangolin", internal=False) == set()
        assert self._text(storage, "ocelot", internal=False) == {"txt-c"}
        assert self._text(storage, "quokka", internal=False) == {"txt-a"}
        # The ticket's own text and its customer-visible comments are still searched.
        assert self._text(storage, "licence", internal=False) == {"txt-d"}
        assert self._text(storage, "update", internal=False) == {"txt-d"}

    def test_search_text_needs_every_word(self, storage: Storage) -> None:
        self._text_corpus(storage)
        assert self._text(storage, "gecko tapir") == {"txt-e"}
        assert self._text(storage, "tapir gecko") == {"txt-e"}
        assert self._text(storage, "  gecko,\ttapir!  ") == {"txt-e"}
        assert self._text(storage, "quokka marmot") == set()
        assert self._text(storage, "quokka nonexistentword") == set()

    def test_search_text_words_may_occur_in_different_parts(self, storage: Storage) -> None:
        """All words must occur in the ticket, not all in one of its parts."""
        self._text_corpus(storage)
        assert self._text(storage, "wombat badge") == {"txt-f"}  # title + description
        assert self._text(storage, "wombat axolotl") == {"txt-f"}  # title + comment
        assert self._text(storage, "licence pangolin") == {"txt-d"}  # title + internal
        assert self._text(storage, "licence pangolin", internal=False) == set()
        assert self._text(storage, "pangolin update") == {"txt-d"}  # two comments

    @pytest.mark.parametrize(
        ("text", "found"),
        [
            ('"quokka"', {"txt-a"}),
            ('quokka"', {"txt-a"}),
            ('"quokka', {"txt-a"}),
            ("'quokka'", {"txt-a"}),
            ("quokka*", {"txt-a"}),
            ("quokka^", {"txt-a"}),
            ("^quokka", {"txt-a"}),
            ("(quokka)", {"txt-a"}),
            ("quokka;", {"txt-a"}),
            ("%quokka%", {"txt-a"}),
            ("{quokka}", {"txt-a"}),
            ("gecko -tapir", {"txt-e"}),
            ("gecko & tapir", {"txt-e"}),
            ("+gecko +tapir", {"txt-e"}),
            # Query syntax of FTS5, tsquery and LIKE must not work as syntax.
            ("quok*", set()),
            ("quok:*", set()),
            ("quok%", set()),
            ("quok_a", set()),
            ("quokka OR nonexistentword", set()),
            ("quokka | nonexistentword", set()),
            ("NEAR(quokka nonexistentword)", set()),
            ("title:quokka", set()),
            ("quokka' OR '1'='1", set()),
            ('quokka"; DROP TABLE tickets; --', set()),
        ],
    )
    def test_search_text_is_plain_words(self, storage: Storage, text: str, found: set[str]) -> None:
        self._text_corpus(storage)
        assert self._text(storage, text) == found
        assert self._text(storage, text, internal=False) == found
        # Nothing was injected: the data is all still there.
        assert self._text(storage, "quokka") == {"txt-a"}
        with storage.read() as tx:
            assert _search(tx).total == 7

    @pytest.mark.parametrize(
        "text",
        ["AND OR NEAR", "*", '"', '""', "-", "()", ":", "'", "^", "NOT", "AND", "*:*", "\\"],
    )
    def test_search_text_of_query_syntax_alone_does_not_fail(
        self, storage: Storage, text: str
    ) -> None:
        """Words are searched as words; text without any word may be refused as invalid,
        but never fails in the database."""
        self._text_corpus(storage)
        try:
            with storage.read() as tx:
                page = _search(tx, text=text)
        except ValidationError:
            return
        assert page.total == len(page.items)
        assert _ids(page) <= {f"txt-{c}" for c in "abcdefg"}
        if any(ch.isalpha() for ch in text):
            assert page.items == [], f"{text!r} is a word no ticket contains"

    # -- search: sorting and pages --------------------------------------------------------

    @pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
    @pytest.mark.parametrize("field", SORT_FIELDS)
    def test_search_sorts(self, storage: Storage, field: str, descending: bool) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        with storage.read() as tx:
            page = _search(tx, sort=field, descending=descending)
        found = page.items
        assert sorted(t.id for t in found) == sorted(t.id for t in tickets)
        keys = [_sort_key(field, t) for t in found]
        shown = [(t.id, k) for t, k in zip(found, keys, strict=True)]
        values = [k for k in keys if k is not None]
        missing = len(keys) - len(values)
        # Tickets without a value come last, in either direction.
        assert keys == sorted(values, reverse=descending) + [None] * missing, shown
        # Ties are broken by id, the same way throughout.
        directions = {
            a.id < b.id
            for (a, ka), (b, kb) in itertools.pairwise(zip(found, keys, strict=True))
            if ka == kb
        }
        if field != "number":  # numbers are unique
            assert directions, f"the corpus has no tie on {field}"
        assert len(directions) <= 1, f"ties are not ordered by id: {shown}"

    @pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
    @pytest.mark.parametrize("field", SORT_FIELDS)
    def test_search_pages_never_overlap(
        self, storage: Storage, field: str, descending: bool
    ) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        with storage.read() as tx:
            whole = _search(tx, sort=field, descending=descending).items
            pages = [
                _search(tx, sort=field, descending=descending, page=n, limit=4) for n in range(1, 6)
            ]
        assert [len(p.items) for p in pages] == [4, 4, 4, 3, 0]
        assert all(p.total == len(tickets) for p in pages)
        assert all(p.pages == 4 for p in pages)
        assert [p.page for p in pages] == [1, 2, 3, 4, 5]
        assert all(p.limit == 4 for p in pages)
        assert [t.id for p in pages for t in p.items] == [t.id for t in whole]

    def test_search_sorts_by_created_at_newest_first_by_default(self, storage: Storage) -> None:
        tickets = _corpus()
        _seed(storage, tickets)
        with storage.read() as tx:
            found = tx.search_tickets(TicketQuery(now=NOW, limit=100)).items
        created = [t.created_at for t in found]
        assert created == sorted(created, reverse=True)
        assert len(found) == len(tickets)

    def test_search_pages(self, storage: Storage) -> None:
        tickets = [make_ticket(n, at=NOW - n * _M) for n in range(1, 8)]
        _seed(storage, tickets)
        newest_first = [t.id for t in tickets]
        with storage.read() as tx:
            pages = [_search(tx, page=n, limit=3) for n in (1, 2, 3)]
            beyond = _search(tx, page=4, limit=3)
            far_beyond = _search(tx, page=1000, limit=3)
            one_page = _search(tx, page=1, limit=7)
            filtered = _search(tx, page=2, limit=1, priorities=("medium",))
        assert [[t.id for t in p.items] for p in pages] == [
            newest_first[0:3], newest_first[3:6], newest_first[6:7]
        ]  # fmt: skip
        for number, page in enumerate(pages, start=1):
            assert (page.total, page.pages, page.page, page.limit) == (7, 3, number, 3)
            assert len(page) == len(page.items)
            assert list(page) == page.items
        assert (beyond.items, beyond.total, beyond.page) == ([], 7, 4)
        assert (far_beyond.items, far_beyond.total) == ([], 7)
        assert (len(one_page.items), one_page.total, one_page.pages) == (7, 7, 1)
        assert [t.id for t in filtered.items] == [newest_first[1]]
        assert filtered.total == 7

    # -- open ticket counts and due tickets -----------------------------------------------

    def test_open_ticket_counts(self, storage: Storage) -> None:
        def held(n: int, agent: str | None, *moves: tuple[str, datetime]) -> Ticket:
            return _assign(_move(make_ticket(n, at=NOW - 10 * _H), *moves), agent)

        _seed(
            storage,
            [
                held(1, "agent-1"),
                held(2, "agent-1", ("in_progress", NOW - 9 * _H)),
                held(3, "agent-1", ("resolved", NOW - 9 * _H)),
                held(4, "agent-1", ("closed", NOW - 9 * _H)),
                held(5, "agent-2", ("waiting_on_customer", NOW - 9 * _H)),
                held(6, "agent-9"),
                held(7, None),
            ],
        )
        with storage.read() as tx:
            counts = tx.open_ticket_counts(["agent-1", "agent-2", "agent-3"], _DONE)
            assert counts == {"agent-1": 2, "agent-2": 1, "agent-3": 0}
            assert tx.open_ticket_counts(["agent-3"], _DONE) == {"agent-3": 0}
            assert tx.open_ticket_counts([], _DONE) == {}
            assert tx.open_ticket_counts(["agent-1"], ()) == {"agent-1": 4}
            assert tx.open_ticket_counts(["agent-1"], ("open", "resolved", "closed")) == {
                "agent-1": 1
            }
        with storage.write() as tx:
            tx.set_state("rr:team-1", "agent-2")
        with storage.write() as tx:
            reads = tx.create_reads(
                year=2026,
                agent_ids=["agent-1", "agent-2", "agent-3"],
                done_statuses=_DONE,
                state_key="rr:team-1",
            )
            assert reads.open_counts == {"agent-1": 2, "agent-2": 1, "agent-3": 0}
            assert (reads.number, reads.state) == (1, "agent-2")
            assert tx.next_ticket_number(2026) == 2  # create_reads reserved 1
            bare = tx.create_reads(year=None, agent_ids=[], done_statuses=_DONE, state_key=None)
            assert (bare.number, bare.open_counts, bare.state) == (None, {}, None)
            unknown = tx.create_reads(
                year=2027, agent_ids=["agent-9"], done_statuses=(), state_key="rr:none"
            )
            assert (unknown.number, unknown.open_counts, unknown.state) == (1, {"agent-9": 1}, None)
        with storage.read() as tx:  # a preview reads without reserving a number
            reads = tx.create_reads(
                year=None, agent_ids=["agent-2"], done_statuses=_DONE, state_key="rr:team-1"
            )
            assert (reads.number, reads.open_counts, reads.state) == (
                None,
                {"agent-2": 1},
                "agent-2",
            )

    def test_a_batch_is_counted_and_tagged_like_single_inserts(self, storage: Storage) -> None:
        # A backend may keep open counts and tags up to date per statement rather than
        # per row (a bulk insert is one statement); the answers must not differ.
        agents = ("agent-1", "agent-2", "agent-3", None)
        statuses = ("open", "in_progress", "resolved", "closed", "waiting_on_customer")
        moves = {
            "open": (),
            "in_progress": (("in_progress", NOW - 9 * _H),),
            "resolved": (("resolved", NOW - 9 * _H),),
            "closed": (("closed", NOW - 9 * _H),),
            "waiting_on_customer": (("waiting_on_customer", NOW - 9 * _H),),
        }
        tickets = [
            attrs.evolve(
                _assign(
                    _move(make_ticket(n, at=NOW - 10 * _H), *moves[statuses[n % 5]]),
                    agents[n % 4],
                ),
                tags=("vip",) if n % 3 == 0 else ("vip", "outage") if n % 3 == 1 else (),
            )
            for n in range(1, 61)
        ]
        # Agents and statuses repeat every 20 tickets: the second batch holds each pair
        # twice, and adds to what the first counted.
        with storage.write() as tx:
            tx.insert_tickets((ticket, None) for ticket in tickets[:20])
        with storage.write() as tx:
            tx.insert_tickets((ticket, None) for ticket in tickets[20:])
        names = ["agent-1", "agent-2", "agent-3"]

        def expected(stored: Sequence[Ticket]) -> dict[str, int]:
            holders = [
                t.assigned_to.agent_id
                for t in stored
                if t.assigned_to is not None and t.status not in _DONE
            ]
            return {name: holders.count(name) for name in names}

        def tagged(tag: str) -> set[str]:
            with storage.read() as tx:
                page = tx.search_tickets(TicketQuery(now=NOW, tags=(tag,), limit=100))
            return {t.id for t in page.items}

        with storage.read() as tx:
            assert tx.open_ticket_counts(names, _DONE) == expected(tickets)
        assert tagged("outage") == {t.id for t in tickets if "outage" in t.tags}
        # Changes after the batch: reassign, close, retag.
        changed = list(tickets)
        with storage.write() as tx:
            for i in range(0, 60, 3):
                old = changed[i]
                new = _assign(old, agents[(i + 1) % 4])
                if i % 2 and new.status == "open":
                    new = _move(new, ("resolved", NOW - 8 * _H))
                new = attrs.evolve(new, tags=("outage",), version=old.version + 1)
                tx.update_ticket(new, expected_version=old.version, next_due_at=None)
                changed[i] = new
        with storage.read() as tx:
            assert tx.open_ticket_counts(names, _DONE) == expected(changed)
        assert tagged("outage") == {t.id for t in changed if "outage" in t.tags}
        assert tagged("vip") == {t.id for t in changed if "vip" in t.tags}

    def test_an_empty_batch_stores_nothing(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.insert_tickets(iter(()))
        with storage.read() as tx:
            assert _search(tx).total == 0

    def test_a_large_batch_is_stored_whole(self, storage: Storage) -> None:
        # More rows than a backend is likely to send in one statement.
        tickets = [make_ticket(n, at=NOW, tags=("bulk",)) for n in range(1, 1202)]
        with storage.write() as tx:
            tx.insert_tickets((ticket, None) for ticket in tickets)
        with storage.read() as tx:
            assert tx.get_ticket(tickets[0].id) == tickets[0]
            assert tx.get_ticket(tickets[-1].id) == tickets[-1]
            assert tx.get_ticket_by_number(tickets[777].number) == tickets[777]
            assert _search(tx).total == len(tickets)
            page = tx.search_tickets(TicketQuery(now=NOW, tags=("bulk",), limit=1))
            assert page.total == len(tickets)

    def test_a_taken_id_late_in_a_large_batch_keeps_none_of_it(self, storage: Storage) -> None:
        original = make_ticket(1, at=NOW, title="Original")
        with storage.write() as tx:
            tx.insert_ticket(original, next_due_at=None)
        tickets = [make_ticket(n, at=NOW) for n in range(2, 1203)]
        tickets[1100] = attrs.evolve(tickets[1100], id=original.id)
        with pytest.raises(AlreadyExists) as caught, storage.write() as tx:
            tx.insert_tickets((ticket, None) for ticket in tickets)
        assert (caught.value.kind, caught.value.key) == ("ticket", original.id)
        with storage.read() as tx:
            assert _search(tx).total == 1
            assert tx.get_ticket(original.id) == original
            assert tx.get_ticket(tickets[0].id) is None

    def test_claim_due_tickets(self, storage: Storage) -> None:
        due = {
            "due-1h-ago": NOW - _H,
            "due-now": NOW,
            "due-2h-ago": NOW - 2 * _H,
            "due-soon": NOW + _US,
            "due-later": NOW + 3 * _H,
        }
        with storage.write() as tx:
            for n, (ticket_id, at) in enumerate(due.items(), start=1):
                tx.insert_ticket(make_ticket(n, at=NOW, ticket_id=ticket_id), next_due_at=at)
            tx.insert_ticket(make_ticket(9, at=NOW, ticket_id="never-due"), next_due_at=None)
        with storage.write() as tx:
            assert tx.claim_due_tickets(NOW, 10) == ["due-2h-ago", "due-1h-ago", "due-now"]
        with storage.write() as tx:
            assert tx.claim_due_tickets(NOW, 2) == ["due-2h-ago", "due-1h-ago"]
        with storage.write() as tx:
            assert tx.claim_due_tickets(NOW - 3 * _H, 10) == []
        with storage.write() as tx:
            assert tx.claim_due_tickets(NOW + 10 * 365 * 24 * _H, 100) == [
                "due-2h-ago", "due-1h-ago", "due-now", "due-soon", "due-later"
            ]  # fmt: skip
        # In another offset, the same instant claims the same tickets.
        with storage.write() as tx:
            offset = NOW.astimezone(timezone(timedelta(hours=-7)))
            assert tx.claim_due_tickets(offset, 10) == ["due-2h-ago", "due-1h-ago", "due-now"]

    def test_claim_follows_updated_due_instants(self, storage: Storage) -> None:
        first, second = make_ticket(1, at=NOW), make_ticket(2, at=NOW)
        with storage.write() as tx:
            tx.insert_ticket(first, next_due_at=NOW - _H)
            tx.insert_ticket(second, next_due_at=None)
        with storage.write() as tx:
            tx.update_ticket(attrs.evolve(first, version=2), expected_version=1, next_due_at=None)
            tx.update_ticket(
                attrs.evolve(second, version=2), expected_version=1, next_due_at=NOW - _M
            )
        with storage.write() as tx:
            assert tx.claim_due_tickets(NOW, 10) == [second.id]

    # -- aggregates -----------------------------------------------------------------------

    def _stats_storage(self, storage: Storage) -> tuple[list[Ticket], list[Comment]]:
        tickets, comments = _stats_corpus()
        _seed(storage, tickets)
        with storage.write() as tx:
            for comment in comments:
                tx.insert_comment(comment)
        return tickets, comments

    @staticmethod
    def _stats(storage: Storage, query: StatsQuery) -> dict[Any, TicketStats]:
        with storage.read() as tx:
            found = tx.ticket_stats(query)
        by_group = {stats.group: stats for stats in found}
        assert len(by_group) == len(found), "a group was answered twice"
        return by_group

    def test_ticket_stats_of_a_period(self, storage: Storage) -> None:
        tickets, comments = self._stats_storage(storage)
        query = StatsQuery(start=NOW - 10 * _H, end=NOW)
        found = self._stats(storage, query)
        # Worked out by hand from the corpus, then by the reference computation.
        assert found == {
            (): TicketStats(
                (),
                total=7,  # s-1, s-2, s-4, s-6, s-7, s-8, s-9
                resolved=4,  # s-1, s-2, s-6, s-9
                open=2,  # s-4 (in progress), s-8 (reopened)
                resolution_us=(1 + 2 + 8 + 1) * 3_600_000_000 + 30 * 60_000_000 + 999_999 + 750_000,
                sla_measured=3,  # s-9 has no SLA
                sla_met=2,  # s-6 was resolved after its 8 hours
                escalated=2,  # s-4, s-6
                first_contact=3,  # s-6 had two agent replies
            )
        }
        assert found == _expected_stats(tickets, comments, query)

    def test_ticket_stats_of_an_empty_period(self, storage: Storage) -> None:
        self._stats_storage(storage)
        query = StatsQuery(start=NOW + _H, end=NOW + 2 * _H)
        assert self._stats(storage, query) == {(): TicketStats(())}
        grouped = StatsQuery(start=NOW + _H, end=NOW + 2 * _H, group_by=("category",))
        assert self._stats(storage, grouped) == {}

    @pytest.mark.parametrize(
        "group_by",
        [("category",), ("priority",), ("customer",), ("category", "priority"),
         ("customer", "category", "priority")],
    )  # fmt: skip
    def test_ticket_stats_grouped(self, storage: Storage, group_by: tuple[str, ...]) -> None:
        tickets, comments = self._stats_storage(storage)
        query = StatsQuery(start=NOW - 10 * _H, end=NOW, group_by=group_by)
        found = self._stats(storage, query)
        assert found == _expected_stats(tickets, comments, query)
        assert len(found) > 1

    def test_ticket_stats_grouped_by_buckets(self, storage: Storage) -> None:
        tickets, comments = self._stats_storage(storage)
        # Uneven ranges, like local days around a DST change; [NOW - 1 h, NOW) is in none.
        buckets = (NOW - 10 * _H, NOW - 9 * _H, NOW - 9 * _H + _US, NOW - 2 * _H, NOW - _H)
        query = StatsQuery(start=NOW - 10 * _H, end=NOW, group_by=("bucket",), buckets=buckets)
        found = self._stats(storage, query)
        assert found == _expected_stats(tickets, comments, query)
        assert {key: stats.total for key, stats in found.items()} == {
            (0,): 2,  # s-4 at the start, s-6
            (1,): 2,  # s-1, s-2 exactly at the boundary
            (2,): 2,  # s-7, s-9
            (3,): 1,  # s-8 exactly at the boundary
        }
        both = StatsQuery(
            start=NOW - 10 * _H, end=NOW, group_by=("category", "bucket"), buckets=buckets
        )
        assert self._stats(storage, both) == _expected_stats(tickets, comments, both)

    def test_ticket_stats_filters(self, storage: Storage) -> None:
        tickets, comments = self._stats_storage(storage)
        for filters in (
            {"customer_ids": ("cust-a",)},
            {"customer_ids": ("cust-a", "cust-b")},
            {"categories": ("billing", "hardware")},
            {"priorities": ("medium", "critical")},
            {"customer_ids": ("cust-b",), "priorities": ("low",), "categories": ("billing",)},
            {"customer_ids": ("nobody",)},
            {"done_statuses": ()},
            {"done_statuses": ("closed",)},
        ):
            query = StatsQuery(start=NOW - 20 * _H, end=NOW + _H, **filters)
            assert self._stats(storage, query) == _expected_stats(tickets, comments, query), filters
            grouped = attrs.evolve(query, group_by=("customer",))
            assert self._stats(storage, grouped) == _expected_stats(tickets, comments, grouped), (
                filters
            )

    def test_ticket_stats_follow_updates(self, storage: Storage) -> None:
        """Resolving, reopening and new agent replies change the aggregates at once."""
        ticket = make_ticket(1, at=NOW - 3 * _H)
        _seed(storage, [ticket])
        query = StatsQuery(start=NOW - 10 * _H, end=NOW)
        resolved = _move(ticket, ("resolved", NOW - 2 * _H))
        with storage.write() as tx:
            tx.update_ticket(
                attrs.evolve(resolved, version=2), expected_version=1, next_due_at=None
            )
            for n in (1, 2):
                tx.insert_comment(
                    _reply(f"r-{n}", ticket.id, by="agent", visibility="customer", at=NOW - _H)
                )
        stats = self._stats(storage, query)[()]
        assert (stats.resolved, stats.open, stats.first_contact) == (1, 0, 0)
        assert stats.resolution_us == 3_600_000_000
        reopened = _move(resolved, ("open", NOW - _H))
        with storage.write() as tx:
            tx.update_ticket(
                attrs.evolve(reopened, version=3), expected_version=2, next_due_at=None
            )
        stats = self._stats(storage, query)[()]
        assert (stats.resolved, stats.open, stats.resolution_us) == (0, 1, 0)

    # -- comments and attachments ---------------------------------------------------------

    def test_comments_round_trip_in_order(self, storage: Storage) -> None:
        ticket, other = make_ticket(1, at=NOW - _H), make_ticket(2, at=NOW - _H)
        attachment = Attachment("att-c1", "log.txt", "text/plain", 5, "0" * 64)
        comments = [
            _comment("c-1", ticket.id, "First ✓ reply", at=NOW - 50 * _M,
                     attachments=(attachment,)),
            _comment("c-2", ticket.id, "Internal\nnote", at=NOW - 40 * _M, visibility="internal"),
            _comment("c-3", ticket.id, "Third 日本語", at=NOW - 30 * _M + 7 * _US),
        ]  # fmt: skip
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
            tx.insert_ticket(other, next_due_at=None)
            for comment in comments:
                tx.insert_comment(comment)
            tx.insert_comment(_comment("c-other", other.id, "Elsewhere", at=NOW - 45 * _M))
        with storage.read() as tx:
            assert tx.list_comments(ticket.id) == comments
            assert tx.list_comments(ticket.id, visibility="customer") == [
                comments[0], comments[2]
            ]  # fmt: skip
            assert tx.list_comments(ticket.id, visibility="internal") == [comments[1]]
            assert [c.id for c in tx.list_comments(other.id)] == ["c-other"]
            assert tx.list_comments("no-such-ticket") == []

    def test_comments_are_listed_oldest_first(self, storage: Storage) -> None:
        """Oldest first by ``created_at``, whatever the order they were stored in."""
        ticket = make_ticket(1, at=NOW - _H)
        late = _comment("c-late", ticket.id, "late", at=NOW - 10 * _M)
        early = _comment("c-early", ticket.id, "early", at=NOW - 50 * _M)
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
            tx.insert_comment(late)
            tx.insert_comment(early)
        with storage.read() as tx:
            assert [c.id for c in tx.list_comments(ticket.id)] == ["c-early", "c-late"]

    def test_duplicate_comment_id_already_exists(self, storage: Storage) -> None:
        ticket = make_ticket(1, at=NOW)
        original = _comment("c-1", ticket.id, "original", at=NOW)
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
            tx.insert_comment(original)
        with pytest.raises(AlreadyExists), storage.write() as tx:
            tx.insert_comment(_comment("c-1", ticket.id, "copy", at=NOW + _M))
        with storage.read() as tx:
            assert tx.list_comments(ticket.id) == [original]

    def test_duplicate_attachment_id_already_exists(self, storage: Storage) -> None:
        ticket = make_ticket(1, at=NOW)
        first = Attachment("att-1", "a.txt", "text/plain", 3)
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
            tx.insert_attachment(first, ticket_id=ticket.id, comment_id=None, data=b"one",
                                 created_at=NOW)  # fmt: skip
        second = Attachment("att-1", "b.txt", "text/plain", 3)
        with pytest.raises(AlreadyExists) as caught, storage.write() as tx:
            tx.insert_comment(_comment("c-1", ticket.id, "with a file", at=NOW + _M))
            tx.insert_attachment(second, ticket_id=ticket.id, comment_id="c-1", data=b"two",
                                 created_at=NOW + _M)  # fmt: skip
        assert (caught.value.kind, caught.value.key) == ("attachment", "att-1")
        with storage.read() as tx:
            stored = tx.get_attachment("att-1")
            assert stored is not None
            assert (stored.attachment, stored.comment_id, stored.data) == (first, None, b"one")
            assert tx.list_comments(ticket.id) == []  # the rest of that transaction too

    def test_move_comments(self, storage: Storage) -> None:
        source, target = make_ticket(1, at=NOW - 3 * _H), make_ticket(2, at=NOW - 3 * _H)
        on_comment = Attachment("att-on-comment", "a.txt", "text/plain", 3)
        on_ticket = Attachment("att-on-ticket", "b.txt", "text/plain", 3)
        moved = [
            _comment("c-1", source.id, "Emu sighting", at=NOW - 2 * _H,
                     attachments=(on_comment,)),
            _comment("c-2", source.id, "Internal", at=NOW - 90 * _M, visibility="internal"),
        ]  # fmt: skip
        existing = _comment("c-3", target.id, "Already here", at=NOW - _H)
        with storage.write() as tx:
            tx.insert_ticket(source, next_due_at=None)
            tx.insert_ticket(target, next_due_at=None)
            for comment in [*moved, existing]:
                tx.insert_comment(comment)
            tx.insert_attachment(
                on_comment,
                ticket_id=source.id,
                comment_id="c-1",
                data=b"one",
                created_at=NOW - 2 * _H,
            )
            tx.insert_attachment(
                on_ticket,
                ticket_id=source.id,
                comment_id=None,
                data=b"two",
                created_at=NOW - 3 * _H,
            )
        with storage.write() as tx:
            assert tx.move_comments(source.id, target.id) == 2
        with storage.read() as tx:
            assert tx.list_comments(source.id) == []
            listed = tx.list_comments(target.id)
            assert sorted(c.id for c in listed) == ["c-1", "c-2", "c-3"]
            assert all(c.ticket_id == target.id for c in listed)
            by_id = {c.id: c for c in listed}
            for comment in moved:
                assert by_id[comment.id] == attrs.evolve(comment, ticket_id=target.id)
            assert by_id["c-3"] == existing
            stored = tx.get_attachment("att-on-comment")
            assert stored is not None
            assert (stored.ticket_id, stored.comment_id, stored.data) == (target.id, "c-1", b"one")
            stayed = tx.get_attachment("att-on-ticket")
            assert stayed is not None
            assert (stayed.ticket_id, stayed.comment_id) == (source.id, None)
            # The text search follows the comments.
            assert _ids(_search(tx, text="emu")) == {target.id}
        with storage.write() as tx:
            assert tx.move_comments(source.id, target.id) == 0
            assert tx.move_comments("no-such-ticket", target.id) == 0

    def test_moved_comments_are_listed_oldest_first(self, storage: Storage) -> None:
        """A merge moves older comments onto a ticket: the list stays oldest first."""
        source, target = make_ticket(1, at=NOW - 3 * _H), make_ticket(2, at=NOW - 3 * _H)
        with storage.write() as tx:
            tx.insert_ticket(source, next_due_at=None)
            tx.insert_ticket(target, next_due_at=None)
            tx.insert_comment(_comment("c-newest", target.id, "newest", at=NOW - _H))
            tx.insert_comment(_comment("c-oldest", source.id, "oldest", at=NOW - 150 * _M))
            tx.insert_comment(_comment("c-middle", source.id, "middle", at=NOW - 2 * _H))
        with storage.write() as tx:
            tx.move_comments(source.id, target.id)
        with storage.read() as tx:
            listed = [c.id for c in tx.list_comments(target.id)]
        assert listed == ["c-oldest", "c-middle", "c-newest"]

    def test_attachments_keep_their_exact_bytes(self, storage: Storage) -> None:
        ticket = make_ticket(1, at=NOW)
        blobs = {
            "att-nul": b"\x00",
            "att-binary": b"\x00\x01\xff\xfe\x00NUL\x00 in the middle\r\n\x00",
            "att-empty": b"",
            "att-text": "ünïcode ✓ 日本語\n".encode(),
            "att-mib": bytes(range(256)) * 4096,  # 1 MiB, every byte value
        }
        attachments = {
            key: Attachment(key, f"{key}.bin", "application/octet-stream", len(data), "f" * 64)
            for key, data in blobs.items()
        }
        with storage.write() as tx:
            tx.insert_ticket(ticket, next_due_at=None)
            tx.insert_comment(_comment("c-1", ticket.id, "with files", at=NOW))
            for key, data in blobs.items():
                comment_id = "c-1" if key == "att-mib" else None
                tx.insert_attachment(
                    attachments[key],
                    ticket_id=ticket.id,
                    comment_id=comment_id,
                    data=data,
                    created_at=NOW,
                )
        with storage.read() as tx:
            for key, data in blobs.items():
                stored = tx.get_attachment(key)
                assert stored is not None, key
                assert stored.attachment == attachments[key]
                assert type(stored.data) is bytes
                assert stored.data == data, key
                assert stored.ticket_id == ticket.id
                assert stored.comment_id == ("c-1" if key == "att-mib" else None)
            assert tx.get_attachment("no-such-attachment") is None
        assert len(blobs["att-mib"]) == 1024 * 1024

    # -- events ---------------------------------------------------------------------------

    def test_insert_events_gives_increasing_seq(self, storage: Storage) -> None:
        batch = [_event(f"ev-{n}", at=NOW + n * _US) for n in range(3)]
        with storage.write() as tx:
            stored = tx.insert_events(batch)
        assert [attrs.evolve(e, seq=None) for e in stored] == batch
        assert all(isinstance(e.seq, int) for e in stored)
        seqs = [e.seq or 0 for e in stored]
        assert seqs == sorted(set(seqs)), "seq must increase"
        with storage.write() as tx:
            later = tx.insert_events([_event("ev-later")])
            assert list(tx.insert_events([])) == []
        assert later[0].seq is not None and later[0].seq > max(seqs)
        with storage.read() as tx:
            assert tx.list_events() == [*stored, *later]
            for event in [*stored, *later]:
                assert tx.event_seq(event.id) == event.seq
            assert tx.event_seq("no-such-event") is None

    def test_duplicate_event_id_already_exists_and_the_batch_is_not_kept(
        self, storage: Storage
    ) -> None:
        with storage.write() as tx:
            first = tx.insert_events([_event("ev-1")])
        with pytest.raises(AlreadyExists) as caught, storage.write() as tx:
            tx.insert_events([_event("ev-2"), _event("ev-1", at=NOW + _M), _event("ev-3")])
        assert (caught.value.kind, caught.value.key) == ("event", "ev-1")
        with storage.read() as tx:
            assert tx.list_events() == list(first)

    def test_a_large_event_batch_is_numbered_in_order(self, storage: Storage) -> None:
        with storage.write() as tx:
            first = tx.insert_events([_event("ev-first")])
        batch = [_event(f"ev-{n}", at=NOW + n * _US) for n in range(1201)]
        with storage.write() as tx:
            stored = tx.insert_events(batch)
        assert [attrs.evolve(e, seq=None) for e in stored] == batch
        seqs = [e.seq or 0 for e in [*first, *stored]]
        assert seqs == sorted(set(seqs)), "seq must increase"
        with storage.read() as tx:
            assert tx.list_events(limit=2000) == [*first, *stored]
        # A taken id late in a large batch: none of the batch is kept.
        late = [_event(f"late-{n}") for n in range(1201)]
        late[1150] = _event("ev-first")
        with pytest.raises(AlreadyExists) as caught, storage.write() as tx:
            tx.insert_events(late)
        assert (caught.value.kind, caught.value.key) == ("event", "ev-first")
        with storage.read() as tx:
            assert tx.list_events(limit=2000) == [*first, *stored]
            assert tx.event_seq("late-0") is None

    def test_list_events_filters(self, storage: Storage) -> None:
        events = [
            _event("e1", ticket_id="t1", customer_id="cust-a"),
            _event("e2", ticket_id="t1", customer_id="cust-a", visibility="internal"),
            _event("e3", ticket_id="t2", customer_id="cust-b"),
            _event("e4", type="config.changed"),
            _event("e5", ticket_id="t1", customer_id="cust-a"),
            _event("e6", ticket_id="t3", customer_id="cust-a", visibility="internal"),
        ]
        with storage.write() as tx:
            first = tx.insert_events(events[:3])
        with storage.write() as tx:
            stored = [*first, *tx.insert_events(events[3:])]
        seq = {e.id: e.seq or 0 for e in stored}

        def listed(**filters: Any) -> list[str]:
            with storage.read() as tx:
                found = tx.list_events(**filters)
            assert found == [e for e in stored if e.id in {f.id for f in found}]
            return [e.id for e in found]

        assert listed() == ["e1", "e2", "e3", "e4", "e5", "e6"]
        assert listed(after_seq=seq["e2"]) == ["e3", "e4", "e5", "e6"]
        assert listed(after_seq=seq["e6"]) == []
        assert listed(limit=2) == ["e1", "e2"]
        assert listed(after_seq=seq["e1"], limit=3) == ["e2", "e3", "e4"]
        assert listed(ticket_id="t1") == ["e1", "e2", "e5"]
        assert listed(ticket_id="t1", after_seq=seq["e1"]) == ["e2", "e5"]
        assert listed(ticket_id="no-such-ticket") == []
        assert listed(include_internal=False) == ["e1", "e3", "e4", "e5"]
        assert listed(customer_id="cust-a") == ["e1", "e2", "e5", "e6"]
        assert listed(customer_id="cust-a", include_internal=False) == ["e1", "e5"]
        assert listed(
            customer_id="cust-a",
            ticket_id="t1",
            include_internal=False,
            after_seq=seq["e1"],
            limit=10,
        ) == ["e5"]

    def test_events_sharing_a_ticket_shape_read_back_whole(self, storage: Storage) -> None:
        # A command's events carry one dict, the ticket's shape, under their first key;
        # a backend may store it once. Each event must still read back whole, however
        # it is listed, from a small batch (INSERT) and a large one (COPY, say).
        def command(n: int, ticket_id: str, visibility: str) -> list[Event]:
            shape = {"id": ticket_id, "title": f"Ünïcode {n}", "tags": ["a", "b"]}
            extras: list[dict[str, Any]] = [{}, {"assigned_to": "agent-1"}, {"n": [n, None]}]
            events = []
            for k, extra in enumerate(extras):
                event = _event(
                    f"{ticket_id}-e{k}", ticket_id=ticket_id, customer_id="cust-a",
                    visibility=visibility if k == 0 else "customer",
                )  # fmt: skip
                events.append(attrs.evolve(event, data={"ticket": shape, **extra}))
            return events

        small = command(0, "t-small", "internal")
        # The same shape under another ticket, and an equal copy: each stands alone.
        other = attrs.evolve(small[1], id="t-other-e1", ticket_id="t-other")
        copied = attrs.evolve(
            small[2], id="t-small-copy", data={"ticket": dict(small[2].data["ticket"])}
        )
        large = [event for n in range(20) for event in command(n, f"t-large-{n}", "customer")]
        with storage.write() as tx:
            stored = [*tx.insert_events([*small, other, copied])]
        with storage.write() as tx:
            stored += tx.insert_events(large)
        assert [attrs.evolve(e, seq=None) for e in stored] == [*small, other, copied, *large]
        seq = {e.id: e.seq or 0 for e in stored}
        with storage.read() as tx:
            assert tx.list_events(limit=1000) == stored
            # Listed without the event that holds the shape: after it, or filtered out.
            assert tx.list_events(after_seq=seq["t-small-e0"], limit=2) == stored[1:3]
            assert tx.list_events(include_internal=False, ticket_id="t-small") == [
                stored[1],
                stored[2],
                stored[4],
            ]
            assert tx.list_events(ticket_id="t-large-7", after_seq=seq["t-large-7-e1"]) == [
                e for e in stored if e.id == "t-large-7-e2"
            ]
        for event in stored:
            assert next(iter(event.data)) == "ticket"

    def test_events_of_a_rolled_back_transaction_are_gone(self, storage: Storage) -> None:
        with storage.write() as tx:
            kept = tx.insert_events([_event("kept")])
        with pytest.raises(_Boom), storage.write() as tx:
            doomed = tx.insert_events([_event("doomed-1"), _event("doomed-2")])
            assert tx.event_seq("doomed-1") == doomed[0].seq
            raise _Boom
        with storage.read() as tx:
            assert tx.list_events() == list(kept)
            assert tx.event_seq("doomed-1") is None
            assert tx.event_seq("doomed-2") is None
        with storage.write() as tx:
            after = tx.insert_events([_event("doomed-1")])
        assert after[0].seq is not None and kept[0].seq is not None
        assert after[0].seq > kept[0].seq
        with storage.read() as tx:
            assert [e.id for e in tx.list_events()] == ["kept", "doomed-1"]

    # -- documents ------------------------------------------------------------------------

    def test_documents_round_trip(self, storage: Storage) -> None:
        first = _document(1, status="generating")
        child = _document(2, kind="delivery", parent="wh-1")
        with storage.write() as tx:
            stored = [tx.insert_document(first), tx.insert_document(child)]
            assert tx.get_document("report", "doc-1") == stored[0]
        assert [attrs.evolve(d, seq=None) for d in stored] == [first, child]
        assert all(isinstance(d.seq, int) for d in stored)
        with storage.read() as tx:
            assert tx.get_document("report", "doc-1") == stored[0]
            assert tx.get_document("delivery", "doc-2") == stored[1]
            assert tx.get_document("delivery", "doc-1") is None
            assert tx.get_document("report", "missing") is None

    def test_duplicate_document_id_already_exists(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.insert_document(_document(1))
        with pytest.raises(AlreadyExists), storage.write() as tx:
            tx.insert_document(attrs.evolve(_document(1), data={"other": True}))
        with storage.write() as tx:
            tx.insert_document(_document(1, kind="delivery"))  # another kind: fine
        with storage.read() as tx:
            found = tx.get_document("report", "doc-1")
            assert found is not None and found.data == _document(1).data

    def test_update_document(self, storage: Storage) -> None:
        with storage.write() as tx:
            stored = tx.insert_document(_document(1, status="generating"))
        with storage.write() as tx:
            assert tx.update_document("report", "doc-1", data={"done": ["✓"]}, status="completed")
            assert not tx.update_document("report", "doc-9", data={}, status=None)
            assert not tx.update_document("delivery", "doc-1", data={}, status=None)
        with storage.read() as tx:
            assert tx.get_document("report", "doc-1") == attrs.evolve(
                stored, data={"done": ["✓"]}, status="completed"
            )

    def test_list_documents(self, storage: Storage) -> None:
        documents = [
            _document(1, status="generating"),
            _document(2, kind="delivery", parent="wh-1", status="failed"),
            _document(3, status="completed"),
            _document(4, kind="delivery", parent="wh-2", status="succeeded"),
            _document(5, status="generating"),
            _document(6, kind="delivery", parent="wh-1", status="succeeded"),
        ]
        with storage.write() as tx:
            stored = [tx.insert_document(d) for d in documents]
        seqs = [d.seq or 0 for d in stored]
        assert seqs == sorted(set(seqs)), "seq must increase"
        by_id = {d.id: d for d in stored}

        def listed(kind: str, **options: Any) -> list[str]:
            with storage.read() as tx:
                found = tx.list_documents(kind, **options)
            assert found == [by_id[d.id] for d in found]
            return [d.id for d in found]

        assert listed("report") == ["doc-1", "doc-3", "doc-5"]
        assert listed("report", status="generating") == ["doc-1", "doc-5"]
        assert listed("report", status="generating", limit=1) == ["doc-1"]
        assert listed("report", after_seq=by_id["doc-1"].seq or 0) == ["doc-3", "doc-5"]
        assert listed("delivery", parent="wh-1") == ["doc-2", "doc-6"]
        assert listed("delivery", parent="wh-1", status="succeeded") == ["doc-6"]
        assert listed("delivery", parent="wh-3") == []
        assert listed("nothing") == []
        with storage.write() as tx:
            claimed = tx.list_documents("report", status="generating", limit=5, claim=True)
        assert [d.id for d in claimed] == ["doc-1", "doc-5"]

    def test_delete_documents(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.insert_document(_document(1))
            tx.insert_document(_document(2, kind="delivery", parent="wh-1"))
            tx.insert_document(_document(3, kind="delivery", parent="wh-1"))
            tx.insert_document(_document(4, kind="delivery", parent="wh-2"))
        with storage.write() as tx:
            assert tx.delete_documents("report", document_id="doc-1") == 1
            assert tx.delete_documents("report", document_id="doc-1") == 0
            assert tx.delete_documents("delivery", parent="wh-1") == 2
            assert tx.delete_documents("report", parent="wh-2") == 0
            with pytest.raises(ValidationError):
                tx.delete_documents("delivery")
        with storage.read() as tx:
            assert [d.id for d in tx.list_documents("delivery")] == ["doc-4"]
            assert tx.get_document("report", "doc-1") is None

    def test_documents_roll_back_and_are_not_configuration(self, storage: Storage) -> None:
        with storage.read() as tx:
            version = tx.config_version()
        with pytest.raises(_Boom), storage.write() as tx:
            tx.insert_document(_document(1))
            raise _Boom
        with storage.read() as tx:
            assert tx.get_document("report", "doc-1") is None
        with storage.write() as tx:
            tx.insert_document(_document(1))
            tx.update_document("report", "doc-1", data={}, status="completed")
        with storage.write() as tx:
            tx.delete_documents("report", document_id="doc-1")
        with storage.read() as tx:
            assert tx.config_version() == version

    def test_two_workers_never_claim_the_same_document(self, storage: Storage) -> None:
        with storage.write() as tx:
            for n in (1, 2):
                tx.insert_document(_document(n, status="pending"))
        claimed: dict[str, list[str]] = {}
        first_holds = threading.Event()
        errors: list[BaseException] = []

        def worker(name: str, hold: float) -> None:
            try:
                with storage.write() as tx:
                    found = tx.list_documents("report", status="pending", limit=1, claim=True)
                    claimed[name] = [d.id for d in found]
                    if hold:
                        first_holds.set()
                        time.sleep(hold)
                    for document in found:
                        tx.update_document("report", document.id, data={}, status="done")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                first_holds.set()

        first = threading.Thread(target=worker, args=("first", 0.2))
        first.start()
        assert first_holds.wait(10)
        second = threading.Thread(target=worker, args=("second", 0))
        second.start()
        first.join(10)
        second.join(10)
        assert not errors, errors
        assert sorted(claimed["first"] + claimed["second"]) == ["doc-1", "doc-2"]

    # -- configuration resources and state ------------------------------------------------

    def test_resources_round_trip(self, storage: Storage) -> None:
        data = {"name": "Network ✓", "nested": {"list": [1, 2.5, None, True]}, "empty": {}}
        with storage.write() as tx:
            tx.put_resource("categories", "network", data)
            tx.put_resource("teams", "network", {"name": "the team"})
        with storage.read() as tx:
            assert tx.get_resource("categories", "network") == data
            assert tx.get_resource("teams", "network") == {"name": "the team"}
            assert tx.get_resource("categories", "missing") is None
            assert tx.get_resource("agents", "network") is None
            assert tx.list_resources("categories") == [data]
            assert tx.list_resources("agents") == []

    def test_resources_are_listed_by_position_then_id(self, storage: Storage) -> None:
        def rule(rule_id: str, version: int = 1) -> dict[str, Any]:
            return {"id": rule_id, "v": version}

        def order() -> list[str]:
            with storage.read() as tx:
                return [r["id"] for r in tx.list_resources("routing_rules")]

        with storage.write() as tx:
            for rule_id in ("c", "a", "b"):  # appended in this order
                tx.put_resource("routing_rules", rule_id, rule(rule_id))
            tx.put_resource("sla_policies", "z", rule("z"))
        assert order() == ["c", "a", "b"]
        with storage.write() as tx:
            tx.put_resource("routing_rules", "a", rule("a", 2))  # replaced in place
        assert order() == ["c", "a", "b"]
        with storage.read() as tx:
            assert tx.get_resource("routing_rules", "a") == rule("a", 2)
        with storage.write() as tx:
            tx.put_resource("routing_rules", "d", rule("d"))  # appended at the end
        assert order() == ["c", "a", "b", "d"]
        with storage.write() as tx:
            tx.put_resource("routing_rules", "b", rule("b"), position=-1)  # moved first
        assert order() == ["b", "c", "a", "d"]
        with storage.write() as tx:
            # An equal position is ordered by id.
            tx.put_resource("routing_rules", "e", rule("e"), position=-1)
            tx.put_resource("routing_rules", "0", rule("0"), position=-1)
        assert order() == ["0", "b", "e", "c", "a", "d"]
        with storage.write() as tx:
            tx.put_resource("routing_rules", "f", rule("f"))  # after the highest position
            tx.put_resource("routing_rules", "e", rule("e", 2))  # keeps its position
        assert order() == ["0", "b", "e", "c", "a", "d", "f"]
        with storage.read() as tx:
            assert [r["id"] for r in tx.list_resources("sla_policies")] == ["z"]

    def test_delete_resource(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.put_resource("teams", "t1", {"name": "One"})
            tx.put_resource("teams", "t2", {"name": "Two"})
            tx.put_resource("agents", "t1", {"name": "Agent"})
        with storage.write() as tx:
            assert tx.delete_resource("teams", "t1") is True
            assert tx.delete_resource("teams", "t1") is False
            assert tx.delete_resource("teams", "never") is False
        with storage.read() as tx:
            assert tx.get_resource("teams", "t1") is None
            assert tx.list_resources("teams") == [{"name": "Two"}]
            assert tx.get_resource("agents", "t1") == {"name": "Agent"}

    def test_config_version_changes_with_every_resource_change(self, storage: Storage) -> None:
        def version() -> int:
            with storage.read() as tx:
                return tx.config_version()

        seen = [version()]

        def changed() -> None:
            current = version()
            assert current != seen[-1], "config_version did not change"
            assert current not in seen, "config_version went back to an earlier value"
            seen.append(current)

        with storage.write() as tx:
            tx.put_resource("teams", "t1", {"name": "One"})
        changed()
        with storage.write() as tx:
            tx.put_resource("teams", "t1", {"name": "Renamed"})
        changed()
        with storage.write() as tx:
            tx.put_resource("routing_rules", "r1", {"id": "r1"}, position=3)
        changed()
        with storage.write() as tx:
            before = tx.config_version()
            later = tx.config_version_later()  # the version as of this point
            tx.put_resource("teams", "t2", {"name": "Two"})
            assert tx.config_version() != before  # visible inside the transaction too
            assert later() == before
        changed()
        with storage.write() as tx:
            later = tx.config_version_later()
            tx.get_resource("teams", "t2")
            assert later() == seen[-1] == tx.config_version()
        with storage.read() as tx:
            tx.get_resource("teams", "t1")
            tx.list_resources("teams")
            tx.get_state("anything")
        assert version() == seen[-1], "reading changed config_version"
        with storage.write() as tx:
            tx.set_state("rr:t1", "agent-1")
            tx.insert_ticket(make_ticket(1, at=NOW), next_due_at=None)
        assert version() == seen[-1], "state and tickets are not configuration"
        with storage.write() as tx:
            assert tx.delete_resource("teams", "t1")
        changed()

    def test_state(self, storage: Storage) -> None:
        with storage.read() as tx:
            assert tx.get_state("rr:team-1") is None
        with storage.write() as tx:
            tx.set_state("rr:team-1", "agent-1")
            tx.set_state("rr:team-2", "")
            tx.set_state("ünï ✓", '{"json": ["text"]}')
            assert tx.get_state("rr:team-1") == "agent-1"
        with storage.write() as tx:
            tx.set_state("rr:team-1", "agent-2")
        with storage.read() as tx:
            assert tx.get_state("rr:team-1") == "agent-2"
            assert tx.get_state("rr:team-2") == ""
            assert tx.get_state("ünï ✓") == '{"json": ["text"]}'
            assert tx.get_state("rr:team-3") is None

    def test_state_keys_are_the_callers_own(self, storage: Storage) -> None:
        """A fresh storage has no state, and no key disturbs the configuration version."""
        with storage.read() as tx:
            version = tx.config_version()
            for key in ("config_version", "schema_version", "version", ""):
                assert tx.get_state(key) is None, f"a fresh storage has state {key!r}"
        with storage.write() as tx:
            tx.set_state("config_version", "not a number")
        with storage.read() as tx:
            assert tx.config_version() == version
        with storage.write() as tx:
            tx.put_resource("teams", "t1", {"name": "One"})
        with storage.read() as tx:
            assert tx.config_version() != version
            assert tx.get_state("config_version") == "not a number"
