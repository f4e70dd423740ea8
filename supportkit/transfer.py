"""Export a desk to JSON Lines, and import such a file into another desk.

The format (``supportkit export`` writes it, ``supportkit import`` reads it) is one
JSON object per line::

    {"format": "supportkit-export", "version": 1, "exported_at": "2024-11-01T21:30:00Z"}
    {"resource": "calendar", "data": {...}}            configuration, before the tickets
    {"resource": "category", "data": {...}}
    {"ticket": {...}, "comments": [...], "attachments": [...], "events": [...]}
    {"ticket": {...}, ...}

The header comes first. Configuration resources follow in an order where every
reference resolves (calendars, agents, teams, customers, categories, SLA policies,
routing rules), each as the API shows it, so importing into an empty database works.
Then one line per ticket: the ticket and its comments as :func:`supportkit.records.dump`
writes them (lossless: exact instants and durations), its attachments with their bytes
in base64, and its events (the audit log) without their storage sequence numbers.

API keys are not exported: they are credentials; create new ones on the new desk.

:func:`export_jsonl` pages through the tickets (it never holds them all in memory).
:func:`import_jsonl` validates each line before writing and writes ``batch_size``
tickets per transaction, each with its comments, attachments and events; tickets keep
their ids and numbers, and the desk's ticket counters move past the imported numbers.
Errors are :class:`TransferError`\\ s naming the line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Protocol

import attrs

from . import _collector, records
from .calendar import BusinessCalendar
from .desk import Desk, Resources, _retry
from .errors import AlreadyExists, FieldError, NotFound, ValidationError
from .models import (
    Agent,
    Attachment,
    Category,
    Comment,
    Customer,
    RoutingRule,
    SlaPolicy,
    Team,
    Ticket,
    _collect,
    format_instant,
    structure,
)
from .storage import Event, TicketQuery, Transaction

__all__ = [
    "FORMAT",
    "RESOURCE_KINDS",
    "VERSION",
    "ImportReport",
    "ScanReport",
    "TransferError",
    "export_jsonl",
    "import_jsonl",
    "scan_jsonl",
]

#: The header's ``format``.
FORMAT: Final = "supportkit-export"
#: The version of the format this module writes and reads.
VERSION: Final = 1
#: Configuration resources, in the order they are exported and installed.
RESOURCE_KINDS: Final = (
    "calendar",
    "agent",
    "team",
    "customer",
    "category",
    "sla_policy",
    "routing_rule",
)

_READERS: Final[dict[str, Callable[[Mapping[str, Any]], Any]]] = {
    "calendar": BusinessCalendar.from_dict,
    "agent": lambda d: structure(d, Agent),
    "team": lambda d: structure(d, Team),
    "customer": lambda d: structure(d, Customer),
    "category": lambda d: structure(d, Category),
    "sla_policy": lambda d: structure(d, SlaPolicy),
    "routing_rule": lambda d: structure(d, RoutingRule),
}
_TICKET_KEYS: Final = frozenset({"ticket", "comments", "attachments", "events"})
_ATTACHMENT_KEYS: Final = frozenset({"meta", "ticket_id", "comment_id", "data_base64"})
_NUMBER: Final = re.compile(r"-(\d{4})-(\d+)$")
_PAGE: Final = 200
_EVENT_PAGE: Final = 1000

#: ``progress(done, total)``: how many tickets are done, and of how many if known.
Progress = Callable[[int, int | None], None]


class _Writer(Protocol):
    def write(self, text: str, /) -> object: ...


class TransferError(ValidationError):
    """A line of an import that cannot be imported; ``line`` is its 1-based number.

    ``committed`` is how many tickets earlier batches had already imported (they stay
    imported: re-run with ``skip_existing`` after fixing the file to continue).
    """

    def __init__(self, line: int, errors: Iterable[FieldError], *, committed: int = 0) -> None:
        errors = tuple(errors) or (FieldError("", "invalid line"),)
        detail = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors)
        super().__init__(f"line {line}: {detail}", errors)
        self.line = line
        self.committed = committed

    @classmethod
    def at(cls, line: int, field: str, message: str) -> TransferError:
        """An error about one field of one line."""
        return cls(line, [FieldError(field, message)])

    @classmethod
    def wrap(cls, line: int, exc: ValidationError, prefix: str = "") -> TransferError:
        """``exc``, moved under ``prefix`` and attributed to ``line``."""
        moved = exc.prefixed(prefix) if prefix else exc
        return cls(line, moved.errors)


@attrs.frozen
class ScanReport:
    """What :func:`scan_jsonl` found in a valid export."""

    tickets: int
    resources: int
    lines: int


@attrs.frozen
class ImportReport:
    """What :func:`import_jsonl` did."""

    tickets: int
    skipped: int
    comments: int
    attachments: int
    events: int
    #: ``"kind:id"`` of each configuration resource installed, and of each left as it was.
    resources_added: tuple[str, ...]
    resources_kept: tuple[str, ...]


# -- export ------------------------------------------------------------------------------------


def _line(value: Mapping[str, Any]) -> str:
    # ASCII-only: no tool downstream can split a line on an exotic line separator.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True) + "\n"


def export_jsonl(
    desk: Desk, out: _Writer, *, progress: Progress | None = None, page_size: int = _PAGE
) -> int:
    """Write the desk's configuration and every ticket to ``out``; returns how many tickets.

    Everything is read in one read transaction, a page of tickets at a time (oldest
    first), each ticket with its comments, attachments and events.
    """
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValidationError.for_field("page_size", "expected a positive integer")
    header = {"format": FORMAT, "version": VERSION, "exported_at": format_instant(desk.now())}
    out.write(_line(header))
    done = 0
    with desk.storage.read() as tx:
        for kind in RESOURCE_KINDS:
            for data in tx.list_resources(kind):
                out.write(_line({"resource": kind, "data": data}))
        now = desk.now()
        page = 1
        while True:
            found = tx.search_tickets(
                TicketQuery(
                    now=now, sort="created_at", descending=False, page=page, limit=page_size
                )
            )
            for ticket in found.items:
                out.write(_line(_ticket_record(tx, ticket)))
                done += 1
                if progress is not None:
                    progress(done, max(found.total, done))
            if len(found.items) < page_size:
                return done
            page += 1


def _ticket_record(tx: Transaction, ticket: Ticket) -> dict[str, Any]:
    comments = tx.list_comments(ticket.id)
    attachments: list[dict[str, Any]] = []
    seen: set[str] = set()
    for metas in (ticket.attachments, *(c.attachments for c in comments)):
        for meta in metas:
            if meta.id in seen:
                continue
            seen.add(meta.id)
            stored = tx.get_attachment(meta.id)
            if stored is None:  # metadata whose bytes were never stored: nothing to carry
                continue
            attachments.append(
                {
                    "meta": records.dump(stored.attachment),
                    "ticket_id": stored.ticket_id,
                    "comment_id": stored.comment_id,
                    "data_base64": base64.b64encode(stored.data).decode("ascii"),
                }
            )
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = tx.list_events(after_seq=after, limit=_EVENT_PAGE, ticket_id=ticket.id)
        for event in page:
            record = records.dump(event)
            record.pop("seq", None)
            events.append(record)
        if len(page) < _EVENT_PAGE:
            break
        after = page[-1].seq or after
    return {
        "ticket": records.dump(ticket),
        "comments": [records.dump(c) for c in comments],
        "attachments": attachments,
        "events": events,
    }


# -- reading and validating lines -----------------------------------------------------------


@attrs.frozen
class _StoredBytes:
    attachment: Attachment
    ticket_id: str
    comment_id: str | None
    data: bytes
    created_at: datetime


@attrs.frozen
class _TicketLine:
    line: int
    ticket: Ticket
    comments: tuple[Comment, ...]
    attachments: tuple[_StoredBytes, ...]
    events: tuple[Event, ...]


@attrs.frozen
class _ResourceLine:
    line: int
    kind: str
    value: Any


def _load(line: int, data: Any, cls: type[Any], field: str) -> Any:
    if not isinstance(data, Mapping):
        raise TransferError.at(line, field, "expected an object")
    try:
        return records.load(dict(data), cls)
    except ValidationError as exc:
        raise TransferError.wrap(line, exc, field) from None
    except Exception as exc:  # cattrs and validator errors, by field
        raise TransferError(line, _collect(exc, field)) from None


def _list(line: int, obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise TransferError.at(line, key, "expected a list")
    return value


def _parse_json(line: int, text: str) -> dict[str, Any] | None:
    if line == 1:
        text = text.removeprefix("\ufeff")  # a byte-order mark some editors add
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise TransferError.at(line, "", f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise TransferError.at(line, "", "expected a JSON object")
    return obj


def _check_header(line: int, obj: Mapping[str, Any]) -> None:
    if obj.get("format") != FORMAT:
        raise TransferError.at(
            line, "format", f"not a supportkit export (the first line must be the {FORMAT} header)"
        )
    version = obj.get("version")
    if version != VERSION:
        raise TransferError.at(
            line,
            "version",
            f"version {version!r} is not supported (this supportkit reads {VERSION})",
        )


def _parse_resource(line: int, obj: Mapping[str, Any]) -> _ResourceLine:
    extra = sorted(set(obj) - {"resource", "data"})
    if extra:
        raise TransferError(line, [FieldError(k, "unknown field") for k in extra])
    kind = obj["resource"]
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        raise TransferError.at(
            line, "resource", f"{kind!r} is not one of: " + ", ".join(RESOURCE_KINDS)
        )
    data = obj.get("data")
    if not isinstance(data, Mapping):
        raise TransferError.at(line, "data", "expected an object")
    try:
        value = reader(data)
    except ValidationError as exc:
        raise TransferError.wrap(line, exc, "data") from None
    return _ResourceLine(line, kind, value)


def _parse_ticket(line: int, obj: Mapping[str, Any]) -> _TicketLine:
    extra = sorted(set(obj) - _TICKET_KEYS)
    if extra:
        raise TransferError(line, [FieldError(k, "unknown field") for k in extra])
    ticket: Ticket = _load(line, obj["ticket"], Ticket, "ticket")
    comments: list[Comment] = []
    for index, data in enumerate(_list(line, obj, "comments")):
        field = f"comments[{index}]"
        comment: Comment = _load(line, data, Comment, field)
        if comment.ticket_id != ticket.id:
            raise TransferError.at(
                line, f"{field}.ticket_id", f"expected {ticket.id!r}, the line's ticket"
            )
        comments.append(comment)
    by_id = {c.id: c for c in comments}
    attachments: list[_StoredBytes] = []
    for index, data in enumerate(_list(line, obj, "attachments")):
        attachments.append(_parse_attachment(line, f"attachments[{index}]", data, ticket, by_id))
    events: list[Event] = []
    for index, data in enumerate(_list(line, obj, "events")):
        field = f"events[{index}]"
        if isinstance(data, Mapping):
            data = {k: v for k, v in data.items() if k != "seq"}
        event: Event = _load(line, data, Event, field)
        if event.visibility not in ("customer", "internal"):
            raise TransferError.at(
                line,
                f"{field}.visibility",
                f"{event.visibility!r} is not one of: customer, internal",
            )
        if event.ticket_id != ticket.id:
            raise TransferError.at(
                line, f"{field}.ticket_id", f"expected {ticket.id!r}, the line's ticket"
            )
        events.append(event)
    return _TicketLine(line, ticket, tuple(comments), tuple(attachments), tuple(events))


def _parse_attachment(
    line: int, field: str, data: Any, ticket: Ticket, comments: Mapping[str, Comment]
) -> _StoredBytes:
    if not isinstance(data, Mapping):
        raise TransferError.at(line, field, "expected an object")
    missing = sorted(_ATTACHMENT_KEYS - {"comment_id"} - set(data))
    extra = sorted(set(data) - _ATTACHMENT_KEYS)
    if missing or extra:
        raise TransferError(
            line,
            [FieldError(f"{field}.{k}", "required field is missing") for k in missing]
            + [FieldError(f"{field}.{k}", "unknown field") for k in extra],
        )
    meta: Attachment = _load(line, data["meta"], Attachment, f"{field}.meta")
    if data["ticket_id"] != ticket.id:
        raise TransferError.at(line, f"{field}.ticket_id", f"expected {ticket.id!r}")
    comment_id = data.get("comment_id")
    if comment_id is not None and comment_id not in comments:
        raise TransferError.at(
            line, f"{field}.comment_id", f"{comment_id!r} is not one of the line's comments"
        )
    text = data["data_base64"]
    try:
        if not isinstance(text, str):
            raise ValueError
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise TransferError.at(line, f"{field}.data_base64", "expected base64 text") from None
    if len(raw) != meta.size:
        raise TransferError.at(
            line, f"{field}.meta.size", f"{meta.size} does not match the {len(raw)} bytes of data"
        )
    if meta.sha256 is not None and hashlib.sha256(raw).hexdigest() != meta.sha256:
        raise TransferError.at(line, f"{field}.meta.sha256", "does not match the data")
    created_at = comments[comment_id].created_at if comment_id is not None else ticket.created_at
    return _StoredBytes(meta, ticket.id, comment_id, raw, created_at)


def _lines(source: Iterable[str]) -> Iterable[tuple[int, _TicketLine | _ResourceLine]]:
    """Every line of ``source`` after the header, parsed and validated."""
    header = False
    for number, text in enumerate(source, start=1):
        obj = _parse_json(number, text)
        if obj is None:
            continue
        if not header:
            _check_header(number, obj)
            header = True
        elif "resource" in obj:
            yield number, _parse_resource(number, obj)
        elif "ticket" in obj:
            yield number, _parse_ticket(number, obj)
        else:
            raise TransferError.at(number, "", "expected a resource or a ticket line")
    if not header:
        raise TransferError.at(1, "", f"empty input: not a supportkit export (no {FORMAT} header)")


def scan_jsonl(source: Iterable[str]) -> ScanReport:
    """Validate a whole export without writing anything; how many tickets it holds.

    :raises TransferError: the first bad line.
    """
    tickets = resources = lines = 0
    for number, item in _lines(source):
        lines = number
        if isinstance(item, _TicketLine):
            tickets += 1
        else:
            resources += 1
    return ScanReport(tickets=tickets, resources=resources, lines=lines)


# -- import ------------------------------------------------------------------------------------


def _collections(desk: Desk) -> dict[str, Resources[Any]]:
    return {
        "calendar": desk.calendars,
        "agent": desk.agents,
        "team": desk.teams,
        "customer": desk.customers,
        "category": desk.categories,
        "sla_policy": desk.sla_policies,
        "routing_rule": desk.routing_rules,
    }


@attrs.define
class _Counts:
    tickets: int = 0
    skipped: int = 0
    comments: int = 0
    attachments: int = 0
    events: int = 0


class _Importer:
    def __init__(self, desk: Desk, *, skip_existing: bool, progress: Progress | None) -> None:
        self.desk = desk
        self.skip_existing = skip_existing
        self.progress = progress
        self.counts = _Counts()
        self.added: list[str] = []
        self.kept: list[str] = []
        self.collections = _collections(desk)

    @property
    def done(self) -> int:
        return self.counts.tickets + self.counts.skipped

    def resource(self, item: _ResourceLine) -> None:
        collection = self.collections[item.kind]
        resource_id = str(item.value.id)
        name = f"{item.kind}:{resource_id}"
        try:
            current = collection.get(resource_id)
        except NotFound:
            current = None
        if current is not None:
            if current != item.value and not self.skip_existing:
                raise TransferError.at(
                    item.line,
                    "data.id",
                    f"{item.kind} {resource_id!r} already exists with different settings"
                    " (import with skip_existing, --skip-existing, to keep it as it is)",
                )
            self.kept.append(name)
            return
        try:
            collection.put(item.value)
        except ValidationError as exc:
            raise TransferError.wrap(item.line, exc, "data") from None
        self.added.append(name)

    def batch(self, items: list[_TicketLine]) -> None:
        if not items:
            return
        with _collector.paused():  # as in create_many: a batch frees by reference counting
            counts = _retry(self.desk, lambda: self._write(items))
        self.counts.tickets += counts.tickets
        self.counts.skipped += counts.skipped
        self.counts.comments += counts.comments
        self.counts.attachments += counts.attachments
        self.counts.events += counts.events
        if self.progress is not None:
            self.progress(self.done, None)

    def _write(self, items: list[_TicketLine]) -> _Counts:
        # A backend may report a taken id from a later statement or from the commit
        # (PostgreSQL sends inserts without waiting): ``owners`` names the line and
        # field of every id the batch writes, so the error names where it came from.
        owners: dict[tuple[str, str], tuple[int, str]] = {}
        try:
            return self._write_batch(items, owners)
        except AlreadyExists as exc:
            owner = owners.get((exc.kind, exc.key))
            if owner is None:
                raise
            raise TransferError.at(*owner, str(exc)) from None

    def _write_batch(
        self, items: list[_TicketLine], owners: dict[tuple[str, str], tuple[int, str]]
    ) -> _Counts:
        desk = self.desk
        counts = _Counts()
        counters: dict[int, int] = {}
        with desk._write() as unit:
            tx = unit.tx
            for item in items:
                ticket = item.ticket
                if tx.get_ticket(ticket.id) is not None:
                    if self.skip_existing:
                        counts.skipped += 1
                        continue
                    raise TransferError.at(
                        item.line,
                        "ticket.id",
                        f"ticket {ticket.id!r} already exists (import with skip_existing,"
                        " --skip-existing, to skip it)",
                    )
                other = tx.get_ticket_by_number(ticket.number)
                if other is not None:
                    raise TransferError.at(
                        item.line,
                        "ticket.number",
                        f"{ticket.number!r} is already the number of ticket {other.id!r}",
                    )
                owners[("ticket", ticket.id)] = owners[("ticket", ticket.number)] = (
                    item.line,
                    "ticket",
                )
                for index, comment in enumerate(item.comments):
                    owners[("comment", comment.id)] = (item.line, f"comments[{index}]")
                for index, stored in enumerate(item.attachments):
                    owners[("attachment", stored.attachment.id)] = (
                        item.line,
                        f"attachments[{index}]",
                    )
                for event in item.events:
                    owners[("event", event.id)] = (item.line, "events")
                field = "ticket"
                try:
                    desk._store(unit, ticket, expected=None)
                    for index, comment in enumerate(item.comments):
                        field = f"comments[{index}]"
                        tx.insert_comment(comment)
                    for index, stored in enumerate(item.attachments):
                        field = f"attachments[{index}]"
                        tx.insert_attachment(
                            stored.attachment,
                            ticket_id=stored.ticket_id,
                            comment_id=stored.comment_id,
                            data=stored.data,
                            created_at=stored.created_at,
                        )
                    field = "events"
                    if item.events:
                        tx.insert_events(item.events)
                except AlreadyExists as exc:
                    # Reported here, but perhaps by an earlier item's insert: its owner
                    # says which; an id without one is this item's, at this field.
                    line, where = owners.get((exc.kind, exc.key), (item.line, field))
                    raise TransferError.at(line, where, str(exc)) from None
                except ValidationError as exc:  # e.g. the ticket's calendar is not configured
                    raise TransferError.wrap(item.line, exc, field) from None
                counts.tickets += 1
                counts.comments += len(item.comments)
                counts.attachments += len(item.attachments)
                counts.events += len(item.events)
                found = _NUMBER.search(ticket.number)
                if found is not None:
                    year, number = int(found[1]), int(found[2])
                    counters[year] = max(counters.get(year, 0), number)
            for year, number in sorted(counters.items()):
                tx.raise_ticket_counter(year, number)
        return counts

    def report(self) -> ImportReport:
        c = self.counts
        return ImportReport(
            tickets=c.tickets,
            skipped=c.skipped,
            comments=c.comments,
            attachments=c.attachments,
            events=c.events,
            resources_added=tuple(self.added),
            resources_kept=tuple(self.kept),
        )


def import_jsonl(
    desk: Desk,
    in_: Iterable[str],
    *,
    batch_size: int = 500,
    skip_existing: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an export (lines of text) into ``desk``.

    Configuration resources are installed as they come (one already there with the same
    settings is kept; with different settings it is an error unless ``skip_existing``).
    Tickets are written ``batch_size`` per transaction, each with its comments,
    attachments and events, keeping their ids, numbers and history; signals are not
    sent (nothing new happened). A ticket whose id exists is an error, or skipped with
    ``skip_existing``. As in ``create_many``, Python's cyclic garbage collector is off
    while a batch is written.

    :raises TransferError: a line is invalid or conflicts with the desk; its batch is
        rolled back, earlier batches stay imported (``committed`` says how many tickets).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError.for_field("batch_size", "expected a positive integer")
    importer = _Importer(desk, skip_existing=skip_existing, progress=progress)
    pending: list[_TicketLine] = []
    try:
        for _, item in _lines(in_):
            if isinstance(item, _ResourceLine):
                importer.batch(pending)
                pending = []
                importer.resource(item)
                continue
            pending.append(item)
            if len(pending) >= batch_size:
                importer.batch(pending)
                pending = []
        importer.batch(pending)
    except TransferError as exc:
        exc.committed = importer.counts.tickets
        raise
    return importer.report()
