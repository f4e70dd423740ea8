"""The Desk: supportkit's service, the one place that orchestrates.

Every command loads what it needs, decides with the pure core, and writes the new
state *and its events* in one transaction; after the commit it sends the blinker
signals of :mod:`supportkit.signals`. Nothing is ever half-written: a bad input raises
before anything is stored, and any error inside the transaction rolls all of it back.

::

    from supportkit import Desk

    desk = Desk.open("sqlite:///support.db")          # "sqlite://" is in memory
    desk = Desk.open(url, clock=my_clock)              # clock: () -> aware UTC datetime

    ticket = desk.tickets.create({...})                # the seed's request body
    desk.tickets.update(ticket.id, {"status": "in_progress"}, if_version=ticket.version)
    desk.comments.add(ticket.id, {"content": "On it", "author": {"type": "agent", ...}})
    desk.tick()                                        # run due SLA/escalation timers
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import functools
import itertools
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Concatenate, Final, Generic, ParamSpec, TypeVar
from urllib.parse import urlsplit

import attrs
import pluggy

from . import _collector
from . import escalation as esc
from . import plugins as plugin_api
from . import sla as sla_mod
from . import workflow as wf
from .calendar import ALWAYS_OPEN_ID, BusinessCalendar
from .config import DeskConfig
from .durations import format_duration, seconds
from .errors import (
    AlreadyExists,
    FieldError,
    InvalidTransition,
    NotFound,
    RetryableStorageError,
    SupportkitError,
    TicketNotFound,
    ValidationError,
    VersionConflict,
)
from .ids import new_id
from .lifecycle import FOLLOW_UP
from .models import (
    PRIORITIES,
    Agent,
    Assignee,
    Category,
    Comment,
    Customer,
    RoutingRule,
    SlaPolicy,
    Team,
    Ticket,
    TicketSla,
    format_instant,
    structure,
    to_dict,
)
from .routing import RoutingDecision, RoutingPlan, TicketFacts, decide, plan
from .signals import BY_EVENT
from .sla import SlaTargets
from .storage import SORT_FIELDS, Event, Page, Storage, StoredAttachment, TicketQuery, Transaction
from .validation import (
    MISSING,
    CommentInput,
    NewAttachment,
    TicketInput,
    TicketUpdate,
    parse_comment,
    parse_escalation,
    parse_instant,
    parse_notify,
    parse_ticket,
    parse_update,
)

__all__ = ["DEFAULT_DATABASE_URL", "Clock", "Desk", "TickReport"]

#: Where a desk keeps its data when no URL is given and ``SUPPORTKIT_DATABASE_URL``
#: is not set.
DEFAULT_DATABASE_URL: Final = "sqlite:///supportkit.db"

Clock = Callable[[], datetime]
M = TypeVar("M")


def system_clock() -> datetime:
    """The real clock: now, as an aware UTC datetime."""
    return datetime.now(UTC)


P = ParamSpec("P")
R = TypeVar("R")
#: How many times a command is tried when the storage reports a transient failure.
MAX_ATTEMPTS: Final = 5


class _ConfigurationChanged(RetryableStorageError):
    """A command ran on a configuration another process has changed since: it is rolled
    back and runs again at once, on the new configuration."""


def _configuration_changed() -> RetryableStorageError:
    return _ConfigurationChanged("the configuration changed during the command")


def _stale(current: Callable[[], int], version: int) -> bool:
    """Whether the configuration version is no longer ``version`` (after a failure:
    one that a stale configuration may have caused). ``False`` when the version cannot
    be read, as in a transaction that a database error has aborted."""
    try:
        return current() != version
    except SupportkitError:
        return False


def _retry(desk: Desk, work: Callable[[], R]) -> R:
    """Run ``work`` (one whole transaction) again on a transient storage failure."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return work()
        except _ConfigurationChanged:
            if attempt == MAX_ATTEMPTS:
                raise
        except RetryableStorageError:
            if attempt == MAX_ATTEMPTS:
                raise
            # Back off with jitter so that two colliding writers do not collide again.
            desk._sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _retrying(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """Make a one-transaction command retry on transient storage failures.

    Safe because a command parses its input before its transaction and writes nothing
    outside it: a rolled-back attempt leaves no trace, and signals follow only the
    attempt that committed.
    """

    def wrapper(owner: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        desk = owner if isinstance(owner, Desk) else owner._desk
        return _retry(desk, lambda: method(owner, *args, **kwargs))

    functools.update_wrapper(wrapper, method)
    return wrapper


# -- the configuration snapshot --------------------------------------------------------------


@attrs.frozen
class _Snapshot:
    """The configuration resources a command needs, loaded once per change."""

    version: int
    calendars: dict[str, BusinessCalendar]
    categories: dict[str, Category]
    policies: list[SlaPolicy]
    teams: dict[str, Team]
    agents: dict[str, Agent]
    rules: list[RoutingRule]
    #: Customers read so far (``None``: no such customer). Writing a customer changes
    #: the configuration version, so this never goes stale; it is only bounded.
    customers: dict[str, Customer | None] = attrs.field(factory=dict)
    rules_by_id: dict[str, RoutingRule] = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: {rule.id: rule for rule in self.rules}, takes_self=True),
    )

    def calendar(self, calendar_id: str) -> BusinessCalendar:
        found = self.calendars.get(calendar_id)
        if found is None:
            raise ValidationError.for_field(
                "calendar", f"calendar {calendar_id!r} is not configured"
            )
        return found

    def customer(self, tx: Transaction, customer_id: str) -> Customer | None:
        try:
            return self.customers[customer_id]
        except KeyError:
            pass
        raw = tx.get_resource("customer", customer_id)
        customer = structure(raw, Customer) if raw is not None else None
        if len(self.customers) < _CUSTOMERS_CACHED:
            self.customers[customer_id] = customer
        return customer


#: A ticket's fields other than those any activity changes (``updated_at``, ``version``).
_STATE_FIELDS: Final = tuple(
    f.name for f in attrs.fields(Ticket) if f.name not in ("updated_at", "version")
)


def _only_touched(before: Ticket, after: Ticket) -> bool:
    """Whether ``after`` differs from ``before`` in nothing but activity fields."""
    for name in _STATE_FIELDS:
        old, new = getattr(before, name), getattr(after, name)
        if old is not new and old != new:
            return False
    return True


#: How many customers a configuration snapshot keeps in memory.
_CUSTOMERS_CACHED: Final = 10_000


def _load_snapshot(tx: Transaction, version: int) -> _Snapshot:
    calendars = {ALWAYS_OPEN_ID: BusinessCalendar.always_open()}
    for data in tx.list_resources("calendar"):
        calendars[data["id"]] = BusinessCalendar.from_dict(data)
    return _Snapshot(
        version=version,
        calendars=calendars,
        categories={d["id"]: structure(d, Category) for d in tx.list_resources("category")},
        policies=[structure(d, SlaPolicy) for d in tx.list_resources("sla_policy")],
        teams={d["id"]: structure(d, Team) for d in tx.list_resources("team")},
        agents={d["id"]: structure(d, Agent) for d in tx.list_resources("agent")},
        rules=[structure(d, RoutingRule) for d in tx.list_resources("routing_rule")],
    )


# -- a unit of work ------------------------------------------------------------------------


class _Unit:
    """One write transaction: the storage transaction, ``now``, and pending events."""

    def __init__(self, desk: Desk, tx: Transaction, now: datetime, snapshot: _Snapshot) -> None:
        self.desk = desk
        self.tx = tx
        self.now = now
        self.snapshot = snapshot
        self.events: list[Event] = []
        #: What each event's signal passes besides the event: its ticket and comment.
        self.subjects: list[tuple[Ticket | None, Comment | None]] = []
        #: The API shape of the ticket of the last event: a command emits its events
        #: for one state of a ticket one after another, and they share it.
        self._shape: tuple[Ticket, dict[str, Any]] | None = None
        #: Set by ``create_many``: the tickets wait there and are written together.
        self.batch: _Batch | None = None

    def emit(
        self,
        event_type: str,
        ticket: Ticket | None,
        data: Mapping[str, Any] | None = None,
        *,
        visibility: str = "customer",
        comment: Comment | None = None,
    ) -> None:
        body: dict[str, Any] = {}
        if ticket is not None:
            # A command often emits several events for one state of a ticket.
            shape = self._shape
            if shape is None or shape[0] is not ticket:
                shape = self._shape = (ticket, to_dict(ticket))
            body["ticket"] = shape[1]
        if comment is not None:
            body["comment"] = to_dict(comment)
        body.update(data or {})
        self.events.append(
            Event(
                id=new_id("evt"),
                type=event_type,
                created_at=self.now,
                data=body,
                ticket_id=ticket.id if ticket is not None else None,
                customer_id=ticket.customer_id if ticket is not None else None,
                visibility=visibility,
            )
        )
        self.subjects.append((ticket, comment))


def _loaded(team: Team) -> bool:
    """Whether ``team``'s strategy needs its agents' open tickets."""
    return team.strategy in ("least_loaded", "skills")


@attrs.frozen
class _Planned:
    """A new ticket's body with what routing it needs before the database is asked
    anything more (:meth:`Tickets._plan`)."""

    data: TicketInput
    customer: Customer | None
    facts: TicketFacts
    plan: RoutingPlan
    team: Team | None


@attrs.define
class _Batch:
    """One ``create_many`` batch: what it has decided but not yet written.

    The batch's tickets are inserted together at its end, so the routing inputs that
    the database would give (open tickets per agent, the round-robin position) are
    read once per batch and then kept up to date here.
    """

    next_number: int
    #: The ticket made last, with its next timer, for the backend to take.
    made: tuple[Ticket, datetime | None] | None = None
    attachments: list[tuple[str, Any]] = attrs.field(factory=list)
    #: Open tickets per agent in the database at the start of the batch.
    stored_load: dict[str, int] = attrs.field(factory=dict)
    #: Open tickets per agent among the batch's own.
    added_load: dict[str, int] = attrs.field(factory=dict)
    #: The last agent per team (``None``: none yet); ``dirty`` says which to write.
    round_robin: dict[str, str | None] = attrs.field(factory=dict)
    dirty: set[str] = attrs.field(factory=set)
    #: SLA clocks by (targets, customer tier), and next timers by (the clocks' id,
    #: escalate_after, next_update_at): every ticket of a batch starts at one instant.
    clocks: dict[tuple[SlaTargets, str | None], TicketSla] = attrs.field(factory=dict)
    next_due: dict[tuple[int, Any, Any], datetime | None] = attrs.field(factory=dict)

    def take_number(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number


@attrs.frozen
class TickReport:
    """What one :meth:`Desk.tick` did."""

    tickets: int
    fired: tuple[tuple[str, str], ...]  # (ticket id, timer key)
    escalations: int


# -- resources --------------------------------------------------------------------------------


class Resources(Generic[M]):
    """A collection of configuration resources (categories, teams, …).

    ``put`` creates or replaces by the ``id`` in the data; ordered collections (SLA
    policies, routing rules) also have ``create``, which gives a new id and appends.
    """

    def __init__(
        self,
        desk: Desk,
        kind: str,
        reader: Callable[[Mapping[str, Any]], M],
        writer: Callable[[M], dict[str, Any]],
        *,
        id_prefix: str | None = None,
        ordered: bool = False,
    ) -> None:
        self._desk = desk
        self.kind = kind
        self._reader = reader
        self._writer = writer
        self._id_prefix = id_prefix
        self.ordered = ordered

    def _read(self, data: Mapping[str, Any]) -> M:
        return self._reader(data)

    @_retrying
    def put(self, data: Mapping[str, Any] | M, *, position: int | None = None) -> M:
        """Create or replace the resource with the ``id`` in ``data``.

        :raises ValidationError: the data is invalid or refers to something unknown.
        """
        value = data if not isinstance(data, Mapping) else self._read(data)
        stored = self._writer(value)
        resource_id = str(stored["id"])
        if self.kind == "calendar" and resource_id == ALWAYS_OPEN_ID:
            raise ValidationError.for_field("id", "the built-in 24x7 calendar cannot be replaced")
        if position is not None and (not self.ordered or position < 0):
            raise ValidationError.for_field("position", "only ordered resources take a position")
        with self._desk._write() as unit:
            self._desk._check_references(unit, self.kind, value)
            unit.tx.put_resource(self.kind, resource_id, stored, position=position)
        self._desk._snapshot = None  # the next command reads the new configuration
        return value

    @_retrying
    def create(self, data: Mapping[str, Any]) -> M:
        """Add a new resource, with a generated id unless ``data`` has one.

        :raises AlreadyExists: ``data`` names an id that exists.
        """
        if not isinstance(data, Mapping):
            raise ValidationError.for_field("", "expected an object")
        body = dict(data)
        if "id" not in body and self._id_prefix:
            body["id"] = new_id(self._id_prefix)
        value = self._read(body)
        stored = self._writer(value)
        with self._desk._write() as unit:
            if unit.tx.get_resource(self.kind, str(stored["id"])) is not None:
                raise AlreadyExists(self.kind, str(stored["id"]))
            self._desk._check_references(unit, self.kind, value)
            unit.tx.put_resource(self.kind, str(stored["id"]), stored)
        self._desk._snapshot = None
        return value

    def get(self, resource_id: str) -> M:
        """The resource with this id.

        :raises NotFound: there is none.
        """
        if self.kind == "calendar" and resource_id == ALWAYS_OPEN_ID:
            return self._read(BusinessCalendar.always_open().to_dict())
        with self._desk.storage.read() as tx:
            data = tx.get_resource(self.kind, resource_id)
        if data is None:
            raise NotFound(self.kind, resource_id)
        return self._read(data)

    def list(self) -> list[M]:
        """Every resource of this kind, in order."""
        with self._desk.storage.read() as tx:
            rows = tx.list_resources(self.kind)
        found = [self._read(data) for data in rows]
        if self.kind == "calendar":
            found.insert(0, self._read(BusinessCalendar.always_open().to_dict()))
        return found

    @_retrying
    def delete(self, resource_id: str) -> None:
        """Delete the resource.

        :raises NotFound: there is none.
        :raises ValidationError: it is still in use (a calendar a category measures on).
        """
        if self.kind == "calendar" and resource_id == ALWAYS_OPEN_ID:
            raise ValidationError.for_field("id", "the built-in 24x7 calendar cannot be deleted")
        with self._desk._write() as unit:
            if self.kind == "calendar":
                self._desk._check_calendar_unused(unit, resource_id)
            if not unit.tx.delete_resource(self.kind, resource_id):
                raise NotFound(self.kind, resource_id)
        self._desk._snapshot = None


# -- the Desk ----------------------------------------------------------------------------------


class Desk:
    """supportkit's service over one storage backend. Open one with :meth:`open`.

    A Desk is safe to share between threads; each call runs its own transaction.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock = system_clock,
        config: DeskConfig | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.config = config or DeskConfig()
        self.plugin_manager = plugin_manager or plugin_api.get_plugin_manager()
        self._snapshot: _Snapshot | None = None
        #: How the desk waits between retries of a transient failure (tests replace it).
        self._sleep: Callable[[float], None] = time.sleep
        self.tickets = Tickets(self)
        self.comments = Comments(self)
        self.attachments = Attachments(self)
        self.events = Events(self)
        self.calendars: Resources[BusinessCalendar] = Resources(
            self, "calendar", BusinessCalendar.from_dict, BusinessCalendar.to_dict
        )
        self.categories: Resources[Category] = Resources(
            self, "category", lambda d: structure(d, Category), to_dict
        )
        self.sla_policies: Resources[SlaPolicy] = Resources(
            self,
            "sla_policy",
            lambda d: structure(d, SlaPolicy),
            to_dict,
            id_prefix="sla",
            ordered=True,
        )
        self.teams: Resources[Team] = Resources(self, "team", lambda d: structure(d, Team), to_dict)
        self.agents: Resources[Agent] = Resources(
            self, "agent", lambda d: structure(d, Agent), to_dict
        )
        self.customers: Resources[Customer] = Resources(
            self, "customer", lambda d: structure(d, Customer), to_dict
        )
        self.routing_rules: Resources[RoutingRule] = Resources(
            self,
            "routing_rule",
            lambda d: structure(d, RoutingRule),
            to_dict,
            id_prefix="rule",
            ordered=True,
        )
        # These services import this module, so they are imported once it is loaded.
        from .analytics import Analytics
        from .integrations import Integrations
        from .reports import Reports
        from .webhooks import Webhooks

        self.analytics = Analytics(self)
        self.reports = Reports(self)
        self.webhooks = Webhooks(self)
        self.integrations = Integrations(self)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        clock: Clock = system_clock,
        config: DeskConfig | Mapping[str, Any] | None = None,
        plugins: Sequence[object] = (),
        load_entrypoints: bool = True,
        storage_options: Mapping[str, Any] | None = None,
    ) -> Desk:
        """Open a desk on the database at ``url``.

        :param url: ``sqlite:///path.db`` (the embedded default), ``sqlite://`` (in
            memory), ``postgresql://…`` or any scheme a plugin provides. Defaults to
            ``SUPPORTKIT_DATABASE_URL``, then ``sqlite:///supportkit.db``.
        :param clock: returns the current time as an aware datetime; tests inject one.
        :param config: a :class:`DeskConfig` or its mapping form.
        :param plugins: plugin objects to register besides the entry-point ones.
        :raises ValidationError: the URL's scheme has no backend.
        :raises StorageError: the database cannot be opened.
        """
        url = url or os.environ.get("SUPPORTKIT_DATABASE_URL") or DEFAULT_DATABASE_URL
        manager = plugin_api.get_plugin_manager(load_entrypoints=load_entrypoints, plugins=plugins)
        factories = plugin_api.storage_factories(manager)
        scheme = urlsplit(url).scheme.split("+", 1)[0]
        factory = factories.get(scheme)
        if factory is None:
            known = ", ".join(sorted(factories)) or "none"
            raise ValidationError.for_field(
                "url", f"no storage backend for {scheme or url!r} URLs (installed: {known})"
            )
        if isinstance(config, Mapping):
            config = DeskConfig.from_dict(config)
        storage = factory(url, dict(storage_options or {}))
        return cls(storage, clock=clock, config=config, plugin_manager=manager)

    def close(self) -> None:
        """Release the storage's connections."""
        self.storage.close()

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Desk {self.storage!r}>"

    # -- plumbing ------------------------------------------------------------------------

    def now(self) -> datetime:
        """The clock's current time, checked to be aware, in UTC."""
        moment = self.clock()
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise TypeError("the desk's clock must return an aware datetime")
        return moment.astimezone(UTC)

    def _snapshot_for(self, tx: Transaction) -> _Snapshot:
        version = tx.config_version()
        cached = self._snapshot
        if cached is None or cached.version != version:
            cached = _load_snapshot(tx, version)
            self._snapshot = cached
        return cached

    @contextlib.contextmanager
    def _write(self) -> Iterator[_Unit]:
        with self.storage.write() as tx:
            cached = self._snapshot
            if cached is None:
                unit = _Unit(self, tx, self.now(), self._snapshot_for(tx))
                yield unit
            else:
                # Go on with the configuration of the last command, and check before
                # the commit that it is still current: the version's answer comes with
                # the command's next round trip (PostgreSQL), not in one of its own.
                current = tx.config_version_later()
                unit = _Unit(self, tx, self.now(), cached)
                try:
                    yield unit
                except Exception:
                    if _stale(current, cached.version):
                        self._snapshot = None
                        raise _configuration_changed() from None
                    raise
                if current() != cached.version:
                    self._snapshot = None
                    raise _configuration_changed()  # the command runs again (``_retrying``), afresh
            stored = tx.insert_events(unit.events) if unit.events else []
        for event, (ticket, comment) in zip(stored, unit.subjects, strict=True):
            signal = BY_EVENT.get(event.type)
            if signal is not None and signal.receivers:
                payload: dict[str, Any] = {}
                if ticket is not None:
                    payload["ticket"] = ticket
                if comment is not None:
                    payload["comment"] = comment
                signal.send(self, event=event, **payload)

    @contextlib.contextmanager
    def _read(self) -> Iterator[tuple[Transaction, _Snapshot, datetime]]:
        with self.storage.read() as tx:
            yield tx, self._snapshot_for(tx), self.now()

    def _check_references(self, unit: _Unit, kind: str, value: object) -> None:
        calendars = unit.snapshot.calendars
        if isinstance(value, Category) and value.sla.calendar not in calendars:
            raise ValidationError.for_field(
                "sla.calendar", f"calendar {value.sla.calendar!r} is not configured"
            )
        if isinstance(value, SlaPolicy) and value.calendar and value.calendar not in calendars:
            raise ValidationError.for_field(
                "calendar", f"calendar {value.calendar!r} is not configured"
            )

    def _check_calendar_unused(self, unit: _Unit, calendar_id: str) -> None:
        users = [c.id for c in unit.snapshot.categories.values() if c.sla.calendar == calendar_id]
        users += [p.id for p in unit.snapshot.policies if p.calendar == calendar_id]
        if users:
            raise ValidationError.for_field(
                "id", f"calendar {calendar_id!r} is in use by " + ", ".join(sorted(users))
            )

    def _ticket(self, tx: Transaction, ticket_id: str, *, for_update: bool = False) -> Ticket:
        if not isinstance(ticket_id, str):
            raise TicketNotFound(str(ticket_id))
        ticket = tx.get_ticket(ticket_id, for_update=for_update)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def _next_due(self, snapshot: _Snapshot, ticket: Ticket) -> datetime | None:
        calendar = self._calendar_of(snapshot, ticket)
        return esc.next_timer(ticket, calendar, policy=self.config.escalation)

    def _store(
        self, unit: _Unit, ticket: Ticket, *, expected: int | None, previous: Ticket | None = None
    ) -> None:
        if (
            previous is not None
            and expected is not None
            and _only_touched(previous, ticket)
            and unit.tx.touch_ticket(ticket, expected_version=expected)
        ):
            return
        next_due = self._next_due(unit.snapshot, ticket)
        if expected is None:
            unit.tx.insert_ticket(ticket, next_due_at=next_due)
        else:
            unit.tx.update_ticket(ticket, expected_version=expected, next_due_at=next_due)

    @staticmethod
    def _calendar_of(snapshot: _Snapshot, ticket: Ticket) -> BusinessCalendar:
        calendar_id = ticket.sla.calendar_id if ticket.sla is not None else ALWAYS_OPEN_ID
        return snapshot.calendar(calendar_id)

    # -- timers ----------------------------------------------------------------------------

    @_retrying
    def tick(self) -> TickReport:
        """Run every SLA and escalation timer that is due now, once.

        Idempotent: each trigger fires once, so running it again at the same time does
        nothing. Workers call it periodically (``supportkit worker``). It also computes
        the reports waiting to be generated (:meth:`Reports.run_pending
        <supportkit.reports.Reports.run_pending>`).
        """
        fired: list[tuple[str, str]] = []
        escalations = 0
        touched = 0
        batch = self.config.tick_batch
        while True:
            progress = 0
            with self._write() as unit:
                ids = unit.tx.claim_due_tickets(unit.now, batch)
                for ticket_id in ids:
                    result = self._tick_one(unit, ticket_id)
                    if result:
                        progress += 1
                        touched += 1
                        fired.extend((ticket_id, key) for key, _ in result)
                        escalations += sum(1 for _, escalated in result if escalated)
            if len(ids) < batch or progress == 0:
                break
        self.reports.run_pending()
        return TickReport(tickets=touched, fired=tuple(fired), escalations=escalations)

    def _tick_one(self, unit: _Unit, ticket_id: str) -> list[tuple[str, bool]]:
        ticket = unit.tx.get_ticket(ticket_id, for_update=True)
        if ticket is None:  # pragma: no cover - claimed rows exist
            return []
        calendar = self._calendar_of(unit.snapshot, ticket)
        lifecycle = self.config.lifecycle
        after, fired = wf.run_timers(
            ticket, unit.now, calendar, policy=self.config.escalation, lifecycle=lifecycle
        )
        if not fired:
            # Nothing was due after all (the timers moved): refresh the due column.
            self._store(unit, ticket, expected=ticket.version)
            return []
        after = attrs.evolve(after, version=ticket.version + 1, updated_at=unit.now)
        self._store(unit, after, expected=ticket.version)
        result = []
        for item in fired:
            timer = item.timer
            data: dict[str, Any] = {"trigger": timer.key, "due_at": format_instant(timer.due_at)}
            if timer.key.startswith(("response.", "resolution.")):
                data["target"] = timer.key.split(".", 1)[0]
            if timer.event != "ticket.escalated":  # that one is emitted with the escalation
                unit.emit(timer.event, after, data)
            if item.escalation is not None:
                unit.emit(
                    "ticket.escalated",
                    after,
                    {
                        "escalation_level": item.escalation.level,
                        "escalation_reason": item.escalation.reason,
                        "trigger": item.escalation.trigger,
                    },
                )
            result.append((timer.key, item.escalation is not None))
        if after.status != ticket.status:
            unit.emit("ticket.status_changed", after, {"from": ticket.status, "to": after.status})
        return result


# -- tickets ----------------------------------------------------------------------------------


def _csv(value: object, field: str) -> tuple[str, ...]:
    """A filter value: a list, or a comma-separated string (the GET form)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            raise ValidationError.for_field(field, "expected strings")
        return tuple(value)
    raise ValidationError.for_field(field, "expected a string or a list of strings")


_SLA_STATUSES: Final = ("in_progress", "at_risk", "paused", "met", "breached")
_FILTERS: Final = (
    "customer_id", "customer_ids", "status", "priority", "category", "subcategory",
    "assigned_to", "team", "tags", "escalation_level", "escalated", "sla_status",
    "response_sla_status", "created_after", "created_before", "updated_after",
    "updated_before", "q",
)  # fmt: skip


class Tickets:
    """``desk.tickets``: create, read, update, search, escalate, merge tickets."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    # -- create ----------------------------------------------------------------------------

    def _parse(self, body: Mapping[str, Any], snapshot: _Snapshot) -> TicketInput:
        config = self._desk.config
        return parse_ticket(
            body,
            categories=snapshot.categories,
            severities=config.severities,
            custom_fields=config.custom_fields,
            limits=config.limits,
            new_id=new_id,
            allowed_content_types=config.allowed_content_types,
        )

    def _plan(self, tx: Transaction, snapshot: _Snapshot, data: TicketInput) -> _Planned:
        """What routing a new ticket needs before it asks the database anything more:
        its customer (read here, unless cached), its facts, and the routing plan."""
        customer = None
        if data.customer_id is not None:
            customer = snapshot.customer(tx, data.customer_id)
        facts = TicketFacts(
            category=data.category,
            priority=data.priority,
            title=data.title,
            description=data.description,
            subcategory=data.subcategory,
            severity=data.severity,
            customer_id=data.customer_id,
            customer_tier=customer.tier if customer else None,
            service_affected=data.service_affected,
            custom_fields=data.custom_fields,
        )
        category = snapshot.categories[data.category]
        # First find the team, then load just what its strategy needs.
        planned = plan(
            snapshot.rules, facts, category=category, teams=snapshot.teams, agents=snapshot.agents
        )
        team = snapshot.teams.get(planned.team) if planned.team else None
        return _Planned(data, customer, facts, planned, team)

    def _route(
        self, tx: Transaction, snapshot: _Snapshot, data: TicketInput, *, year: int | None = None
    ) -> tuple[TicketFacts, RoutingDecision, Customer | None, int | None]:
        """Route a new ticket; ``year`` also reserves its number (in the same read: one
        round trip on PostgreSQL), returned last."""
        planned = self._plan(tx, snapshot, data)
        team = planned.team
        reads = tx.create_reads(
            year=year,
            agent_ids=list(team.members) if team is not None and _loaded(team) else [],
            done_statuses=sorted(self._desk.config.lifecycle.stop_statuses),
            state_key=f"round_robin:{team.id}" if team is not None else None,
        )
        decision = self._decide(planned, snapshot, reads.open_counts, reads.state)
        return planned.facts, decision, planned.customer, reads.number

    def _decide(
        self,
        planned: _Planned,
        snapshot: _Snapshot,
        counts: Mapping[str, int],
        last: str | None,
    ) -> RoutingDecision:
        team = planned.team
        return decide(
            planned.plan,
            planned.facts,
            teams=snapshot.teams,
            agents=snapshot.agents,
            open_counts=counts,
            round_robin={team.id: last} if team is not None and last else {},
        )

    def _prefetch(self, tx: Transaction, planned: _Planned, batch: _Batch) -> None:
        """Read what routing ``planned`` in ``batch`` needs (its team's open tickets per
        agent, the round-robin position) unless the batch holds it already."""
        team = planned.team
        if team is None:
            return
        if _loaded(team):
            missing = [a for a in team.members if a not in batch.stored_load]
            if missing:
                done = sorted(self._desk.config.lifecycle.stop_statuses)
                found = tx.open_ticket_counts(missing, done)
                batch.stored_load.update({a: found.get(a, 0) for a in missing})
        if team.id not in batch.round_robin:
            batch.round_robin[team.id] = tx.get_state(f"round_robin:{team.id}")

    @staticmethod
    def _batch_counts(planned: _Planned, batch: _Batch) -> dict[str, int]:
        """The open tickets per agent of ``planned``'s team, as stored at the start of the
        batch plus the batch's own so far (read before by :meth:`_prefetch`)."""
        team = planned.team
        if team is None or not _loaded(team):
            return {}
        stored, added = batch.stored_load, batch.added_load
        return {a: stored[a] + added.get(a, 0) for a in team.members if stored[a] or a in added}

    @_retrying
    def create(self, body: Mapping[str, Any]) -> Ticket:
        """Create a ticket from the seed's request body; route it; start its SLA.

        :raises ValidationError: listing every bad field; nothing is written.
        """
        desk = self._desk
        with desk._write() as unit:
            ticket = self._create(unit, self._parse(body, unit.snapshot))
        return ticket

    def _create(
        self,
        unit: _Unit,
        data: TicketInput,
        *,
        linked: tuple[str, ...] = (),
        planned: _Planned | None = None,
    ) -> Ticket:
        """Create one ticket; in a ``create_many`` batch, from its ``planned`` routing,
        reading nothing (:meth:`_prefetch` has read what it needs)."""
        desk, tx, snapshot, now, batch = self._desk, unit.tx, unit.snapshot, unit.now, unit.batch
        number: int | None
        if batch is None:
            facts, decision, customer, number = self._route(tx, snapshot, data, year=now.year)
        else:
            assert planned is not None and planned.data is data
            team = planned.team
            decision = self._decide(
                planned,
                snapshot,
                self._batch_counts(planned, batch),
                batch.round_robin[team.id] if team is not None else None,
            )
            facts, customer, number = planned.facts, planned.customer, batch.take_number()
        priority = decision.set_priority or data.priority
        if priority != facts.priority:
            facts = attrs.evolve(facts, priority=priority)
        category = snapshot.categories[data.category]
        targets = sla_mod.select_targets(
            category, snapshot.policies, facts, lifecycle=desk.config.lifecycle
        )
        calendar = snapshot.calendar(targets.calendar_id)
        assert number is not None  # create_reads reserved it
        agent = snapshot.agents.get(decision.agent) if decision.agent else None
        tier = customer.tier if customer else None
        clocks = None
        if batch is not None:
            # The batch's tickets all start at ``now``: equal targets, equal clocks.
            clocks = batch.clocks.get((targets, tier))
            if clocks is None:
                clocks = batch.clocks[targets, tier] = sla_mod.start(
                    targets, now, calendar, tier=tier
                )
        ticket = wf.open_ticket(
            id=new_id("ticket"),
            number=f"{desk.config.number_prefix}-{now.year}-{number:06d}",
            title=data.title,
            description=data.description,
            category=data.category,
            priority=priority,
            now=now,
            targets=targets,
            calendar=calendar,
            decision=decision,
            agent=agent,
            customer_id=data.customer_id,
            customer_tier=customer.tier if customer else None,
            severity=data.severity,
            subcategory=data.subcategory,
            contact=data.contact,
            location=data.location,
            service_affected=data.service_affected,
            metadata=data.metadata,
            custom_fields=data.custom_fields,
            tags=data.tags,
            attachments=tuple(a.attachment for a in data.attachments),
            linked_tickets=linked,
            lifecycle=desk.config.lifecycle,
            sla=clocks,
        )
        if batch is not None:
            # A new ticket's next timer depends on its clocks, escalate_after and
            # update reminder only (nothing has fired yet).
            timer_key = (id(ticket.sla), ticket.escalate_after, ticket.next_update_at)
            if timer_key in batch.next_due:
                next_due = batch.next_due[timer_key]
            else:
                next_due = batch.next_due[timer_key] = desk._next_due(snapshot, ticket)
            batch.made = (ticket, next_due)
            batch.attachments.extend((ticket.id, item) for item in data.attachments)
            holder = ticket.assigned_to.agent_id if ticket.assigned_to else None
            if holder is not None and ticket.status not in desk.config.lifecycle.stop_statuses:
                batch.added_load[holder] = batch.added_load.get(holder, 0) + 1
            if decision.team and decision.agent and decision.round_robin.get(decision.team):
                batch.round_robin[decision.team] = decision.round_robin[decision.team]
                batch.dirty.add(decision.team)
        else:
            desk._store(unit, ticket, expected=None)
            for item in data.attachments:
                tx.insert_attachment(
                    item.attachment, ticket_id=ticket.id, comment_id=None, data=item.data,
                    created_at=now,
                )  # fmt: skip
            if decision.team and decision.agent and decision.round_robin.get(decision.team):
                tx.set_state(f"round_robin:{decision.team}", decision.round_robin[decision.team])
        routing = _routing_view(decision, snapshot)
        unit.emit("ticket.created", ticket, {"routing": routing})
        if ticket.assigned_to is not None or ticket.team is not None:
            unit.emit(
                "ticket.assigned",
                ticket,
                {"assigned_to": to_dict(ticket.assigned_to), "team": ticket.team},
            )
        return ticket

    def create_many(self, bodies: Iterable[Mapping[str, Any]], *, batch_size: int = 500) -> int:
        """Create tickets in bulk, ``batch_size`` per transaction; returns how many.

        Each ticket goes through the same path as :meth:`create` (validation, routing,
        SLA, events). Each batch is atomic: a bad body raises a :class:`ValidationError`
        naming its index, its batch is rolled back, and the batches before it stay
        committed (the error's ``committed`` attribute says how many tickets that is).
        Python's cyclic garbage collector is off while a batch is written and back on
        after it (see :mod:`supportkit._collector`).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError.for_field("batch_size", "expected a positive integer")
        committed = 0
        iterator = iter(bodies)
        while True:
            chunk = list(itertools.islice(iterator, batch_size))
            if not chunk:
                return committed
            with _collector.paused():
                _retry(self._desk, functools.partial(self._create_batch, chunk, committed))
            committed += len(chunk)

    def _create_batch(self, chunk: Sequence[Mapping[str, Any]], committed: int) -> None:
        with self._desk._write() as unit:
            tx, snapshot = unit.tx, unit.snapshot
            batch = unit.batch = _Batch(tx.next_ticket_numbers(unit.now.year, len(chunk)))
            # First every body is checked and everything routing will ask the database
            # is read; then the tickets are made one by one as the backend takes them,
            # so that it can write each while the next is being made (a COPY stream).
            plans: collections.deque[_Planned] = collections.deque()
            for offset, body in enumerate(chunk):
                try:
                    data = self._parse(body, snapshot)
                except ValidationError as exc:
                    error = exc.prefixed(f"[{committed + offset}]")
                    error.committed = committed  # type: ignore[attr-defined]
                    raise error from None
                planned = self._plan(tx, snapshot, data)
                self._prefetch(tx, planned, batch)
                plans.append(planned)

            def created() -> Iterator[tuple[Ticket, datetime | None]]:
                # Each plan is let go once its ticket is made: what a batch keeps
                # alive until its commit, the garbage collector scans again and again.
                while plans:
                    planned = plans.popleft()
                    self._create(unit, planned.data, planned=planned)
                    assert batch.made is not None
                    yield batch.made

            tx.insert_tickets(created())
            for ticket_id, item in batch.attachments:
                tx.insert_attachment(
                    item.attachment, ticket_id=ticket_id, comment_id=None, data=item.data,
                    created_at=unit.now,
                )  # fmt: skip
            for team_id in sorted(batch.dirty):
                last = batch.round_robin[team_id]
                if last is not None:
                    tx.set_state(f"round_robin:{team_id}", last)

    def preview(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """What creating this ticket would do, without writing anything: the routing
        rule, team and assignee, the SLA policy and the due dates.

        :raises ValidationError: the body would be refused by :meth:`create`.
        """
        desk = self._desk
        with desk._read() as (tx, snapshot, now):
            data = self._parse(body, snapshot)
            facts, decision, customer, _ = self._route(tx, snapshot, data)
            priority = decision.set_priority or data.priority
            if priority != facts.priority:
                facts = attrs.evolve(facts, priority=priority)
            targets = sla_mod.select_targets(
                snapshot.categories[data.category], snapshot.policies, facts,
                lifecycle=desk.config.lifecycle,
            )  # fmt: skip
            calendar = snapshot.calendar(targets.calendar_id)
            clocks = sla_mod.start(targets, now, calendar, tier=customer.tier if customer else None)
        return {
            "priority": priority,
            "routing": _routing_view(decision, snapshot),
            "sla": {
                "policy_id": targets.policy_id,
                "calendar": targets.calendar_id,
                "response_time": format_duration(targets.response_time),
                "response_time_seconds": seconds(targets.response_time),
                "resolution_time": format_duration(targets.resolution_time),
                "resolution_time_seconds": seconds(targets.resolution_time),
                "response_due": _instant(clocks.response.due_at),
                "resolution_due": _instant(clocks.resolution.due_at),
            },
        }

    # -- read ------------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id.

        :raises TicketNotFound: there is none.
        """
        with self._desk.storage.read() as tx:
            return self._desk._ticket(tx, ticket_id)

    def get_by_number(self, number: str) -> Ticket:
        """The ticket with this number (``SK-2026-000042``).

        :raises TicketNotFound: there is none.
        """
        with self._desk.storage.read() as tx:
            ticket = tx.get_ticket_by_number(number) if isinstance(number, str) else None
        if ticket is None:
            raise TicketNotFound(str(number))
        return ticket

    def history(self, ticket_id: str, *, include_internal: bool = True) -> list[Event]:
        """The ticket's audit log: every event it produced, oldest first."""
        with self._desk.storage.read() as tx:
            self._desk._ticket(tx, ticket_id)
            found: list[Event] = []
            after = 0
            while True:
                page = tx.list_events(
                    after_seq=after,
                    limit=500,
                    ticket_id=ticket_id,
                    include_internal=include_internal,
                )
                found.extend(page)
                if len(page) < 500:
                    return found
                after = page[-1].seq or after

    def sla(self, ticket_id: str) -> dict[str, Any]:
        """The seed's SLA status view of a ticket, explaining itself."""
        desk = self._desk
        with desk._read() as (tx, snapshot, now):
            ticket = desk._ticket(tx, ticket_id)
            calendar = desk._calendar_of(snapshot, ticket)
        nxt = esc.next_escalation(
            ticket, calendar, policy=desk.config.escalation, lifecycle=desk.config.lifecycle
        )
        return sla_mod.status_view(ticket, now, calendar, next_escalation=nxt)

    def search_view(self, ticket: Ticket) -> dict[str, Any]:
        """The compact ``sla_status`` of a search result, at the desk's ``now``."""
        desk = self._desk
        snapshot = desk._snapshot
        if snapshot is None:
            with desk.storage.read() as tx:
                snapshot = desk._snapshot_for(tx)
        return sla_mod.search_view(ticket, desk.now(), desk._calendar_of(snapshot, ticket))

    def search(
        self,
        filters: Mapping[str, Any] | None = None,
        *,
        sort: Mapping[str, Any] | str | None = None,
        order: str | None = None,
        page: int = 1,
        limit: int = 25,
        q: str | None = None,
        customer_id: str | None = None,
        include_internal: bool = True,
    ) -> Page[Ticket]:
        """Search tickets with the seed's filters.

        ``filters`` holds ``customer_id``, ``status``, ``priority``, ``category``,
        ``subcategory``, ``assigned_to``, ``team``, ``tags`` (each a value, a list, or a
        comma-separated string), ``escalation_level``, ``escalated``, ``sla_status`` /
        ``response_sla_status`` (``in_progress``, ``at_risk``, ``paused``, ``met``,
        ``breached``), ``created_after``/``created_before``/``updated_after``/
        ``updated_before`` and ``q`` (words that must all occur in the title,
        description or a comment). ``sort`` is ``{"field": …, "order": "asc"|"desc"}``
        or a field name; ``customer_id`` restricts the search to one customer (a
        customer's view) and ``include_internal=False`` keeps internal comments out of
        the text search.

        :raises ValidationError: an unknown filter or sort field, a bad value, a page
            below 1 or a limit outside 1–100.
        """
        query = self._query(
            filters or {}, sort, order, page, limit, q, customer_id, include_internal
        )
        if query is None:
            return Page(items=[], total=0, page=page, limit=limit)
        with self._desk.storage.read() as tx:
            return tx.search_tickets(query)

    def list(self, **filters: Any) -> Page[Ticket]:
        """``search`` with flat keyword filters (``limit``, ``page``, ``sort`` too)."""
        options = {k: filters.pop(k) for k in ("sort", "order", "page", "limit") if k in filters}
        return self.search(filters, **options)

    def _query(
        self,
        filters: Mapping[str, Any],
        sort: Mapping[str, Any] | str | None,
        order: str | None,
        page: object,
        limit: object,
        q: str | None,
        customer_scope: str | None,
        include_internal: bool,
    ) -> TicketQuery | None:
        if not isinstance(filters, Mapping):
            raise ValidationError.for_field("filters", "expected an object")
        errors: list[FieldError] = []
        for key in filters:
            if key not in _FILTERS:
                errors.append(FieldError(f"filters.{key}", "unknown filter"))
        kwargs: dict[str, Any] = {}

        def collect(name: str, key: str, choices: Sequence[str] | None = None) -> None:
            try:
                values = _csv(filters.get(key), f"filters.{key}")
            except ValidationError as exc:
                errors.extend(exc.errors)
                return
            if choices is not None:
                for value in values:
                    if value not in choices:
                        errors.append(
                            FieldError(
                                f"filters.{key}", f"{value!r} is not one of: " + ", ".join(choices)
                            )
                        )
            kwargs[name] = values

        lifecycle = self._desk.config.lifecycle
        collect("customer_ids", "customer_id")
        if "customer_ids" in filters:
            try:
                kwargs["customer_ids"] = kwargs.get("customer_ids", ()) + _csv(
                    filters["customer_ids"], "filters.customer_ids"
                )
            except ValidationError as exc:
                errors.extend(exc.errors)
        collect("statuses", "status", lifecycle.statuses)
        collect("priorities", "priority", PRIORITIES)
        collect("categories", "category")
        collect("subcategories", "subcategory")
        collect("assignees", "assigned_to")
        collect("teams", "team")
        collect("tags", "tags")
        collect("sla_statuses", "sla_status", _SLA_STATUSES)
        collect("response_sla_statuses", "response_sla_status", _SLA_STATUSES)
        level = filters.get("escalation_level")
        if level is not None:
            levels = level if isinstance(level, list | tuple) else str(level).split(",")
            try:
                kwargs["escalation_levels"] = tuple(
                    int(v) for v in levels if not isinstance(v, bool) and str(v).strip()
                )
                if not all(0 <= v <= 1000 for v in kwargs["escalation_levels"]):
                    raise ValueError
            except (ValueError, TypeError):
                errors.append(
                    FieldError("filters.escalation_level", "expected integers from 0 to 1000")
                )
        escalated = filters.get("escalated")
        if escalated is not None:
            if escalated in (True, "true", "1"):
                kwargs["min_escalation_level"] = 1
            elif escalated in (False, "false", "0"):
                kwargs["escalation_levels"] = (0,)
            else:
                errors.append(FieldError("filters.escalated", "expected true or false"))
        for key in ("created_after", "created_before", "updated_after", "updated_before"):
            if filters.get(key) is not None:
                try:
                    kwargs[key] = parse_instant(filters[key], f"filters.{key}")
                except ValidationError as exc:
                    errors.extend(exc.errors)
        text = q if q is not None else filters.get("q")
        if text is not None:
            if not isinstance(text, str) or not text.strip() or len(text) > 500:
                errors.append(FieldError("q", "expected search words (up to 500 characters)"))
            else:
                kwargs["text"] = text
        field, direction = "created_at", order
        if isinstance(sort, Mapping):
            for key in sort:
                if key not in ("field", "order"):
                    errors.append(FieldError(f"sort.{key}", "unknown field"))
            field = sort.get("field", "created_at")
            direction = sort.get("order", direction)
        elif sort is not None:
            field = sort
        if field not in SORT_FIELDS:
            errors.append(
                FieldError(
                    "sort.field", f"cannot sort by {field!r}; use one of: " + ", ".join(SORT_FIELDS)
                )
            )
        if direction is None:
            direction = "desc"
        if direction not in ("asc", "desc"):
            errors.append(FieldError("sort.order", "expected asc or desc"))
        for name, value, low, high in (("page", page, 1, 10**6), ("limit", limit, 1, 100)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors.append(
                    FieldError(f"pagination.{name}", f"expected an integer from {low} to {high}")
                )
        if errors:
            raise ValidationError.from_errors(errors)
        if customer_scope is not None:
            wanted = kwargs.get("customer_ids", ())
            # Asking for other customers' tickets within one customer's scope finds none.
            kwargs["customer_ids"] = (
                () if wanted and customer_scope not in wanted else (customer_scope,)
            )
            kwargs["nothing"] = bool(wanted) and customer_scope not in wanted
        assert isinstance(page, int) and isinstance(limit, int)
        if kwargs.pop("nothing", False):
            return None
        return TicketQuery(
            now=self._desk.now(),
            sort=str(field),
            descending=direction == "desc",
            page=page,
            limit=limit,
            text_internal=include_internal,
            **kwargs,
        )

    # -- update ----------------------------------------------------------------------------

    @_retrying
    def update(
        self,
        ticket_id: str,
        body: Mapping[str, Any],
        *,
        if_version: int | None = None,
        author: Mapping[str, Any] | None = None,
    ) -> Ticket:
        """Apply the seed's update body (``PUT /tickets/{id}``).

        Applied in this order: text fields, priority (re-applies the SLA from the
        ticket's creation and may escalate), status (through the lifecycle),
        ``assigned_to``, ``estimated_resolution``, ``metadata`` (merged; ``null``
        removes a key), ``tags``, ``internal_notes`` (an internal comment) and
        ``customer_update`` (a customer-visible comment that counts as the first
        response).

        :param if_version: refuse the update unless the ticket is at this version.
        :param author: who makes the change, for the comments it adds (``{"type":
            "agent", "id": …}``); defaults to the system.
        :raises VersionConflict: ``if_version`` is stale.
        :raises InvalidTransition: the status change is not allowed.
        :raises ValidationError: a bad field; nothing is written.
        """
        desk = self._desk
        config = desk.config
        change = parse_update(
            body,
            statuses=config.lifecycle.statuses,
            severities=config.severities,
            custom_fields=config.custom_fields,
            limits=config.limits,
        )
        who = _author(author)
        with desk._write() as unit:
            ticket = desk._ticket(unit.tx, ticket_id, for_update=True)
            if if_version is not None and if_version != ticket.version:
                raise VersionConflict(ticket.id, if_version, ticket.version)
            # What it stored: records are lossless, so reading it back would give the
            # same ticket (and cost PostgreSQL a round trip).
            return self._apply(unit, ticket, change, who)

    def _apply(self, unit: _Unit, ticket: Ticket, change: TicketUpdate, who: Any) -> Ticket:
        desk, now, snapshot = self._desk, unit.now, unit.snapshot
        lifecycle = desk.config.lifecycle
        original = ticket
        calendar = desk._calendar_of(snapshot, ticket)
        pending: list[tuple[str, dict[str, Any]]] = []
        comments: list[Comment] = []

        simple = {}
        for field in ("title", "description", "severity"):
            value = getattr(change, field)
            if value is not MISSING and value != getattr(ticket, field):
                simple[field] = value
        if change.custom_fields is not MISSING:
            merged = {**ticket.custom_fields, **change.custom_fields}
            simple["custom_fields"] = {k: v for k, v in merged.items() if v is not None}
        if simple:
            ticket = attrs.evolve(ticket, **simple)

        if change.priority is not MISSING and change.priority != ticket.priority:
            facts = wf.facts_of(ticket, customer_tier=ticket.sla.tier if ticket.sla else None)
            facts = attrs.evolve(facts, priority=change.priority)
            targets = sla_mod.select_targets(
                snapshot.categories[ticket.category] if ticket.category in snapshot.categories
                else _category_of(ticket),
                snapshot.policies, facts, lifecycle=lifecycle,
            )  # fmt: skip
            calendar = snapshot.calendar(targets.calendar_id)
            old_priority = ticket.priority
            ticket, decision = wf.change_priority(
                ticket, change.priority, targets, now, calendar,
                status_named=change.status is not MISSING,
                policy=desk.config.escalation, lifecycle=lifecycle,
            )  # fmt: skip
            pending.append(
                ("ticket.priority_changed", {"from": old_priority, "to": ticket.priority})
            )
            if decision is not None:
                pending.append(
                    ("ticket.escalated", {"escalation_level": decision.level,
                     "escalation_reason": decision.reason, "trigger": decision.trigger})
                )  # fmt: skip

        if change.status is not MISSING and change.status != ticket.status:
            before = ticket.status
            ticket = wf.change_status(ticket, change.status, now, calendar, lifecycle=lifecycle)
            pending += _status_events(before, ticket.status)

        if change.assigned_to is not MISSING:
            if change.assigned_to is None:
                if ticket.assigned_to is not None:
                    ticket = attrs.evolve(ticket, assigned_to=None)
                    pending.append(("ticket.assigned", {"assigned_to": None, "team": ticket.team}))
            else:
                agent = snapshot.agents.get(change.assigned_to)
                if agent is None or not agent.active:
                    what = "an inactive agent" if agent else "not a known agent"
                    raise ValidationError.for_field(
                        "assigned_to", f"{change.assigned_to!r} is {what}"
                    )
                if ticket.assigned_to is None or ticket.assigned_to.agent_id != agent.id:
                    ticket = attrs.evolve(ticket, assigned_to=Assignee.of(agent))
                    assigned = {"assigned_to": to_dict(Assignee.of(agent)), "team": ticket.team}
                    pending.append(("ticket.assigned", assigned))

        if change.estimated_resolution is not MISSING:
            ticket = attrs.evolve(ticket, estimated_resolution=change.estimated_resolution)
        if change.metadata is not MISSING:
            merged = {**ticket.metadata, **change.metadata}
            ticket = attrs.evolve(
                ticket, metadata={k: v for k, v in merged.items() if v is not None}
            )
        if change.tags is not MISSING:
            ticket = attrs.evolve(ticket, tags=tuple(change.tags))

        if change.internal_notes is not MISSING:
            comments.append(
                self._comment(ticket, now, change.internal_notes, "internal_note", "internal", who)
            )
        if change.customer_update is not MISSING:
            comments.append(
                self._comment(
                    ticket, now, change.customer_update, "customer_update", "customer", who
                )
            )
            ticket = wf.record_response(ticket, now, calendar)

        ticket = attrs.evolve(ticket, version=original.version + 1, updated_at=now)
        desk._store(unit, ticket, expected=original.version)
        for comment in comments:
            unit.tx.insert_comment(comment)
        changed = [name for name in change.given()]
        unit.emit("ticket.updated", ticket, {"changes": changed})
        for event_type, data in pending:
            unit.emit(event_type, ticket, data)
        for comment in comments:
            unit.emit("comment.added", ticket, comment=comment, visibility=comment.visibility)
        return ticket

    @staticmethod
    def _comment(
        ticket: Ticket, now: datetime, content: str, kind: str, visibility: str, who: Any
    ) -> Comment:
        return Comment(
            id=new_id("comment"),
            ticket_id=ticket.id,
            content=content,
            type=kind,
            visibility=visibility,
            created_at=now,
            author=who,
        )

    def bulk_update(self, items: Sequence[Mapping[str, Any]]) -> builtins.list[dict[str, Any]]:
        """Update several tickets; each item is ``{"id": …, "if_version": …, <fields>}``.

        Every item runs in its own transaction, so one failure does not undo the
        others. Returns one result per item, in order: ``{"id", "ok": True, "ticket"}``
        or ``{"id", "ok": False, "error": {"type", "message", "errors"}}``.
        """
        if not isinstance(items, list | tuple):
            raise ValidationError.for_field("", "expected a list of updates")
        if len(items) > 100:
            raise ValidationError.for_field("", "at most 100 updates at once")
        results: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                results.append(_failure(None, ValidationError.for_field(f"[{i}].id", "required")))
                continue
            body = {k: v for k, v in item.items() if k not in ("id", "if_version")}
            version = item.get("if_version")
            try:
                if version is not None and (
                    isinstance(version, bool) or not isinstance(version, int)
                ):
                    raise ValidationError.for_field("if_version", "expected an integer")
                ticket = self.update(item["id"], body, if_version=version)
            except SupportkitError as exc:
                results.append(_failure(item["id"], exc))
            else:
                results.append({"id": ticket.id, "ok": True, "ticket": ticket})
        return results

    # -- escalate, merge, notify ---------------------------------------------------------

    @_retrying
    def escalate(self, ticket_id: str, body: Mapping[str, Any]) -> Ticket:
        """Escalate manually (the seed's ``POST /tickets/{id}/escalate``).

        :raises InvalidTransition: the ticket is resolved or closed.
        :raises ValidationError: a bad level or reason.
        """
        desk = self._desk
        data = parse_escalation(body, limits=desk.config.limits)
        with desk._write() as unit:
            ticket = desk._ticket(unit.tx, ticket_id, for_update=True)
            decision = esc.manual(
                ticket, unit.now, reason=data.reason, level=data.level, notify=data.notify,
                metadata=data.metadata, policy=desk.config.escalation,
                lifecycle=desk.config.lifecycle,
            )  # fmt: skip
            calendar = desk._calendar_of(unit.snapshot, ticket)
            after = wf.escalate(
                ticket, decision, unit.now, calendar, lifecycle=desk.config.lifecycle
            )
            comment = None
            if data.comments:
                comment = self._comment(
                    after, unit.now, data.comments, "internal_note", "internal", _author(None)
                )
            after = attrs.evolve(after, version=ticket.version + 1, updated_at=unit.now)
            desk._store(unit, after, expected=ticket.version)
            unit.emit(
                "ticket.escalated",
                after,
                {
                    "escalation_level": decision.level,
                    "escalation_reason": decision.reason,
                    "trigger": "manual",
                    "notify": list(decision.notify),
                    "metadata": dict(decision.metadata),
                },
            )
            for event_type, event_data in _status_events(ticket.status, after.status):
                unit.emit(event_type, after, event_data)
            if comment is not None:
                unit.tx.insert_comment(comment)
                unit.emit("comment.added", after, comment=comment, visibility="internal")
        return after

    @_retrying
    def merge(self, ticket_id: str, into: str) -> Ticket:
        """Merge a ticket into another: the source is closed as merged, both are linked,
        and its comments move over with their visibility unchanged. Returns the target.

        :raises ValidationError: merging a ticket into itself, or into a closed ticket.
        :raises InvalidTransition: the source was already merged.
        """
        desk = self._desk
        if ticket_id == into:
            raise ValidationError.for_field("into", "a ticket cannot be merged into itself")
        with desk._write() as unit:
            source = desk._ticket(unit.tx, ticket_id, for_update=True)
            try:
                target = desk._ticket(unit.tx, into, for_update=True)
            except TicketNotFound:
                raise ValidationError.for_field("into", f"no ticket {into!r}") from None
            if source.merged_into is not None:
                raise InvalidTransition(source.status, "closed", ())
            if source.customer_id != target.customer_id:
                raise ValidationError.for_field(
                    "into", "tickets of different customers cannot be merged"
                )
            if desk.config.lifecycle.is_stopped(target.status) and target.status != "resolved":
                raise ValidationError.for_field("into", "cannot merge into a closed ticket")
            moved = unit.tx.move_comments(source.id, target.id)
            calendar = desk._calendar_of(unit.snapshot, source)
            closed_status = "closed"
            sla_state = source.sla
            if sla_state is not None and source.status != closed_status:
                sla_state = sla_mod.on_status_change(
                    sla_state, source.status, closed_status, unit.now, calendar,
                    lifecycle=desk.config.lifecycle,
                )  # fmt: skip
            closed = attrs.evolve(
                source,
                status=closed_status,
                sla=sla_state,
                closed_at=unit.now,
                merged_into=target.id,
                linked_tickets=(*source.linked_tickets, target.id),
                version=source.version + 1,
                updated_at=unit.now,
            )
            joined = attrs.evolve(
                target,
                linked_tickets=tuple(dict.fromkeys((*target.linked_tickets, source.id))),
                version=target.version + 1,
                updated_at=unit.now,
            )
            desk._store(unit, closed, expected=source.version)
            desk._store(unit, joined, expected=target.version)
            info = {"source": source.id, "target": target.id, "comments_moved": moved}
            unit.emit("ticket.merged", closed, info)
            if source.status != closed_status:
                unit.emit(
                    "ticket.status_changed", closed, {"from": source.status, "to": closed_status}
                )
                unit.emit("ticket.closed", closed, {"reason": "merged"})
            unit.emit("ticket.merged", joined, info)
        return joined

    @_retrying
    def notify(self, ticket_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a notification (the seed's ``POST /tickets/{id}/notify``).

        The request is validated and recorded as a ``notification.requested`` event in
        the outbox; a notifier delivers it from there. Returns the queued notification.
        """
        desk = self._desk
        data = parse_notify(body, limits=desk.config.limits)
        notification_id = new_id("ntf")
        record = {
            "id": notification_id,
            "status": "queued",
            **{k: v for k, v in attrs.asdict(data).items()},
        }
        record["recipients"] = [dict(r) for r in data.recipients]
        with desk._write() as unit:
            ticket = desk._ticket(unit.tx, ticket_id)
            record["ticket_id"] = ticket.id
            record["created_at"] = format_instant(unit.now)
            unit.emit(
                "notification.requested", ticket, {"notification": record}, visibility="internal"
            )
        return record


def _category_of(ticket: Ticket) -> Category:
    raise ValidationError.for_field(
        "category", f"category {ticket.category!r} of {ticket.id} is no longer configured"
    )


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


def _author(author: Mapping[str, Any] | None) -> Any:
    from .models import Author

    if author is None:
        return Author(type="system")
    return structure(dict(author), Author, field="author")


def _status_events(before: str, after: str) -> list[tuple[str, dict[str, Any]]]:
    if before == after:
        return []
    events: list[tuple[str, dict[str, Any]]] = [
        ("ticket.status_changed", {"from": before, "to": after})
    ]
    if after == "resolved":
        events.append(("ticket.resolved", {}))
    elif after == "closed":
        events.append(("ticket.closed", {}))
    elif before in ("resolved", "closed"):
        events.append(("ticket.reopened", {"from": before}))
    return events


def _failure(ticket_id: str | None, exc: SupportkitError) -> dict[str, Any]:
    errors = [{"field": e.field, "message": e.message} for e in getattr(exc, "errors", ())]
    return {
        "id": ticket_id,
        "ok": False,
        "error": {"type": type(exc).__name__, "message": str(exc), "errors": errors},
    }


def _routing_view(decision: RoutingDecision, snapshot: _Snapshot) -> dict[str, Any]:
    rules = snapshot.rules_by_id
    first = rules.get(decision.matched_rules[0]) if decision.matched_rules else None
    agent = snapshot.agents.get(decision.agent) if decision.agent else None
    return {
        "matched_rules": list(decision.matched_rules),
        "rule": {"id": first.id, "rule_name": first.rule_name} if first else None,
        "assignment_source": decision.assignment_source,
        "team": decision.team,
        "assigned_to": to_dict(Assignee.of(agent)) if agent else None,
        "notify": list(decision.notify),
        "escalate_after": format_duration(decision.escalate_after)
        if decision.escalate_after
        else None,
        "auto_update_frequency": (
            format_duration(decision.auto_update_frequency)
            if decision.auto_update_frequency
            else None
        ),
        "set_priority": decision.set_priority,
        "add_tags": list(decision.add_tags),
        "notes": list(decision.notes),
    }


# -- comments, attachments, events ----------------------------------------------------------------


class Comments:
    """``desk.comments``: add and list comments."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @_retrying
    def add(self, ticket_id: str, body: Mapping[str, Any]) -> Comment:
        """Add a comment (the seed's ``POST /tickets/{id}/comments``).

        An agent's customer-visible comment is the ticket's first response if none was
        made. A customer's comment moves a ticket that waits on the customer back to
        ``in_progress`` and reopens a resolved one; on a closed ticket it opens a linked
        follow-up ticket, which gets the comment (the returned comment says which).
        """
        desk = self._desk
        config = desk.config
        data = parse_comment(
            body, limits=config.limits, new_id=new_id,
            allowed_content_types=config.allowed_content_types,
        )  # fmt: skip
        with desk._write() as unit:
            ticket = desk._ticket(unit.tx, ticket_id, for_update=True)
            comment = self._add(unit, ticket, data)
        return comment

    def _add(self, unit: _Unit, ticket: Ticket, data: CommentInput) -> Comment:
        desk, now = self._desk, unit.now
        lifecycle = desk.config.lifecycle
        calendar = desk._calendar_of(unit.snapshot, ticket)
        author = data.author
        if author.type == "agent" and author.id:
            agent = unit.snapshot.agents.get(author.id)
            if agent is not None:
                author = attrs.evolve(
                    author, name=author.name or agent.name, email=author.email or agent.email
                )
        original = ticket
        pending: list[tuple[str, dict[str, Any]]] = []
        if author.type == "customer":
            outcome = lifecycle.on_customer_reply(ticket.status)
            if outcome == FOLLOW_UP:
                return self._follow_up(unit, ticket, data, author)
            before = ticket.status
            ticket, _ = wf.customer_reply(ticket, now, calendar, lifecycle=lifecycle)
            pending += _status_events(before, ticket.status)
        elif author.type == "agent" and data.visibility == "customer":
            ticket = wf.record_response(ticket, now, calendar)
        comment = Comment(
            id=new_id("comment"),
            ticket_id=ticket.id,
            content=data.content,
            type=data.type,
            visibility=data.visibility,
            created_at=now,
            author=author,
            attachments=tuple(a.attachment for a in data.attachments),
            metadata=data.metadata,
        )
        ticket = attrs.evolve(ticket, version=original.version + 1, updated_at=now)
        desk._store(unit, ticket, expected=original.version, previous=original)
        unit.tx.insert_comment(comment)
        self._attach(unit, ticket.id, comment.id, data.attachments)
        unit.emit("comment.added", ticket, comment=comment, visibility=comment.visibility)
        for event_type, event_data in pending:
            unit.emit(event_type, ticket, event_data)
        return comment

    def _attach(
        self, unit: _Unit, ticket_id: str, comment_id: str, items: Sequence[NewAttachment]
    ) -> None:
        for item in items:
            unit.tx.insert_attachment(
                item.attachment, ticket_id=ticket_id, comment_id=comment_id, data=item.data,
                created_at=unit.now,
            )  # fmt: skip

    def _follow_up(self, unit: _Unit, closed: Ticket, data: CommentInput, author: Any) -> Comment:
        tickets = self._desk.tickets
        follow_up = tickets._create(
            unit,
            TicketInput(
                title=_follow_up_title(closed.title),
                description=data.content,
                category=closed.category,
                priority=closed.priority,
                subcategory=closed.subcategory,
                severity=closed.severity,
                customer_id=closed.customer_id,
                contact=closed.contact,
                location=closed.location,
                service_affected=closed.service_affected,
            ),
            linked=(closed.id,),
        )
        linked = attrs.evolve(
            closed,
            linked_tickets=tuple(dict.fromkeys((*closed.linked_tickets, follow_up.id))),
            version=closed.version + 1,
            updated_at=unit.now,
        )
        self._desk._store(unit, linked, expected=closed.version)
        unit.emit(
            "ticket.updated", linked, {"changes": ["linked_tickets"], "follow_up": follow_up.id}
        )
        comment = Comment(
            id=new_id("comment"),
            ticket_id=follow_up.id,
            content=data.content,
            type=data.type,
            visibility=data.visibility,
            created_at=unit.now,
            author=author,
            attachments=tuple(a.attachment for a in data.attachments),
            metadata={**data.metadata, "follow_up_of": closed.id},
        )
        unit.tx.insert_comment(comment)
        self._attach(unit, follow_up.id, comment.id, data.attachments)
        unit.emit("comment.added", follow_up, comment=comment, visibility=comment.visibility)
        return comment

    def list(self, ticket_id: str, *, visibility: str | None = None) -> list[Comment]:
        """A ticket's comments, oldest first; ``visibility="customer"`` for the
        customer's view (never an internal comment)."""
        if visibility not in (None, "customer", "internal"):
            raise ValidationError.for_field("visibility", "expected customer or internal")
        with self._desk.storage.read() as tx:
            self._desk._ticket(tx, ticket_id)
            return tx.list_comments(ticket_id, visibility=visibility)


def _follow_up_title(title: str) -> str:
    prefix = "Follow-up: "
    text = title if title.startswith(prefix) else prefix + title
    return text[:200]


class Attachments:
    """``desk.attachments``: read an attachment's bytes."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    def get(self, attachment_id: str) -> StoredAttachment:
        """An attachment with its bytes.

        :raises NotFound: there is none.
        """
        with self._desk.storage.read() as tx:
            found = tx.get_attachment(attachment_id) if isinstance(attachment_id, str) else None
        if found is None:
            raise NotFound("attachment", str(attachment_id))
        return found


class Events:
    """``desk.events``: the ordered feed of changes (the outbox and audit log)."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    def list(
        self,
        *,
        after: str | None = None,
        limit: int = 100,
        ticket_id: str | None = None,
        include_internal: bool = True,
        customer_id: str | None = None,
    ) -> list[Event]:
        """Events after the one with id ``after`` (from the start if ``None``), in order.

        :raises ValidationError: ``after`` names no event, or ``limit`` is not 1–1000.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError.for_field("limit", "expected an integer from 1 to 1000")
        with self._desk.storage.read() as tx:
            after_seq = 0
            if after is not None:
                found = tx.event_seq(after) if isinstance(after, str) else None
                if found is None:
                    raise ValidationError.for_field("after", f"no event {after!r}")
                after_seq = found
            return tx.list_events(
                after_seq=after_seq,
                limit=limit,
                ticket_id=ticket_id,
                include_internal=include_internal,
                customer_id=customer_id,
            )
