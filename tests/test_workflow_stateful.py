"""A stateful test: random legal and illegal moves against a simple model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from supportkit import escalation as esc
from supportkit import sla
from supportkit import workflow as wf
from supportkit.calendar import BusinessCalendar
from supportkit.errors import InvalidTransition, ValidationError
from supportkit.lifecycle import STATUSES
from supportkit.models import PRIORITIES, Ticket
from supportkit.sla import SlaTargets

from .strategies import calendars

# Written out independently of supportkit.lifecycle.
TABLE = {
    "open": {"in_progress", "waiting_on_customer", "on_hold", "escalated", "resolved", "closed"},
    "in_progress": {"waiting_on_customer", "on_hold", "escalated", "resolved"},
    "waiting_on_customer": {"in_progress", "escalated", "resolved", "closed"},
    "on_hold": {"in_progress", "escalated", "resolved"},
    "escalated": {"in_progress", "waiting_on_customer", "on_hold", "resolved"},
    "resolved": {"closed", "open"},
    "closed": set(),
}
PAUSED = {"waiting_on_customer", "on_hold"}
STOPPED = {"resolved", "closed"}
# Higher priority, shorter targets: an upgrade never lengthens them.
TARGETS = {"low": (8, 48), "medium": (4, 24), "high": (2, 8), "critical": (1, 4)}
POLICY = esc.EscalationPolicy()


def targets_for(priority: str, calendar: BusinessCalendar) -> SlaTargets:
    response, resolution = TARGETS[priority]
    return SlaTargets(priority, calendar.id, timedelta(hours=response), timedelta(hours=resolution))


class TicketMachine(RuleBasedStateMachine):
    calendar: BusinessCalendar
    ticket: Ticket
    now: datetime

    @initialize(
        calendar=calendars,
        priority=st.sampled_from(PRIORITIES),
        start=st.integers(min_value=0, max_value=2 * 365 * 24 * 4).map(
            lambda q: datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * q)
        ),
    )
    def create(self, calendar: BusinessCalendar, priority: str, start: datetime) -> None:
        self.calendar = calendar
        self.now = start
        self.ticket = wf.open_ticket(
            id="ticket_1", number="SK-2025-000001", title="t", description="d",
            category="network", priority=priority, now=start,
            targets=targets_for(priority, calendar), calendar=calendar,
        )  # fmt: skip
        self.status = "open"
        self.runs: list[list[datetime | None]] = [[start, None]]  # model of the clock
        self.seen_elapsed = timedelta(0)
        self.level = 0
        self.fired_keys: list[str] = []

    # -- the model ---------------------------------------------------------------------

    def model_move(self, new: str) -> None:
        was_running = self.status not in PAUSED | STOPPED
        runs_now = new not in PAUSED | STOPPED
        if was_running and not runs_now:
            self.runs[-1][1] = self.now
        elif not was_running and runs_now:
            self.runs.append([self.now, None])
        self.status = new

    def model_escalates(self) -> None:
        if "escalated" in TABLE[self.status]:
            self.model_move("escalated")

    def expected_elapsed(self) -> timedelta:
        total = timedelta(0)
        for begin, end in self.runs:
            assert begin is not None
            total += self.calendar.between(begin, end or self.now)
        return total

    # -- rules -------------------------------------------------------------------------

    @rule(minutes=st.integers(min_value=0, max_value=3 * 24 * 60))
    def advance(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(new=st.sampled_from(STATUSES))
    def move(self, new: str) -> None:
        before = self.ticket
        if new == self.status or new in TABLE[self.status]:
            self.ticket = wf.change_status(self.ticket, new, self.now, self.calendar)
            if new != self.status:
                self.model_move(new)
        else:
            try:
                wf.change_status(self.ticket, new, self.now, self.calendar)
            except InvalidTransition as exc:
                assert set(exc.allowed) == TABLE[self.status]
            else:
                raise AssertionError(f"{self.status} -> {new} was allowed")
            assert self.ticket == before

    @rule()
    def respond(self) -> None:
        self.ticket = wf.record_response(self.ticket, self.now, self.calendar)
        assert self.ticket.sla is not None and self.ticket.sla.response.stopped_at is not None

    @rule()
    def customer_replies(self) -> None:
        self.ticket, follow_up = wf.customer_reply(self.ticket, self.now, self.calendar)
        assert follow_up is (self.status == "closed")
        if self.status == "waiting_on_customer":
            self.model_move("in_progress")
        elif self.status == "resolved":
            self.model_move("open")

    @rule(priority=st.sampled_from(PRIORITIES), named=st.booleans())
    def reprioritise(self, priority: str, named: bool) -> None:
        old = self.ticket.sla
        assert old is not None
        upgrade = PRIORITIES.index(priority) > PRIORITIES.index(self.ticket.priority)
        self.ticket, decision = wf.change_priority(
            self.ticket, priority, targets_for(priority, self.calendar), self.now, self.calendar,
            status_named=named,
        )  # fmt: skip
        new = self.ticket.sla
        assert new is not None
        if upgrade:
            for before, after in ((old.response, new.response), (old.resolution, new.resolution)):
                if before.due_at is not None and after.due_at is not None:
                    assert after.due_at <= before.due_at
        if decision is not None:
            assert priority == "critical" and self.status not in STOPPED
            self.level = decision.level
            if not named:
                self.model_escalates()

    @rule(level=st.none() | st.integers(min_value=0, max_value=7))
    def escalate(self, level: int | None) -> None:
        before = self.ticket
        try:
            decision = esc.manual(self.ticket, self.now, reason="manual", level=level)
        except InvalidTransition:
            assert self.status in STOPPED
            return
        except ValidationError:
            target = self.level + 1 if level is None else level
            assert not self.level < target <= POLICY.max_level
            assert self.ticket == before
            return
        self.ticket = wf.escalate(self.ticket, decision, self.now, self.calendar)
        self.level = decision.level
        self.model_escalates()

    @precondition(lambda self: hasattr(self, "ticket"))
    @rule()
    def tick(self) -> None:
        self.ticket, fired = wf.run_timers(self.ticket, self.now, self.calendar)
        for item in fired:
            assert item.timer.due_at <= self.now
            self.fired_keys.append(item.timer.key)
            if item.escalation is not None:
                self.level = item.escalation.level
                self.model_escalates()
        again, fired_again = wf.run_timers(self.ticket, self.now, self.calendar)
        assert fired_again == [] and again == self.ticket

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def status_matches_the_model(self) -> None:
        assert self.ticket.status == self.status

    @invariant()
    def clocks_match_the_model(self) -> None:
        state = self.ticket.sla
        assert state is not None
        clock = state.resolution
        assert (clock.running_since is not None) == (self.status not in PAUSED | STOPPED)
        assert (clock.stopped_at is not None) == (self.status in STOPPED)
        value = sla.elapsed(clock, self.now, self.calendar)
        assert value == self.expected_elapsed()
        assert value >= self.seen_elapsed
        self.seen_elapsed = value
        if clock.running_since is not None and clock.consumed < clock.target:
            assert clock.due_at == self.calendar.add(
                clock.running_since, clock.target - clock.consumed
            )

    @invariant()
    def escalation_only_climbs_and_triggers_fire_once(self) -> None:
        assert self.ticket.escalation.level == self.level <= POLICY.max_level
        one_shot = [k for k in self.fired_keys if k != "update_due"]
        assert len(one_shot) == len(set(one_shot))


test_ticket_lifecycle_and_sla_clocks = TicketMachine.TestCase
