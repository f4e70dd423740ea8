"""Lossless records of supportkit values, for storage backends.

:func:`supportkit.to_dict` writes the API's shapes, which round durations to minutes
and add views; a backend needs the exact value back. :func:`dump` turns a model into
plain JSON-ready data (instants as ISO 8601 UTC strings with microseconds, durations
as integer microseconds, sets as sorted lists) and :func:`load` reads it back into an
equal value. Every backend uses these, so a ticket stored by SQLite reads the same as
one stored by PostgreSQL.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

import cattrs

from . import _ticket_codec
from .models import Ticket

__all__ = ["RecordCache", "dump", "dumps", "load", "loads", "record_converter"]

#: The converter behind :func:`dump` and :func:`load` (separate from the API's).
#: Its errors name the path of a bad field: :func:`load` is for records that come
#: from outside (an import file).
record_converter: Final = cattrs.Converter()
#: The same, without cattrs' detailed validation (which only improves the error
#: messages): the backends read back only records they wrote, through :func:`loads`.
_trusted_converter: Final = cattrs.Converter(detailed_validation=False)

_ONE_US: Final = timedelta(microseconds=1)


def _dump_instant(moment: datetime) -> str:
    # isoformat pads the year to four digits (strftime("%Y") does not, and such
    # instants would neither sort nor read back); "+00:00" becomes "Z".
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def _load_instant(value: Any, _: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _dump_duration(duration: timedelta) -> int:
    return duration // _ONE_US


def _load_duration(value: Any, _: Any) -> timedelta:
    return timedelta(microseconds=value)


def _dump_set(value: Any) -> list[Any]:
    return sorted(record_converter.unstructure(x) for x in value)


def _is_frozenset(kind: Any) -> bool:
    return bool(kind is frozenset or typing.get_origin(kind) is frozenset)


for _converter in (record_converter, _trusted_converter):
    _converter.register_unstructure_hook(datetime, _dump_instant)
    _converter.register_structure_hook(datetime, _load_instant)
    _converter.register_unstructure_hook(timedelta, _dump_duration)
    _converter.register_structure_hook(timedelta, _load_duration)
    _converter.register_unstructure_hook_func(_is_frozenset, _dump_set)


# The trusted converter's shortcuts. cattrs dispatches an optional field twice (the
# None check, then the inner type) and checks tuple items one by one; the backends'
# own records need neither.
_PLAIN: Final = (str, int, float, bool)


def _optional_of(kind: Any) -> Any:
    """``X`` for ``X | None`` (either spelling), else ``None``."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return None
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if len(args) == 1 and len(typing.get_args(kind)) == 2 else None


def _is_optional_leaf(kind: Any) -> bool:
    return _optional_of(kind) in (*_PLAIN, datetime, timedelta)


def _keep(value: Any, _: Any) -> Any:
    return value


def _load_optional_instant(value: Any, _: Any) -> datetime | None:
    return None if value is None else _load_instant(value, None)


def _load_optional_duration(value: Any, _: Any) -> timedelta | None:
    return None if value is None else timedelta(microseconds=value)


def _optional_leaf(kind: Any) -> Callable[[Any, Any], Any]:
    inner = _optional_of(kind)
    if inner is datetime:
        return _load_optional_instant
    if inner is timedelta:
        return _load_optional_duration
    return _keep


def _is_tuple_of_plain(kind: Any) -> bool:
    args = typing.get_args(kind)
    return typing.get_origin(kind) is tuple and len(args) == 2 and args[1] is ... and args[0] is str


def _load_tuple(value: Any, _: Any) -> tuple[Any, ...]:
    return tuple(value)


_trusted_converter.register_structure_hook_factory(_is_optional_leaf, _optional_leaf)
_trusted_converter.register_structure_hook_func(_is_tuple_of_plain, _load_tuple)

T = TypeVar("T")


def dump(value: Any) -> Any:
    """``value`` as plain JSON-ready data that :func:`load` reads back exactly."""
    return record_converter.unstructure(value)


def load(data: Any, cls: type[T]) -> T:
    """The ``cls`` value that :func:`dump` wrote as ``data``.

    Bad data raises cattrs' errors, which name the path of each bad field.
    """
    return record_converter.structure(data, cls)


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def _c_to_json() -> Callable[[Any], str] | None:
    """``_ENCODER.encode`` without what each call of it sets up again (about 1.5 µs of
    the 3 it takes for a small dict, and every event and record takes a few): the C
    encoder it makes, made once. ``None`` where the C accelerator is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return None
    encoder = _ENCODER
    iterencode = make(
        None, encoder.default, json.encoder.encode_basestring, None,
        encoder.key_separator, encoder.item_separator, encoder.sort_keys,
        encoder.skipkeys, encoder.allow_nan,
    )  # fmt: skip
    join = "".join

    def to_json(value: Any) -> str:
        return join(iterencode(value, 0))

    return to_json


#: Compact JSON text of plain, acyclic data (what :func:`dump` and ``to_dict`` give):
#: ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``.
to_json: Final[Callable[[Any], str]] = _c_to_json() or _ENCODER.encode


# -- tickets ----------------------------------------------------------------------------
# A ticket's record is written on every create and update and read on every search hit;
# supportkit._ticket_codec generates an encoder and a decoder for it from the classes.
# What those still spend most on is instants and durations, and these repeat: within a
# ticket (its SLA clocks start when it is created, targets are the category's) and
# between tickets and versions of one. So the codec remembers recent ones. cattrs' hooks
# do not, and comparing the two tests the remembering too.

#: Remembers recent results; typed, so that 1, 1.0 and True are told apart.
_remember: Final = functools.lru_cache(maxsize=4096, typed=True)


def _instant_text(moment: datetime) -> str:
    """The JSON text of :func:`_dump_instant`'s string for ``moment``."""
    if type(moment) is not datetime:
        return to_json(_dump_instant(moment))
    # Remembered in UTC only: in another zone, equal instants may be different ones
    # (02:30 before and after the clocks go back, with the same tzinfo).
    return _utc_instant_text(moment if moment.tzinfo is UTC else moment.astimezone(UTC))


@_remember
def _utc_instant_text(moment: datetime) -> str:
    # _dump_instant's text, quicker: isoformat without arguments leaves out zero
    # microseconds, and the text needs no escapes.
    text = moment.isoformat()[:-6]
    return f'"{text}Z"' if moment.microsecond else f'"{text}.000000Z"'


@_remember
def _duration_text(duration: timedelta) -> str:
    return to_json(_dump_duration(duration))


@_remember
def _instant(value: Any) -> datetime:
    return _load_instant(value, None)


@_remember
def _duration(value: Any) -> timedelta:
    return _load_duration(value, None)


#: The record text of a ticket, and the ticket of the record's JSON data: the same as
#: ``to_json(record_converter.unstructure(ticket))`` and
#: ``_trusted_converter.structure(data, Ticket)``.
_dump_ticket: Final = _ticket_codec.make_encoder(
    Ticket,
    record_converter,
    to_json,
    structure=_trusted_converter,
    texts={_dump_instant: _instant_text, _dump_duration: _duration_text},
)
_load_ticket: Final = _ticket_codec.make_decoder(
    Ticket,
    _trusted_converter,
    unstructure=record_converter,
    replacements={
        _keep: None,
        _load_instant: _instant,
        _load_optional_instant: _ticket_codec.OrNone(_instant),
        _load_duration: _duration,
        _load_optional_duration: _ticket_codec.OrNone(_duration),
        _load_tuple: tuple,
    },
)


def dumps(value: Any) -> str:
    """:func:`dump`, as compact JSON text."""
    if type(value) is Ticket:
        return _dump_ticket(value)
    return to_json(dump(value))


def loads(text: str | bytes, cls: type[T]) -> T:
    """:func:`load` from JSON text that supportkit wrote (a stored record)."""
    if cls is Ticket:
        return typing.cast(T, _load_ticket(json.loads(text)))
    return _trusted_converter.structure(json.loads(text), cls)


def event_texts(
    events: Iterable[tuple[str, str | None, Mapping[str, Any]]],
) -> Iterator[tuple[str, str | None]]:
    """How events' data is stored: for each ``(event id, ticket id, data)``, in order,
    the text to store and the id of the event whose first item it shares (``None``:
    the text is the whole data). Made one at a time, so that a backend streaming events
    (a ``COPY``) has the database store one while the next is encoded.

    A command's events often carry one state of their ticket, the same dict, under
    their first key (``"ticket"``), and that shape is most of an event's size. The first
    of ``events`` to carry it stores it whole; a later one of the same ticket, under the
    same key, stores the rest of its data and names that first event.
    :func:`joined_data` puts it back together.
    """
    # By the dict's identity: (the dict, its key, its ticket, the event that holds it).
    owners: dict[int, tuple[Any, str, str | None, str]] = {}
    for event_id, ticket_id, data in events:
        first = next(iter(data), None)
        value = data[first] if first is not None else None
        if type(first) is not str or type(value) is not dict:
            yield to_json(data), None
            continue
        owner = owners.get(id(value))
        if owner is not None and owner[0] is value and owner[1:3] == (first, ticket_id):
            yield to_json({key: item for key, item in data.items() if key != first}), owner[3]
            continue
        owners[id(value)] = (value, first, ticket_id, event_id)
        yield to_json(data), None


def joined_data(text: str, shared: str | None) -> dict[str, Any]:
    """An event's data from its stored ``text`` and, when it shares its first item
    (:func:`event_texts`), the stored text of the event it names."""
    data: dict[str, Any] = json.loads(text)
    if shared is None:
        return data
    whole: dict[str, Any] = json.loads(shared)
    key = next(iter(whole))
    return {key: whole[key], **data}


def instant_key(moment: datetime) -> str:
    """The sortable text form of an instant used in indexed columns (the record's
    string, :func:`_dump_instant`'s)."""
    return _instant_text(moment)[1:-1]


class RecordCache(Generic[T]):
    """Recently read or written values of one class, by key, with their record text.

    Decoding a ticket's record costs more than reading it, and the same tickets are
    read again and again (each comment, update and timer reads its ticket; searches
    repeat). A backend asks :meth:`load` for the value of the text it has just read:
    if the cache holds that very text for the key, the value decoded (or written)
    before is returned, otherwise the text is decoded and remembered. Since equal
    record text means an equal value, the cache can never return a stale value, only
    miss. Values must be immutable (supportkit's models are frozen). At most ``size``
    keys are kept; the least recently used go first. Safe to share between threads.
    """

    def __init__(self, cls: type[T], size: int = 1024) -> None:
        self.cls = cls
        self.size = size
        self._items: dict[str, tuple[str, T]] = {}

    def load(self, key: str, text: str) -> T:
        """The value of ``text``, the record of ``key``."""
        items = self._items
        found = items.pop(key, None)
        if found is not None and found[0] == text:
            items[key] = found  # now the most recently used
            return found[1]
        value = loads(text, self.cls)
        self.remember(key, text, value)
        return value

    def remember(self, key: str, text: str, value: T) -> None:
        """Note that ``text`` is the record of ``value``, stored under ``key``."""
        items = self._items
        items.pop(key, None)
        items[key] = (text, value)
        while len(items) > self.size:
            try:
                del items[next(iter(items))]
            except (KeyError, RuntimeError, StopIteration):  # another thread got there
                break

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
