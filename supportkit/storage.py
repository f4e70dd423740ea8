"""The storage interface every backend implements.

A backend speaks supportkit's own values (:mod:`supportkit.models`, and the
:class:`Event`, :class:`TicketQuery` and :class:`Page` here) and raises only
:mod:`supportkit.errors` exceptions: a ``sqlite3`` or psycopg error never crosses this
boundary. The :class:`~supportkit.desk.Desk` does all the deciding; a backend stores
and finds.

All work happens inside a transaction: :meth:`Storage.write` gives a
:class:`Transaction` that commits when the ``with`` block ends normally and rolls back
when it raises; :meth:`Storage.read` gives one that only reads. Everything written in
one write transaction — a ticket, its comments, its events — becomes visible together
or not at all.

``supportkit.testing`` holds the conformance suite a backend must pass.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

import attrs

from .models import Attachment, Comment, Ticket

__all__ = [
    "SORT_FIELDS",
    "STATS_GROUPS",
    "CreateReads",
    "Document",
    "Event",
    "Page",
    "StatsQuery",
    "Storage",
    "StoredAttachment",
    "TicketQuery",
    "TicketStats",
    "Transaction",
]

T = TypeVar("T")

#: Fields a ticket search may sort by; anything else is refused before storage.
SORT_FIELDS: Final = (
    "created_at",
    "updated_at",
    "priority",
    "status",
    "number",
    "escalation_level",
    "resolution_due",
    "response_due",
)


@attrs.frozen
class Event:
    """A change, recorded in the same transaction as the change itself.

    Events are the outbox for delivery and the ticket's audit log. ``seq`` is given by
    storage on insert and orders all events; ``visibility`` is ``internal`` for events
    a customer must not see (internal notes, for one).
    """

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]
    ticket_id: str | None = None
    customer_id: str | None = None
    visibility: str = "customer"
    seq: int | None = None

    def numbered(self, seq: int | None) -> Event:
        """This event with ``seq`` (what a backend returns from ``insert_events``);
        the same as ``attrs.evolve(event, seq=seq)``, without its generic work."""
        return Event(
            self.id, self.type, self.created_at, self.data, self.ticket_id, self.customer_id,
            self.visibility, seq,
        )  # fmt: skip


@attrs.frozen
class Page(Generic[T]):
    """One page of results: ``items``, and the ``total`` across all pages."""

    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def pages(self) -> int:
        """How many pages of ``limit`` items the total makes (at least 1)."""
        return max(1, math.ceil(self.total / self.limit)) if self.limit else 1

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen
class TicketQuery:
    """A validated ticket search (the Desk builds it from the API's filters).

    Every tuple filter holds when the ticket's value is one of its values; an empty
    tuple filters nothing. SLA filters compare the stored clocks with ``now``.
    ``text`` is plain words (never query syntax; at most 16 distinct words), each of
    which must occur somewhere in the ticket — its title, description or a comment;
    with ``text_internal=False`` internal comments are not searched.
    """

    now: datetime
    customer_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subcategories: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    escalation_levels: tuple[int, ...] = ()
    min_escalation_level: int | None = None
    sla_statuses: tuple[str, ...] = ()
    response_sla_statuses: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    text: str | None = None
    text_internal: bool = True
    sort: str = "created_at"
    descending: bool = True
    page: int = 1
    limit: int = 25


@attrs.frozen
class StoredAttachment:
    """An attachment's metadata, where it belongs, and its bytes."""

    attachment: Attachment
    ticket_id: str
    comment_id: str | None
    data: bytes


#: What :meth:`Transaction.ticket_stats` can group by.
STATS_GROUPS: Final = ("category", "priority", "customer", "bucket")


def _ascending(_: Any, attribute: attrs.Attribute[Any], value: tuple[datetime, ...]) -> None:
    if any(b <= a for a, b in itertools.pairwise(value)):
        raise ValueError(f"{attribute.name} must be strictly increasing")


def _groups(_: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    unknown = [name for name in value if name not in STATS_GROUPS]
    if unknown or len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} must be distinct names of {STATS_GROUPS}: {value}")


@attrs.frozen
class StatsQuery:
    """Which tickets an aggregate of :meth:`Transaction.ticket_stats` counts, and how
    it groups them.

    The tickets counted are those *created* in ``[start, end)`` that pass every
    filter (a tuple filter holds when the ticket's value is one of its values; an
    empty tuple filters nothing). ``done_statuses`` are the statuses that do not count
    as open. ``group_by`` names the groups, in the order their values appear in
    :attr:`TicketStats.group`:

    - ``category``, ``priority``, ``customer``: the ticket's value (a customer may be
      ``None``);
    - ``bucket``: the index ``i`` of the creation range ``[buckets[i], buckets[i + 1])``
      the ticket falls in; ``buckets`` are strictly increasing instants. Local days
      and ISO weeks are such ranges, computed by the caller in its timezone, so the
      storage never needs timezone rules. A ticket in no range is not counted.
    """

    start: datetime
    end: datetime
    done_statuses: tuple[str, ...] = ("resolved", "closed")
    customer_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    group_by: tuple[str, ...] = attrs.field(default=(), validator=_groups)
    buckets: tuple[datetime, ...] = attrs.field(default=(), validator=_ascending)

    def __attrs_post_init__(self) -> None:
        if ("bucket" in self.group_by) != (len(self.buckets) >= 2):
            raise ValueError("group_by 'bucket' needs at least two bucket boundaries, and only it")


@attrs.frozen
class TicketStats:
    """Aggregates of one group of tickets (see :class:`StatsQuery`).

    ``resolved`` counts tickets with a resolution instant (resolved, or resolved and
    then closed; a reopened ticket has none). ``resolution_us`` is the sum over those
    of ``resolved_at - created_at`` in microseconds (wall-clock time, not business
    time). ``sla_measured`` counts the resolved tickets that have a resolution target
    and ``sla_met`` those of them whose resolution clock stopped in time.
    ``escalated`` counts tickets with an escalation level above 0; ``first_contact``
    counts resolved tickets with at most one customer-visible comment by an agent.
    """

    group: tuple[str | int | None, ...]
    total: int = 0
    resolved: int = 0
    open: int = 0
    resolution_us: int = 0
    sla_measured: int = 0
    sla_met: int = 0
    escalated: int = 0
    first_contact: int = 0


@attrs.frozen
class Document:
    """A stored record that is neither a ticket nor configuration: a report, a webhook
    delivery attempt, …

    ``kind`` and ``id`` name it (an id is unique within its kind). ``parent`` ties it
    to something else (a delivery attempt to its webhook) and ``status`` says where it
    stands (a report that is ``generating``); both are what
    :meth:`Transaction.list_documents` selects on. ``seq`` is given by storage on
    insert and orders documents. Documents are not configuration: writing them never
    changes :meth:`Transaction.config_version`.
    """

    kind: str
    id: str
    data: dict[str, Any]
    created_at: datetime
    status: str | None = None
    parent: str | None = None
    seq: int | None = None


@attrs.frozen
class CreateReads:
    """The answers of :meth:`Transaction.create_reads`."""

    number: int | None
    open_counts: dict[str, int]
    state: str | None


class Transaction(ABC):
    """The operations of one transaction. See the module docstring."""

    # -- tickets -----------------------------------------------------------------------

    @abstractmethod
    def next_ticket_number(self, year: int) -> int:
        """Reserve the next sequence number of ``year`` (1, 2, 3, …).

        Unique under concurrent writers; a rolled-back transaction may leave a gap.
        """

    @abstractmethod
    def raise_ticket_counter(self, year: int, at_least: int) -> None:
        """Make sure the next number :meth:`next_ticket_number` gives for ``year`` is above
        ``at_least`` (used when importing tickets that keep their numbers)."""

    @abstractmethod
    def insert_ticket(self, ticket: Ticket, *, next_due_at: datetime | None) -> None:
        """Store a new ticket. ``next_due_at`` is when ``tick()`` next needs it.

        :raises AlreadyExists: the id or number is already taken. A backend may send
            the insert without waiting for its answer and raise this from a later
            statement of the transaction, or from its commit; the transaction is then
            rolled back.
        """

    def create_reads(
        self,
        *,
        year: int | None,
        agent_ids: Sequence[str],
        done_statuses: Sequence[str],
        state_key: str | None,
    ) -> CreateReads:
        """What creating one ticket reads: the next number of ``year``
        (:meth:`next_ticket_number`; none when ``year`` is ``None``), the open tickets
        of ``agent_ids`` (:meth:`open_ticket_counts`) and the state at ``state_key``
        (:meth:`get_state`).

        The default makes the three calls; a backend with round trips to save asks
        for all of them at once.
        """
        return CreateReads(
            number=self.next_ticket_number(year) if year is not None else None,
            open_counts=self.open_ticket_counts(agent_ids, done_statuses) if agent_ids else {},
            state=self.get_state(state_key) if state_key is not None else None,
        )

    def next_ticket_numbers(self, year: int, count: int) -> int:
        """Reserve ``count`` consecutive sequence numbers of ``year``; returns the first.

        For bulk imports. The default takes them one at a time from
        :meth:`next_ticket_number`; a backend can do it in one statement.
        """
        first = self.next_ticket_number(year)
        for _ in range(count - 1):
            self.next_ticket_number(year)
        return first

    def insert_tickets(self, tickets: Iterable[tuple[Ticket, datetime | None]]) -> None:
        """Store new tickets, each with its ``next_due_at``, in this order.

        For bulk imports. The default calls :meth:`insert_ticket` for each; a backend
        can send them in one batch (``executemany``, ``COPY``).

        ``tickets`` may be lazy: ``create_many`` passes a generator that makes each
        ticket when it is asked for, so that a backend streaming its rows (a ``COPY``)
        has the database write one while the next is made. Consuming it never uses
        this transaction. An exception it raises propagates unchanged, and the
        transaction then rolls back. A backend must consume it to the end.

        :raises AlreadyExists: an id or number is already taken.
        """
        for ticket, next_due_at in tickets:
            self.insert_ticket(ticket, next_due_at=next_due_at)

    @abstractmethod
    def update_ticket(
        self, ticket: Ticket, *, expected_version: int, next_due_at: datetime | None
    ) -> None:
        """Replace a stored ticket whose version is ``expected_version``.

        :raises VersionConflict: the stored version differs.
        :raises TicketNotFound: no such ticket.
        """

    def touch_ticket(self, ticket: Ticket, *, expected_version: int) -> bool:
        """Store ``ticket`` if it differs from the stored one (at ``expected_version``)
        only in ``updated_at`` and ``version``: a shortcut for activity such as a new
        comment, which leaves the ticket's indexed state and timers as they are.

        Returns ``False`` when the backend has no such shortcut (the default); the
        caller then uses :meth:`update_ticket`.

        :raises VersionConflict: the stored version differs.
        :raises TicketNotFound: no such ticket.
        """
        return False

    @abstractmethod
    def get_ticket(self, ticket_id: str, *, for_update: bool = False) -> Ticket | None:
        """The ticket with this id; ``for_update`` locks it until the transaction ends."""

    @abstractmethod
    def get_ticket_by_number(self, number: str) -> Ticket | None:
        """The ticket with this human number (``SK-2026-000042``)."""

    @abstractmethod
    def search_tickets(self, query: TicketQuery) -> Page[Ticket]:
        """One page of the tickets matching ``query``, sorted as it says.

        Ties in the sort field are broken by ticket id, so pages never overlap.
        """

    @abstractmethod
    def open_ticket_counts(
        self, agent_ids: Sequence[str], done_statuses: Sequence[str]
    ) -> dict[str, int]:
        """How many tickets each agent holds whose status is not a done status."""

    @abstractmethod
    def claim_due_tickets(self, now: datetime, limit: int) -> list[str]:
        """Ids of tickets whose next timer is due at ``now``, earliest first.

        A backend with concurrent workers locks the returned tickets (``SKIP LOCKED``)
        so two workers never claim the same one.
        """

    @abstractmethod
    def ticket_stats(self, query: StatsQuery) -> list[TicketStats]:
        """Aggregates of the tickets ``query`` selects, one per group, in no order.

        Computed by the database (``COUNT``/``SUM`` over indexed columns), never by
        loading tickets. Without ``group_by`` the answer is exactly one
        :class:`TicketStats` (all zeros when nothing matches); with it, one per group
        that has tickets.
        """

    # -- comments and attachments ------------------------------------------------------

    @abstractmethod
    def insert_comment(self, comment: Comment) -> None:
        """Store a comment (its attachments are stored with :meth:`insert_attachment`).

        :raises AlreadyExists: its id is taken. A backend may send the comment without
            waiting for the answer; the error then comes from a later statement or
            from the commit, which then rolls back.
        """

    @abstractmethod
    def list_comments(self, ticket_id: str, *, visibility: str | None = None) -> list[Comment]:
        """A ticket's comments, oldest first; only those of ``visibility`` if given."""

    @abstractmethod
    def move_comments(self, from_ticket: str, to_ticket: str) -> int:
        """Move every comment (and its attachments) to another ticket; returns how many."""

    @abstractmethod
    def insert_attachment(
        self,
        attachment: Attachment,
        *,
        ticket_id: str,
        comment_id: str | None,
        data: bytes,
        created_at: datetime,
    ) -> None:
        """Store an attachment's bytes under its generated id.

        :raises AlreadyExists: its id is taken (as for :meth:`insert_comment`, possibly
            from a later statement or from the commit).
        """

    @abstractmethod
    def get_attachment(self, attachment_id: str) -> StoredAttachment | None:
        """An attachment with its bytes, or ``None``."""

    # -- events ------------------------------------------------------------------------

    @abstractmethod
    def insert_events(self, events: Sequence[Event]) -> Sequence[Event]:
        """Append events; returns them with their ``seq``.

        A backend may send them without waiting for the answer: it then returns a
        sequence that waits for it when first read (after the commit, whose round trip
        brought it, that costs nothing), and a taken id raises
        :class:`~supportkit.errors.AlreadyExists` from a later statement or from the
        commit, which then rolls back.

        A command's events often carry one ticket shape, the same dict, under their
        first key; :func:`supportkit.records.event_texts` gives texts that store it
        once, and :func:`supportkit.records.joined_data` puts an event back together.
        """

    @abstractmethod
    def list_events(
        self,
        *,
        after_seq: int = 0,
        limit: int = 100,
        ticket_id: str | None = None,
        include_internal: bool = True,
        customer_id: str | None = None,
    ) -> list[Event]:
        """Events with ``seq > after_seq`` in order; optionally only one ticket's,
        only customer-visible ones, or only those of one customer's tickets."""

    @abstractmethod
    def event_seq(self, event_id: str) -> int | None:
        """The ``seq`` of the event with this id, or ``None``."""

    # -- documents -----------------------------------------------------------------------

    @abstractmethod
    def insert_document(self, document: Document) -> Document:
        """Store a new document; returns it with its ``seq``.

        :raises AlreadyExists: its kind already has a document with this id.
        """

    @abstractmethod
    def update_document(
        self, kind: str, document_id: str, *, data: dict[str, Any], status: str | None
    ) -> bool:
        """Replace a document's data and status; whether it existed."""

    @abstractmethod
    def get_document(self, kind: str, document_id: str) -> Document | None:
        """The document of ``kind`` with this id, or ``None``."""

    @abstractmethod
    def list_documents(
        self,
        kind: str,
        *,
        parent: str | None = None,
        status: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
        claim: bool = False,
    ) -> list[Document]:
        """Documents of ``kind`` with ``seq > after_seq`` in ``seq`` order, only those
        of ``parent`` and of ``status`` when given.

        ``claim=True`` (in a write transaction) locks the returned documents until the
        transaction ends; a backend with concurrent writers skips documents another
        transaction holds (``SKIP LOCKED``), so two workers never take the same one.
        """

    @abstractmethod
    def delete_documents(
        self, kind: str, *, document_id: str | None = None, parent: str | None = None
    ) -> int:
        """Delete the document of ``kind`` with this id, or every one of ``parent``
        (one of the two must be given); returns how many were deleted."""

    # -- configuration resources and small state -----------------------------------------

    @abstractmethod
    def put_resource(
        self, kind: str, resource_id: str, data: dict[str, Any], *, position: int | None = None
    ) -> None:
        """Create or replace a configuration resource (category, team, …).

        ``position`` orders resources of ordered kinds (SLA policies, routing rules);
        ``None`` keeps a replaced resource's position, or appends a new one.
        """

    @abstractmethod
    def get_resource(self, kind: str, resource_id: str) -> dict[str, Any] | None:
        """A configuration resource's data, or ``None``."""

    @abstractmethod
    def list_resources(self, kind: str) -> list[dict[str, Any]]:
        """All resources of ``kind``, in position order (then id)."""

    @abstractmethod
    def delete_resource(self, kind: str, resource_id: str) -> bool:
        """Delete a resource; whether it existed."""

    def config_version_later(self) -> Callable[[], int]:
        """:meth:`config_version` as of this call, given by the returned function.

        A backend with round trips to save sends the query now and reads its answer
        when the function is called (it has come with the next round trip the
        transaction made anyway); the default reads it now.
        """
        version = self.config_version()
        return lambda: version

    @abstractmethod
    def config_version(self) -> int:
        """A number that changes whenever any configuration resource changes."""

    @abstractmethod
    def get_state(self, key: str) -> str | None:
        """A small piece of persisted state (round-robin positions, …)."""

    @abstractmethod
    def set_state(self, key: str, value: str) -> None:
        """Store a small piece of state."""


class Storage(ABC):
    """A storage backend: where a Desk keeps everything. See the module docstring."""

    #: The URL scheme this backend serves (``sqlite``, ``postgresql``, …).
    scheme: str = ""

    @abstractmethod
    def write(self) -> AbstractContextManager[Transaction]:
        """A write transaction: committed on a normal exit, rolled back on an exception.

        :raises StorageError: the database cannot be reached or is busy for too long.
        """

    @abstractmethod
    def read(self) -> AbstractContextManager[Transaction]:
        """A read-only transaction (a consistent snapshot where the backend has one)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections. The storage is unusable afterwards."""
