"""The ticket lifecycle: which status may follow which.

The transition table is data. :data:`DEFAULT_LIFECYCLE` is the table of the design::

    open                → in_progress, waiting_on_customer, on_hold, escalated, resolved, closed
    in_progress         → waiting_on_customer, on_hold, escalated, resolved
    waiting_on_customer → in_progress, escalated, resolved, closed
    on_hold             → in_progress, escalated, resolved
    escalated           → in_progress, waiting_on_customer, on_hold, resolved
    resolved            → closed, open (a reopen)
    closed              → nothing (a customer reply opens a linked follow-up ticket)

A host passes its own table with :meth:`Lifecycle.from_dict`. Moving a ticket to the
status it already has is not a transition and is always accepted (it changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from .errors import FieldError, InvalidTransition, ValidationError

__all__ = [
    "DEFAULT_LIFECYCLE",
    "FOLLOW_UP",
    "STATUSES",
    "Lifecycle",
]

STATUSES: Final = (
    "open",
    "in_progress",
    "waiting_on_customer",
    "on_hold",
    "escalated",
    "resolved",
    "closed",
)

#: What :meth:`Lifecycle.on_customer_reply` answers for a ticket that can no longer be
#: reopened: the reply belongs on a new ticket linked to this one.
FOLLOW_UP: Final = "follow_up"


def _freeze(table: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    return {status: tuple(targets) for status, targets in table.items()}


@attrs.frozen
class Lifecycle:
    """A status transition table and the roles some statuses play.

    :ivar transitions: for each status, the statuses it may move to, in display order.
    :ivar initial: the status of a new ticket.
    :ivar pause_statuses: statuses in which the resolution clock does not run.
    :ivar stop_statuses: statuses in which the SLA clocks stop (the work is done).
    :ivar escalated: the status an escalation moves a ticket to.
    :ivar customer_reply: where a customer's reply moves a ticket in a given status.
    :ivar follow_up_statuses: statuses in which a customer reply opens a follow-up
        ticket instead of changing this one.
    """

    transitions: Mapping[str, tuple[str, ...]] = attrs.field(converter=_freeze)
    initial: str = "open"
    pause_statuses: frozenset[str] = frozenset({"waiting_on_customer", "on_hold"})
    stop_statuses: frozenset[str] = frozenset({"resolved", "closed"})
    escalated: str = "escalated"
    customer_reply: Mapping[str, str] = attrs.field(
        factory=lambda: {"waiting_on_customer": "in_progress", "resolved": "open"}
    )
    follow_up_statuses: frozenset[str] = frozenset({"closed"})

    def __attrs_post_init__(self) -> None:
        errors: list[FieldError] = []
        known = set(self.transitions)
        for status, targets in self.transitions.items():
            for target in targets:
                if target not in known:
                    errors.append(
                        FieldError(
                            f"transitions.{status}",
                            f"{target!r} is not a status of this lifecycle",
                        )
                    )
        named = {
            "initial": {self.initial},
            "pause_statuses": set(self.pause_statuses),
            "stop_statuses": set(self.stop_statuses),
            "escalated": {self.escalated},
            "follow_up_statuses": set(self.follow_up_statuses),
            "customer_reply": set(self.customer_reply) | set(self.customer_reply.values()),
        }
        for field, statuses in named.items():
            for status in sorted(statuses - known):
                errors.append(FieldError(field, f"{status!r} is not a status of this lifecycle"))
        if errors:
            raise ValidationError.from_errors(errors)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Lifecycle:
        """Build a lifecycle from ``{"transitions": {...}, "initial": ..., ...}``.

        Only ``transitions`` is required; the other keys default as in the design.
        """
        transitions = data.get("transitions")
        if not isinstance(transitions, Mapping) or not transitions:
            raise ValidationError.for_field(
                "transitions", "expected a mapping of status to the statuses it may move to"
            )
        table: dict[str, tuple[str, ...]] = {}
        for status, targets in transitions.items():
            if not isinstance(status, str) or not isinstance(targets, list | tuple):
                raise ValidationError.for_field(
                    f"transitions.{status}", "expected a list of statuses"
                )
            if not all(isinstance(t, str) for t in targets):
                raise ValidationError.for_field(
                    f"transitions.{status}", "expected a list of statuses"
                )
            table[status] = tuple(targets)
        kwargs: dict[str, object] = {}
        for key in ("pause_statuses", "stop_statuses", "follow_up_statuses"):
            if key in data:
                value = data[key]
                if not isinstance(value, list | tuple | set | frozenset):
                    raise ValidationError.for_field(key, "expected a list of statuses")
                kwargs[key] = frozenset(str(v) for v in value)
        for key in ("initial", "escalated"):
            if key in data:
                if not isinstance(data[key], str):
                    raise ValidationError.for_field(key, "expected a status")
                kwargs[key] = data[key]
        if "customer_reply" in data:
            reply = data["customer_reply"]
            if not isinstance(reply, Mapping):
                raise ValidationError.for_field("customer_reply", "expected a mapping")
            kwargs["customer_reply"] = {str(k): str(v) for k, v in reply.items()}
        unknown = (
            set(data)
            - {"transitions", "initial", "escalated", "customer_reply"}
            - {"pause_statuses", "stop_statuses", "follow_up_statuses"}
        )
        if unknown:
            raise ValidationError.for_field(
                sorted(unknown)[0], "unknown field in a lifecycle definition"
            )
        return cls(table, **kwargs)  # type: ignore[arg-type]

    @property
    def statuses(self) -> tuple[str, ...]:
        """Every status of the table, in table order."""
        return tuple(self.transitions)

    def allowed(self, status: str) -> tuple[str, ...]:
        """The statuses a ticket in ``status`` may move to."""
        self._known(status)
        return self.transitions[status]

    def can_move(self, current: str, requested: str) -> bool:
        """Whether ``current → requested`` is allowed (staying put always is)."""
        return current == requested or requested in self.allowed(current)

    def check(self, current: str, requested: str) -> None:
        """Refuse a disallowed move.

        :raises ValidationError: either status is not part of this lifecycle.
        :raises InvalidTransition: the move is not in the table; the error lists the
            statuses that are allowed.
        """
        self._known(requested, field="status")
        if not self.can_move(current, requested):
            raise InvalidTransition(current, requested, self.allowed(current))

    def on_customer_reply(self, status: str) -> str | None:
        """Where a customer's reply moves a ticket in ``status``.

        Returns the new status, :data:`FOLLOW_UP` when the reply must open a linked
        follow-up ticket, or ``None`` when the status does not change.
        """
        self._known(status)
        if status in self.follow_up_statuses:
            return FOLLOW_UP
        target = self.customer_reply.get(status)
        if target is None or not self.can_move(status, target):
            return None
        return target

    def is_paused(self, status: str) -> bool:
        """Whether the resolution clock stands still in ``status``."""
        return status in self.pause_statuses

    def is_stopped(self, status: str) -> bool:
        """Whether the SLA clocks have stopped in ``status`` (resolved, closed)."""
        return status in self.stop_statuses

    def can_escalate(self, status: str) -> bool:
        """Whether a ticket in ``status`` may be escalated (not once it is done)."""
        self._known(status)
        return status not in self.stop_statuses

    def _known(self, status: str, *, field: str = "status") -> None:
        if status not in self.transitions:
            raise ValidationError.for_field(
                field,
                f"unknown status {status!r}; expected one of: " + ", ".join(self.transitions),
            )


DEFAULT_LIFECYCLE: Final = Lifecycle(
    {
        "open": (
            "in_progress",
            "waiting_on_customer",
            "on_hold",
            "escalated",
            "resolved",
            "closed",
        ),
        "in_progress": ("waiting_on_customer", "on_hold", "escalated", "resolved"),
        "waiting_on_customer": ("in_progress", "escalated", "resolved", "closed"),
        "on_hold": ("in_progress", "escalated", "resolved"),
        "escalated": ("in_progress", "waiting_on_customer", "on_hold", "resolved"),
        "resolved": ("closed", "open"),
        "closed": (),
    }
)
