"""Shared hypothesis strategies and fixtures for the core's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from supportkit.calendar import BusinessCalendar

WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}

CALENDARS = {
    "24x7": BusinessCalendar.always_open(),
    "us_pacific": BusinessCalendar.from_dict(
        {
            "id": "us_pacific",
            "timezone": "America/Los_Angeles",
            "hours": WEEKDAYS_9_TO_5,
            "holiday_country": "US",
        }
    ),
    "london_split": BusinessCalendar.from_dict(
        {
            "id": "london_split",
            "timezone": "Europe/London",
            "hours": {
                "mon": [["08:00", "12:00"], ["13:00", "18:00"]],
                "tue": [["08:00", "12:00"], ["13:00", "18:00"]],
                "wed": [["00:00", "24:00"]],
                "sat": [["00:30", "02:30"]],
            },
            "holidays": ["2025-12-25", "2026-03-25"],
        }
    ),
}

calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)

instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))

steps = st.integers(min_value=0, max_value=5 * 24 * 60).map(lambda m: timedelta(minutes=m))
targets = st.integers(min_value=1, max_value=80 * 60).map(lambda m: timedelta(minutes=m))
