"""Example-based tests of :class:`BusinessCalendar`, each checked by hand.

UTC equivalents used below: Los Angeles is UTC-8 (PST) / UTC-7 (PDT), switching on
2024-03-10 at 02:00 PST (10:00 UTC) and 2024-11-03 at 02:00 PDT (09:00 UTC). Lord Howe
is +10:30 / +11:00, switching by 30 minutes at 02:00 local. Kathmandu is +05:45.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from supportkit.calendar import ALWAYS_OPEN_ID, BusinessCalendar
from supportkit.errors import ValidationError

LA = ZoneInfo("America/Los_Angeles")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
H = timedelta(hours=1)
M = timedelta(minutes=1)
NINE_TO_FIVE = [["09:00", "17:00"]]
WEEKDAYS_9_TO_5 = {day: NINE_TO_FIVE for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def la(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=LA, fold=fold)  # type: ignore[misc]


def make(
    hours: dict[str, list[list[str]]], timezone: str = "America/Los_Angeles", **extra: Any
) -> BusinessCalendar:
    return BusinessCalendar.from_dict({"id": "t", "timezone": timezone, "hours": hours, **extra})


def is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


@pytest.fixture
def office() -> BusinessCalendar:
    """Mon–Fri 09:00–17:00 in Los Angeles, no holidays."""
    return make(WEEKDAYS_9_TO_5)


@pytest.fixture
def us_office() -> BusinessCalendar:
    """Mon–Fri 09:00–17:00 in Los Angeles, closed on US federal holidays."""
    return make(WEEKDAYS_9_TO_5, holiday_country="US")


# -- add ------------------------------------------------------------------------------------


def test_add_over_a_weekend(office: BusinessCalendar) -> None:
    # Friday 2024-06-07 16:00 PDT: one hour on Friday, one on Monday from 09:00.
    got = office.add(la(2024, 6, 7, 16), 2 * H)
    assert got == la(2024, 6, 10, 10)
    assert got == utc(2024, 6, 10, 17)
    assert is_utc(got)
    assert office.between(la(2024, 6, 7, 16), got) == 2 * H


def test_add_skips_a_us_holiday(office: BusinessCalendar, us_office: BusinessCalendar) -> None:
    # Wednesday 2024-11-27 16:00 PST; Thursday 28 is Thanksgiving.
    start = la(2024, 11, 27, 16)
    assert us_office.add(start, 2 * H) == la(2024, 11, 29, 10) == utc(2024, 11, 29, 18)
    assert office.add(start, 2 * H) == la(2024, 11, 28, 10)
    assert not us_office.is_open(la(2024, 11, 28, 12))
    assert us_office.between(la(2024, 11, 28), la(2024, 11, 29)) == timedelta(0)


def test_add_zero_is_the_start_even_when_closed(office: BusinessCalendar) -> None:
    saturday = la(2024, 6, 8, 12)
    assert not office.is_open(saturday)
    got = office.add(saturday, timedelta(0))
    assert got == saturday == utc(2024, 6, 8, 19)
    assert is_utc(got)


def test_add_lands_on_the_end_of_an_interval_not_the_next_start(
    office: BusinessCalendar,
) -> None:
    # The earliest instant with 8 h done is Monday 17:00, not Tuesday 09:00.
    assert office.add(la(2024, 6, 10, 9), 8 * H) == la(2024, 6, 10, 17)
    # Starting while closed, business time starts to run at the next opening.
    assert office.add(la(2024, 6, 8, 12), 30 * M) == la(2024, 6, 10, 9, 30)


def test_add_negative_duration_raises(office: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        office.add(la(2024, 6, 10, 9), -M)
    with pytest.raises(ValueError):
        BusinessCalendar.always_open().add(utc(2024, 6, 10), -timedelta(microseconds=1))


def test_add_4000_hours(office: BusinessCalendar) -> None:
    # 40 h a week, so exactly 100 weeks: from Monday 2024-01-01 09:00 PST to the end
    # of Friday 2025-11-28 (17:00 PST, after the DST change back).
    start = la(2024, 1, 1, 9)
    got = office.add(start, 4000 * H)
    assert got == la(2025, 11, 28, 17) == utc(2025, 11, 29, 1)
    assert office.between(start, got) == 4000 * H


def test_add_keeps_microseconds(office: BusinessCalendar) -> None:
    start = la(2024, 6, 10, 16, 59, 59, 999_999)
    got = office.add(start, timedelta(microseconds=2))
    assert got == la(2024, 6, 11, 9, 0, 0, 1)


# -- between --------------------------------------------------------------------------------


def test_between_is_negative_backwards(office: BusinessCalendar) -> None:
    a, b = la(2024, 6, 10, 10), la(2024, 6, 11, 11)
    assert office.between(a, b) == 9 * H
    assert office.between(b, a) == -9 * H
    assert office.between(a, a) == timedelta(0)


def test_between_across_a_year_boundary(office: BusinessCalendar) -> None:
    # Tue 31 Dec 16:00 → Thu 2 Jan 10:00: 1 h + 8 h (1 Jan, no holidays here) + 1 h.
    assert office.between(la(2024, 12, 31, 16), la(2025, 1, 2, 10)) == 10 * H


def test_between_over_three_years(office: BusinessCalendar) -> None:
    # Weekdays: 2024 (leap, starts Monday) 262, 2025 (starts Wednesday) 261,
    # 2026 (starts Thursday) 261.
    assert office.between(la(2024, 1, 1), la(2027, 1, 1)) == (262 + 261 + 261) * 8 * H
    assert office.between(la(2027, 1, 1), la(2024, 1, 1)) == -(262 + 261 + 261) * 8 * H


def test_between_with_holidays_across_a_year(us_office: BusinessCalendar) -> None:
    # Christmas (Wed 25 Dec) and New Year's Day (Wed 1 Jan) are closed.
    a, b = la(2024, 12, 23, 9), la(2025, 1, 4, 9)
    weekdays = 10  # 23–27 Dec and 30 Dec–3 Jan
    assert us_office.between(a, b) == (weekdays - 2) * 8 * H


# -- DST ------------------------------------------------------------------------------------


def test_whole_sunday_is_23_hours_on_spring_forward_and_25_on_fall_back() -> None:
    sundays = make({"sun": [["00:00", "24:00"]]})
    # Saturday noon to Monday noon holds exactly the Sunday.
    assert sundays.between(la(2024, 3, 9, 12), la(2024, 3, 11, 12)) == 23 * H
    assert sundays.between(la(2024, 11, 2, 12), la(2024, 11, 4, 12)) == 25 * H
    assert sundays.between(la(2024, 6, 1, 12), la(2024, 6, 3, 12)) == 24 * H
    assert sundays.open_intervals(la(2024, 11, 2), la(2024, 11, 5)) == [
        (utc(2024, 11, 3, 7), utc(2024, 11, 4, 8))
    ]
    # Adding 24 h from Sunday 2024-03-10 00:00 runs into the next Sunday.
    assert sundays.add(la(2024, 3, 10), 24 * H) == la(2024, 3, 17, 1)


def test_24x7_from_dict_in_a_dst_zone_counts_real_time() -> None:
    always = make(
        {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    )
    assert always.between(la(2024, 3, 10), la(2024, 3, 11)) == 23 * H
    assert always.add(la(2024, 11, 3), 24 * H) == la(2024, 11, 3, 23)


def test_interval_inside_the_spring_forward_gap_is_empty() -> None:
    # 02:00–03:00 on Sunday 2024-03-10 does not exist: both ends are 10:00 UTC.
    cal = make({"sun": [["02:00", "03:00"]]})
    day = (la(2024, 3, 10), la(2024, 3, 11))
    assert cal.between(*day) == timedelta(0)
    assert cal.open_intervals(*day) == []
    assert not cal.is_open(utc(2024, 3, 10, 10))
    # The next Sunday it is an ordinary hour (02:00 PDT = 09:00 UTC).
    assert cal.next_open(la(2024, 3, 10)) == la(2024, 3, 17, 2) == utc(2024, 3, 17, 9)
    assert cal.add(la(2024, 3, 10), H) == utc(2024, 3, 17, 10)


def test_gap_boundaries_resolve_to_the_end_of_the_gap() -> None:
    # 02:30 is in the gap, so it means 03:00 PDT = 10:00 UTC, the end of the gap.
    ends_in_gap = make({"sun": [["01:00", "02:30"]]})
    starts_in_gap = make({"sun": [["02:30", "04:00"]]})
    day = (la(2024, 3, 10), la(2024, 3, 11))
    assert ends_in_gap.open_intervals(*day) == [(utc(2024, 3, 10, 9), utc(2024, 3, 10, 10))]
    assert starts_in_gap.open_intervals(*day) == [(utc(2024, 3, 10, 10), utc(2024, 3, 10, 11))]
    assert ends_in_gap.between(*day) == H
    assert starts_in_gap.between(*day) == H


def test_fold_boundaries_resolve_to_the_first_occurrence() -> None:
    # 01:00–02:00 happens twice on 2024-11-03: 08:00–09:00 UTC (PDT), then 09:00–10:00.
    first_half = make({"sun": [["01:00", "01:30"]]})
    day = (la(2024, 11, 3), la(2024, 11, 4))
    assert first_half.open_intervals(*day) == [(utc(2024, 11, 3, 8), utc(2024, 11, 3, 8, 30))]
    assert first_half.between(*day) == 30 * M
    # 01:30 is its first occurrence but 02:00 exists only once (PST): 90 real minutes.
    second_half = make({"sun": [["01:30", "02:00"]]})
    assert second_half.open_intervals(*day) == [(utc(2024, 11, 3, 8, 30), utc(2024, 11, 3, 10))]
    # The second 01:15 (fold=1, PST) is after the interval closed.
    assert first_half.is_open(la(2024, 11, 3, 1, 15, fold=0))
    assert not first_half.is_open(la(2024, 11, 3, 1, 15, fold=1))


def test_start_given_in_a_fold_or_gap_is_the_instant_python_gives_it() -> None:
    cal = make({"sun": [["00:00", "24:00"]]})
    # Second 01:30 on 2024-11-03 is 09:30 UTC; 30 minutes later it is 10:00 UTC.
    assert cal.add(la(2024, 11, 3, 1, 30, fold=1), 30 * M) == utc(2024, 11, 3, 10)
    assert cal.add(la(2024, 11, 3, 1, 30, fold=0), 30 * M) == utc(2024, 11, 3, 9)
    # 02:30 on 2024-03-10 does not exist; fold=0 reads it with the PST offset.
    assert cal.add(la(2024, 3, 10, 2, 30, fold=0), 30 * M) == utc(2024, 3, 10, 11)
    # PEP 495: an instant in a fold never compares equal across zones, so compare UTC.
    start = la(2024, 11, 3, 1, 30, fold=1)
    assert cal.add(start, timedelta(0)) == start.astimezone(UTC)


def test_lord_howe_thirty_minute_shifts() -> None:
    sundays = make({"sun": [["00:00", "24:00"]]}, timezone="Australia/Lord_Howe")
    # DST ends on 2024-04-07 (02:00 +11:00 → 01:30 +10:30), starts on 2024-10-06
    # (02:00 +10:30 → 02:30 +11:00).
    apr = (datetime(2024, 4, 6, 12, tzinfo=LORD_HOWE), datetime(2024, 4, 8, 12, tzinfo=LORD_HOWE))
    oct_ = (
        datetime(2024, 10, 5, 12, tzinfo=LORD_HOWE),
        datetime(2024, 10, 7, 12, tzinfo=LORD_HOWE),
    )
    assert sundays.between(*apr) == 24 * H + 30 * M
    assert sundays.between(*oct_) == 23 * H + 30 * M

    # A gap of 30 minutes: 02:00–02:15 is empty, 02:15–03:00 is 02:30–03:00 +11:00.
    gap = make({"sun": [["02:00", "02:15"], ["02:15", "03:00"]]}, timezone="Australia/Lord_Howe")
    assert gap.hours["sun"] == ((120, 180),)  # touching intervals merged
    assert gap.open_intervals(*oct_) == [(utc(2024, 10, 5, 15, 30), utc(2024, 10, 5, 16))]
    empty = make({"sun": [["02:00", "02:15"]]}, timezone="Australia/Lord_Howe")
    assert empty.between(*oct_) == timedelta(0)
    # A fold of 30 minutes: 01:30–02:00 runs from the first 01:30 (+11:00, 14:30 UTC)
    # to the only 02:00 (+10:30, 15:30 UTC).
    fold = make({"sun": [["01:30", "02:00"]]}, timezone="Australia/Lord_Howe")
    assert fold.open_intervals(*apr) == [(utc(2024, 4, 6, 14, 30), utc(2024, 4, 6, 15, 30))]


def test_kathmandu_offset() -> None:
    cal = make(WEEKDAYS_9_TO_5, timezone="Asia/Kathmandu")
    # Monday 2024-06-10 09:00 +05:45 is 03:15 UTC.
    assert cal.next_open(utc(2024, 6, 10)) == utc(2024, 6, 10, 3, 15)
    assert cal.add(utc(2024, 6, 10), 8 * H) == utc(2024, 6, 10, 11, 15)
    assert cal.is_open(utc(2024, 6, 10, 3, 15))
    assert not cal.is_open(utc(2024, 6, 10, 3, 14, 59, 999_999))
    assert (
        cal.between(
            datetime(2024, 6, 10, tzinfo=KATHMANDU), datetime(2024, 6, 17, tzinfo=KATHMANDU)
        )
        == 40 * H
    )


# -- is_open / next_open ----------------------------------------------------------------------


def test_next_open_across_a_weekend(office: BusinessCalendar) -> None:
    got = office.next_open(la(2024, 6, 7, 17))  # Friday, the instant it closes
    assert got == la(2024, 6, 10, 9) == utc(2024, 6, 10, 16)
    assert is_utc(got)
    open_now = la(2024, 6, 10, 9, 30)
    assert office.next_open(open_now) == open_now
    assert is_utc(office.next_open(open_now))


def test_next_open_across_a_year_boundary(
    office: BusinessCalendar, us_office: BusinessCalendar
) -> None:
    # Tuesday 2024-12-31 after hours; 1 January is a holiday for us_office.
    evening = la(2024, 12, 31, 18)
    assert office.next_open(evening) == la(2025, 1, 1, 9)
    assert us_office.next_open(evening) == la(2025, 1, 2, 9) == utc(2025, 1, 2, 17)


def test_is_open_edges(office: BusinessCalendar) -> None:
    assert office.is_open(la(2024, 6, 10, 9))
    assert not office.is_open(la(2024, 6, 10, 8, 59, 59, 999_999))
    assert office.is_open(la(2024, 6, 10, 16, 59, 59, 999_999))
    assert not office.is_open(la(2024, 6, 10, 17))


def test_naive_datetimes_raise(office: BusinessCalendar) -> None:
    naive = datetime(2024, 6, 10, 10)
    aware = la(2024, 6, 10, 10)
    for cal in (office, BusinessCalendar.always_open()):
        with pytest.raises(ValueError):
            cal.add(naive, H)
        with pytest.raises(ValueError):
            cal.add(naive, timedelta(0))
        with pytest.raises(ValueError):
            cal.between(naive, aware)
        with pytest.raises(ValueError):
            cal.between(aware, naive)
        with pytest.raises(ValueError):
            cal.is_open(naive)
        with pytest.raises(ValueError):
            cal.next_open(naive)
        with pytest.raises(ValueError):
            cal.open_intervals(naive, aware)


# -- always open ------------------------------------------------------------------------------


def test_always_open_is_plain_arithmetic() -> None:
    cal = BusinessCalendar.always_open()
    assert cal.id == ALWAYS_OPEN_ID
    start = la(2024, 3, 9, 22, 15, 7, 123)
    for duration in (timedelta(0), M, 24 * H, 1000 * H, timedelta(microseconds=1)):
        got = cal.add(start, duration)
        # Plain addition of real time (in UTC: aware local arithmetic is wall-clock).
        assert got == start.astimezone(UTC) + duration
        assert is_utc(got)
        assert cal.between(start, got) == duration
    assert cal.between(la(2024, 3, 10), la(2024, 3, 11)) == 23 * H
    assert cal.is_open(start)
    assert cal.next_open(start) == start
    assert cal.open_intervals(start, start + H) == [(start, start + H)]


# -- shape ------------------------------------------------------------------------------------


def test_touching_intervals_are_merged() -> None:
    cal = make({"mon": [["12:00", "17:00"], ["09:00", "12:00"]], "tue": [["00:00", "24:00"]]})
    assert cal.hours["mon"] == ((540, 1020),)
    assert cal.to_dict()["hours"]["mon"] == [["09:00", "17:00"]]
    assert cal.to_dict()["hours"]["tue"] == [["00:00", "24:00"]]
    assert cal.to_dict()["hours"]["wed"] == []


def test_to_dict_from_dict_round_trip() -> None:
    data = {
        "id": "us_pacific",
        "name": "US Pacific support",
        "timezone": "America/Los_Angeles",
        "hours": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": [["22:00", "24:00"]]},
        "holidays": ["2024-12-24", "2024-12-31"],
        "holiday_country": "US",
        "holiday_subdivision": "CA",
    }
    cal = BusinessCalendar.from_dict(data)
    again = BusinessCalendar.from_dict(cal.to_dict())
    assert again == cal
    assert hash(again) == hash(cal)
    assert again.to_dict() == cal.to_dict()
    assert again.name == "US Pacific support"
    plain = make({"fri": NINE_TO_FIVE})
    assert BusinessCalendar.from_dict(plain.to_dict()) == plain
    always = BusinessCalendar.always_open()
    assert BusinessCalendar.from_dict(always.to_dict()) == always


# -- validation -------------------------------------------------------------------------------


def fields_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        BusinessCalendar.from_dict(data)
    assert isinstance(caught.value, ValueError)
    return [error.field for error in caught.value.errors]


def valid(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "x",
        "timezone": "America/Los_Angeles",
        "hours": {"mon": NINE_TO_FIVE},
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not ...}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(valid(timezone="Mars/Olympus_Mons"), ["timezone"], id="unknown-zone"),
        pytest.param(valid(timezone=""), ["timezone"], id="empty-zone"),
        pytest.param(valid(hours={"funday": NINE_TO_FIVE}), ["hours.funday"], id="unknown-weekday"),
        pytest.param(
            valid(hours={"mon": [["10:00", "09:00"]]}), ["hours.mon[0]"], id="end-before-start"
        ),
        pytest.param(
            valid(hours={"mon": [["09:00", "09:00"]]}), ["hours.mon[0]"], id="empty-interval"
        ),
        pytest.param(
            valid(hours={"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}),
            ["hours.mon[1]"],
            id="overlap",
        ),
        pytest.param(valid(hours={"mon": [["9:00", "17:00"]]}), ["hours.mon[0]"], id="time-9:00"),
        pytest.param(valid(hours={"mon": [["09:00", "24:30"]]}), ["hours.mon[0]"], id="time-24:30"),
        pytest.param(
            valid(hours={"mon": [["24:00", "24:00"]]}), ["hours.mon[0]"], id="start-24:00"
        ),
        pytest.param(valid(hours={"mon": [["09:00", "17:60"]]}), ["hours.mon[0]"], id="time-17:60"),
        pytest.param(valid(hours={"mon": [["09:00"]]}), ["hours.mon[0]"], id="not-a-pair"),
        pytest.param(valid(holidays=["2024-13-01"]), ["holidays[0]"], id="bad-date"),
        pytest.param(
            valid(holidays=["2024-12-25", "25/12/2024"]), ["holidays[1]"], id="bad-date-1"
        ),
        pytest.param(valid(holiday_country="XX"), ["holiday_country"], id="unknown-country"),
        pytest.param(
            valid(holiday_country="US", holiday_subdivision="ZZ"),
            ["holiday_subdivision"],
            id="unknown-subdivision",
        ),
        pytest.param(
            valid(holiday_subdivision="CA"), ["holiday_subdivision"], id="subdivision-alone"
        ),
        pytest.param(valid(colour="blue"), ["colour"], id="unknown-field"),
        pytest.param(valid(id=...), ["id"], id="missing-id"),
        pytest.param(valid(id="  "), ["id"], id="blank-id"),
        pytest.param(valid(hours={}), ["hours"], id="no-hours"),
        pytest.param(valid(hours={"mon": [], "sun": []}), ["hours"], id="all-days-closed"),
        pytest.param(valid(hours=...), ["hours"], id="missing-hours"),
    ],
)
def test_validation_errors_name_the_field(data: dict[str, Any], expected: list[str]) -> None:
    assert fields_of(data) == expected


def test_validation_reports_every_bad_field_at_once() -> None:
    data = valid(
        id=...,
        timezone="Nowhere/Land",
        hours={"mon": [["09:00", "12:00"], ["11:00", "13:00"]], "funday": []},
        holidays=["nope"],
        extra=1,
    )
    assert sorted(fields_of(data)) == sorted(
        ["extra", "id", "timezone", "hours.mon[1]", "hours.funday", "holidays[0]"]
    )


def test_valid_shapes_are_accepted() -> None:
    cal = BusinessCalendar.from_dict(
        valid(hours={"mon": [["00:00", "24:00"]], "sat": []}, holidays=[], name="n")
    )
    assert cal.hours["mon"] == ((0, 1440),)
    assert cal.hours["sat"] == ()
    assert cal.hours["sun"] == ()  # left out: closed
    assert (
        BusinessCalendar.from_dict({"id": "utc", "hours": {"mon": NINE_TO_FIVE}}).timezone == "UTC"
    )
