"""Lossless records of supportkit values, for storage backends.

:func:`supportkit.to_dict` writes the API's shapes, which round durations to minutes
and add views; a backend needs the exact value back. :func:`dump` turns a model into
plain JSON-ready data (instants as ISO 8601 UTC strings with microseconds, durations
as integer microseconds, sets as sorted lists) and :func:`load` reads it back into an
equal value. Every backend uses these, so a ticket stored by SQLite reads the same as
one stored by PostgreSQL.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

import cattrs

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


def _is_frozenset(kind: Any) -> bool:
    return bool(kind is frozenset or typing.get_origin(kind) is frozenset)


for _converter in (record_converter, _trusted_converter):
    _converter.register_unstructure_hook(datetime, _dump_instant)
    _converter.register_structure_hook(datetime, _load_instant)
    _converter.register_unstructure_hook(timedelta, lambda d: d // _ONE_US)
    _converter.register_structure_hook(timedelta, lambda v, _: timedelta(microseconds=v))
    _converter.register_unstructure_hook_func(
        _is_frozenset,
        lambda v: sorted(record_converter.unstructure(x) for x in v),
    )


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


def _optional_leaf(kind: Any) -> Callable[[Any, Any], Any]:
    inner = _optional_of(kind)
    if inner is datetime:
        return lambda v, _: None if v is None else _load_instant(v, None)
    if inner is timedelta:
        return lambda v, _: None if v is None else timedelta(microseconds=v)
    return lambda v, _: v


def _is_tuple_of_plain(kind: Any) -> bool:
    args = typing.get_args(kind)
    return typing.get_origin(kind) is tuple and len(args) == 2 and args[1] is ... and args[0] is str


_trusted_converter.register_structure_hook_factory(_is_optional_leaf, _optional_leaf)
_trusted_converter.register_structure_hook_func(_is_tuple_of_plain, lambda v, _: tuple(v))

T = TypeVar("T")


def dump(value: Any) -> Any:
    """``value`` as plain JSON-ready data that :func:`load` reads back exactly."""
    return record_converter.unstructure(value)


def load(data: Any, cls: type[T]) -> T:
    """The ``cls`` value that :func:`dump` wrote as ``data``.

    Bad data raises cattrs' errors, which name the path of each bad field.
    """
    return record_converter.structure(data, cls)


#: Compact JSON text of plain, acyclic data (what :func:`dump` and ``to_dict`` give).
to_json: Final[Callable[[Any], str]] = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False
).encode


def dumps(value: Any) -> str:
    """:func:`dump`, as compact JSON text."""
    return to_json(dump(value))


def loads(text: str | bytes, cls: type[T]) -> T:
    """:func:`load` from JSON text that supportkit wrote (a stored record)."""
    return _trusted_converter.structure(json.loads(text), cls)


def instant_key(moment: datetime) -> str:
    """The sortable text form of an instant used in indexed columns."""
    return _dump_instant(moment)


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
