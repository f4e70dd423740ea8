from datetime import UTC, datetime, timedelta

import attrs
import pytest

from supportkit import escalation as esc
from supportkit import workflow as wf
from supportkit.calendar import BusinessCalendar
from supportkit.errors import InvalidTransition, ValidationError
from supportkit.models import Ticket
from supportkit.sla import SlaTargets

H = timedelta(hours=1)
ALWAYS = BusinessCalendar.always_open()
T0 = datetime(2024, 11, 1, 14, 30, tzinfo=UTC)


def new_ticket(
    priority: str = "high",
    *,
    escalate_after: timedelta | None = None,
    frequency: timedelta | None = None,
) -> Ticket:
    ticket = wf.open_ticket(
        id="ticket_1",
        number="SK-2024-000001",
        title="Network down",
        description="Office offline",
        category="network",
        priority=priority,
        now=T0,
        targets=SlaTargets(None, "24x7", 2 * H, 8 * H),
        calendar=ALWAYS,
    )
    next_update = ALWAYS.add(T0, frequency) if frequency else None
    return attrs.evolve(
        ticket,
        escalate_after=escalate_after,
        auto_update_frequency=frequency,
        next_update_at=next_update,
    )


# -- manual ------------------------------------------------------------------------------


def test_manual_escalation_defaults_to_the_next_level_and_moves_the_status() -> None:
    ticket = new_ticket()
    decision = esc.manual(ticket, T0 + H, reason="Customer request")
    assert (decision.level, decision.trigger, decision.reason) == (1, "manual", "Customer request")
    escalated = wf.escalate(ticket, decision, T0 + H, ALWAYS)
    assert escalated.status == "escalated"
    assert escalated.escalation.level == 1
    assert escalated.escalation.escalated_at == T0 + H
    assert escalated.escalation.history[0].trigger == "manual"


def test_manual_escalation_to_a_named_level_with_notify() -> None:
    ticket = new_ticket()
    decision = esc.manual(
        ticket, T0, reason="CEO called", level=3, notify=("esc@example.com",),
        metadata={"customer_escalation": True},
    )  # fmt: skip
    assert decision.level == 3 and decision.notify == ("esc@example.com",)
    assert decision.metadata == {"customer_escalation": True}


@pytest.mark.parametrize(
    ("level", "reason", "field"),
    [(0, "x", "escalation_level"), (6, "x", "escalation_level"), (1, "  ", "reason")],
)
def test_manual_escalation_refuses_bad_levels_and_empty_reasons(
    level: int, reason: str, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        esc.manual(new_ticket(), T0, reason=reason, level=level)
    assert info.value.errors[0].field == field


def test_a_level_not_above_the_current_one_is_refused() -> None:
    ticket = wf.escalate(
        new_ticket(), esc.manual(new_ticket(), T0, reason="a", level=2), T0, ALWAYS
    )
    with pytest.raises(ValidationError, match="above the current level 2"):
        esc.manual(ticket, T0, reason="again", level=2)


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_done_tickets_cannot_be_escalated(status: str) -> None:
    ticket = wf.change_status(new_ticket(), "resolved", T0 + H, ALWAYS)
    if status == "closed":
        ticket = wf.change_status(ticket, "closed", T0 + 2 * H, ALWAYS)
    with pytest.raises(InvalidTransition):
        esc.manual(ticket, T0 + 3 * H, reason="too late")
    assert esc.for_priority_change(ticket, "critical", T0 + 3 * H) is None
    assert esc.pending_timers(ticket, ALWAYS) == []


def test_an_update_naming_a_status_keeps_it() -> None:
    ticket = wf.change_status(new_ticket(), "in_progress", T0, ALWAYS)
    decision = esc.manual(ticket, T0 + H, reason="r")
    kept = wf.escalate(ticket, decision, T0 + H, ALWAYS, status_named=True)
    assert kept.status == "in_progress" and kept.escalation.level == 1


def test_escalating_a_waiting_ticket_resumes_its_resolution_clock() -> None:
    ticket = wf.change_status(new_ticket(), "waiting_on_customer", T0 + H, ALWAYS)
    escalated = wf.escalate(ticket, esc.manual(ticket, T0 + 3 * H, reason="r"), T0 + 3 * H, ALWAYS)
    assert escalated.status == "escalated"
    assert escalated.sla is not None
    assert escalated.sla.resolution.running_since == T0 + 3 * H
    assert escalated.sla.resolution.due_at == T0 + 10 * H


# -- priority upgrades -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "threshold", "escalates"),
    [
        ("high", "critical", "critical", True),
        ("low", "critical", "critical", True),
        ("low", "high", "critical", False),
        ("critical", "high", "critical", False),
        ("medium", "high", "high", True),
        ("high", "high", "high", False),
        ("low", "medium", "medium", True),
    ],
)
def test_priority_upgrade_escalates_at_or_above_the_threshold(
    old: str, new: str, threshold: str, escalates: bool
) -> None:
    policy = esc.EscalationPolicy(priority_upgrade_to=threshold)
    decision = esc.for_priority_change(new_ticket(old), new, T0, policy=policy)
    assert (decision is not None) is escalates
    if decision is not None:
        assert decision.reason == f"Priority upgraded to {new}"
        assert decision.trigger == "priority_upgrade"


def test_seed_update_upgrades_to_critical_keeps_named_status_and_escalates() -> None:
    ticket = new_ticket("high")
    tighter = SlaTargets("critical", "24x7", H, 4 * H)
    changed, decision = wf.change_priority(
        ticket, "critical", tighter, T0 + H, ALWAYS, status_named=True
    )
    assert decision is not None and decision.reason == "Priority upgraded to critical"
    assert changed.status == "open" and changed.priority == "critical"
    assert changed.escalation.level == 1
    assert changed.sla is not None and changed.sla.resolution.due_at == T0 + 4 * H


def test_bad_policy_values_are_validation_errors() -> None:
    with pytest.raises(ValidationError):
        esc.EscalationPolicy(priority_upgrade_to="urgent")
    with pytest.raises(ValidationError):
        esc.EscalationPolicy(max_level=0)


# -- timers -------------------------------------------------------------------------------


def test_pending_timers_in_order() -> None:
    ticket = new_ticket(escalate_after=4 * H, frequency=H / 2)
    keys = [(t.key, t.due_at) for t in esc.pending_timers(ticket, ALWAYS)]
    micro = timedelta(microseconds=1)
    assert keys == [
        ("update_due", T0 + H / 2),
        ("response.at_risk", T0 + H * 1.5),
        ("response.breached", T0 + 2 * H + micro),
        ("escalate_after", T0 + 4 * H),
        ("resolution.at_risk", T0 + 6 * H),
        ("resolution.breached", T0 + 8 * H + micro),
    ]
    assert esc.next_timer(ticket, ALWAYS) == T0 + H / 2
    assert esc.next_escalation(ticket, ALWAYS) == T0 + H * 1.5


@pytest.mark.parametrize(
    ("at", "fired_keys", "level", "reason"),
    [
        (T0 + H, [], 0, None),
        (T0 + H * 1.5, ["response.at_risk"], 1, "Approaching SLA deadline"),
        (T0 + 2 * H, ["response.at_risk"], 1, "Approaching SLA deadline"),
        (T0 + 3 * H, ["response.at_risk", "response.breached"], 2, "Response SLA breached"),
        (
            T0 + 4 * H,
            ["response.at_risk", "response.breached", "escalate_after"],
            3,
            "Unresolved after 4 hours",
        ),
        (
            T0 + 9 * H,
            ["response.at_risk", "response.breached", "escalate_after", "resolution.at_risk",
             "resolution.breached"],
            5,
            "Resolution SLA breached",
        ),
    ],
)  # fmt: skip
def test_run_timers_fires_each_trigger_once(
    at: datetime, fired_keys: list[str], level: int, reason: str | None
) -> None:
    ticket = new_ticket(escalate_after=4 * H)
    after, fired = wf.run_timers(ticket, at, ALWAYS)
    assert [f.timer.key for f in fired] == fired_keys
    assert after.escalation.level == level
    assert after.escalation.reason == reason
    assert sorted(after.escalation.fired) == sorted(fired_keys)
    if level:
        assert after.status == "escalated"
    again, fired_again = wf.run_timers(after, at, ALWAYS)
    assert fired_again == [] and again == after


def test_max_level_caps_time_triggers_but_still_reports_them() -> None:
    policy = esc.EscalationPolicy(max_level=1)
    after, fired = wf.run_timers(new_ticket(), T0 + 9 * H, ALWAYS, policy=policy)
    assert len(fired) == 4
    assert [f.escalation is not None for f in fired] == [True, False, False, False]
    assert after.escalation.level == 1
    assert esc.next_escalation(after, ALWAYS, policy=policy) is None


def test_policy_can_turn_off_sla_escalations() -> None:
    policy = esc.EscalationPolicy(on_at_risk=False, on_breach=False)
    after, fired = wf.run_timers(new_ticket(), T0 + 9 * H, ALWAYS, policy=policy)
    assert {f.timer.event for f in fired} == {"sla.at_risk", "sla.breached"}
    assert after.escalation.level == 0 and after.status == "open"


def test_update_reminders_recur_until_resolved() -> None:
    ticket = new_ticket(frequency=H / 2)
    policy = esc.EscalationPolicy(on_at_risk=False, on_breach=False)
    ticket, fired = wf.run_timers(ticket, T0 + H / 2, ALWAYS, policy=policy)
    assert [f.timer.event for f in fired] == ["ticket.update_due"]
    assert ticket.next_update_at == T0 + H
    ticket, fired = wf.run_timers(ticket, T0 + H / 2, ALWAYS, policy=policy)
    assert fired == []
    resolved = wf.change_status(ticket, "resolved", T0 + H * 0.75, ALWAYS)
    assert wf.run_timers(resolved, T0 + 5 * H, ALWAYS, policy=policy)[1] == []


def test_paused_ticket_has_no_escalate_after_until_it_runs_again() -> None:
    ticket = new_ticket(escalate_after=4 * H)
    waiting = wf.change_status(ticket, "waiting_on_customer", T0 + H, ALWAYS)
    keys = {t.key for t in esc.pending_timers(waiting, ALWAYS)}
    assert "escalate_after" not in keys and "resolution.at_risk" not in keys
    back = wf.change_status(waiting, "in_progress", T0 + 5 * H, ALWAYS)
    timers = {t.key: t.due_at for t in esc.pending_timers(back, ALWAYS)}
    assert timers["escalate_after"] == T0 + 8 * H


def test_a_late_resolution_still_reports_the_breach_once() -> None:
    ticket = new_ticket()
    late = wf.change_status(ticket, "resolved", T0 + 9 * H, ALWAYS)
    after, fired = wf.run_timers(late, T0 + 10 * H, ALWAYS)
    assert [f.timer.key for f in fired] == ["response.breached", "resolution.breached"]
    assert all(f.escalation is None for f in fired)  # a resolved ticket is not escalated
    assert after.status == "resolved"
