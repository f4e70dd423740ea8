"""Applying the core's decisions to a ticket.

The modules :mod:`~supportkit.lifecycle`, :mod:`~supportkit.sla`,
:mod:`~supportkit.routing` and :mod:`~supportkit.escalation` each decide one thing.
This module composes them into the moves a ticket makes: opened, moved to a status,
answered, re-prioritised, escalated, replied to by the customer, and run through its
timers. Each function takes a :class:`~supportkit.models.Ticket` and an explicit
``now`` and returns a new ticket (plus what happened, where that matters), so the
``Desk`` only loads, calls and stores — and the stateful tests can drive the same
functions without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import escalation as esc
from . import sla as sla_mod
from .calendar import BusinessCalendar
from .lifecycle import DEFAULT_LIFECYCLE, FOLLOW_UP, Lifecycle
from .models import Agent, Assignee, Attachment, Contact, Location, Ticket, TicketSla
from .routing import RoutingDecision, TicketFacts
from .sla import SlaTargets

__all__ = [
    "Fired",
    "change_priority",
    "change_status",
    "customer_reply",
    "escalate",
    "facts_of",
    "open_ticket",
    "record_response",
    "run_timers",
]


def facts_of(ticket: Ticket, *, customer_tier: str | None = None) -> TicketFacts:
    """What routing rules and SLA policies look at, for an existing ticket."""
    return TicketFacts(
        category=ticket.category,
        priority=ticket.priority,
        title=ticket.title,
        description=ticket.description,
        subcategory=ticket.subcategory,
        severity=ticket.severity,
        customer_id=ticket.customer_id,
        customer_tier=customer_tier,
        service_affected=ticket.service_affected,
        custom_fields=ticket.custom_fields,
    )


def open_ticket(
    *,
    id: str,
    number: str,
    title: str,
    description: str,
    category: str,
    priority: str,
    now: datetime,
    targets: SlaTargets,
    calendar: BusinessCalendar,
    decision: RoutingDecision | None = None,
    agent: Agent | None = None,
    customer_id: str | None = None,
    customer_tier: str | None = None,
    severity: str | None = None,
    subcategory: str | None = None,
    contact: Contact | None = None,
    location: Location | None = None,
    service_affected: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    tags: tuple[str, ...] = (),
    attachments: tuple[Attachment, ...] = (),
    linked_tickets: tuple[str, ...] = (),
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
    sla: TicketSla | None = None,
) -> Ticket:
    """A new ticket, routed and with its SLA clocks started at ``now``.

    ``priority`` is the priority after routing (a rule's ``set_priority`` already
    applied) and ``targets`` the SLA targets selected for it. ``agent`` is the agent
    the routing decision picked, if any (its details are snapshotted on the ticket).
    ``sla``, when given, is ``sla.start(targets, now, calendar, tier=customer_tier)``
    made before (a bulk import starts many tickets' clocks at one instant).
    """
    extra_tags: tuple[str, ...] = ()
    escalate_after: timedelta | None = None
    frequency: timedelta | None = None
    team: str | None = None
    rules: tuple[str, ...] = ()
    if decision is not None:
        extra_tags = decision.add_tags
        escalate_after = decision.escalate_after
        frequency = decision.auto_update_frequency
        team = decision.team
        rules = decision.matched_rules
    all_tags = tuple(dict.fromkeys((*tags, *extra_tags)))
    return Ticket(
        id=id,
        number=number,
        title=title,
        description=description,
        status=lifecycle.initial,
        priority=priority,
        category=category,
        created_at=now,
        updated_at=now,
        customer_id=customer_id,
        severity=severity,
        subcategory=subcategory,
        contact=contact,
        location=location,
        service_affected=service_affected,
        metadata=dict(metadata or {}),
        custom_fields=dict(custom_fields or {}),
        tags=all_tags,
        assigned_to=Assignee.of(agent) if agent is not None else None,
        team=team,
        sla=sla if sla is not None else sla_mod.start(targets, now, calendar, tier=customer_tier),
        escalate_after=escalate_after,
        auto_update_frequency=frequency,
        next_update_at=calendar.add(now, frequency) if frequency else None,
        routing_rules=rules,
        linked_tickets=linked_tickets,
        attachments=attachments,
    )


def change_status(
    ticket: Ticket,
    new: str,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> Ticket:
    """Move ``ticket`` to status ``new``, running its SLA clocks accordingly.

    :raises InvalidTransition: the lifecycle does not allow the move (the error
        names the allowed statuses).
    :raises ValidationError: ``new`` is not a status of the lifecycle.
    """
    lifecycle.check(ticket.status, new)
    if new == ticket.status:
        return ticket
    sla = ticket.sla
    if sla is not None:
        sla = sla_mod.on_status_change(sla, ticket.status, new, now, calendar, lifecycle=lifecycle)
    resolved_at = ticket.resolved_at
    closed_at = ticket.closed_at
    if new == "resolved":
        resolved_at = now
    elif ticket.status == "resolved" and not lifecycle.is_stopped(new):
        resolved_at = None  # reopened
    if new == "closed":
        closed_at = now
    return attrs.evolve(
        ticket, status=new, sla=sla, resolved_at=resolved_at, closed_at=closed_at, updated_at=now
    )


def record_response(ticket: Ticket, now: datetime, calendar: BusinessCalendar) -> Ticket:
    """An agent's customer-visible reply: the first one meets the response target."""
    if ticket.sla is None or ticket.sla.response.stopped_at is not None:
        return attrs.evolve(ticket, updated_at=now)
    return attrs.evolve(ticket, sla=sla_mod.on_response(ticket.sla, now, calendar), updated_at=now)


def escalate(
    ticket: Ticket,
    decision: esc.EscalationDecision,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    status_named: bool = False,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> Ticket:
    """Carry out an escalation decision.

    The level and reason are recorded; the ticket moves to the escalated status
    unless the same update names a status itself (``status_named``), it is already
    there, or its lifecycle does not allow the move.
    """
    escalated = attrs.evolve(
        ticket, escalation=esc.record(ticket.escalation, decision), updated_at=now
    )
    target = lifecycle.escalated
    if not status_named and lifecycle.can_move(escalated.status, target):
        escalated = change_status(escalated, target, now, calendar, lifecycle=lifecycle)
    return escalated


def change_priority(
    ticket: Ticket,
    new_priority: str,
    targets: SlaTargets,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    status_named: bool = False,
    policy: esc.EscalationPolicy = esc.DEFAULT_POLICY,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> tuple[Ticket, esc.EscalationDecision | None]:
    """Change the priority: re-apply SLA ``targets`` from creation, maybe escalate.

    ``targets`` are the targets selected for the new priority and ``calendar`` is
    their calendar. Returns the new ticket and the escalation it caused, if any.
    """
    if new_priority == ticket.priority:
        return ticket, None
    decision = esc.for_priority_change(
        ticket, new_priority, now, policy=policy, lifecycle=lifecycle
    )
    sla = ticket.sla
    if sla is not None:
        sla = sla_mod.reapply(sla, targets, now, calendar)
    changed = attrs.evolve(ticket, priority=new_priority, sla=sla, updated_at=now)
    if decision is not None:
        changed = escalate(
            changed, decision, now, calendar, status_named=status_named, lifecycle=lifecycle
        )
    return changed, decision


def customer_reply(
    ticket: Ticket,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> tuple[Ticket, bool]:
    """A customer's reply: ``waiting_on_customer`` → ``in_progress``, ``resolved`` →
    reopened. Returns the ticket and whether the reply needs a linked follow-up
    ticket instead (the ticket is closed)."""
    target = lifecycle.on_customer_reply(ticket.status)
    if target == FOLLOW_UP:
        return ticket, True
    if target is None:
        return attrs.evolve(ticket, updated_at=now), False
    return change_status(ticket, target, now, calendar, lifecycle=lifecycle), False


@attrs.frozen
class Fired:
    """A timer that fired during :func:`run_timers`, and the escalation it caused."""

    timer: esc.Timer
    escalation: esc.EscalationDecision | None


def run_timers(
    ticket: Ticket,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    policy: esc.EscalationPolicy = esc.DEFAULT_POLICY,
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE,
) -> tuple[Ticket, list[Fired]]:
    """Fire every timer of ``ticket`` due at ``now``, earliest first.

    Idempotent: each one-shot trigger is remembered in the escalation state, and the
    recurring update reminder is rescheduled past ``now``, so running it again at the
    same ``now`` fires nothing.
    """
    fired: list[Fired] = []
    # Each round fires one timer and either remembers its key or moves it past now,
    # so the loop ends; the bound guards against a bug turning into a hang.
    for _ in range(64):
        due = esc.due_timers(ticket, now, calendar, policy=policy)
        if not due:
            break
        timer = due[0]
        if timer.key == "update_due":
            assert ticket.auto_update_frequency is not None
            upcoming = calendar.add(now, ticket.auto_update_frequency)
            ticket = attrs.evolve(ticket, next_update_at=upcoming)
            fired.append(Fired(timer, None))
            continue
        decision = esc.for_timer(ticket, timer, policy=policy, lifecycle=lifecycle)
        state = attrs.evolve(ticket.escalation, fired=ticket.escalation.fired | {timer.key})
        ticket = attrs.evolve(ticket, escalation=state)
        if decision is not None:
            ticket = escalate(ticket, decision, now, calendar, lifecycle=lifecycle)
        fired.append(Fired(timer, decision))
    else:  # pragma: no cover - would mean a timer that neither fires once nor moves
        raise RuntimeError(f"timers of ticket {ticket.id} did not settle")
    return ticket, fired
