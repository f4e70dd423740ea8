"""What the built-in SQL backends share: indexed column values, sort columns, the SLA
state filters, aggregate rows and search words. Only the SQL dialect differs, and it is
passed in (the parameter placeholder)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from .. import records
from ..errors import ValidationError
from ..models import PRIORITIES, Ticket
from ..storage import TicketStats

#: A priority's position, stored so that sorting by priority is sorting by a number.
PRIORITY_RANK: Final = {name: rank for rank, name in enumerate(PRIORITIES)}
#: The ``tickets`` table's columns, in the order of :func:`ticket_values`.
TICKET_COLUMNS: Final = (
    "id", "number", "customer_id", "status", "priority_rank", "category", "subcategory",
    "assignee", "team", "escalation_level", "created_at", "updated_at", "response_due",
    "resolution_due", "response_at_risk", "resolution_at_risk", "response_state",
    "resolution_state", "next_due_at", "resolved_at", "version", "title", "description",
    "tags", "data",
)  # fmt: skip
#: The columns behind the sort fields a search may name (``storage.SORT_FIELDS``).
SORT_COLUMNS: Final = {
    "created_at": "t.created_at",
    "updated_at": "t.updated_at",
    "priority": "t.priority_rank",
    "status": "t.status",
    "number": "t.number",
    "escalation_level": "t.escalation_level",
    "resolution_due": "t.resolution_due",
    "response_due": "t.response_due",
}
#: The columns behind ``StatsQuery.group_by``.
STATS_COLUMNS: Final = {
    "category": "t.category",
    "priority": "t.priority_rank",
    "customer": "t.customer_id",
    "bucket": "b.idx",
}
_WORD: Final = re.compile(r"\w+", re.UNICODE)
_MAX_WORDS: Final = 16


def clock_state(stopped: datetime | None, due: datetime | None, running: bool) -> str:
    """The stored state of an SLA clock: ``met``/``breached`` once stopped, else
    ``running`` or ``paused``. (Whether a running clock is at risk or overdue depends on
    ``now``; :func:`sla_clause` asks that at query time.)"""
    if stopped is not None:
        return "breached" if due is not None and stopped > due else "met"
    return "running" if running else "paused"


def sla_clause(
    prefix: str, statuses: Sequence[str], now: Any, params: list[Any], *, placeholder: str
) -> str:
    """SQL matching tickets whose ``prefix`` clock (``response``/``resolution``) is in one
    of ``statuses`` at ``now``; appends the parameters to ``params``."""
    state, due, risk = f"t.{prefix}_state", f"t.{prefix}_due", f"t.{prefix}_at_risk"
    p = placeholder
    clauses = {
        "met": f"{state} = 'met'",
        "breached": f"({state} = 'breached' OR ({state} IN ('running', 'paused')"
        f" AND {due} IS NOT NULL AND {due} < {p}))",
        "at_risk": f"({state} = 'running' AND {risk} IS NOT NULL AND {risk} <= {p}"
        f" AND ({due} IS NULL OR {due} >= {p}))",
        "paused": f"({state} = 'paused' AND ({due} IS NULL OR {due} >= {p}))",
        "in_progress": f"({state} = 'running' AND ({risk} IS NULL OR {risk} > {p})"
        f" AND ({due} IS NULL OR {due} >= {p}))",
    }
    parts = []
    for status in statuses:
        sql = clauses[status]
        params.extend([now] * sql.count(p))
        parts.append(sql)
    return "(" + " OR ".join(parts) + ")"


def stats(group_by: Sequence[str], row: Sequence[Any]) -> TicketStats:
    """A :class:`TicketStats` from an aggregate row: the group's values, then the sums."""
    width = len(group_by)
    group: list[str | int | None] = []
    for name, value in zip(group_by, row[:width], strict=True):
        if name == "priority":
            group.append(PRIORITIES[int(value)])
        elif name == "bucket":
            group.append(int(value))
        else:
            group.append(value)
    numbers = [int(value or 0) for value in row[width:]]
    return TicketStats(tuple(group), *numbers)


def search_words(text: str) -> list[str]:
    """The distinct words of a search text, lower-cased; no query syntax survives.

    :raises ValidationError: no words, or more than 16.
    """
    words = list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))
    if not words:
        raise ValidationError.for_field("q", "the search text has no words to search for")
    if len(words) > _MAX_WORDS:
        raise ValidationError.for_field("q", f"at most {_MAX_WORDS} words to search for")
    return words


def ticket_values(
    ticket: Ticket,
    next_due_at: datetime | None,
    *,
    instant: Callable[[datetime], Any],
    tags: Callable[[list[str]], Any],
) -> tuple[Any, ...]:
    """The ``tickets`` row of ``ticket``, in the order of :data:`TICKET_COLUMNS`: its
    indexed columns (instants as ``instant`` stores them, tags as ``tags`` does, ``None``
    for none) and its record text, ``data``, last."""

    def at(moment: datetime | None) -> Any:
        return None if moment is None else instant(moment)

    sla = ticket.sla
    response: tuple[Any, ...] = (None, None, None)
    resolution = response
    if sla is not None:
        response, resolution = (
            (
                at(clock.due_at),
                at(clock.at_risk_at),
                clock_state(clock.stopped_at, clock.due_at, clock.running_since is not None),
            )
            for clock in (sla.response, sla.resolution)
        )
    assigned = ticket.assigned_to
    return (
        ticket.id,
        ticket.number,
        ticket.customer_id,
        ticket.status,
        PRIORITY_RANK[ticket.priority],
        ticket.category,
        ticket.subcategory,
        assigned.agent_id if assigned else None,
        ticket.team,
        ticket.escalation.level,
        instant(ticket.created_at),
        instant(ticket.updated_at),
        response[0],
        resolution[0],
        response[1],
        resolution[1],
        response[2],
        resolution[2],
        at(next_due_at),
        at(ticket.resolved_at),
        ticket.version,
        ticket.title,
        ticket.description,
        tags(list(ticket.tags)) if ticket.tags else None,
        records.dumps(ticket),
    )
