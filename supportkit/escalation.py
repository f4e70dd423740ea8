"""Escalation: when a ticket climbs a level, and why.

Escalation raises a ticket's ``escalation_level`` (0 means not escalated) and, unless
the same update names a status explicitly, moves it to the ``escalated`` status.
Resolved and closed tickets are never escalated. The triggers:

=========================  =====================================  ======================
trigger                    reason                                 when
=========================  =====================================  ======================
``manual``                 the caller's                           ``POST …/escalate``
``priority_upgrade``       "Priority upgraded to critical"        an update raises the
                                                                  priority to
                                                                  :attr:`EscalationPolicy.priority_upgrade_to`
                                                                  or above
``response.at_risk``,      "Approaching SLA deadline"             the warning share of a
``resolution.at_risk``                                            target is consumed
``response.breached``,     "Response SLA breached",               a target's due date
``resolution.breached``    "Resolution SLA breached"              passes unmet
``escalate_after``         "Unresolved after 4 hours"             a routing rule's
                                                                  ``escalate_after`` or a
                                                                  subcategory's
                                                                  ``escalation_threshold``
                                                                  of business time passes
=========================  =====================================  ======================

Time-based triggers are :class:`Timer` values. :func:`pending_timers` lists those a
ticket still has; :func:`due_timers` those due at ``now``. Each fires once: the
:class:`~supportkit.models.EscalationState` of the ticket remembers fired keys. The
recurring ``update_due`` reminder (a rule's ``auto_update_frequency``) is a timer too,
but it escalates nothing and is rescheduled instead of remembered.

Everything here decides; nothing writes. :mod:`supportkit.workflow` applies the
decisions to a ticket and the ``Desk`` stores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from .calendar import BusinessCalendar
from .durations import format_duration
from .errors import InvalidTransition, ValidationError
from .lifecycle import DEFAULT_LIFECYCLE, Lifecycle
from .models import PRIORITIES, EscalationRecord, EscalationState, Ticket, priority_rank
from .sla import instant_at

__all__ = [
    "AT_RISK_REASON",
    "DEFAULT_POLICY",
    "EscalationDecision",
    "EscalationPolicy",
    "Timer",
    "due_timers",
    "for_priority_change",
    "for_timer",
    "manual",
    "next_escalation",
    "next_timer",
    "pending_timers",
    "record",
]

AT_RISK_REASON: Final = "Approaching SLA deadline"
_TICK: Final = timedelta(microseconds=1)


def _priority(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in PRIORITIES:
        raise ValidationError.for_field(
            attribute.name, f"{value!r} is not one of: " + ", ".join(PRIORITIES)
        )


def _positive(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValidationError.for_field(attribute.name, "must be a positive integer")


@attrs.frozen
class EscalationPolicy:
    """How eagerly tickets escalate (one per desk; the defaults follow the design).

    :ivar priority_upgrade_to: an update that raises the priority to this one or
        higher escalates the ticket ("Priority upgraded to critical").
    :ivar on_at_risk: escalate when a target's warning threshold is crossed.
    :ivar on_breach: escalate when a target is breached.
    :ivar max_level: time-based triggers stop raising the level here (their events
        are still recorded); a manual escalation above it is refused.
    """

    priority_upgrade_to: str = attrs.field(default="critical", validator=_priority)
    on_at_risk: bool = True
    on_breach: bool = True
    max_level: int = attrs.field(default=5, validator=_positive)


DEFAULT_POLICY: Final = EscalationPolicy()


@attrs.frozen
class EscalationDecision:
    """An escalation to carry out: the level to reach and why."""

    level: int
    reason: str
    trigger: str
    at: datetime
    notify: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Timer:
    """A time-based trigger of a ticket.

    :ivar key: ``response.at_risk``, ``response.breached``, ``resolution.at_risk``,
        ``resolution.breached``, ``escalate_after`` or ``update_due``.
    :ivar due_at: the first instant at which the trigger fires.
    :ivar event: the event it records (``sla.at_risk``, ``sla.breached``,
        ``ticket.escalated`` or ``ticket.update_due``).
    :ivar escalates: whether it raises the escalation level (policy permitting).
    :ivar reason: the escalation reason it gives.
    """

    key: str
    due_at: datetime
    event: str
    escalates: bool
    reason: str | None = None


def manual(
    ticket: Ticket,
    now: datetime,
    *,
    reason: str,
    level: int | None = None,
    notify: tuple[str, ...] = (),
    metadata: Mapping[str, Any] | None = None,
    policy: EscalationPolicy = DEFAULT_POLICY,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> EscalationDecision:
    """A manual escalation (the seed's ``POST …/escalate``).

    ``level`` defaults to one above the current level.

    :raises InvalidTransition: the ticket is resolved or closed.
    :raises ValidationError: ``level`` is not above the current level, is above the
        policy's ``max_level``, or ``reason`` is empty.
    """
    if not lifecycle.can_escalate(ticket.status):
        raise InvalidTransition(ticket.status, lifecycle.escalated, ())
    current = ticket.escalation.level
    target = current + 1 if level is None else level
    if isinstance(target, bool) or not isinstance(target, int):
        raise ValidationError.for_field("escalation_level", "must be an integer")
    if target <= current:
        raise ValidationError.for_field(
            "escalation_level", f"must be above the current level {current}, got {target}"
        )
    if target > policy.max_level:
        raise ValidationError.for_field(
            "escalation_level", f"must be at most {policy.max_level}, got {target}"
        )
    if not reason or not reason.strip():
        raise ValidationError.for_field("reason", "an escalation needs a reason")
    return EscalationDecision(
        level=target,
        reason=reason.strip(),
        trigger="manual",
        at=now,
        notify=notify,
        metadata=dict(metadata or {}),
    )


def for_priority_change(
    ticket: Ticket,
    new_priority: str,
    now: datetime,
    *,
    policy: EscalationPolicy = DEFAULT_POLICY,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> EscalationDecision | None:
    """The escalation a priority change causes, if any.

    Only an upgrade to :attr:`EscalationPolicy.priority_upgrade_to` or above
    escalates, and only an open ticket; the level rises by one (up to ``max_level``).
    """
    old, new = priority_rank(ticket.priority), priority_rank(new_priority)
    threshold = priority_rank(policy.priority_upgrade_to)
    if new <= old or new < threshold or not lifecycle.can_escalate(ticket.status):
        return None
    return EscalationDecision(
        level=min(ticket.escalation.level + 1, policy.max_level),
        reason=f"Priority upgraded to {new_priority}",
        trigger="priority_upgrade",
        at=now,
    )


def pending_timers(
    ticket: Ticket,
    calendar: BusinessCalendar,
    *,
    policy: EscalationPolicy = DEFAULT_POLICY,
) -> list[Timer]:
    """The time-based triggers ``ticket`` still has, earliest first.

    ``calendar`` is the calendar of the ticket's SLA. Instants that are not known
    yet (a paused clock's due date) are left out; they come back when the clock runs.
    """
    sla = ticket.sla
    if sla is None:
        return []
    fired = ticket.escalation.fired
    found: list[Timer] = []
    for name, clock in (("response", sla.response), ("resolution", sla.resolution)):
        stopped = clock.stopped_at is not None
        key = f"{name}.at_risk"
        if not stopped and clock.at_risk_at is not None and key not in fired:
            found.append(
                Timer(key, clock.at_risk_at, "sla.at_risk", policy.on_at_risk, AT_RISK_REASON)
            )
        key = f"{name}.breached"
        late = clock.due_at is not None and (
            not stopped or (clock.stopped_at is not None and clock.stopped_at > clock.due_at)
        )
        if late and key not in fired:
            assert clock.due_at is not None
            reason = f"{name.capitalize()} SLA breached"
            # Breached means strictly past the due date.
            found.append(Timer(key, clock.due_at + _TICK, "sla.breached", policy.on_breach, reason))
    resolution = sla.resolution
    if resolution.stopped_at is None:
        if ticket.escalate_after is not None and "escalate_after" not in fired:
            at = instant_at(resolution, ticket.escalate_after, calendar)
            if at is not None:
                reason = f"Unresolved after {format_duration(ticket.escalate_after)}"
                found.append(Timer("escalate_after", at, "ticket.escalated", True, reason))
        if ticket.next_update_at is not None and ticket.auto_update_frequency is not None:
            found.append(Timer("update_due", ticket.next_update_at, "ticket.update_due", False))
    found.sort(key=lambda timer: (timer.due_at, timer.key))
    return found


def due_timers(
    ticket: Ticket,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    policy: EscalationPolicy = DEFAULT_POLICY,
) -> list[Timer]:
    """The triggers of ``ticket`` that are due at ``now``, earliest first."""
    return [t for t in pending_timers(ticket, calendar, policy=policy) if t.due_at <= now]


def next_timer(
    ticket: Ticket,
    calendar: BusinessCalendar,
    *,
    policy: EscalationPolicy = DEFAULT_POLICY,
) -> datetime | None:
    """When the ticket next needs attention from ``tick()`` (its "next due" instant)."""
    pending = pending_timers(ticket, calendar, policy=policy)
    return pending[0].due_at if pending else None


def next_escalation(
    ticket: Ticket,
    calendar: BusinessCalendar,
    *,
    policy: EscalationPolicy = DEFAULT_POLICY,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> datetime | None:
    """When the ticket will next escalate by itself, if nothing changes (the seed's
    ``next_escalation``); ``None`` if no pending trigger escalates."""
    if not lifecycle.can_escalate(ticket.status):
        return None
    if ticket.escalation.level >= policy.max_level:
        return None
    for timer in pending_timers(ticket, calendar, policy=policy):
        if timer.escalates:
            return timer.due_at
    return None


def for_timer(
    ticket: Ticket,
    timer: Timer,
    *,
    policy: EscalationPolicy = DEFAULT_POLICY,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> EscalationDecision | None:
    """The escalation a fired timer causes, if any (none for a done ticket or at the
    policy's ``max_level``)."""
    if not timer.escalates or timer.reason is None:
        return None
    if not lifecycle.can_escalate(ticket.status):
        return None
    if ticket.escalation.level >= policy.max_level:
        return None
    return EscalationDecision(
        level=ticket.escalation.level + 1,
        reason=timer.reason,
        trigger=timer.key,
        at=timer.due_at,
    )


def record(state: EscalationState, decision: EscalationDecision) -> EscalationState:
    """The escalation state after carrying out ``decision``."""
    fired = state.fired
    if decision.trigger not in ("manual", "priority_upgrade"):
        fired = fired | {decision.trigger}
    return attrs.evolve(
        state,
        level=decision.level,
        escalated_at=decision.at,
        reason=decision.reason,
        fired=fired,
        history=(
            *state.history,
            EscalationRecord(decision.level, decision.at, decision.reason, decision.trigger),
        ),
    )
