from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportkit.durations import format_compact, format_duration, parse_duration, seconds
from supportkit.errors import InvalidDuration, ValidationError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 hours", timedelta(hours=2)),
        ("1 hour", timedelta(hours=1)),
        ("90 minutes", timedelta(minutes=90)),
        ("45 minutes", timedelta(minutes=45)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("6 hours 15 minutes", timedelta(hours=6, minutes=15)),
        ("1 hour and 30 minutes", timedelta(hours=1, minutes=30)),
        ("1 day", timedelta(days=1)),
        ("2 days", timedelta(days=2)),
        ("1.5 hours", timedelta(hours=1, minutes=30)),
        ("30 seconds", timedelta(seconds=30)),
        ("PT2H30M", timedelta(hours=2, minutes=30)),
        ("pt45m", timedelta(minutes=45)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P1W", timedelta(weeks=1)),
        ("PT0.5H", timedelta(minutes=30)),
        ("7200", timedelta(hours=2)),
        (7200, timedelta(hours=2)),
        (0, timedelta(0)),
        (90.5, timedelta(seconds=90, microseconds=500000)),
        (timedelta(minutes=5), timedelta(minutes=5)),
        ("  2 HOURS ", timedelta(hours=2)),
    ],
)
def test_parse_accepts_the_documented_forms(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "two hours",
        "2 parsecs",
        "PT",
        "P",
        "P1Y",
        "P1M",
        "-5",
        "-2 hours",
        "2 hours ago",
        "h",
        True,
        None,
        [],
        float("nan"),
        float("inf"),
        -1,
        timedelta(seconds=-1),
        "1e9 hours",
    ],
)
def test_parse_refuses_with_a_typed_error_naming_the_text(bad: object) -> None:
    with pytest.raises(InvalidDuration) as info:
        parse_duration(bad, field="response_time")
    assert isinstance(info.value, ValidationError)
    assert isinstance(info.value, ValueError)
    assert info.value.errors[0].field == "response_time"
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize(
    ("value", "human", "compact"),
    [
        (timedelta(hours=2), "2 hours", "2h"),
        (timedelta(hours=1), "1 hour", "1h"),
        (timedelta(minutes=45), "45 minutes", "45m"),
        (timedelta(minutes=1), "1 minute", "1m"),
        (timedelta(hours=6, minutes=15), "6 hours 15 minutes", "6h 15m"),
        (timedelta(hours=6, minutes=45), "6 hours 45 minutes", "6h 45m"),
        (timedelta(hours=1, minutes=1), "1 hour 1 minute", "1h 1m"),
        (timedelta(days=1, hours=12), "36 hours", "36h"),
        (timedelta(seconds=59), "0 minutes", "0m"),
        (timedelta(0), "0 minutes", "0m"),
        (timedelta(minutes=90, seconds=59), "1 hour 30 minutes", "1h 30m"),
        (-timedelta(minutes=90), "-1 hour 30 minutes", "-1h 30m"),
        (7200, "2 hours", "2h"),
    ],
)
def test_format_reads_like_the_seed(value: timedelta, human: str, compact: str) -> None:
    assert format_duration(value) == human
    assert format_compact(value) == compact


def test_seconds_twin_floors_towards_zero() -> None:
    assert seconds(timedelta(seconds=90, microseconds=999999)) == 90
    assert seconds(-timedelta(seconds=90, microseconds=1)) == -90


@given(st.integers(min_value=0, max_value=10_000_000))
def test_formatted_minutes_parse_back(total: int) -> None:
    minutes_only = timedelta(minutes=total // 60)
    assert parse_duration(format_duration(minutes_only)) == minutes_only
    assert parse_duration(format_compact(minutes_only)) == minutes_only
