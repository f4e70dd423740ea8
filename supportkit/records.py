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
import typing
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import cattrs

__all__ = ["dump", "dumps", "load", "loads", "record_converter"]

#: The converter behind :func:`dump` and :func:`load` (separate from the API's).
record_converter: Final = cattrs.Converter()

_ONE_US: Final = timedelta(microseconds=1)


def _dump_instant(moment: datetime) -> str:
    # Not strftime("%Y"): it does not pad years before 1000, which then neither sort
    # nor read back.
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def _load_instant(value: Any, _: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


record_converter.register_unstructure_hook(datetime, _dump_instant)
record_converter.register_structure_hook(datetime, _load_instant)
record_converter.register_unstructure_hook(timedelta, lambda d: d // _ONE_US)
record_converter.register_structure_hook(timedelta, lambda v, _: timedelta(microseconds=v))


def _is_frozenset(kind: Any) -> bool:
    return bool(kind is frozenset or typing.get_origin(kind) is frozenset)


record_converter.register_unstructure_hook_func(
    _is_frozenset,
    lambda v: sorted(record_converter.unstructure(x) for x in v),
)

T = TypeVar("T")


def dump(value: Any) -> Any:
    """``value`` as plain JSON-ready data that :func:`load` reads back exactly."""
    return record_converter.unstructure(value)


def load(data: Any, cls: type[T]) -> T:
    """The ``cls`` value that :func:`dump` wrote as ``data``."""
    return record_converter.structure(data, cls)


def dumps(value: Any) -> str:
    """:func:`dump`, as compact JSON text."""
    return json.dumps(dump(value), separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes, cls: type[T]) -> T:
    """:func:`load` from JSON text."""
    return load(json.loads(text), cls)


def instant_key(moment: datetime) -> str:
    """The sortable text form of an instant used in indexed columns."""
    return _dump_instant(moment)
