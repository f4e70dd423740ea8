"""Property tests of :class:`BusinessCalendar` against a brute-force oracle.

The oracle knows nothing of the implementation. It steps through UTC minutes, reads
each minute's local wall time with ``zoneinfo`` and resolves every opening boundary
(local date + ``HH:MM``) to the FIRST UTC minute whose wall time is at or after it.
That single rule gives both design rules: a boundary in a DST gap lands on the end of
the gap, one in a fold on its first occurrence. A minute is open when some resolved
interval of a non-holiday local date contains it.

Every offset and transition of the zones used here is a whole number of minutes, so
the resolved boundaries are minute-aligned and "open minutes" describe the calendar
exactly, down to the microsecond.
"""

from __future__ import annotations

import functools
import json
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from hypothesis import assume, given
from hypothesis import strategies as st

from supportkit.calendar import BusinessCalendar

ZONES = (
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "UTC",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_MINUTE = 60_000_000
MINUTES_PER_DAY = 24 * 60
WINDOW_DAYS = 21
FIRST_START = datetime(2024, 1, 1, tzinfo=UTC)
LAST_START = datetime(2028, 1, 1, tzinfo=UTC)


# -- instants as integers ---------------------------------------------------------------


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (its real instant)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def to_minute(moment: datetime) -> int:
    return to_us(moment) // US_PER_MINUTE


def from_minute(minute: int) -> datetime:
    return from_us(minute * US_PER_MINUTE)


def wall(minute: int, zone: ZoneInfo) -> datetime:
    """The naive local wall time at a UTC minute."""
    return datetime.fromtimestamp(minute * 60, zone).replace(tzinfo=None)


def hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


# -- the oracle -------------------------------------------------------------------------


@functools.cache
def official_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def closed_dates(spec: dict[str, Any], first: int, last: int) -> set[date]:
    closed = {date.fromisoformat(d) for d in spec.get("holidays", [])}
    country = spec.get("holiday_country")
    if country is not None:
        for year in range(first, last + 1):
            closed |= official_holidays(country, spec.get("holiday_subdivision"), year)
    return closed


class Oracle:
    """The open minutes of a calendar in the window of UTC minutes ``[w0, w1)``."""

    def __init__(self, spec: dict[str, Any], w0: int, w1: int) -> None:
        zone = ZoneInfo(spec["timezone"])
        self.w0, self.w1 = w0, w1
        # Local dates covering the window, with a day of margin each side.
        first_day = wall(w0, zone).date() - timedelta(days=1)
        last_day = wall(w1, zone).date() + timedelta(days=1)
        closed = closed_dates(spec, first_day.year, last_day.year)
        wanted: list[tuple[datetime, datetime]] = []
        day = first_day
        while day <= last_day:
            if day not in closed:
                midnight = datetime(day.year, day.month, day.day)
                for start, end in spec["hours"].get(WEEKDAYS[day.weekday()], []):
                    wanted.append(
                        (
                            midnight + timedelta(minutes=hhmm(start)),
                            midnight + timedelta(minutes=hhmm(end)),
                        )
                    )
            day += timedelta(days=1)

        # One sweep: walk UTC minutes upward, resolving each pending boundary L at
        # the first minute whose wall time is >= L.
        boundaries = sorted({moment for pair in wanted for moment in pair})
        resolved: dict[datetime, int] = {}
        if boundaries:
            # No offset reaches 15 h, so this minute's wall time is before them all.
            minute = to_minute(boundaries[0].replace(tzinfo=UTC)) - 15 * 60
            assert wall(minute, zone) < boundaries[0]
            pending = 0
            while pending < len(boundaries):
                now = wall(minute, zone)
                while pending < len(boundaries) and boundaries[pending] <= now:
                    resolved[boundaries[pending]] = minute
                    pending += 1
                minute += 1

        flags = bytearray(w1 - w0)
        for start, end in wanted:
            lo = max(resolved[start], w0) - w0
            hi = min(resolved[end], w1) - w0
            if hi > lo:
                flags[lo:hi] = b"\x01" * (hi - lo)
        #: Sorted UTC minutes (since the epoch) that are open, within the window.
        self.open = [w0 + i for i, flag in enumerate(flags) if flag]
        #: The same as maximal runs ``[start_us, end_us)``.
        self.runs: list[tuple[int, int]] = []
        for minute in self.open:
            lo_us, hi_us = minute * US_PER_MINUTE, (minute + 1) * US_PER_MINUTE
            if self.runs and self.runs[-1][1] == lo_us:
                self.runs[-1] = (self.runs[-1][0], hi_us)
            else:
                self.runs.append((lo_us, hi_us))

    @property
    def start(self) -> datetime:
        return from_minute(self.w0)

    @property
    def end(self) -> datetime:
        return from_minute(self.w1)

    def _inside(self, us: int) -> None:
        assert self.w0 * US_PER_MINUTE <= us <= self.w1 * US_PER_MINUTE, "outside window"

    # Minute-level answers, as the design states them.

    def open_minutes_from(self, minute: int) -> int:
        return len(self.open) - bisect_left(self.open, minute)

    def count(self, a: int, b: int) -> int:
        """Open minutes in ``[a, b)``, ``a <= b`` minutes inside the window."""
        return bisect_left(self.open, b) - bisect_left(self.open, a)

    def add_minutes(self, start: int, k: int) -> int:
        """The ``k``-th open minute at or after ``start``, plus one; ``start`` if 0."""
        if k == 0:
            return start
        return self.open[bisect_left(self.open, start) + k - 1] + 1

    # Microsecond answers, from the runs.

    def is_open(self, us: int) -> bool:
        self._inside(us)
        i = bisect_right(self.runs, (us, float("inf"))) - 1
        return i >= 0 and us < self.runs[i][1]

    def next_open(self, us: int) -> int | None:
        """``us`` if open, else the next opening in the window (``None``: none)."""
        self._inside(us)
        if self.is_open(us):
            return us
        for start, _ in self.runs:
            if start >= us:
                return start
        return None

    def between(self, a: int, b: int) -> int:
        """Open microseconds in ``[a, b)``, ``a <= b`` inside the window."""
        self._inside(a)
        self._inside(b)
        return sum(max(0, min(end, b) - max(start, a)) for start, end in self.runs)

    def add(self, start: int, amount: int) -> int:
        self._inside(start)
        if amount == 0:
            return start
        for lo, hi in self.runs:
            if hi <= start:
                continue
            lo = max(lo, start)
            if amount <= hi - lo:
                return lo + amount
            amount -= hi - lo
        raise AssertionError("the window holds less business time than asked for")


@functools.lru_cache(maxsize=256)
def _cached_oracle(key: str, w0: int, w1: int) -> Oracle:
    return Oracle(json.loads(key), w0, w1)


def oracle_for(spec: dict[str, Any], start: datetime, days: int = WINDOW_DAYS) -> Oracle:
    w0 = to_minute(start)
    return _cached_oracle(json.dumps(spec, sort_keys=True), w0, w0 + days * MINUTES_PER_DAY)


# -- DST transitions of the test zones ------------------------------------------------------


@functools.cache
def transitions(zone_name: str) -> tuple[tuple[int, int, int], ...]:
    """``(utc_minute, offset_before, offset_after)`` of each change in 2024–2027.

    Found by scanning hourly for a change of UTC offset, then bisecting to the
    minute. Offsets are in minutes.
    """
    zone = ZoneInfo(zone_name)

    def offset(minute: int) -> int:
        delta = datetime.fromtimestamp(minute * 60, zone).utcoffset()
        assert delta is not None
        return int(delta.total_seconds()) // 60

    found = []
    hour = to_minute(FIRST_START)
    last = to_minute(LAST_START)
    before = offset(hour)
    while hour < last:
        after = offset(hour + 60)
        if after != before:
            lo, hi = hour, hour + 60  # offset(lo) == before, offset(hi) == after
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == before:
                    lo = mid
                else:
                    hi = mid
            found.append((hi, before, after))
        before = after
        hour += 60
    return tuple(found)


def test_transition_finder_knows_the_zones() -> None:
    # Los Angeles 2024: 10 March 10:00 UTC (02:00 PST) and 3 November 09:00 UTC.
    la = transitions("America/Los_Angeles")
    assert len(la) == 8
    assert from_minute(la[0][0]) == datetime(2024, 3, 10, 10, tzinfo=UTC)
    assert la[0][1:] == (-480, -420)
    assert from_minute(la[1][0]) == datetime(2024, 11, 3, 9, tzinfo=UTC)
    # Lord Howe moves by 30 minutes; Kathmandu and UTC never move.
    assert {abs(after - before) for _, before, after in transitions("Australia/Lord_Howe")} == {30}
    assert transitions("Asia/Kathmandu") == ()
    assert transitions("UTC") == ()


# -- strategies -----------------------------------------------------------------------------

#: Quarter-hour grid points 0 (00:00) … 96 (24:00), weighted towards 01:00–03:00 where
#: the DST gaps and folds of the test zones lie, and towards the day's ends.
QUARTERS = st.one_of(
    st.integers(0, 96),
    st.integers(4, 12),
    st.sampled_from([0, 96]),
)


@functools.cache
def dst_quarters(zone_name: str) -> tuple[int, ...]:
    """Grid points at or inside the zone's DST gaps and folds (local time of day)."""
    found: set[int] = set()
    for moment, before, after in transitions(zone_name):
        local = from_minute(moment).replace(tzinfo=None)
        lo = local + timedelta(minutes=min(before, after))
        hi = local + timedelta(minutes=max(before, after))
        first = lo.hour * 60 + lo.minute
        last = first + (hi - lo) // timedelta(minutes=1)
        found.update(range(-(-first // 15), last // 15 + 1))
    return tuple(sorted(found))


def quarters(zone_name: str) -> st.SearchStrategy[int]:
    special = dst_quarters(zone_name)
    if not special:
        return QUARTERS
    return st.one_of(QUARTERS, st.sampled_from(special))


def fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def day_hours(draw: st.DrawFn, zone_name: str = "UTC") -> list[list[str]]:
    """0–3 sorted, non-overlapping intervals; consecutive ones may touch."""
    points = sorted(draw(st.lists(quarters(zone_name), max_size=6)))
    return [
        [fmt(start * 15), fmt(end * 15)]
        for start, end in zip(points[0::2], points[1::2], strict=False)
        if start < end
    ]


@st.composite
def starts(draw: st.DrawFn, zone_name: str) -> datetime:
    """A minute-aligned instant in 2024–2027, often near a DST transition or a new year.

    Some are given as local wall times inside a DST gap or fold, with ``fold`` 0 or
    1; Python's aware arithmetic defines which instant that is.
    """
    zone = ZoneInfo(zone_name)
    found = transitions(zone_name)
    kinds = ["uniform", "new_year"]
    if found:
        kinds += ["near_transition", "before_transition", "local_gap_or_fold"]
    kind = draw(st.sampled_from(kinds))
    if kind == "uniform":
        minute = draw(st.integers(to_minute(FIRST_START), to_minute(LAST_START) - 1))
    elif kind == "new_year":
        new_year = datetime(draw(st.integers(2025, 2027)), 1, 1, tzinfo=zone)
        minute = to_minute(new_year) + draw(st.integers(-25 * MINUTES_PER_DAY, MINUTES_PER_DAY))
    else:
        moment, before, after = draw(st.sampled_from(found))
        if kind == "near_transition":
            minute = moment + draw(st.integers(-180, 180))
        elif kind == "before_transition":
            minute = moment + draw(st.integers(-20 * MINUTES_PER_DAY, 0))
        else:
            # The skipped (gap) or repeated (fold) wall times are
            # [moment + min(before, after), moment + max(before, after)) in local time.
            naive = from_minute(moment).replace(tzinfo=None) + timedelta(
                minutes=min(before, after) + draw(st.integers(0, abs(after - before) - 1))
            )
            return naive.replace(tzinfo=zone, fold=draw(st.integers(0, 1)))
    start = from_minute(minute)
    if draw(st.booleans()):
        return start.astimezone(zone)  # the same instant, as a local time
    return start


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], datetime]:
    """A random calendar (in the API shape) and a start instant for it."""
    zone_name = draw(st.sampled_from(ZONES))
    start = draw(starts(zone_name))
    spec: dict[str, Any] = {"id": "prop", "timezone": zone_name}
    if draw(st.integers(0, 9)) == 0:
        # Open all week, which the implementation may treat as a special case.
        spec["hours"] = {day: [["00:00", "24:00"]] for day in WEEKDAYS}
        return spec, start
    hours: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        spans = draw(day_hours(zone_name))
        if spans or draw(st.booleans()):  # a weekday left out is closed
            hours[day] = spans
    if not any(hours.values()):
        hours[draw(st.sampled_from(WEEKDAYS))] = draw(day_hours(zone_name).filter(bool))
    spec["hours"] = hours
    local_day = start.astimezone(ZoneInfo(zone_name)).date()
    offsets = draw(st.lists(st.integers(-2, WINDOW_DAYS + 2), max_size=5))
    spec["holidays"] = sorted({(local_day + timedelta(days=n)).isoformat() for n in offsets})
    country = {"America/Los_Angeles": ("US", "CA"), "Europe/London": ("GB", "ENG")}.get(zone_name)
    if country is not None:
        choice = draw(st.sampled_from(["none", "country", "subdivision"]))
        if choice != "none":
            spec["holiday_country"] = country[0]
        if choice == "subdivision":
            spec["holiday_subdivision"] = country[1]
    return spec, start


def business_minutes(oracle: Oracle, start: datetime) -> st.SearchStrategy[int]:
    """A number of minutes the window after ``start`` holds, small ones often."""
    available = oracle.open_minutes_from(to_minute(start))
    return st.one_of(st.integers(0, available), st.integers(0, min(available, 600)))


def window_instant(oracle: Oracle, zone: ZoneInfo, aligned: bool = True) -> st.SearchStrategy:
    """An instant in the oracle's window, in UTC or as a local time of ``zone``.

    Often exactly at, or a microsecond either side of, an opening or a closing.
    """
    lo, hi = oracle.w0 * US_PER_MINUTE, oracle.w1 * US_PER_MINUTE
    if aligned:
        us = st.integers(oracle.w0, oracle.w1).map(lambda m: m * US_PER_MINUTE)
    else:
        us = st.integers(lo, hi)
    edges = sorted({edge for run in oracle.runs for edge in run})
    if edges:
        nudges = st.just(0) if aligned else st.sampled_from([-1, 0, 1])
        at_edge = st.builds(
            lambda edge, nudge: min(max(edge + nudge, lo), hi), st.sampled_from(edges), nudges
        )
        us = st.one_of(us, at_edge)
    return st.builds(
        lambda value, local: from_us(value).astimezone(zone) if local else from_us(value),
        us,
        st.booleans(),
    )


def check_utc(moment: datetime) -> None:
    assert moment.tzinfo is not None
    assert moment.utcoffset() == timedelta(0)


def merged(pieces: Sequence[tuple[datetime, datetime]]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for a, b in pieces:
        lo, hi = to_us(a), to_us(b)
        if runs and runs[-1][1] == lo:
            runs[-1] = (runs[-1][0], hi)
        else:
            runs.append((lo, hi))
    return runs


def setup(data: st.DataObject) -> tuple[BusinessCalendar, Oracle, datetime, ZoneInfo]:
    spec, start = data.draw(scenarios(), label="calendar and start")
    calendar = BusinessCalendar.from_dict(spec)
    return calendar, oracle_for(spec, start), start, ZoneInfo(spec["timezone"])


# -- properties -----------------------------------------------------------------------------


@given(st.data())
def test_add_matches_oracle(data: st.DataObject) -> None:
    calendar, oracle, start, _ = setup(data)
    k = data.draw(business_minutes(oracle, start), label="minutes")
    duration = timedelta(minutes=k)

    got = calendar.add(start, duration)

    check_utc(got)
    assert got == from_minute(oracle.add_minutes(to_minute(start), k))
    assert got >= start
    assert calendar.between(start, got) == duration
    if k == 0:
        assert got == start.astimezone(UTC)


@given(st.data())
def test_between_matches_oracle(data: st.DataObject) -> None:
    calendar, oracle, _, zone = setup(data)
    a = data.draw(window_instant(oracle, zone), label="a")
    b = data.draw(window_instant(oracle, zone), label="b")
    lo, hi = sorted((to_minute(a), to_minute(b)))

    forward = calendar.between(a, b)

    expected = timedelta(minutes=oracle.count(lo, hi))
    assert forward == (expected if to_us(a) <= to_us(b) else -expected)
    assert calendar.between(b, a) == -forward
    assert calendar.between(a, a) == timedelta(0)


@given(st.data())
def test_add_is_strictly_monotone_in_duration(data: st.DataObject) -> None:
    calendar, oracle, start, _ = setup(data)
    k1 = data.draw(business_minutes(oracle, start), label="k1")
    k2 = data.draw(business_minutes(oracle, start), label="k2")
    k1, k2 = sorted((k1, k2))

    first = calendar.add(start, timedelta(minutes=k1))
    second = calendar.add(start, timedelta(minutes=k2))

    # between(start, add(start, d)) == d, so distinct durations give distinct instants.
    if k1 < k2:
        assert first < second
    else:
        assert first == second


@given(st.data())
def test_add_composes(data: st.DataObject) -> None:
    """``add(add(s, a), b) == add(s, a + b)`` for all ``a, b >= 0``.

    For ``a > 0``, ``t = add(s, a)`` is the end of an open stretch with
    ``between(s, t) == a``, and any ``u >= t`` has ``between(s, u) == a + between(t, u)``,
    so the earliest ``u`` with ``a + b`` is the earliest with ``b`` after ``t``. For
    ``a == 0`` it is ``add(s, 0) == s``. (What does *not* hold is the inverse
    ``add(a, between(a, b)) == b``; see the next test.)
    """
    calendar, oracle, start, _ = setup(data)
    available = oracle.open_minutes_from(to_minute(start))
    a = data.draw(st.integers(0, available), label="a")
    b = data.draw(st.integers(0, available - a), label="b")

    step = calendar.add(start, timedelta(minutes=a))
    assert calendar.add(step, timedelta(minutes=b)) == calendar.add(start, timedelta(minutes=a + b))


@given(st.data())
def test_add_of_between_stops_at_the_last_open_instant(data: st.DataObject) -> None:
    """``r = add(a, between(a, b))`` is ``<= b`` with nothing open in ``[r, b)``.

    ``r == b`` exactly when ``b`` is open or ends an open stretch (or ``b == a``).
    """
    calendar, oracle, _, zone = setup(data)
    a = data.draw(window_instant(oracle, zone), label="a")
    b = data.draw(window_instant(oracle, zone), label="b")
    a, b = sorted((a, b), key=to_us)

    back = calendar.add(a, calendar.between(a, b))

    assert to_us(a) <= to_us(back) <= to_us(b)
    assert calendar.between(back, b) == timedelta(0)
    k = oracle.count(to_minute(a), to_minute(b))
    assert back == from_minute(oracle.add_minutes(to_minute(a), k))


@given(st.data())
def test_add_never_ends_inside_a_closed_period(data: st.DataObject) -> None:
    calendar, oracle, start, _ = setup(data)
    available = oracle.open_minutes_from(to_minute(start))
    assume(available > 0)
    k = data.draw(st.integers(1, available), label="minutes")

    got = calendar.add(start, timedelta(minutes=k))

    last_minute = got - timedelta(minutes=1)
    assert oracle.is_open(to_us(last_minute))
    assert calendar.is_open(last_minute)


@given(st.data())
def test_is_open_and_next_open_match_oracle(data: st.DataObject) -> None:
    calendar, oracle, _, zone = setup(data)
    aligned = data.draw(st.booleans(), label="minute-aligned")
    moment = data.draw(window_instant(oracle, zone, aligned=aligned), label="moment")
    us = to_us(moment)
    assume(us < oracle.w1 * US_PER_MINUTE)

    assert calendar.is_open(moment) == oracle.is_open(us)

    following = calendar.next_open(moment)
    check_utc(following)
    expected = oracle.next_open(us)
    if expected is None:
        # Closed for the rest of the window: the next opening lies beyond it.
        assert following >= oracle.end
    else:
        assert following == from_us(expected)
    assert calendar.is_open(following)
    assert calendar.between(moment, following) == timedelta(0)


@given(st.data())
def test_open_intervals_match_oracle(data: st.DataObject) -> None:
    calendar, oracle, _, zone = setup(data)
    a = data.draw(window_instant(oracle, zone, aligned=False), label="a")
    b = data.draw(window_instant(oracle, zone, aligned=False), label="b")
    a, b = sorted((a, b), key=to_us)
    lo, hi = to_us(a), to_us(b)

    pieces = calendar.open_intervals(a, b)

    for start, end in pieces:
        check_utc(start)
        check_utc(end)
        assert lo <= to_us(start) < to_us(end) <= hi
    expected = [
        (max(start, lo), min(end, hi))
        for start, end in oracle.runs
        if max(start, lo) < min(end, hi)
    ]
    assert merged(pieces) == expected
    assert calendar.open_intervals(b, a) == ([] if lo < hi else pieces)


@given(st.data())
def test_sub_minute_starts_and_durations(data: st.DataObject) -> None:
    calendar, oracle, start, zone = setup(data)
    # In UTC: aware arithmetic on a local time would drop its ``fold``.
    start = from_us(to_us(start) + data.draw(st.integers(0, US_PER_MINUTE - 1)))
    if data.draw(st.booleans(), label="local start"):
        start = start.astimezone(zone)
    available = oracle.between(to_us(start), oracle.w1 * US_PER_MINUTE)
    amount = data.draw(
        st.one_of(
            st.integers(0, available),
            st.integers(0, available // 1_000_000).map(lambda s: s * 1_000_000),
        ),
        label="microseconds",
    )
    duration = timedelta(microseconds=amount)

    got = calendar.add(start, duration)

    check_utc(got)
    assert to_us(got) >= to_us(start)
    assert calendar.between(start, got) == duration
    assert to_us(got) == oracle.add(to_us(start), amount)
    later = data.draw(window_instant(oracle, zone, aligned=False), label="later")
    lo, hi = sorted((to_us(start), to_us(later)))
    assert abs(calendar.between(start, later)) == timedelta(microseconds=oracle.between(lo, hi))


# -- focused: the days on which the clocks change ---------------------------------------------


@st.composite
def dst_days(draw: st.DrawFn) -> tuple[dict[str, Any], datetime]:
    """A calendar open only on the weekday of one DST change, with boundaries mostly
    inside that change's gap or fold, and the UTC start of the local day before."""
    zone_name = draw(
        st.sampled_from(["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe"])
    )
    zone = ZoneInfo(zone_name)
    moment, _, _ = draw(st.sampled_from(transitions(zone_name)))
    day = from_minute(moment).astimezone(zone).date()
    special = st.sampled_from(dst_quarters(zone_name))
    points = sorted(draw(st.lists(st.one_of(special, special, QUARTERS), min_size=2, max_size=6)))
    spans = [
        [fmt(start * 15), fmt(end * 15)]
        for start, end in zip(points[0::2], points[1::2], strict=False)
        if start < end
    ]
    assume(spans)
    spec = {"id": "dst", "timezone": zone_name, "hours": {WEEKDAYS[day.weekday()]: spans}}
    day_before = datetime(day.year, day.month, day.day, tzinfo=zone) - timedelta(days=1)
    return spec, day_before.astimezone(UTC)


@given(dst_days())
def test_dst_days_match_oracle(case: tuple[dict[str, Any], datetime]) -> None:
    spec, start = case
    calendar = BusinessCalendar.from_dict(spec)
    oracle = oracle_for(spec, start, days=3)
    a, b = oracle.start, oracle.end
    lo_us, hi_us = to_us(a), to_us(b)

    assert merged(calendar.open_intervals(a, b)) == oracle.runs
    assert calendar.between(a, b) == timedelta(microseconds=oracle.between(lo_us, hi_us))
    first = oracle.next_open(lo_us)
    if first is None:
        assert calendar.next_open(a) >= b
    else:
        assert calendar.next_open(a) == from_us(first)
    done = 0
    for i, (opens, closes) in enumerate(oracle.runs):
        if i + 1 < len(oracle.runs):
            assert calendar.next_open(from_us(closes)) == from_us(oracle.runs[i + 1][0])
        elif closes < hi_us:
            assert calendar.next_open(from_us(closes)) >= b
        if opens > lo_us:
            assert not calendar.is_open(from_us(opens - 1))
            assert calendar.next_open(from_us(opens - 1)) == from_us(opens)
        assert calendar.is_open(from_us(opens))
        assert calendar.between(a, from_us(opens)) == timedelta(microseconds=done)
        done += closes - opens
        assert calendar.add(a, timedelta(microseconds=done)) == from_us(closes)
        if closes < hi_us:
            assert not calendar.is_open(from_us(closes))


# -- long spans: consistency across several years -----------------------------------------------


@given(st.data())
def test_long_spans_are_consistent(data: st.DataObject) -> None:
    """Over up to three years (no oracle: too long to step through), ``between`` is
    additive and ``add`` inverts it up to the closed time at the end."""
    spec, start = data.draw(scenarios(), label="calendar and start")
    calendar = BusinessCalendar.from_dict(spec)
    days = data.draw(st.one_of(st.integers(0, 3 * 366), st.integers(366, 3 * 366)), label="days")
    span = days * MINUTES_PER_DAY + data.draw(st.integers(0, MINUTES_PER_DAY), label="minutes")
    cut = data.draw(st.integers(0, span), label="middle minutes")
    # In UTC: aware arithmetic on a local start would be wall-clock arithmetic.
    end = from_us(to_us(start) + span * US_PER_MINUTE)
    middle = from_us(to_us(start) + cut * US_PER_MINUTE)

    total = calendar.between(start, end)

    assert total == calendar.between(start, middle) + calendar.between(middle, end)
    assert calendar.between(end, start) == -total
    back = calendar.add(start, total)
    assert to_us(start) <= to_us(back) <= to_us(end)
    assert calendar.between(start, back) == total
    assert calendar.between(back, end) == timedelta(0)
    rest = calendar.between(middle, end)
    if rest > timedelta(0):
        # Both end where the last open stretch before ``end`` does.
        assert calendar.add(middle, rest) == back
