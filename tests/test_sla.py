from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportkit import sla
from supportkit.calendar import BusinessCalendar
from supportkit.errors import ValidationError
from supportkit.models import Category, SlaClock, SlaPolicy, structure
from supportkit.routing import TicketFacts
from supportkit.sla import SlaTargets

from .strategies import CALENDARS, calendars, instants, steps, targets

H = timedelta(hours=1)
ALWAYS = BusinessCalendar.always_open()
T0 = datetime(2024, 11, 1, 14, 30, tzinfo=UTC)
NETWORK = structure(
    {"id": "network", "name": "Network",
     "sla": {"response_time": "2 hours", "resolution_time": "8 hours"}},
    Category,
)  # fmt: skip


def targets_for(
    calendar: BusinessCalendar, response: timedelta, resolution: timedelta
) -> SlaTargets:
    return SlaTargets(None, calendar.id, response, resolution)


def test_seed_due_dates_on_24x7() -> None:
    state = sla.start(sla.select_targets(NETWORK, [], TicketFacts("network", "high")), T0, ALWAYS)
    assert state.response.due_at == datetime(2024, 11, 1, 16, 30, tzinfo=UTC)
    assert state.resolution.due_at == datetime(2024, 11, 1, 22, 30, tzinfo=UTC)
    assert state.resolution.at_risk_at == T0 + 6 * H


def test_policy_selection_first_match_overrides_only_what_it_sets() -> None:
    policies = [
        structure({"id": "vip", "conditions": {"customer_tier": "enterprise",
                   "priority": ["critical"]}, "response_time": "30 minutes",
                   "resolution_time": "4 hours"}, SlaPolicy),
        structure({"id": "crit", "conditions": {"priority": "critical"},
                   "resolution_time": "6 hours", "calendar": "us_pacific",
                   "warning_threshold": 0.5, "pause_statuses": ["on_hold"]}, SlaPolicy),
    ]  # fmt: skip
    plain = sla.select_targets(NETWORK, policies, TicketFacts("network", "high"))
    assert (plain.policy_id, plain.response_time, plain.calendar_id) == (None, 2 * H, "24x7")
    vip = sla.select_targets(
        NETWORK, policies, TicketFacts("network", "critical", customer_tier="enterprise")
    )
    assert (vip.policy_id, vip.response_time, vip.resolution_time) == ("vip", H / 2, 4 * H)
    crit = sla.select_targets(NETWORK, policies, TicketFacts("network", "critical"))
    assert crit.policy_id == "crit"
    assert crit.response_time == 2 * H  # kept from the category
    assert crit.resolution_time == 6 * H
    assert crit.calendar_id == "us_pacific"
    assert crit.warning_threshold == 0.5
    assert crit.pause_statuses == ("on_hold",)


def test_business_calendar_due_dates_skip_nights_and_weekends() -> None:
    pacific = CALENDARS["us_pacific"]
    friday_4pm = datetime(2025, 10, 31, 23, 0, tzinfo=UTC)  # 16:00 PDT
    state = sla.start(targets_for(pacific, 2 * H, 8 * H), friday_4pm, pacific)
    # one hour on Friday, then Monday 09:00 PST (17:00 UTC) + 1 h
    assert state.response.due_at == datetime(2025, 11, 3, 18, 0, tzinfo=UTC)
    assert state.resolution.due_at == datetime(2025, 11, 4, 0, 0, tzinfo=UTC)


def test_pause_and_resume_shift_the_due_date_by_the_business_time_paused() -> None:
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS)
    paused = sla.on_status_change(state, "open", "waiting_on_customer", T0 + H, ALWAYS)
    assert paused.resolution.running_since is None
    assert paused.resolution.due_at is None
    assert paused.resolution.consumed == H
    assert sla.clock_status(paused.resolution, T0 + 3 * H) == "paused"
    # The response clock does not pause.
    assert paused.response.due_at == state.response.due_at
    resumed = sla.on_status_change(paused, "waiting_on_customer", "in_progress", T0 + 4 * H, ALWAYS)
    assert resumed.resolution.due_at == T0 + 11 * H
    assert [p.status for p in resumed.resolution.pauses] == ["waiting_on_customer"]
    assert resumed.resolution.pauses[0].ended_at == T0 + 4 * H


def test_resolved_then_reopened_does_not_count_the_time_it_sat_resolved() -> None:
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS)
    resolved = sla.on_status_change(state, "open", "resolved", T0 + 2 * H, ALWAYS)
    assert resolved.resolution.stopped_at == T0 + 2 * H
    assert resolved.resolution.due_at == T0 + 8 * H  # kept while stopped
    assert sla.clock_status(resolved.resolution, T0 + 20 * H) == "met"
    assert resolved.response.stopped_at == T0 + 2 * H
    reopened = sla.on_status_change(resolved, "resolved", "open", T0 + 30 * H, ALWAYS)
    assert reopened.resolution.stopped_at is None
    assert reopened.resolution.due_at == T0 + 36 * H
    assert sla.elapsed(reopened.resolution, T0 + 31 * H, ALWAYS) == 3 * H
    # The response outcome stays as it was.
    assert reopened.response.stopped_at == T0 + 2 * H
    # Resolved again, then closed: the due date it was measured against is kept.
    again = sla.on_status_change(reopened, "open", "resolved", T0 + 32 * H, ALWAYS)
    closed = sla.on_status_change(again, "resolved", "closed", T0 + 40 * H, ALWAYS)
    assert closed.resolution.due_at == T0 + 36 * H
    assert closed.resolution.stopped_at == T0 + 32 * H
    assert [p.status for p in closed.resolution.pauses] == ["resolved", "resolved"]
    assert sla.clock_status(closed.resolution, T0 + 50 * H) == "met"


def test_statuses_over_time() -> None:
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS)
    clock = state.resolution
    assert sla.clock_status(clock, T0) == "in_progress"
    assert sla.clock_status(clock, T0 + 6 * H - timedelta(seconds=1)) == "in_progress"
    assert sla.clock_status(clock, T0 + 6 * H) == "at_risk"  # 75 % of 8 h
    assert sla.clock_status(clock, T0 + 8 * H) == "at_risk"  # due, not yet past it
    assert sla.clock_status(clock, T0 + 8 * H + timedelta(microseconds=1)) == "breached"
    late = sla.on_status_change(state, "open", "resolved", T0 + 9 * H, ALWAYS)
    assert sla.clock_status(late.resolution, T0 + 9 * H) == "breached"
    answered = sla.on_response(state, T0 + H, ALWAYS)
    assert sla.clock_status(answered.response, T0 + 10 * H) == "met"
    assert sla.on_response(answered, T0 + 90 * H, ALWAYS) == answered  # later replies: no-op


def test_a_pause_after_the_due_date_stays_breached() -> None:
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS)
    paused = sla.on_status_change(state, "open", "on_hold", T0 + 9 * H, ALWAYS)
    assert paused.resolution.due_at == T0 + 8 * H
    assert sla.clock_status(paused.resolution, T0 + 10 * H) == "breached"


def test_reapply_from_creation_can_put_the_due_date_in_the_past() -> None:
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS)
    paused = sla.on_status_change(state, "open", "on_hold", T0 + 3 * H, ALWAYS)
    resumed = sla.on_status_change(paused, "on_hold", "in_progress", T0 + 5 * H, ALWAYS)
    tighter = targets_for(ALWAYS, H, 4 * H)
    now = T0 + 7 * H
    again = sla.reapply(resumed, tighter, now, ALWAYS)
    # 3 h before the pause + 1 h after it: 4 h reached at T0 + 6 h.
    assert again.resolution.due_at == T0 + 6 * H
    assert sla.clock_status(again.resolution, now) == "breached"
    assert again.response.due_at == T0 + H
    assert sla.clock_status(again.response, now) == "breached"


def test_reapply_keeps_a_stopped_clock_and_checks_the_calendar() -> None:
    state = sla.on_response(
        sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS), T0 + H, ALWAYS
    )
    again = sla.reapply(state, targets_for(ALWAYS, H / 4, 4 * H), T0 + 2 * H, ALWAYS)
    assert again.response == state.response
    with pytest.raises(ValidationError, match="calendar"):
        sla.reapply(state, targets_for(CALENDARS["us_pacific"], H, H), T0, ALWAYS)


def test_reapply_on_another_calendar_measures_again() -> None:
    pacific = CALENDARS["us_pacific"]
    monday_9am = datetime(2025, 11, 3, 17, 0, tzinfo=UTC)
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), monday_9am, ALWAYS)
    now = monday_9am + 10 * H  # 19:00 PST: 8 business hours on the pacific calendar
    again = sla.reapply(state, targets_for(pacific, 2 * H, 9 * H), now, pacific)
    assert again.calendar_id == "us_pacific"
    assert sla.elapsed(again.resolution, now, pacific) == 8 * H
    assert again.resolution.due_at == datetime(2025, 11, 4, 18, 0, tzinfo=UTC)


def test_views() -> None:
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS)
    answered = sla.on_response(state, T0 + timedelta(minutes=45), ALWAYS)
    from supportkit.models import Ticket

    ticket = Ticket(
        id="ticket_1", number="SK-2024-000001", title="t", description="d", status="in_progress",
        priority="high", category="network", created_at=T0, updated_at=T0, sla=answered,
    )  # fmt: skip
    now = T0 + timedelta(hours=6, minutes=15)
    view = sla.status_view(ticket, now, ALWAYS, next_escalation=T0 + 6 * H)
    assert view["response_time"] == {
        "target": "2 hours", "target_seconds": 7200, "status": "met",
        "due_at": "2024-11-01T16:30:00Z", "responded_at": "2024-11-01T15:15:00Z",
        "actual": "45 minutes", "actual_seconds": 2700,
        "met_at": "2024-11-01T15:15:00Z", "breached_at": None,
    }  # fmt: skip
    resolution = view["resolution_time"]
    assert resolution["elapsed"] == "6 hours 15 minutes"
    assert resolution["time_remaining"] == "1 hour 45 minutes"
    assert resolution["status"] == "at_risk"
    assert resolution["due_at"] == "2024-11-01T22:30:00Z"
    assert view["escalation"]["next_escalation"] == "2024-11-01T20:30:00Z"
    compact = sla.search_view(ticket, T0 + timedelta(hours=1, minutes=15), ALWAYS)
    assert compact["response_met"] is True
    assert compact["time_remaining"] == "6h 45m"
    assert compact["time_remaining_seconds"] == 6 * 3600 + 45 * 60
    overdue = sla.status_view(ticket, T0 + 9 * H, ALWAYS)["resolution_time"]
    assert overdue["status"] == "breached"
    assert overdue["time_remaining_seconds"] == 0
    assert overdue["overdue"] == "1 hour"
    assert overdue["breached_at"] == "2024-11-01T22:30:00Z"


# -- properties ------------------------------------------------------------------------


@given(calendars, instants, targets, steps, steps, steps)
def test_pausing_never_makes_a_due_date_earlier(
    calendar: BusinessCalendar,
    created: datetime,
    target: timedelta,
    run: timedelta,
    pause: timedelta,
    later: timedelta,
) -> None:
    state = sla.start(targets_for(calendar, target, target), created, calendar)
    before = state.resolution.due_at
    assert before is not None
    paused = sla.on_status_change(state, "open", "on_hold", created + run, calendar)
    resumed = sla.on_status_change(
        paused, "on_hold", "in_progress", created + run + pause, calendar
    )
    after = resumed.resolution.due_at
    assert after is not None and after >= before
    # ...and the clock measured exactly the business time outside the pause.
    now = created + run + pause + later
    expected = calendar.between(created, created + run) + calendar.between(
        created + run + pause, now
    )
    assert sla.elapsed(resumed.resolution, now, calendar) == expected


@given(
    calendars,
    instants,
    targets,
    st.lists(
        st.tuples(steps, st.sampled_from(["in_progress", "waiting_on_customer", "on_hold"])),
        max_size=6,
    ),
)
def test_elapsed_never_decreases_as_now_grows(
    calendar: BusinessCalendar,
    created: datetime,
    target: timedelta,
    moves: list[tuple[timedelta, str]],
) -> None:
    state = sla.start(targets_for(calendar, target, target), created, calendar)
    status, now, seen = "open", created, timedelta(0)
    for step, new in moves:
        for probe in (now, now + step / 2, now + step):
            value = sla.elapsed(state.resolution, probe, calendar)
            assert value >= seen
            seen = value
        now += step
        if new != status and new in {"in_progress", "waiting_on_customer", "on_hold"}:
            state = sla.on_status_change(state, status, new, now, calendar)
            status = new
        assert sla.elapsed(state.resolution, now, calendar) == seen


@given(calendars, instants, targets, targets, steps, st.floats(min_value=0.05, max_value=1.0))
def test_a_priority_upgrade_never_makes_a_due_date_later(
    calendar: BusinessCalendar,
    created: datetime,
    response: timedelta,
    resolution: timedelta,
    when: timedelta,
    shrink: float,
) -> None:
    # An upgrade selects targets no longer than the current ones.
    state = sla.start(targets_for(calendar, response, resolution), created, calendar)
    tighter = targets_for(calendar, response * shrink, resolution * shrink)
    again = sla.reapply(state, tighter, created + when, calendar)
    for old, new in ((state.response, again.response), (state.resolution, again.resolution)):
        assert old.due_at is not None and new.due_at is not None
        assert new.due_at <= old.due_at
        assert new.due_at == calendar.add(created, new.target)


@given(calendars, instants, targets, steps)
def test_due_date_is_business_target_after_creation(
    calendar: BusinessCalendar, created: datetime, target: timedelta, later: timedelta
) -> None:
    state = sla.start(targets_for(calendar, target, target), created, calendar)
    due = state.resolution.due_at
    assert due is not None
    assert calendar.between(created, due) == target
    assert state.resolution.at_risk_at is not None and state.resolution.at_risk_at <= due
    now = created + later
    status = sla.clock_status(state.resolution, now)
    assert (status == "breached") == (now > due)


def test_calendar_mismatch_is_refused() -> None:
    with pytest.raises(ValidationError):
        sla.start(targets_for(ALWAYS, H, H), T0, CALENDARS["us_pacific"])
    state = sla.start(targets_for(ALWAYS, H, H), T0, ALWAYS)
    with pytest.raises(ValidationError):
        sla.on_status_change(state, "open", "on_hold", T0, CALENDARS["us_pacific"])


def test_snapshot_is_independent_of_later_policy_edits() -> None:
    policy = structure({"id": "p", "resolution_time": "4 hours"}, SlaPolicy)
    state = sla.start(
        sla.select_targets(NETWORK, [policy], TicketFacts("network", "low")), T0, ALWAYS
    )
    attrs.evolve(policy, resolution_time=timedelta(hours=1))  # an edit makes a new value
    assert state.resolution.target == 4 * H and state.policy_id == "p"


def test_a_priority_change_while_resolved_applies_when_reopened() -> None:
    state = sla.start(targets_for(ALWAYS, 2 * H, 8 * H), T0, ALWAYS)
    resolved = sla.on_status_change(state, "open", "resolved", T0 + H, ALWAYS)
    looser = sla.reapply(resolved, targets_for(ALWAYS, 4 * H, 48 * H), T0 + 2 * H, ALWAYS)
    # The outcome it was measured against stands...
    assert looser.resolution.due_at == T0 + 8 * H
    assert sla.clock_status(looser.resolution, T0 + 3 * H) == "met"
    # ...and a reopen runs on the new target.
    reopened = sla.on_status_change(looser, "resolved", "open", T0 + 5 * H, ALWAYS)
    assert reopened.resolution.due_at == T0 + 5 * H + 47 * H


@given(
    calendars,
    instants,
    st.integers(min_value=0, max_value=80 * 60).map(lambda m: timedelta(minutes=m)),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_a_started_clock_is_what_deriving_a_fresh_one_gives(
    calendar: BusinessCalendar, created: datetime, target: timedelta, threshold: float
) -> None:
    targets = SlaTargets(None, calendar.id, target, target, warning_threshold=threshold)
    started = sla.start(targets, created, calendar).response
    fresh = SlaClock(target=target, started_at=created, running_since=created)
    assert started == sla._derive(fresh, calendar, threshold)
