"""A stateful test over the Desk: random commands checked against a simple model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from supportkit import sla
from supportkit.desk import Desk
from supportkit.errors import InvalidTransition, ValidationError
from supportkit.lifecycle import STATUSES

from .desk_fixtures import Clock, seed, seed_ticket

TABLE = {
    "open": {"in_progress", "waiting_on_customer", "on_hold", "escalated", "resolved", "closed"},
    "in_progress": {"waiting_on_customer", "on_hold", "escalated", "resolved"},
    "waiting_on_customer": {"in_progress", "escalated", "resolved", "closed"},
    "on_hold": {"in_progress", "escalated", "resolved"},
    "escalated": {"in_progress", "waiting_on_customer", "on_hold", "resolved"},
    "resolved": {"closed", "open"},
    "closed": set(),
}
REPLY = {"waiting_on_customer": "in_progress", "resolved": "open"}
DONE = {"resolved", "closed"}


class DeskMachine(RuleBasedStateMachine):
    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.desk = seed(Desk.open(self.url(), clock=self.clock, load_entrypoints=False))
        self.status: dict[str, str] = {}
        self.public: dict[str, list[str]] = {}
        self.internal: dict[str, set[str]] = {}
        self.version: dict[str, int] = {}
        self.elapsed: dict[str, timedelta] = {}
        self.level: dict[str, int] = {}
        self.order: dict[str, int] = {}
        self.customer: dict[str, str | None] = {}

    def url(self) -> str:
        """Where each run's desk lives: a fresh in-memory SQLite database."""
        return "sqlite://"

    def teardown(self) -> None:
        self.desk.close()

    def track(self, ticket_id: str) -> None:
        self.status[ticket_id] = "open"
        self.public[ticket_id] = []
        self.internal[ticket_id] = set()
        self.version[ticket_id] = 1
        self.elapsed[ticket_id] = timedelta(0)
        self.level[ticket_id] = 0

    def refresh(self, ticket_id: str) -> None:
        ticket = self.desk.tickets.get(ticket_id)
        assert ticket.version > self.version[ticket_id]
        self.version[ticket_id] = ticket.version

    @rule(
        target=tickets,
        priority=st.sampled_from(["low", "medium", "high", "critical"]),
        customer=st.sampled_from(["cust_1234567890", "cust_small"]),
    )
    def create(self, priority: str, customer: str) -> str:
        ticket = self.desk.tickets.create(
            seed_ticket(priority=priority, customer_id=customer, attachments=[])
        )
        self.track(ticket.id)
        self.customer[ticket.id] = customer
        return ticket.id

    @rule(minutes=st.integers(min_value=1, max_value=600))
    def advance(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @rule(ticket=tickets, new=st.sampled_from(STATUSES))
    def move(self, ticket: str, new: str) -> None:
        current = self.status[ticket]
        if new == current:
            return
        try:
            self.desk.tickets.update(ticket, {"status": new})
        except InvalidTransition as exc:
            assert new not in TABLE[current]
            assert set(exc.allowed) == TABLE[current]
            return
        assert new in TABLE[current]
        self.status[ticket] = new
        self.refresh(ticket)

    @rule(ticket=tickets, visibility=st.sampled_from(["customer", "internal"]))
    def agent_comment(self, ticket: str, visibility: str) -> None:
        comment = self.desk.comments.add(
            ticket,
            {"content": "update", "visibility": visibility,
             "author": {"type": "agent", "id": "agent_tech_001"}},
        )  # fmt: skip
        self.order[comment.id] = len(self.order)
        if visibility == "customer":
            self.public[ticket].append(comment.id)
        else:
            self.internal[ticket].add(comment.id)
        self.refresh(ticket)

    @rule(target=tickets, ticket=tickets)
    def customer_reply(self, ticket: str) -> str:
        comment = self.desk.comments.add(
            ticket, {"content": "customer says hi", "author": {"type": "customer"}}
        )
        self.order[comment.id] = len(self.order)
        current = self.status[ticket]
        if current == "closed":
            assert comment.ticket_id != ticket
            self.track(comment.ticket_id)
            self.customer[comment.ticket_id] = self.customer[ticket]
            self.public[comment.ticket_id].append(comment.id)
            return comment.ticket_id
        assert comment.ticket_id == ticket
        self.status[ticket] = REPLY.get(current, current)
        self.public[ticket].append(comment.id)
        self.refresh(ticket)
        return ticket

    @rule(ticket=tickets, level=st.none() | st.integers(min_value=1, max_value=6))
    def escalate(self, ticket: str, level: int | None) -> None:
        current = self.status[ticket]
        try:
            after = self.desk.tickets.escalate(
                ticket, {"reason": "manual", "escalation_level": level}
            )
        except InvalidTransition:
            assert current in DONE
            return
        except ValidationError:
            target = self.level[ticket] + 1 if level is None else level
            assert not self.level[ticket] < target <= 5
            return
        assert current not in DONE
        if "escalated" in TABLE[current]:
            self.status[ticket] = "escalated"
        self.level[ticket] = after.escalation.level
        self.refresh(ticket)

    @rule(ticket=tickets, priority=st.sampled_from(["low", "medium", "high", "critical"]))
    def reprioritise(self, ticket: str, priority: str) -> None:
        before = self.desk.tickets.get(ticket)
        after = self.desk.tickets.update(ticket, {"priority": priority})
        self.refresh(ticket)
        self.status[ticket] = after.status
        self.level[ticket] = after.escalation.level
        if after.status != before.status:
            assert after.status == "escalated" and "escalated" in TABLE[before.status]

    @rule()
    def tick(self) -> None:
        self.desk.tick()
        for ticket_id in self.status:
            ticket = self.desk.tickets.get(ticket_id)
            if ticket.status != self.status[ticket_id]:
                assert ticket.status == "escalated"
                assert "escalated" in TABLE[self.status[ticket_id]]
                self.status[ticket_id] = "escalated"
            self.version[ticket_id] = ticket.version
            self.level[ticket_id] = ticket.escalation.level
        assert self.desk.tick().fired == ()

    @precondition(lambda self: len(self.status) >= 2)
    @rule(source=consumes(tickets), into=tickets)
    def merge(self, source: str, into: str) -> None:
        if source == into or self.status[into] == "closed" or self.status[source] == "closed":
            return
        if self.customer[source] != self.customer[into]:
            with pytest.raises(ValidationError, match="different customers"):
                self.desk.tickets.merge(source, into=into)
            return
        self.desk.tickets.merge(source, into=into)
        self.status[source] = "closed"
        # Comments stay in the order they were written.
        self.public[into] = sorted(self.public[into] + self.public.pop(source), key=self.order.get)
        self.internal[into] |= self.internal.pop(source)
        self.public[source], self.internal[source] = [], set()
        self.refresh(source)
        self.refresh(into)

    @invariant()
    def statuses_match_the_model(self) -> None:
        for ticket_id, status in self.status.items():
            assert self.desk.tickets.get(ticket_id).status == status

    @invariant()
    def customer_view_never_shows_internal_comments(self) -> None:
        for ticket_id in self.status:
            visible = self.desk.comments.list(ticket_id, visibility="customer")
            assert all(c.visibility == "customer" for c in visible)
            ids = [c.id for c in visible]
            assert ids == self.public[ticket_id]
            assert not set(ids) & self.internal[ticket_id]

    @invariant()
    def sla_timers_never_go_backwards(self) -> None:
        for ticket_id in self.status:
            ticket = self.desk.tickets.get(ticket_id)
            assert ticket.sla is not None
            calendar = self.desk.calendars.get(ticket.sla.calendar_id)
            spent = sla.elapsed(ticket.sla.resolution, self.clock.now, calendar)
            assert spent >= self.elapsed[ticket_id]
            self.elapsed[ticket_id] = spent
            assert ticket.escalation.level >= self.level[ticket_id]


DeskMachine.TestCase.settings = settings(
    DeskMachine.TestCase.settings,
    stateful_step_count=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_desk_against_a_model = DeskMachine.TestCase


def test_the_desk_on_postgresql_against_the_same_model(
    postgres_schema_urls: Callable[[], str],
) -> None:
    """The same machine on PostgreSQL, each run in a fresh schema: its writes send
    most statements without waiting for their answers (row locks, deferred inserts),
    so this checks that what it reads back is still what the model expects."""

    class OnPostgres(DeskMachine):
        def url(self) -> str:
            return postgres_schema_urls()

    run_state_machine_as_test(
        OnPostgres,
        settings=settings(
            DeskMachine.TestCase.settings,
            max_examples=min(DeskMachine.TestCase.settings.max_examples, 25),
        ),
    )
