"""Business calendars: when the clock of an SLA runs.

A :class:`BusinessCalendar` is an IANA timezone, weekly opening intervals in local
time, and holidays (explicit dates and/or a country's public holidays through the
``holidays`` package). It answers four questions about real instants:

- :meth:`~BusinessCalendar.add`: the earliest instant at which a given amount of
  business time has passed since a start;
- :meth:`~BusinessCalendar.between`: how much business time lies in ``[a, b)``;
- :meth:`~BusinessCalendar.is_open` and :meth:`~BusinessCalendar.next_open`.

Semantics, which the property tests check against a brute-force oracle:

- An opening interval of a local date is the span of *real* time between its start
  and end instants, so ``00:00–24:00`` lasts 23 hours on a spring-forward day and 25 on
  a fall-back day.
- A boundary that falls in a DST gap is the end of the gap (the first local time that
  exists); one that falls in a fold is its first occurrence.
- A holiday closes the whole local date.

How it stays fast: for each local year the calendar resolves its opening intervals to
UTC once and keeps them, with running totals, in flat lists. ``add`` and ``between``
are then a binary search in those lists — whole weeks, months and years are skipped
by arithmetic on the running totals, never stepped through. Instants are handled as
integer microseconds since the epoch, so the arithmetic is exact.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from .errors import FieldError, ValidationError

__all__ = ["ALWAYS_OPEN_ID", "WEEKDAYS", "BusinessCalendar"]

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The id of the built-in calendar that is always open.
ALWAYS_OPEN_ID: Final = "24x7"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = 1_000_000
_DAY: Final = timedelta(days=1)
_MINUTES_PER_DAY: Final = 24 * 60
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_FIELDS: Final = frozenset(
    {"id", "name", "timezone", "hours", "holidays", "holiday_country", "holiday_subdivision"}
)

Interval = tuple[int, int]  # minutes since local midnight, end may be 1440


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {moment.isoformat()}")
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


_ONE_US: Final = timedelta(microseconds=1)


def _duration_us(duration: timedelta) -> int:
    return duration // _ONE_US


class _Year:
    """The opening intervals of one local year, resolved to UTC microseconds."""

    __slots__ = ("cum_before", "cum_end", "ends", "starts", "total")

    def __init__(self, intervals: list[tuple[int, int]]) -> None:
        self.starts = [s for s, _ in intervals]
        self.ends = [e for _, e in intervals]
        self.cum_before: list[int] = []
        self.cum_end: list[int] = []
        running = 0
        for start, end in intervals:
            self.cum_before.append(running)
            running += end - start
            self.cum_end.append(running)
        self.total = running

    def consumed(self, us: int) -> int:
        """Business microseconds of this year before ``us``."""
        i = bisect_right(self.starts, us) - 1
        if i < 0:
            return 0
        return self.cum_before[i] + min(us, self.ends[i]) - self.starts[i]


class BusinessCalendar:
    """Opening hours in a timezone, with holidays; see the module docstring.

    Build one with :meth:`from_dict` (the calendar shape of the API) or
    :meth:`always_open`. A calendar is immutable and safe to share between threads;
    it keeps a cache of resolved years.
    """

    __slots__ = (
        "_always",
        "_boundaries",
        "_by_weekday",
        "_lock",
        "_years",
        "_zone",
        "holiday_country",
        "holiday_subdivision",
        "holidays",
        "hours",
        "id",
        "name",
        "timezone",
    )

    def __init__(
        self,
        id: str,
        timezone: str,
        hours: Mapping[str, Iterable[Interval]],
        *,
        holidays: Iterable[date] = (),
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        name: str | None = None,
    ) -> None:
        """Prefer :meth:`from_dict`, which validates its input; this trusts it.

        ``hours`` maps weekday names (``"mon"``…) to sorted, non-overlapping
        ``(start_minute, end_minute)`` pairs in local time.
        """
        self.id = id
        self.name = name
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        self.hours: dict[str, tuple[Interval, ...]] = {
            day: tuple(hours.get(day, ())) for day in WEEKDAYS
        }
        self._by_weekday = [self.hours[day] for day in WEEKDAYS]
        self.holidays = frozenset(holidays)
        self.holiday_country = holiday_country
        self.holiday_subdivision = holiday_subdivision
        self._always = (
            not self.holidays
            and holiday_country is None
            and all(h == ((0, _MINUTES_PER_DAY),) for h in self._by_weekday)
        )
        self._years: dict[int, _Year] = {}
        self._boundaries: dict[int, int] = {}
        self._lock = threading.Lock()

    # -- construction -------------------------------------------------------------

    @classmethod
    def always_open(cls, id: str = ALWAYS_OPEN_ID) -> BusinessCalendar:
        """The built-in calendar that is open every minute of every day."""
        return cls(
            id,
            "UTC",
            {day: [(0, _MINUTES_PER_DAY)] for day in WEEKDAYS},
            name="Always open",
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Build a calendar from the API's calendar shape, validating every field.

        ::

            {"id": "us_pacific", "timezone": "America/Los_Angeles",
             "hours": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": []},
             "holidays": ["2024-12-25"], "holiday_country": "US",
             "holiday_subdivision": "CA"}

        A weekday left out is closed; ``"24:00"`` may end a day.

        :raises ValidationError: naming each bad field (unknown zone or weekday, a
            malformed time, end not after start, overlapping intervals, a bad date,
            an unknown holiday country or subdivision, an unknown field).
        """
        if not isinstance(data, Mapping):
            raise ValidationError.for_field("", "a calendar must be a JSON object")
        errors: list[FieldError] = []
        for key in sorted(set(data) - _FIELDS):
            errors.append(FieldError(str(key), "unknown field"))

        cal_id = data.get("id")
        if not isinstance(cal_id, str) or not cal_id.strip():
            errors.append(FieldError("id", "required: a non-empty string"))
            cal_id = ""
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            errors.append(FieldError("name", "expected a string"))
            name = None

        tz = data.get("timezone", "UTC")
        zone_ok = False
        if not isinstance(tz, str) or not tz:
            errors.append(FieldError("timezone", "expected an IANA timezone name"))
        else:
            try:
                ZoneInfo(tz)
                zone_ok = True
            except (ZoneInfoNotFoundError, ValueError):
                errors.append(FieldError("timezone", f"unknown IANA timezone {tz!r}"))

        hours = _parse_hours(data.get("hours"), errors)
        explicit = _parse_holidays(data.get("holidays", []), errors)

        country = data.get("holiday_country")
        subdivision = data.get("holiday_subdivision")
        if country is not None and not isinstance(country, str):
            errors.append(FieldError("holiday_country", "expected a country code such as 'US'"))
            country = None
        if subdivision is not None and not isinstance(subdivision, str):
            errors.append(FieldError("holiday_subdivision", "expected a subdivision code"))
            subdivision = None
        if subdivision is not None and country is None:
            errors.append(
                FieldError("holiday_subdivision", "needs holiday_country to be set as well")
            )
        if country is not None:
            _check_country(country, subdivision, errors)

        if errors:
            raise ValidationError.from_errors(errors)
        assert zone_ok and isinstance(tz, str)
        return cls(
            cal_id,
            tz,
            hours,
            holidays=explicit,
            holiday_country=country,
            holiday_subdivision=subdivision,
            name=name,
        )

    def to_dict(self) -> dict[str, Any]:
        """The API shape of this calendar (what :meth:`from_dict` reads back)."""
        data: dict[str, Any] = {"id": self.id}
        if self.name is not None:
            data["name"] = self.name
        data["timezone"] = self.timezone
        data["hours"] = {
            day: [[_fmt_minute(s), _fmt_minute(e)] for s, e in self.hours[day]] for day in WEEKDAYS
        }
        data["holidays"] = [d.isoformat() for d in sorted(self.holidays)]
        data["holiday_country"] = self.holiday_country
        data["holiday_subdivision"] = self.holiday_subdivision
        return data

    def _key(self) -> tuple[object, ...]:
        return (
            self.id,
            self.timezone,
            tuple(self._by_weekday),
            self.holidays,
            self.holiday_country,
            self.holiday_subdivision,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<BusinessCalendar {self.id!r} {self.timezone}>"

    # -- queries ------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's timezone."""
        return self._zone

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant ``t >= start`` with ``between(start, t) == duration``.

        ``add(s, timedelta(0))`` is ``s`` itself, even when the calendar is closed at
        ``s``. The result is in UTC.

        :raises ValueError: ``start`` is naive or ``duration`` is negative.
        """
        amount = _duration_us(duration)
        if amount < 0:
            raise ValueError(f"cannot add a negative duration ({duration})")
        us = _to_us(start)
        if amount == 0:
            return start.astimezone(UTC)
        if self._always:
            return _from_us(us + amount)
        year_no = self._year_of(us)
        year = self._year(year_no)
        target = year.consumed(us) + amount
        while target > year.total:
            target -= year.total
            year_no += 1
            year = self._year(year_no)
        i = bisect_left(year.cum_end, target)
        return _from_us(year.starts[i] + target - year.cum_before[i])

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time in ``[a, b)``; negative when ``b`` is before ``a``.

        :raises ValueError: either instant is naive.
        """
        ua, ub = _to_us(a), _to_us(b)
        if ub < ua:
            return -self._between(ub, ua)
        return self._between(ua, ub)

    def _between(self, ua: int, ub: int) -> timedelta:
        if self._always:
            return timedelta(microseconds=ub - ua)
        ya, yb = self._year_of(ua), self._year_of(ub)
        if ya == yb:
            year = self._year(ya)
            amount = year.consumed(ub) - year.consumed(ua)
        else:
            first = self._year(ya)
            amount = first.total - first.consumed(ua)
            for y in range(ya + 1, yb):
                amount += self._year(y).total
            amount += self._year(yb).consumed(ub)
        return timedelta(microseconds=amount)

    def is_open(self, moment: datetime) -> bool:
        """Whether business time runs at ``moment``.

        :raises ValueError: ``moment`` is naive.
        """
        us = _to_us(moment)
        if self._always:
            return True
        year = self._year(self._year_of(us))
        i = bisect_right(year.starts, us) - 1
        return i >= 0 and us < year.ends[i]

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` if the calendar is open then, else the next instant it opens (UTC).

        :raises ValueError: ``moment`` is naive.
        """
        us = _to_us(moment)
        if self._always:
            return moment.astimezone(UTC)
        year_no = self._year_of(us)
        year = self._year(year_no)
        i = bisect_right(year.starts, us) - 1
        if i >= 0 and us < year.ends[i]:
            return moment.astimezone(UTC)
        i += 1
        while i >= len(year.starts):
            year_no += 1
            year = self._year(year_no)
            i = 0
        return _from_us(year.starts[i])

    def open_intervals(self, a: datetime, b: datetime) -> list[tuple[datetime, datetime]]:
        """The open stretches of real time inside ``[a, b)``, clipped to it, in UTC."""
        ua, ub = _to_us(a), _to_us(b)
        if ub <= ua:
            return []
        if self._always:
            return [(a.astimezone(UTC), b.astimezone(UTC))]
        found: list[tuple[datetime, datetime]] = []
        for year_no in range(self._year_of(ua), self._year_of(ub) + 1):
            year = self._year(year_no)
            i = max(bisect_right(year.starts, ua) - 1, 0)
            while i < len(year.starts) and year.starts[i] < ub:
                start, end = max(year.starts[i], ua), min(year.ends[i], ub)
                if end > start:
                    found.append((_from_us(start), _from_us(end)))
                i += 1
        return found

    # -- the year tables ------------------------------------------------------------

    def _resolve(self, day: date, minute: int) -> int:
        """UTC microseconds of local ``day`` + ``minute``, by the gap and fold rules."""
        if minute == _MINUTES_PER_DAY:
            day, minute = day + _DAY, 0
        naive = datetime(day.year, day.month, day.day, minute // 60, minute % 60)  # noqa: DTZ001
        first = naive.replace(tzinfo=self._zone, fold=0)
        second = naive.replace(tzinfo=self._zone, fold=1)
        before, after = first.utcoffset(), second.utcoffset()
        assert before is not None and after is not None
        local_us = _to_us(naive.replace(tzinfo=UTC))
        if before >= after:
            # An ordinary time, or a fold: fold=0 is the first occurrence.
            return local_us - _duration_us(before)
        # A gap: the clock jumps from `before` to `after` somewhere in
        # (local - after, local - before]; the end of the gap is that jump.
        lo = (local_us - _duration_us(after)) // _US
        hi = (local_us - _duration_us(before)) // _US
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self._zone).utcoffset() == after:
                hi = mid
            else:
                lo = mid
        return hi * _US

    def _boundary(self, year_no: int) -> int:
        """UTC microseconds of local midnight starting 1 January of ``year_no``."""
        found = self._boundaries.get(year_no)
        if found is None:
            found = self._resolve(date(year_no, 1, 1), 0)
            self._boundaries[year_no] = found
        return found

    def _year_of(self, us: int) -> int:
        """The local year whose intervals may contain ``us``."""
        seconds = us // _US
        try:
            year_no = datetime.fromtimestamp(seconds, self._zone).year
        except (OverflowError, ValueError, OSError) as exc:
            raise ValueError("instant outside the range a calendar can handle") from exc
        # Local years are bounded by their resolved midnights; nudge at the edges.
        if year_no < 9999 and us >= self._boundary(year_no + 1):
            year_no += 1
        elif year_no > 1 and us < self._boundary(year_no):
            year_no -= 1
        return year_no

    def _year(self, year_no: int) -> _Year:
        found = self._years.get(year_no)
        if found is not None:
            return found
        if not 1 <= year_no <= 9998:
            raise ValueError("business time runs beyond the range a calendar can handle")
        closed = self._closed_dates(year_no)
        intervals: list[tuple[int, int]] = []
        day = date(year_no, 1, 1)
        while day.year == year_no:
            if day not in closed:
                for start, end in self._by_weekday[day.weekday()]:
                    us_start = self._resolve(day, start)
                    us_end = self._resolve(day, end)
                    if us_end > us_start:  # both ends in one DST gap: nothing open
                        intervals.append((us_start, us_end))
            day += _DAY
        built = _Year(intervals)
        with self._lock:
            return self._years.setdefault(year_no, built)

    def _closed_dates(self, year_no: int) -> set[date]:
        closed = {d for d in self.holidays if d.year == year_no}
        if self.holiday_country is not None:
            official = holidays_lib.country_holidays(
                self.holiday_country, subdiv=self.holiday_subdivision, years=year_no
            )
            closed.update(d for d in official if d.year == year_no)
        return closed

    def holidays_in(self, year: int) -> list[date]:
        """The dates of ``year`` on which this calendar is closed as a holiday."""
        return sorted(self._closed_dates(year))


def _fmt_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_time(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    match = _TIME.match(value)
    if not match:
        return None
    minute = int(match.group(1)) * 60 + int(match.group(2))
    return minute if minute <= _MINUTES_PER_DAY else None


def _parse_hours(raw: object, errors: list[FieldError]) -> dict[str, list[Interval]]:
    if raw is None:
        errors.append(FieldError("hours", "required: opening intervals per weekday"))
        return {}
    if not isinstance(raw, Mapping):
        errors.append(FieldError("hours", "expected an object of weekday to intervals"))
        return {}
    hours: dict[str, list[Interval]] = {}
    for day, spans in raw.items():
        field = f"hours.{day}"
        if day not in WEEKDAYS:
            errors.append(
                FieldError(field, "unknown weekday; expected one of " + ", ".join(WEEKDAYS))
            )
            continue
        if not isinstance(spans, list | tuple):
            errors.append(FieldError(field, 'expected a list of ["HH:MM", "HH:MM"] pairs'))
            continue
        parsed: list[tuple[int, int, int]] = []
        for i, span in enumerate(spans):
            here = f"{field}[{i}]"
            if not isinstance(span, list | tuple) or len(span) != 2:
                errors.append(FieldError(here, 'expected a ["HH:MM", "HH:MM"] pair'))
                continue
            start, end = _parse_time(span[0]), _parse_time(span[1])
            if start is None or start == _MINUTES_PER_DAY:
                errors.append(FieldError(here, f"bad start time {span[0]!r}; expected HH:MM"))
                continue
            if end is None:
                errors.append(
                    FieldError(here, f"bad end time {span[1]!r}; expected HH:MM or 24:00")
                )
                continue
            if end <= start:
                errors.append(FieldError(here, f"end {span[1]} is not after start {span[0]}"))
                continue
            parsed.append((start, end, i))
        parsed.sort()
        merged: list[Interval] = []
        previous: tuple[int, int, int] | None = None
        for start, end, i in parsed:
            if previous is not None and start < previous[1]:
                errors.append(FieldError(f"{field}[{i}]", f"overlaps {field}[{previous[2]}]"))
                continue
            previous = (start, end, i)
            if merged and merged[-1][1] == start:  # touching intervals are one
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        hours[day] = merged
    if not errors and not any(hours.values()):
        errors.append(FieldError("hours", "a calendar must be open at some time of the week"))
    return hours


def _parse_holidays(raw: object, errors: list[FieldError]) -> set[date]:
    if raw is None:
        return set()
    if not isinstance(raw, list | tuple | set | frozenset):
        errors.append(FieldError("holidays", "expected a list of YYYY-MM-DD dates"))
        return set()
    found: set[date] = set()
    for i, value in enumerate(raw):
        if isinstance(value, date) and not isinstance(value, datetime):
            found.add(value)
            continue
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError
            found.add(date.fromisoformat(value))
        except ValueError:
            errors.append(FieldError(f"holidays[{i}]", f"bad date {value!r}; expected YYYY-MM-DD"))
    return found


def _check_country(country: str, subdivision: str | None, errors: list[FieldError]) -> None:
    supported = holidays_lib.list_supported_countries()
    if country not in supported:
        errors.append(FieldError("holiday_country", f"no holiday data for country {country!r}"))
        return
    if subdivision is not None and subdivision not in supported[country]:
        errors.append(
            FieldError(
                "holiday_subdivision",
                f"{country} has no subdivision {subdivision!r}",
            )
        )
