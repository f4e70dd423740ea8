"""SLA maths: which targets a ticket gets, how its clocks run, what they say.

A ticket has two SLA targets, each measured in business time on a
:class:`~supportkit.calendar.BusinessCalendar`:

- **first response**: runs from creation until the first customer-visible reply from
  an agent (or until the ticket is resolved or closed without one);
- **resolution**: runs from creation until the ticket is resolved or closed, standing
  still in the pause statuses (by default ``waiting_on_customer`` and ``on_hold``)
  and while a ticket sits resolved before a reopen.

Targets come from the ticket's category, overridden by the first SLA policy whose
conditions hold (:func:`select_targets`), and are snapshotted on the ticket
(:class:`~supportkit.models.TicketSla`) so a later policy edit does not move existing
deadlines. A clock stores the business time consumed so far and the instant it last
started running; due dates are derived from those, never shifted by wall-clock pauses.

Every function here is pure: it takes the state and an explicit ``now`` and returns a
new state or a view. Nothing reads a clock.

Statuses of a target: ``in_progress``, ``at_risk`` (the warning threshold of the target
has been consumed, 75 % by default), ``paused``, ``met`` and ``breached``. A clock that
stopped at or before its due date is met; one that stopped after it, or that is still
running past it, is breached.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from .calendar import BusinessCalendar
from .durations import format_compact, format_duration, seconds
from .errors import ValidationError
from .lifecycle import DEFAULT_LIFECYCLE, Lifecycle
from .models import Category, Pause, SlaClock, SlaPolicy, Ticket, TicketSla, format_instant
from .routing import TicketFacts, matches

__all__ = [
    "DEFAULT_WARNING_THRESHOLD",
    "SlaTargets",
    "clock_status",
    "elapsed",
    "instant_at",
    "on_response",
    "on_status_change",
    "reapply",
    "search_view",
    "select_targets",
    "start",
    "status_view",
]

DEFAULT_WARNING_THRESHOLD: Final = 0.75
_ZERO: Final = timedelta(0)


@attrs.frozen
class SlaTargets:
    """The targets that apply to a ticket, and where they came from."""

    policy_id: str | None
    calendar_id: str
    response_time: timedelta
    resolution_time: timedelta
    warning_threshold: float = DEFAULT_WARNING_THRESHOLD
    pause_statuses: tuple[str, ...] = tuple(sorted(DEFAULT_LIFECYCLE.pause_statuses))


def select_targets(
    category: Category,
    policies: Sequence[SlaPolicy],
    facts: TicketFacts,
    *,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> SlaTargets:
    """The SLA targets for a ticket: the category's, then the first matching policy.

    Policies are tried in order; the first whose conditions all hold overrides the
    targets it sets (a target it leaves out keeps the category's).
    """
    targets = SlaTargets(
        policy_id=None,
        calendar_id=category.sla.calendar,
        response_time=category.sla.response_time,
        resolution_time=category.sla.resolution_time,
        pause_statuses=tuple(sorted(lifecycle.pause_statuses)),
    )
    for policy in policies:
        if matches(policy.conditions, facts):
            return attrs.evolve(
                targets,
                policy_id=policy.id,
                calendar_id=policy.calendar or targets.calendar_id,
                response_time=policy.response_time or targets.response_time,
                resolution_time=policy.resolution_time or targets.resolution_time,
                warning_threshold=policy.warning_threshold,
                pause_statuses=(
                    targets.pause_statuses
                    if policy.pause_statuses is None
                    else tuple(policy.pause_statuses)
                ),
            )
    return targets


def _check_calendar(sla: TicketSla | SlaTargets, calendar: BusinessCalendar) -> None:
    if calendar.id != sla.calendar_id:
        raise ValidationError.for_field(
            "calendar",
            f"the SLA is measured on calendar {sla.calendar_id!r}, not {calendar.id!r}",
        )


def start(
    targets: SlaTargets,
    created_at: datetime,
    calendar: BusinessCalendar,
    *,
    tier: str | None = None,
) -> TicketSla:
    """Start both clocks of a new ticket at ``created_at``."""
    _check_calendar(targets, calendar)

    def clock(target: timedelta) -> SlaClock:
        # A fresh clock runs from created_at with nothing consumed: the instants are
        # plain calendar additions (what _derive would find, without re-building it).
        warn = _warning_amount(target, targets.warning_threshold)
        return SlaClock(
            target=target,
            started_at=created_at,
            running_since=created_at,
            due_at=created_at if target <= _ZERO else calendar.add(created_at, target),
            at_risk_at=created_at if warn <= _ZERO else calendar.add(created_at, warn),
        )

    return TicketSla(
        policy_id=targets.policy_id,
        calendar_id=targets.calendar_id,
        warning_threshold=targets.warning_threshold,
        pause_statuses=targets.pause_statuses,
        response=clock(targets.response_time),
        resolution=clock(targets.resolution_time),
        tier=tier,
    )


# -- running a clock ------------------------------------------------------------------


def _runs(clock: SlaClock) -> Iterator[tuple[datetime, datetime | None]]:
    """The stretches during which ``clock`` ran; the last may be open-ended."""
    begin: datetime | None = clock.started_at
    for pause in clock.pauses:
        assert begin is not None
        yield begin, pause.started_at
        begin = pause.ended_at
        if begin is None:
            return
    if begin is not None:
        yield begin, None


def instant_at(clock: SlaClock, amount: timedelta, calendar: BusinessCalendar) -> datetime | None:
    """The instant at which ``clock`` had consumed ``amount`` of business time.

    ``None`` when the clock is paused or stopped before reaching it (the instant is
    not known yet). Used for due dates, warning instants and escalation thresholds.
    """
    if amount <= _ZERO:
        return clock.started_at
    if clock.running_since is not None and clock.consumed < amount:
        return calendar.add(clock.running_since, amount - clock.consumed)
    left = amount
    for begin, end in _runs(clock):
        if end is None:
            return calendar.add(begin, left)
        ran = calendar.between(begin, end)
        if left <= ran:
            return calendar.add(begin, left)
        left -= ran
    return None


def _consumed_by_runs(clock: SlaClock, calendar: BusinessCalendar, until: datetime) -> timedelta:
    total = _ZERO
    for begin, end in _runs(clock):
        stop = until if end is None else min(end, until)
        if stop > begin:
            total += calendar.between(begin, stop)
    return total


def _derive(clock: SlaClock, calendar: BusinessCalendar, threshold: float) -> SlaClock:
    """Recompute the due and warning instants of ``clock`` from its consumed time."""
    warn = _warning_amount(clock.target, threshold)
    return attrs.evolve(
        clock,
        due_at=instant_at(clock, clock.target, calendar),
        at_risk_at=instant_at(clock, warn, calendar),
    )


def _warning_amount(target: timedelta, threshold: float) -> timedelta:
    micros = target // timedelta(microseconds=1)
    return timedelta(microseconds=int(micros * threshold))


def _pause(clock: SlaClock, now: datetime, calendar: BusinessCalendar, why: str) -> SlaClock:
    assert clock.running_since is not None
    ran = calendar.between(clock.running_since, now) if now > clock.running_since else _ZERO
    return attrs.evolve(
        clock,
        consumed=clock.consumed + ran,
        running_since=None,
        pauses=(*clock.pauses, Pause(status=why, started_at=max(now, clock.running_since))),
    )


def _resume(clock: SlaClock, now: datetime) -> SlaClock:
    assert clock.running_since is None and clock.pauses
    last = clock.pauses[-1]
    resumed_at = max(now, last.started_at)
    return attrs.evolve(
        clock,
        running_since=resumed_at,
        stopped_at=None,
        pauses=(*clock.pauses[:-1], attrs.evolve(last, ended_at=resumed_at)),
    )


def _relabel(clock: SlaClock, now: datetime, why: str) -> SlaClock:
    """A standing clock changes why it stands (on hold → closed): split the pause."""
    last = clock.pauses[-1]
    at = max(now, last.started_at)
    return attrs.evolve(
        clock,
        pauses=(
            *clock.pauses[:-1],
            attrs.evolve(last, ended_at=at),
            Pause(status=why, started_at=at),
        ),
    )


def on_status_change(
    sla: TicketSla,
    old: str,
    new: str,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> TicketSla:
    """The SLA after a ticket moved from ``old`` to ``new`` at ``now``.

    Entering a pause status pauses the resolution clock; leaving it resumes the clock
    where it stood. Entering a stop status (resolved, closed) stops both clocks; a
    reopen resumes the resolution clock without counting the time it sat resolved.
    A first-response clock that was stopped stays stopped.
    """
    _check_calendar(sla, calendar)
    if old == new:
        return sla

    def state(status: str) -> str:
        if lifecycle.is_stopped(status):
            return "stopped"
        if status in sla.pause_statuses:
            return "paused"
        return "running"

    before, after = state(old), state(new)
    resolution = sla.resolution
    if before == "running" and after != "running":
        resolution = _pause(resolution, now, calendar, new)
    elif before != "running" and after == "running":
        resolution = _resume(resolution, now)
    elif before != "running" and after != "running" and before != after:
        resolution = _relabel(resolution, now, new)
        if after != "stopped":
            resolution = attrs.evolve(resolution, stopped_at=None)
    if after == "stopped" and resolution.stopped_at is None:
        resolution = attrs.evolve(resolution, stopped_at=resolution.pauses[-1].started_at)
    if not (after == "stopped" and before in ("running", "stopped")):
        # A clock stopped while running keeps the due date it was measured against;
        # any other move re-derives it (unknown while paused, unless already passed).
        resolution = _derive(resolution, calendar, sla.warning_threshold)

    response = sla.response
    if after == "stopped" and response.stopped_at is None:
        response = _stop(response, now, calendar, new)
    return attrs.evolve(sla, response=response, resolution=resolution)


def _stop(clock: SlaClock, now: datetime, calendar: BusinessCalendar, why: str) -> SlaClock:
    stopped = _pause(clock, now, calendar, why)
    at = stopped.pauses[-1].started_at
    # A stopped clock keeps the due date it was measured against.
    return attrs.evolve(stopped, stopped_at=at, due_at=clock.due_at, at_risk_at=clock.at_risk_at)


def on_response(sla: TicketSla, now: datetime, calendar: BusinessCalendar) -> TicketSla:
    """The SLA after the first customer-visible reply from an agent at ``now``.

    Stops the first-response clock; later replies change nothing.
    """
    _check_calendar(sla, calendar)
    if sla.response.stopped_at is not None:
        return sla
    return attrs.evolve(sla, response=_stop(sla.response, now, calendar, "responded"))


def reapply(
    sla: TicketSla,
    targets: SlaTargets,
    now: datetime,
    calendar: BusinessCalendar,
) -> TicketSla:
    """Re-apply (new) targets from the ticket's creation, e.g. after a priority change.

    The business time each running clock has consumed is measured again from its
    start, on the new targets' calendar, excluding its pauses; the due dates follow
    from the new targets, so a due date can land in the past — the target is then
    breached. A clock that already stopped keeps its outcome; a stopped resolution
    clock takes the new target for when the ticket is reopened.

    ``calendar`` must be the calendar of ``targets``.
    """
    _check_calendar(targets, calendar)

    def again(clock: SlaClock, target: timedelta, *, final: bool) -> SlaClock:
        if clock.stopped_at is not None:
            # Its outcome stands (the due date it was measured against is kept); a
            # resolution clock takes the new target for when the ticket is reopened.
            return clock if final else attrs.evolve(clock, target=target)
        consumed = _consumed_by_runs(clock, calendar, clock.running_since or now)
        moved = attrs.evolve(clock, target=target, consumed=consumed)
        return _derive(moved, calendar, targets.warning_threshold)

    return attrs.evolve(
        sla,
        policy_id=targets.policy_id,
        calendar_id=targets.calendar_id,
        warning_threshold=targets.warning_threshold,
        pause_statuses=targets.pause_statuses,
        response=again(sla.response, targets.response_time, final=True),
        resolution=again(sla.resolution, targets.resolution_time, final=False),
    )


# -- reading a clock ------------------------------------------------------------------


def elapsed(clock: SlaClock, now: datetime, calendar: BusinessCalendar) -> timedelta:
    """Business time the clock has run by ``now`` (never decreasing in ``now``)."""
    if clock.running_since is None or now <= clock.running_since:
        return clock.consumed
    return clock.consumed + calendar.between(clock.running_since, now)


def clock_status(clock: SlaClock, now: datetime) -> str:
    """``in_progress``, ``at_risk``, ``paused``, ``met`` or ``breached`` at ``now``."""
    if clock.stopped_at is not None:
        if clock.due_at is not None and clock.stopped_at > clock.due_at:
            return "breached"
        return "met"
    if clock.due_at is not None and now > clock.due_at:
        return "breached"
    if clock.running_since is None:
        return "paused"
    if clock.at_risk_at is not None and now >= clock.at_risk_at:
        return "at_risk"
    return "in_progress"


def _remaining(clock: SlaClock, now: datetime, calendar: BusinessCalendar) -> timedelta:
    return clock.target - elapsed(clock, now, calendar)


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


def search_view(ticket: Ticket, now: datetime, calendar: BusinessCalendar) -> dict[str, Any]:
    """The seed's compact ``sla_status`` of a search result.

    ``{"response_met": true, "resolution_due": "…Z", "time_remaining": "6h 45m",
    "time_remaining_seconds": 24300, "status": "in_progress"}``
    """
    sla = ticket.sla
    if sla is None:
        return {}
    response, resolution = sla.response, sla.resolution
    remaining = max(_remaining(resolution, now, calendar), _ZERO)
    status = clock_status(response, now)
    return {
        "response_met": status == "met" if response.stopped_at is not None else None,
        "response_status": status,
        "resolution_due": _instant(resolution.due_at),
        "resolution_status": clock_status(resolution, now),
        "time_remaining": format_compact(remaining),
        "time_remaining_seconds": seconds(remaining),
    }


def status_view(
    ticket: Ticket,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    next_escalation: datetime | None = None,
) -> dict[str, Any]:
    """The seed's ``GET /tickets/{id}/sla`` view, explaining itself.

    Besides the seed's fields it says which policy and calendar applied, the pauses
    counted, and when each target was met or breached. ``next_escalation`` comes from
    :func:`supportkit.escalation.next_escalation`.
    """
    sla = ticket.sla
    if sla is None:
        raise ValidationError.for_field("sla", f"ticket {ticket.id} has no SLA")
    _check_calendar(sla, calendar)
    response, resolution = sla.response, sla.resolution

    def outcome(clock: SlaClock) -> dict[str, Any]:
        status = clock_status(clock, now)
        return {
            "met_at": _instant(clock.stopped_at) if status == "met" else None,
            "breached_at": _instant(clock.due_at) if status == "breached" else None,
        }

    response_view: dict[str, Any] = {
        "target": format_duration(response.target),
        "target_seconds": seconds(response.target),
        "status": clock_status(response, now),
        "due_at": _instant(response.due_at),
        "responded_at": _instant(response.stopped_at),
    }
    if response.stopped_at is not None:
        actual = response.consumed
        response_view["actual"] = format_duration(actual)
        response_view["actual_seconds"] = seconds(actual)
    else:
        waited = elapsed(response, now, calendar)
        response_view["elapsed"] = format_duration(waited)
        response_view["elapsed_seconds"] = seconds(waited)
    response_view.update(outcome(response))

    spent = elapsed(resolution, now, calendar)
    left = resolution.target - spent
    resolution_view: dict[str, Any] = {
        "target": format_duration(resolution.target),
        "target_seconds": seconds(resolution.target),
        "elapsed": format_duration(spent),
        "elapsed_seconds": seconds(spent),
        "status": clock_status(resolution, now),
        "due_at": _instant(resolution.due_at),
        "time_remaining": format_duration(max(left, _ZERO)),
        "time_remaining_seconds": max(seconds(left), 0),
        "at_risk_at": _instant(resolution.at_risk_at),
        "pauses": [
            {
                "status": pause.status,
                "started_at": format_instant(pause.started_at),
                "ended_at": _instant(pause.ended_at),
            }
            for pause in resolution.pauses
        ],
    }
    resolution_view.update(outcome(resolution))
    if left < _ZERO:
        resolution_view["overdue"] = format_duration(-left)
        resolution_view["overdue_seconds"] = seconds(-left)

    escalation = ticket.escalation
    return {
        "ticket_id": ticket.id,
        "priority": ticket.priority,
        "category": ticket.category,
        "sla_tier": sla.tier,
        "policy_id": sla.policy_id,
        "calendar": sla.calendar_id,
        "warning_threshold": sla.warning_threshold,
        "response_time": response_view,
        "resolution_time": resolution_view,
        "escalation": {
            "current_level": escalation.level,
            "escalated_at": _instant(escalation.escalated_at),
            "escalation_reason": escalation.reason,
            "next_escalation": _instant(next_escalation),
        },
    }
