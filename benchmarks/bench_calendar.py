"""Benchmark supportkit's business calendar against the ``businesstimedelta`` package.

Run by hand from the repository root (this is not part of the test suite)::

    python benchmarks/bench_calendar.py            # full run, about a minute
    python benchmarks/bench_calendar.py --quick    # smoke run, a few seconds

Both libraries get the same calendar: Monday to Friday 09:00–17:00 in
America/Los_Angeles, closed on US public holidays (the ``holidays`` package's ``US``
calendar, observed dates included). Every case is first run once in each library and
the two answers compared; then each is timed with ``time.perf_counter_ns`` in batches
of calls, with the garbage collector off while a batch runs. Times are microseconds
per call: the median and the minimum over the batches.

The timed supportkit numbers are *warm*: each case runs a few times before timing, so
the per-year tables it needs are already built. What the first call on a fresh
calendar object costs is measured separately and printed as the "cold" numbers.

Needs the ``bench`` extra: ``pip install -e '.[bench]'``. The exit status is 1 when the
two libraries disagree on any case, else 0 (a missed goal does not fail the run).
"""

from __future__ import annotations

import argparse
import gc
import operator
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any

from benchlib import machine_lines, version

try:
    from supportkit.calendar import BusinessCalendar
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from supportkit.calendar import BusinessCalendar

try:
    import holidays
    import pytz
    from businesstimedelta import BusinessTimeDelta, HolidayRule, Rules, WorkDayRule
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.exit(
        f"bench_calendar: {exc.name or exc} is missing; install the benchmark extra with\n"
        "    pip install -e '.[bench]'"
    )

ZONE = "America/Los_Angeles"
CALENDAR = {
    "id": "us",
    "timezone": ZONE,
    "hours": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holiday_country": "US",
}

#: Starts of the cases; several, so that no single lucky position decides a number.
STARTS: dict[str, datetime] = {
    # Friday 07:30 PDT, before opening; DST ends that Sunday; Veterans Day and
    # Thanksgiving follow within the month.
    "A": datetime(2024, 11, 1, 14, 30, tzinfo=UTC),
    # Friday 14:15 PST, inside opening hours; DST starts that Sunday.
    "B": datetime(2025, 3, 7, 22, 15, tzinfo=UTC),
    # Tuesday 11:45 PST, inside opening hours, the day before Christmas.
    "C": datetime(2024, 12, 24, 19, 45, tzinfo=UTC),
}
ADD_HOURS = (2, 8, 40, 400, 4000)

#: The goals stated for the calendar: (case prefix, max median µs, min speedup).
GOALS = (
    ("add 2 h", 20.0, 5.0),
    ("add 4000 h", 50.0, 500.0),
    ("between 1 year", 50.0, 500.0),
)


@dataclass(frozen=True)
class Mode:
    name: str
    min_runs: int  # at least this many batches ...
    max_runs: int  # ... at most this many ...
    budget_ns: int  # ... and stop once this much time is spent (after min_runs)
    batch_ns: int  # calls per batch are chosen so a batch lasts at least this long
    warmup: int  # untimed calls of each case before timing
    cold_reps: int  # fresh calendar objects for the cold numbers


FULL = Mode("full", 5, 2000, 1_000_000_000, 200_000, 5, 20)
QUICK = Mode("quick", 3, 50, 50_000_000, 100_000, 2, 3)


@dataclass(frozen=True)
class Timing:
    median_us: float
    min_us: float
    runs: int  # batches timed
    calls: int  # calls in total


@dataclass
class Case:
    name: str
    start: str  # key of STARTS
    kind: str  # "add" or "between"
    sk_call: Callable[[Any, Any], Any]
    sk_args: tuple[Any, Any]
    peer_call: Callable[[Any, Any], Any]
    peer_args: tuple[Any, Any]
    sk_result: Any = None
    peer_result: Any = None
    agree: bool = False
    sk: Timing | None = None
    peer: Timing | None = None


def measure(call: Callable[[Any, Any], Any], args: tuple[Any, Any], mode: Mode) -> Timing:
    """Median and minimum µs per call of ``call(*args)``, timed in batches."""
    x, y = args
    clock = time.perf_counter_ns
    # Choose the batch size: double until one batch lasts mode.batch_ns.
    per_batch = 1
    while True:
        t0 = clock()
        for _ in range(per_batch):
            call(x, y)
        elapsed = clock() - t0
        if elapsed >= mode.batch_ns or per_batch >= 1 << 20:
            break
        per_batch *= 2
    samples: list[float] = []
    spent = 0
    loop = range(per_batch)
    while len(samples) < mode.max_runs and (len(samples) < mode.min_runs or spent < mode.budget_ns):
        gc.disable()
        try:
            t0 = clock()
            for _ in loop:
                call(x, y)
            elapsed = clock() - t0
        finally:
            gc.enable()
        spent += elapsed
        samples.append(elapsed / per_batch / 1000)
    return Timing(statistics.median(samples), min(samples), len(samples), per_batch * len(samples))


def supportkit_calendar() -> BusinessCalendar:
    return BusinessCalendar.from_dict(CALENDAR)


def peer_rules() -> Rules:
    # businesstimedelta localizes with pytz (tz.localize), so it needs a pytz zone.
    # Both rules take the zone: HolidayRule defaults to UTC, which would close the
    # holidays from 16:00 or 17:00 of the day before, Pacific time.
    tz = pytz.timezone(ZONE)
    workday = WorkDayRule(
        start_time=wall_time(9), end_time=wall_time(17), working_days=[0, 1, 2, 3, 4], tz=tz
    )
    return Rules([workday, HolidayRule(holidays.US(), tz=tz)])


def add_months(moment: datetime, months: int) -> datetime:
    month0 = moment.month - 1 + months
    return moment.replace(year=moment.year + month0 // 12, month=month0 % 12 + 1)


def build_cases(calendar: BusinessCalendar, rules: Rules) -> list[Case]:
    cases: list[Case] = []
    for hours in ADD_HOURS:
        for key, start in STARTS.items():
            cases.append(
                Case(
                    f"add {hours} h",
                    key,
                    "add",
                    calendar.add,
                    (start, timedelta(hours=hours)),
                    # datetime + BusinessTimeDelta is BusinessTimeDelta.__radd__.
                    operator.add,
                    (start, BusinessTimeDelta(rules, hours=hours)),
                )
            )
    for label, months in (("1 month", 1), ("1 year", 12)):
        for key, start in STARTS.items():
            end = add_months(start, months)
            cases.append(
                Case(
                    f"between {label}",
                    key,
                    "between",
                    calendar.between,
                    (start, end),
                    rules.difference,
                    (start, end),
                )
            )
    return cases


def check(case: Case) -> None:
    case.sk_result = case.sk_call(*case.sk_args)
    peer = case.peer_call(*case.peer_args)
    # add: both return aware datetimes (supportkit in UTC, businesstimedelta in the
    # calendar's pytz zone); == compares the instants. between: a timedelta against a
    # BusinessTimeDelta, whose .timedelta drops microseconds (none occur here).
    case.peer_result = peer.timedelta if case.kind == "between" else peer
    case.agree = case.sk_result == case.peer_result


def cold(mode: Mode, call: Callable[[BusinessCalendar], Any]) -> Timing:
    """µs of the first call on fresh calendar objects (building the object is not timed)."""
    samples: list[float] = []
    for _ in range(mode.cold_reps):
        calendar = supportkit_calendar()
        t0 = time.perf_counter_ns()
        call(calendar)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return Timing(statistics.median(samples), min(samples), len(samples), len(samples))


def fmt(value: float) -> str:
    return f"{value:,.1f}" if value >= 100 else f"{value:.2f}"


def local(result: Any) -> str:
    if isinstance(result, datetime):
        return result.astimezone(pytz.timezone(ZONE)).strftime("%a %Y-%m-%d %H:%M %Z")
    hours = result / timedelta(hours=1)
    return f"{hours:g} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    options = parser.parse_args(argv)
    mode = QUICK if options.quick else FULL

    print("Business calendar benchmark: supportkit vs businesstimedelta")
    print(f"  mode:      {mode.name}")
    print("\n".join(machine_lines()))
    print(
        "  packages:  "
        + ", ".join(
            f"{name} {version(name)}"
            for name in ("supportkit", "businesstimedelta", "holidays", "pytz")
        )
    )
    print(f"  calendar:  Mon–Fri 09:00–17:00 {ZONE}, US public holidays (observed)")
    for key, start in STARTS.items():
        print(f"  start {key}:   {start:%Y-%m-%d %H:%M} UTC = {local(start)}")
    print(
        f"  timing:    batches of calls timed with perf_counter_ns, GC off per batch; "
        f"at least {mode.min_runs} and at most {mode.max_runs} batches, "
        f"until {mode.budget_ns / 1e9:g} s per case and library"
    )
    print(
        f"  warm-up:   each case runs {mode.warmup}× in both libraries before timing, so "
        "supportkit's per-year tables are built (cold numbers further down)"
    )
    print()

    calendar = supportkit_calendar()
    rules = peer_rules()
    cases = build_cases(calendar, rules)
    for case in cases:
        for _ in range(mode.warmup):
            case.sk_call(*case.sk_args)
            case.peer_call(*case.peer_args)
        check(case)

    for case in cases:
        case.sk = measure(case.sk_call, case.sk_args, mode)
        case.peer = measure(case.peer_call, case.peer_args, mode)
        print(f"  timed {case.name} [{case.start}]", file=sys.stderr)

    header = (
        f"{'case':<22} {'supportkit µs':>16} {'businesstimedelta µs':>24} "
        f"{'batches sk/peer':>15} {'speedup ×':>10}  agree"
    )
    print("Warm timings, µs per call: median (min)")
    print(header)
    print("-" * len(header))
    for case in cases:
        assert case.sk is not None and case.peer is not None
        speedup = case.peer.median_us / case.sk.median_us
        batches = f"{case.sk.runs}/{case.peer.runs}"
        print(
            f"{case.name + ' [' + case.start + ']':<22} "
            f"{fmt(case.sk.median_us) + ' (' + fmt(case.sk.min_us) + ')':>16} "
            f"{fmt(case.peer.median_us) + ' (' + fmt(case.peer.min_us) + ')':>24} "
            f"{batches:>15} {speedup:>10,.0f}  {'yes' if case.agree else 'NO'}"
        )
    print()

    print("Results (local time; both libraries, unless they disagree)")
    for case in cases:
        line = f"  {case.name + ' [' + case.start + ']':<22} {local(case.sk_result)}"
        if not case.agree:
            line += f"   but businesstimedelta: {local(case.peer_result)}"
        print(line)
    print()

    start = STARTS["A"]
    year_end = add_months(start, 12)
    colds = (
        ("add 2 h [A]", lambda c: c.add(start, timedelta(hours=2))),
        ("add 4000 h [A]", lambda c: c.add(start, timedelta(hours=4000))),
        ("between 1 year [A]", lambda c: c.between(start, year_end)),
    )
    print(
        f"supportkit cold: first call on a fresh calendar object, µs "
        f"({mode.cold_reps} fresh objects; builds the year tables the call needs)"
    )
    for name, call in colds:
        timing = cold(mode, call)
        print(f"  {name:<20} median {fmt(timing.median_us):>9}   min {fmt(timing.min_us):>9}")
    build = measure(lambda data, _: BusinessCalendar.from_dict(data), (CALENDAR, None), mode)
    print(
        f"  {'(from_dict itself)':<20} median {fmt(build.median_us):>9}   "
        f"min {fmt(build.min_us):>9}   (not included above)"
    )
    print()

    print("Goals (worst of the starts)")
    for prefix, max_us, min_speedup in GOALS:
        chosen = [c for c in cases if c.name == prefix]
        worst_us = max(c.sk.median_us for c in chosen if c.sk)
        worst_x = min(c.peer.median_us / c.sk.median_us for c in chosen if c.sk and c.peer)
        print(
            f"  {prefix + ':':<16} median ≤ {max_us:g} µs: {fmt(worst_us):>8} µs "
            f"{'PASS' if worst_us <= max_us else 'MISS'};   "
            f"≥ {min_speedup:g}× businesstimedelta: {worst_x:>9,.0f}× "
            f"{'PASS' if worst_x >= min_speedup else 'MISS'}"
        )

    disagreements = [c for c in cases if not c.agree]
    if disagreements:
        print(f"\n{len(disagreements)} case(s) where the libraries disagree; see Results.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
