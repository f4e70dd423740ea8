"""Reading and writing durations the way the Support API does.

Inputs accept any of::

    "2 hours"  "90 minutes"  "1 day"  "6 hours 15 minutes"  "1h 30m"  "1.5 hours"
    "PT2H30M"  "P1DT2H"  (ISO 8601, without years or months)
    7200       "7200"     (seconds)
    datetime.timedelta(hours=2)

Outputs read like the seed: ``"2 hours"``, ``"45 minutes"``, ``"6 hours 15 minutes"``
and, in compact places, ``"6h 45m"``. Only hours and minutes are written, never days:
a support agent reads "36 hours" faster than "1 day 12 hours". Seconds are cut off
(floored towards zero), so a clock never claims more time than there is.

Every human duration has a machine twin in seconds; :func:`seconds` gives it.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from .errors import FieldError, InvalidDuration

__all__ = ["format_compact", "format_duration", "parse_duration", "seconds"]

_UNIT_SECONDS = {
    "w": 604800, "wk": 604800, "wks": 604800, "week": 604800, "weeks": 604800,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}  # fmt: skip

_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_HUMAN_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*(?:,|\band\b)?", re.IGNORECASE)
_ISO = re.compile(
    rf"^P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?$",
    re.IGNORECASE,
)
_ISO_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# Far beyond any SLA; keeps timedelta() from overflowing on absurd input.
_MAX_SECONDS = 100 * 365 * 86400


def parse_duration(value: object, *, field: str = "") -> timedelta:
    """Read a duration from text, seconds or a ``timedelta``.

    :param value: the input (see the module docstring for the accepted forms).
    :param field: the input's field name, used in the error.
    :raises InvalidDuration: the value is not a non-negative duration supportkit reads.
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise _invalid(field, value, "a duration cannot be negative")
        return value
    if isinstance(value, bool):
        raise _invalid(field, value, "expected a duration, got a boolean")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise _invalid(field, value, "expected a finite number of seconds")
        return _from_seconds(Decimal(str(value)), field, value)
    if not isinstance(value, str):
        raise _invalid(field, value, f"expected a duration, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise _invalid(field, value, "a duration cannot be empty")
    if text.startswith("-"):
        raise _invalid(field, value, "a duration cannot be negative")
    if re.fullmatch(_NUMBER, text):
        return _from_seconds(Decimal(text), field, value)
    if text[0] in "Pp":
        return _parse_iso(text, field, value)
    return _parse_human(text, field, value)


def _parse_iso(text: str, field: str, original: object) -> timedelta:
    match = _ISO.match(text)
    parts = match.groupdict() if match else {}
    if not match or not any(parts.values()) or text.upper().endswith("T"):
        raise _invalid(
            field, original, "not an ISO 8601 duration of weeks, days, hours, minutes, seconds"
        )
    total = sum(
        (Decimal(amount) * _ISO_SECONDS[unit] for unit, amount in parts.items() if amount),
        Decimal(0),
    )
    return _from_seconds(total, field, original)


def _parse_human(text: str, field: str, original: object) -> timedelta:
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        match = _HUMAN_PART.match(text, pos)
        if not match or match.end() == pos:
            raise _invalid(
                field, original, 'expected e.g. "2 hours", "90 minutes", "1h 30m" or "PT2H"'
            )
        amount, unit = match.group(1), match.group(2).lower()
        if unit not in _UNIT_SECONDS:
            raise _invalid(field, original, f"unknown unit {unit!r}")
        total += Decimal(amount) * _UNIT_SECONDS[unit]
        pos = match.end()
    return _from_seconds(total, field, original)


def _from_seconds(total: Decimal, field: str, original: object) -> timedelta:
    if total < 0:
        raise _invalid(field, original, "a duration cannot be negative")
    if total > _MAX_SECONDS:
        raise _invalid(field, original, "a duration cannot be longer than 100 years")
    whole = int(total)
    micros = int((total - whole) * 1_000_000)
    return timedelta(seconds=whole, microseconds=micros)


def _invalid(field: str, value: object, why: str) -> InvalidDuration:
    text = f"{field}: " if field else ""
    message = f"{why}: {value!r}"
    return InvalidDuration(text + message, [FieldError(field, message)])


def seconds(value: timedelta) -> int:
    """Whole seconds of a duration, floored towards zero (the ``…_seconds`` twins)."""
    micros = value // timedelta(microseconds=1)
    return int(micros / 1_000_000) if micros < 0 else micros // 1_000_000


def _split(value: timedelta | int | float) -> tuple[str, int, int]:
    if isinstance(value, timedelta):
        total = seconds(value)
    else:
        try:
            total = int(Decimal(str(value)))
        except InvalidOperation as exc:  # nan, inf
            raise ValueError(f"not a duration: {value!r}") from exc
    sign = "-" if total < 0 else ""
    minutes_total = abs(total) // 60
    return sign, minutes_total // 60, minutes_total % 60


def format_duration(value: timedelta | int | float) -> str:
    """Write a duration as the seed does: ``"2 hours"``, ``"6 hours 15 minutes"``.

    ``value`` is a ``timedelta`` or seconds. Hours and minutes only; seconds are
    floored away; ``"0 minutes"`` for less than a minute.
    """
    if type(value) is timedelta:
        # A few durations (targets, thresholds, reminders) are written over and over,
        # several in every ticket's API shape.
        return _format_timedelta(value)
    return _format_duration(value)


@functools.lru_cache(maxsize=1024)
def _format_timedelta(value: timedelta) -> str:
    return _format_duration(value)


def _format_duration(value: timedelta | int | float) -> str:
    sign, hours, minutes = _split(value)
    parts = []
    if hours:
        parts.append(f"{hours} hour" + ("" if hours == 1 else "s"))
    if minutes or not hours:
        parts.append(f"{minutes} minute" + ("" if minutes == 1 else "s"))
    return sign + " ".join(parts)


def format_compact(value: timedelta | int | float) -> str:
    """Write a duration compactly: ``"6h 45m"``, ``"2h"``, ``"45m"``, ``"0m"``."""
    sign, hours, minutes = _split(value)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes or not hours:
        parts.append(f"{minutes}m")
    return sign + " ".join(parts)
