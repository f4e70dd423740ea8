"""The values supportkit works with, and how they become JSON.

Every model is a frozen attrs class: the core takes values and returns new ones, it
never mutates. Instants are aware UTC datetimes; durations are ``timedelta``.

:func:`to_dict` gives the JSON shapes of the Support API (a ``timedelta`` is written as
``"2 hours"`` with a ``…_seconds`` twin, an instant as ``"2024-11-01T14:30:00Z"``).
:func:`structure` reads the API's shapes of configuration resources (agents, teams,
customers, categories, SLA policies, routing rules) into models, and turns every
problem into one :class:`~supportkit.errors.ValidationError` that names each field.
supportkit owns its :data:`converter`; it never touches cattrs' global one.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar, cast

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from .durations import format_duration, parse_duration, seconds
from .errors import FieldError, ValidationError

__all__ = [
    "PRIORITIES",
    "SEVERITIES",
    "TEAM_STRATEGIES",
    "Agent",
    "Assignee",
    "Attachment",
    "Author",
    "Category",
    "CategorySla",
    "Comment",
    "Contact",
    "Customer",
    "EscalationRecord",
    "EscalationState",
    "Location",
    "Pause",
    "RoutingRule",
    "RuleActions",
    "RuleConditions",
    "SlaClock",
    "SlaPolicy",
    "Subcategory",
    "SubcategoryRouting",
    "Team",
    "Ticket",
    "TicketSla",
    "converter",
    "format_instant",
    "priority_rank",
    "structure",
    "to_dict",
]

#: Priorities, lowest first.
PRIORITIES: Final = ("low", "medium", "high", "critical")
#: Severities, lowest first.
SEVERITIES: Final = ("minor", "moderate", "major", "business_impacting", "critical")
#: How a team picks one of its agents.
TEAM_STRATEGIES: Final = ("round_robin", "least_loaded", "skills")
#: Condition keys a routing rule or an SLA policy may test.
CONDITION_FIELDS: Final = (
    "category",
    "subcategory",
    "priority",
    "severity",
    "keywords",
    "customer_tier",
    "customer_id",
    "service_affected",
)


def priority_rank(priority: str) -> int:
    """The position of ``priority`` in :data:`PRIORITIES` (``low`` is 0)."""
    try:
        return PRIORITIES.index(priority)
    except ValueError:
        raise ValidationError.for_field(
            "priority", f"unknown priority {priority!r}; expected one of " + ", ".join(PRIORITIES)
        ) from None


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value not in choices:
            raise ValidationError.for_field(
                attribute.name, f"{value!r} is not one of: " + ", ".join(choices)
            )

    return check


def _each_one_of(choices: tuple[str, ...]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        for item in value:
            if item not in choices:
                raise ValidationError.for_field(
                    attribute.name, f"{item!r} is not one of: " + ", ".join(choices)
                )

    return check


def _non_empty(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.for_field(attribute.name, "must be a non-empty string")


def _aware(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{attribute.name}: expected an aware datetime")


def _freeze_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


# -- people and organisation ----------------------------------------------------------


@attrs.frozen
class Contact:
    """Who reported a ticket, as the seed's ``contact`` object."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    role: str | None = None


@attrs.frozen
class Location:
    """Where the problem is, as the seed's ``location`` object."""

    site_id: str | None = None
    address: str | None = None
    timezone: str | None = None


@attrs.frozen
class Agent:
    """A person who works tickets.

    ``specialization`` and ``skills`` are what the ``skills`` team strategy matches.
    An inactive agent is never picked by routing.
    """

    id: str = attrs.field(validator=_non_empty)
    name: str
    email: str | None = None
    specialization: str | None = None
    skills: tuple[str, ...] = ()
    active: bool = True


@attrs.frozen
class Assignee:
    """The seed's ``assigned_to`` object: the agent as they were when assigned."""

    agent_id: str
    name: str | None = None
    email: str | None = None
    specialization: str | None = None

    @classmethod
    def of(cls, agent: Agent) -> Assignee:
        """Snapshot an agent."""
        return cls(agent.id, agent.name, agent.email, agent.specialization)


@attrs.frozen
class Team:
    """Agents who share a queue, and how one of them is picked for a ticket."""

    id: str = attrs.field(validator=_non_empty)
    name: str
    strategy: str = attrs.field(default="round_robin", validator=_one_of(TEAM_STRATEGIES))
    members: tuple[str, ...] = ()


@attrs.frozen
class Customer:
    """An organisation that opens tickets; ``tier`` feeds SLA policies and routing."""

    id: str = attrs.field(validator=_non_empty)
    name: str
    tier: str | None = None
    timezone: str | None = None
    language: str = "en"


# -- categories and SLA policies -------------------------------------------------------


@attrs.frozen
class CategorySla:
    """A category's SLA targets and the calendar they are measured on."""

    response_time: timedelta
    resolution_time: timedelta
    calendar: str = "24x7"


@attrs.frozen
class SubcategoryRouting:
    """A subcategory's fallback routing (the seed's ``routing_rules`` object)."""

    auto_assign: str | None = None
    escalation_threshold: timedelta | None = None


@attrs.frozen
class Subcategory:
    id: str = attrs.field(validator=_non_empty)
    name: str
    routing_rules: SubcategoryRouting | None = None


@attrs.frozen
class Category:
    """A kind of problem, its default SLA targets, team and subcategories."""

    id: str = attrs.field(validator=_non_empty)
    name: str
    sla: CategorySla
    description: str | None = None
    default_team: str | None = None
    subcategories: tuple[Subcategory, ...] = ()

    def subcategory(self, sub_id: str | None) -> Subcategory | None:
        """The subcategory with id ``sub_id``, or ``None``."""
        for sub in self.subcategories:
            if sub.id == sub_id:
                return sub
        return None


def _threshold(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value < 1):
        raise ValidationError.for_field(attribute.name, "must be a number between 0 and 1")


@attrs.frozen
class SlaPolicy:
    """An override of a category's SLA targets for tickets matching ``conditions``.

    Policies are ordered; the first whose conditions all hold applies. A target left
    out (``None``) keeps the category's.
    """

    id: str = attrs.field(validator=_non_empty)
    conditions: RuleConditions = attrs.field(factory=lambda: RuleConditions())
    response_time: timedelta | None = None
    resolution_time: timedelta | None = None
    calendar: str | None = None
    warning_threshold: float = attrs.field(default=0.75, validator=_threshold)
    pause_statuses: tuple[str, ...] | None = None
    name: str | None = None


# -- routing -----------------------------------------------------------------------------


@attrs.frozen
class RuleConditions:
    """What a ticket must look like for a rule or a policy to apply.

    Every condition that is set must hold; a condition with several values holds when
    any of them does. An empty tuple means "not a condition".
    """

    category: tuple[str, ...] = ()
    subcategory: tuple[str, ...] = ()
    priority: tuple[str, ...] = attrs.field(default=(), validator=_each_one_of(PRIORITIES))
    severity: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    customer_tier: tuple[str, ...] = ()
    customer_id: tuple[str, ...] = ()
    service_affected: tuple[str, ...] = ()
    custom_fields: dict[str, tuple[str, ...]] = attrs.field(factory=dict)


@attrs.frozen
class RuleActions:
    """What a matching routing rule does."""

    assign_to: str | None = None
    notify: tuple[str, ...] = ()
    escalate_after: timedelta | None = None
    auto_update_frequency: timedelta | None = None
    set_priority: str | None = attrs.field(default=None, validator=_one_of(PRIORITIES))
    add_tags: tuple[str, ...] = ()


@attrs.frozen
class RoutingRule:
    """An ordered routing rule (the seed's ``POST /routing-rules`` body).

    ``continue_`` is ``"continue"`` in JSON: when true, later rules are evaluated too.
    """

    id: str = attrs.field(validator=_non_empty)
    rule_name: str
    conditions: RuleConditions = attrs.field(factory=lambda: RuleConditions())
    actions: RuleActions = attrs.field(factory=lambda: RuleActions())
    active: bool = True
    continue_: bool = False


# -- SLA state on a ticket ------------------------------------------------------------


@attrs.frozen
class Pause:
    """A stretch during which the resolution clock stood still."""

    status: str
    started_at: datetime = attrs.field(validator=_aware)
    ended_at: datetime | None = attrs.field(default=None, validator=_aware)


@attrs.frozen
class SlaClock:
    """One SLA target of one ticket, and how far its clock has run.

    The clock stores the business time consumed before ``running_since`` rather than a
    due date shifted by wall-clock pauses; ``due_at`` and ``at_risk_at`` are derived
    from those whenever the clock changes, and kept so that reading them needs no
    calendar. While the clock is paused ``running_since`` is ``None`` and so are
    ``due_at``/``at_risk_at`` unless they were already reached; once it stopped,
    ``stopped_at`` says when. :mod:`supportkit.sla` does all of this.
    """

    target: timedelta
    started_at: datetime = attrs.field(validator=_aware)
    consumed: timedelta = timedelta(0)
    running_since: datetime | None = attrs.field(default=None, validator=_aware)
    due_at: datetime | None = attrs.field(default=None, validator=_aware)
    at_risk_at: datetime | None = attrs.field(default=None, validator=_aware)
    stopped_at: datetime | None = attrs.field(default=None, validator=_aware)
    #: Stretches the clock stood still, oldest first; the last one is open
    #: (``ended_at is None``) while the clock is paused or stopped.
    pauses: tuple[Pause, ...] = ()


@attrs.frozen
class TicketSla:
    """The SLA a ticket was given, snapshotted so later policy edits do not move it."""

    policy_id: str | None
    calendar_id: str
    warning_threshold: float
    pause_statuses: tuple[str, ...]
    response: SlaClock
    resolution: SlaClock
    tier: str | None = None


# -- escalation state -------------------------------------------------------------------


@attrs.frozen
class EscalationRecord:
    """One escalation of a ticket, for its history."""

    level: int
    at: datetime = attrs.field(validator=_aware)
    reason: str
    trigger: str


@attrs.frozen
class EscalationState:
    """How far a ticket is escalated, and which one-shot triggers have fired."""

    level: int = 0
    escalated_at: datetime | None = attrs.field(default=None, validator=_aware)
    reason: str | None = None
    fired: frozenset[str] = frozenset()
    history: tuple[EscalationRecord, ...] = ()


# -- tickets and comments ---------------------------------------------------------------


@attrs.frozen
class Attachment:
    """A file attached to a ticket or a comment (its bytes live in storage)."""

    id: str
    filename: str
    content_type: str
    size: int
    sha256: str | None = None


@attrs.frozen
class Author:
    """Who wrote a comment: ``type`` is ``agent``, ``customer`` or ``system``."""

    type: str = attrs.field(validator=_one_of(("agent", "customer", "system")))
    id: str | None = None
    name: str | None = None
    email: str | None = None


@attrs.frozen
class Comment:
    """A comment on a ticket; ``visibility`` is ``customer`` or ``internal``."""

    id: str
    ticket_id: str
    content: str
    type: str
    visibility: str = attrs.field(validator=_one_of(("customer", "internal")))
    created_at: datetime = attrs.field(validator=_aware)
    author: Author
    attachments: tuple[Attachment, ...] = ()
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_dict)


@attrs.frozen
class Ticket:
    """A support ticket: what the customer reported, where it stands, its SLA."""

    id: str
    number: str
    title: str
    description: str
    status: str
    priority: str = attrs.field(validator=_one_of(PRIORITIES))
    category: str
    created_at: datetime = attrs.field(validator=_aware)
    updated_at: datetime = attrs.field(validator=_aware)
    customer_id: str | None = None
    severity: str | None = None
    subcategory: str | None = None
    contact: Contact | None = None
    location: Location | None = None
    service_affected: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_dict)
    custom_fields: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_dict)
    tags: tuple[str, ...] = ()
    assigned_to: Assignee | None = None
    team: str | None = None
    estimated_resolution: datetime | None = attrs.field(default=None, validator=_aware)
    sla: TicketSla | None = None
    escalation: EscalationState = EscalationState()
    #: From the routing rule or the subcategory: escalate if still unresolved after
    #: this much business time since creation.
    escalate_after: timedelta | None = None
    #: From the routing rule: remind (``ticket.update_due``) this often while unresolved.
    auto_update_frequency: timedelta | None = None
    next_update_at: datetime | None = attrs.field(default=None, validator=_aware)
    routing_rules: tuple[str, ...] = ()
    resolved_at: datetime | None = attrs.field(default=None, validator=_aware)
    closed_at: datetime | None = attrs.field(default=None, validator=_aware)
    merged_into: str | None = None
    linked_tickets: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    version: int = 1


# -- the converter ----------------------------------------------------------------------

#: supportkit's own cattrs converter (never the global one).
converter: Final = cattrs.Converter(forbid_extra_keys=True)

_RENAMES: Final[dict[type, dict[str, str]]] = {RoutingRule: {"continue_": "continue"}}


def format_instant(moment: datetime) -> str:
    """An instant as the API writes it: UTC, ``Z``, microseconds only when present."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    if type(utc) is not datetime:  # a subclass may format itself otherwise
        return _format_utc(utc)
    return _remembered_utc(utc)


def _format_utc(moment: datetime) -> str:
    # isoformat's default gives microseconds only when there are some.
    return moment.isoformat().replace("+00:00", "Z")


#: The same instants come back again and again (a ticket's created_at is its
#: updated_at and starts its clocks; a batch's tickets share them): remembered in UTC.
_remembered_utc: Final = functools.lru_cache(maxsize=4096)(_format_utc)


#: Per attrs class, its fields as (key in the API's shape, attribute name).
_API_KEYS: Final[dict[type, tuple[tuple[str, str], ...]]] = {}
_AS_IS: Final = (str, int, float, bool, type(None))


def _unstructure_attrs(obj: Any) -> dict[str, Any]:
    cls = type(obj)
    keys = _API_KEYS.get(cls)
    if keys is None:
        renames = _RENAMES.get(cls, {})
        keys = tuple((renames.get(f.name, f.name), f.name) for f in attrs.fields(cls))
        _API_KEYS[cls] = keys
    out: dict[str, Any] = {}
    for key, name in keys:
        value = getattr(obj, name)
        if type(value) in _AS_IS:  # what the converter gives back unchanged
            out[key] = value
        elif isinstance(value, timedelta):
            out[key] = format_duration(value)
            out[f"{key}_seconds"] = seconds(value)
        else:
            out[key] = converter.unstructure(value)
    return out


converter.register_unstructure_hook(datetime, format_instant)


def _is_frozenset(kind: Any) -> bool:
    return bool(kind is frozenset or typing.get_origin(kind) is frozenset)


converter.register_unstructure_hook_func(
    _is_frozenset,
    lambda v: sorted(converter.unstructure(x) for x in v),
)
converter.register_unstructure_hook_func(attrs.has, _unstructure_attrs)


def _ticket_sla_view(sla: TicketSla) -> dict[str, Any]:
    # The seed's ticket `sla` object; the live view with `now` is in supportkit.sla.
    response, resolution = sla.response, sla.resolution
    met = None
    if response.stopped_at is not None:
        met = response.due_at is None or response.stopped_at <= response.due_at
    view: dict[str, Any] = {
        "response_time": format_duration(response.target),
        "response_time_seconds": seconds(response.target),
        "resolution_time": format_duration(resolution.target),
        "resolution_time_seconds": seconds(resolution.target),
        "response_due": _instant(response.due_at),
        "resolution_due": _instant(resolution.due_at),
        "response_met": met,
        "policy_id": sla.policy_id,
        "calendar": sla.calendar_id,
    }
    return view


def _json_data(value: Any) -> Any:
    # What converter.unstructure gives for JSON data (a ticket's metadata and custom
    # fields), without its dispatch; anything else still goes through it.
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {key: _json_data(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_json_data(item) for item in value]
    return converter.unstructure(value)


def _attrs_or_none(value: Any) -> dict[str, Any] | None:
    # What converter.unstructure gives for an attrs value, without its dispatch.
    return None if value is None else _unstructure_attrs(value)


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


def _unstructure_ticket(ticket: Ticket) -> dict[str, Any]:
    escalation = ticket.escalation
    data: dict[str, Any] = {
        "id": ticket.id,
        "number": ticket.number,
        "title": ticket.title,
        "description": ticket.description,
        "status": ticket.status,
        "priority": ticket.priority,
        "severity": ticket.severity,
        "category": ticket.category,
        "subcategory": ticket.subcategory,
        "created_at": format_instant(ticket.created_at),
        "updated_at": format_instant(ticket.updated_at),
        "customer_id": ticket.customer_id,
        "assigned_to": _attrs_or_none(ticket.assigned_to),
        "team": ticket.team,
        "contact": _attrs_or_none(ticket.contact),
        "location": _attrs_or_none(ticket.location),
        "service_affected": ticket.service_affected,
        "metadata": _json_data(ticket.metadata),
        "custom_fields": _json_data(ticket.custom_fields),
        "tags": list(ticket.tags),
        "escalation_level": escalation.level,
        "escalation_reason": escalation.reason,
        "estimated_resolution": _instant(ticket.estimated_resolution),
        "resolved_at": _instant(ticket.resolved_at),
        "closed_at": _instant(ticket.closed_at),
        "merged_into": ticket.merged_into,
        "linked_tickets": list(ticket.linked_tickets),
        "attachments": [_unstructure_attrs(item) for item in ticket.attachments],
        "version": ticket.version,
    }
    if ticket.sla is not None:
        sla = _ticket_sla_view(ticket.sla)
        sla["escalated"] = escalation.level > 0
        sla["escalation_reason"] = escalation.reason
        data["sla"] = sla
    else:
        data["sla"] = None
    return data


converter.register_unstructure_hook(Ticket, _unstructure_ticket)


def to_dict(value: Any) -> Any:
    """The JSON-ready shape of a supportkit value (a ticket in the seed's shape).

    Instants become ``"…Z"`` strings and durations ``"2 hours"`` plus a
    ``…_seconds`` twin. Lists, tuples and dicts of values are converted item by item.
    """
    return converter.unstructure(value)


# -- structuring: API shapes into models -------------------------------------------------


def _strict(kind: type, label: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {label}, got a boolean")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise TypeError(f"expected {label}, got {json_kind(value)}")
        return value

    return hook


def json_kind(value: Any) -> str:
    """What a JSON value is, for error messages: ``"a string"``, ``"null"``, …"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _string_tuple(value: Any, _: Any) -> tuple[str, ...]:
    # Conditions and lists of names: a single string means a list of one.
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a string or a list of strings, got {json_kind(value)}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"expected a list of strings, found {json_kind(item)}")
    return tuple(value)


def _custom_field_conditions(value: Any, _: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {json_kind(value)}")
    out: dict[str, tuple[str, ...]] = {}
    for key, item in value.items():
        values = item if isinstance(item, list | tuple) else [item]
        out[str(key)] = tuple(str(v) for v in values)
    return out


def _duration(value: Any, _: Any) -> timedelta:
    return parse_duration(value)


def _any(value: Any, _: Any) -> Any:
    return value


def _json_object(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {json_kind(value)}")
    return dict(value)


converter.register_structure_hook(str, _strict(str, "a string"))
converter.register_structure_hook(int, _strict(int, "an integer"))
converter.register_structure_hook(float, _strict(float, "a number"))
converter.register_structure_hook(bool, _strict(bool, "true or false"))
converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _string_tuple)
converter.register_structure_hook_func(
    lambda t: t == dict[str, tuple[str, ...]], _custom_field_conditions
)
converter.register_structure_hook_func(lambda t: t == dict[str, Any], _json_object)
converter.register_structure_hook(timedelta, _duration)


def _is_duration(kind: Any) -> bool:
    return kind is timedelta or kind == (timedelta | None)


def _fold_twins(value: Mapping[str, Any], durations: list[str]) -> Mapping[str, Any]:
    """Accept what :func:`to_dict` writes: ``"2 hours"`` plus ``…_seconds``.

    The twin is exact where the text is rounded to minutes, so it wins when the two
    agree; when they disagree the caller edited the text, and the text wins.
    """
    folded = dict(value)
    for name in durations:
        twin = f"{name}_seconds"
        if twin not in folded:
            continue
        exact = folded.pop(twin)
        if name not in folded:
            folded[name] = exact
        elif isinstance(exact, int | float) and not isinstance(exact, bool):
            try:
                if format_duration(exact) == format_duration(parse_duration(folded[name])):
                    folded[name] = exact
            except ValidationError:
                pass  # the text is reported as it is
    return folded


def _structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cls)
    renames = _RENAMES.get(cls, {})
    overrides: dict[str, Any] = {
        name: cattrs.gen.override(rename=key) for name, key in renames.items()
    }
    base = cattrs.gen.make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=True, **overrides
    )
    durations = [
        renames.get(field.name, field.name)
        for field in attrs.fields(cls)
        if _is_duration(field.type)
    ]

    def hook(value: Any, kind: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {json_kind(value)}")
        if durations:
            value = _fold_twins(value, durations)
        return base(value, kind)

    return hook


converter.register_structure_hook_factory(attrs.has, _structure_factory)

T = TypeVar("T")


def structure(data: Any, cls: type[T], *, field: str = "") -> T:
    """Read ``data`` (the API's JSON shape) into a ``cls`` value.

    Durations accept every form :func:`~supportkit.durations.parse_duration` reads;
    conditions accept one value or a list.

    :raises ValidationError: listing every field that is missing, unknown, of the
        wrong type or out of range, by its dotted path.
    """
    if not isinstance(data, Mapping):
        raise ValidationError.for_field(field, f"expected an object, got {json_kind(data)}")
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # every cattrs and validator error becomes one of ours
        errors = _collect(exc, field)
        if not errors:  # pragma: no cover - defensive; _collect always finds something
            errors = [FieldError(field, str(exc))]
        raise ValidationError.from_errors(errors) from None


def _join(path: str, name: str) -> str:
    if not path:
        return name
    if not name:
        return path
    return path + name if name.startswith("[") else f"{path}.{name}"


def _collect(exc: BaseException, path: str) -> list[FieldError]:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        errors: list[FieldError] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                name = _RENAMES.get(cast(type, note.type), {}).get(note.name, note.name)
                name = "continue" if name == "continue_" else name
                errors += _collect(sub, _join(path, name))
            elif isinstance(note, IterableValidationNote):
                errors += _collect(sub, _join(path, f"[{note.index}]"))
            else:  # pragma: no cover - cattrs only attaches the two notes above
                errors += _collect(sub, path)
        for sub in without:
            errors += _collect(sub, path)
        return errors
    if isinstance(exc, ForbiddenExtraKeysError):
        return [FieldError(_join(path, str(k)), "unknown field") for k in sorted(exc.extra_fields)]
    if isinstance(exc, ValidationError):
        out: list[FieldError] = []
        for error in exc.errors:
            # A validator names its own attribute; the path already ends with it.
            if path.rsplit(".", 1)[-1] == error.field:
                out.append(FieldError(path, error.message))
            else:
                out.append(FieldError(_join(path, error.field), error.message))
        return out
    if isinstance(exc, KeyError):
        return [FieldError(path, "required field is missing")]
    if isinstance(exc, TypeError | ValueError):
        message = str(exc) or "invalid value"
        return [FieldError(path, message)]
    return [FieldError(path, f"invalid value ({type(exc).__name__})")]
