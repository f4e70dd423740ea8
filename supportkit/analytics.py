"""Support analytics: the dashboard of ``GET /v1/support/analytics/dashboard``.

``desk.analytics.dashboard(customer_id=None, date_range="30d", timezone="UTC")``
answers the seed's dashboard shape. What its numbers mean:

- **The period** is ``[start, end)``. A preset (``7d``, ``30d``, ``90d``, ``1y`` =
  365 days) ends at the desk clock's now (or the ``now`` given); ``{"start", "end"}``
  names two ISO 8601 instants. At most :data:`MAX_PERIOD` long.
- **The tickets counted** are those *created* in the period (of one customer, if
  given), as they stand now. ``total_tickets`` counts them; ``tickets_resolved``
  those that have a resolution (resolved, or resolved and then closed — a reopened
  ticket is not resolved); ``tickets_open`` those whose status is not a stop status
  of the desk's lifecycle (``resolved``, ``closed``). A ticket closed without being
  resolved (merged, say) is in neither of the last two.
- **Resolution time** is wall-clock time from creation to resolution — not business
  time, and pauses are not taken out: it is what the customer waited. Averages are
  over resolved tickets, ``null`` when there are none; ``avg_resolution_time`` reads
  ``"4.2 hours"`` (one decimal) and ``avg_resolution_time_seconds`` is its exact twin,
  in whole seconds.
- **SLA compliance** is the percentage (one decimal) of resolved tickets with a
  resolution target whose resolution clock stopped in time (state ``met``); ``null``
  when no resolved ticket had a target.
- **Customer satisfaction** is ``null``: supportkit does not collect CSAT ratings yet.
- **Trends** are in the caller's IANA ``timezone``: ``tickets_per_day`` has every
  local date that overlaps the period, zeros included, counting tickets by the local
  date they were created on; ``resolution_time_trend`` has every ISO week (Monday to
  Sunday, local time) that overlaps the period, with the average resolution time in
  hours of the tickets created that week that are resolved (``avg_hours`` is ``null``
  for a week without any).

Everything is computed by the storage with aggregate queries
(:meth:`~supportkit.storage.Transaction.ticket_stats`), never by loading tickets. The
timezone never reaches the database: local days and weeks are turned into UTC ranges
here, with :mod:`zoneinfo` — a local date is the real time between its midnight and
the next one (23 or 25 hours around a DST change; a midnight that does not exist is
the end of the gap) — and the storage counts tickets by range, which is exact.

The helpers of this module (:func:`parse_period`, :func:`parse_timezone`,
:func:`local_midnight`, :func:`local_days`, :func:`iso_weeks`, :func:`percent`,
:func:`hours`) are pure: they take ``now`` and read no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .errors import ValidationError
from .models import format_instant
from .storage import StatsQuery, TicketStats
from .validation import parse_instant

if TYPE_CHECKING:
    from .desk import Desk

__all__ = [
    "MAX_PERIOD",
    "PRESETS",
    "Analytics",
    "Bucket",
    "boundaries",
    "hours",
    "iso_weeks",
    "local_days",
    "local_midnight",
    "parse_customer",
    "parse_period",
    "parse_timezone",
    "percent",
    "resolution_view",
]

#: The ``date_range`` presets and how far back from now each one reaches.
PRESETS: Final = {
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}
#: The longest period a dashboard or report may cover (about three years).
MAX_PERIOD: Final = timedelta(days=1100)

_DAY: Final = timedelta(days=1)
_WEEK: Final = timedelta(days=7)
_US_PER_HOUR: Final = Decimal(3_600_000_000)
_TENTH: Final = Decimal("0.1")


# -- pure helpers --------------------------------------------------------------------------


def parse_timezone(value: object, *, field: str = "timezone") -> ZoneInfo:
    """The IANA timezone named ``value`` (``"America/Los_Angeles"``, ``"UTC"``).

    :raises ValidationError: naming ``field``, when it is not a known IANA name.
    """
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationError.for_field(field, f"expected an IANA timezone name, got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError.for_field(field, f"unknown IANA timezone {value!r}") from None


def parse_period(
    value: object, *, now: datetime, field: str = "date_range", presets: bool = True
) -> tuple[datetime, datetime]:
    """The period ``[start, end)`` a ``date_range`` names, as aware UTC instants.

    ``value`` is a preset of :data:`PRESETS` (ending at ``now``; only when ``presets``)
    or a mapping ``{"start": …, "end": …}`` of ISO 8601 instants with a timezone.

    :raises ValidationError: naming ``field`` (or ``field.start``/``field.end``): an
        unknown preset, a missing or malformed instant, an end not after the start, or
        a period longer than :data:`MAX_PERIOD`.
    """
    if isinstance(value, str) and presets:
        delta = PRESETS.get(value.strip())
        if delta is None:
            raise ValidationError.for_field(
                field,
                f"expected one of {', '.join(PRESETS)} or {{start, end}}, got {value!r}",
            )
        end = now.astimezone(UTC)
        return end - delta, end
    if not isinstance(value, Mapping):
        expected = f"one of {', '.join(PRESETS)} or " if presets else ""
        raise ValidationError.for_field(field, f"expected {expected}an object {{start, end}}")
    unknown = [str(key) for key in value if key not in ("start", "end")]
    if unknown:
        raise ValidationError.for_field(f"{field}.{unknown[0]}", "unknown field")
    bounds: list[datetime] = []
    for name in ("start", "end"):
        if value.get(name) is None:
            raise ValidationError.for_field(f"{field}.{name}", "required")
        bounds.append(parse_instant(value[name], f"{field}.{name}"))
    start, end = bounds
    if end <= start:
        raise ValidationError.for_field(f"{field}.end", "must be after the start")
    if end - start > MAX_PERIOD:
        raise ValidationError.for_field(field, f"at most {MAX_PERIOD.days} days long")
    return start, end


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant (aware, UTC) that local ``day`` begins in ``zone``.

    Where midnight falls in a DST gap the day begins at the end of the gap (the first
    local time that exists); where it falls in a fold, at its first occurrence.
    """
    naive = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - a local wall time
    first = naive.replace(tzinfo=zone, fold=0)
    before = first.utcoffset()
    after = naive.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    if before >= after:
        return first.astimezone(UTC)
    # A gap: the clock jumps from `before` to `after` somewhere in (local - after,
    # local - before]; the day begins at that jump.
    epoch = naive.replace(tzinfo=UTC).timestamp()
    lo, hi = int(epoch - after.total_seconds()), int(epoch - before.total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@attrs.frozen
class Bucket:
    """A local day or ISO week, as the part ``[start, end)`` of it inside a period."""

    label: str
    start: datetime
    end: datetime


def _buckets(
    start: datetime, end: datetime, zone: ZoneInfo, *, first_day: date, step: timedelta
) -> list[Bucket]:
    last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
    found: list[Bucket] = []
    day = first_day
    while day <= last_day:
        lo = max(start, local_midnight(day, zone))
        hi = min(end, local_midnight(day + step, zone))
        if lo < hi:
            if step == _DAY:
                label = day.isoformat()
            else:
                year, week, _ = day.isocalendar()
                label = f"{year}-W{week:02d}"
            found.append(Bucket(label, lo, hi))
        day += step
    return found


def local_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[Bucket]:
    """Every local date of ``zone`` that overlaps ``[start, end)``, in order, each cut
    to the period; labels are ISO dates (``2024-11-03``)."""
    first = start.astimezone(zone).date()
    return _buckets(start, end, zone, first_day=first, step=_DAY)


def iso_weeks(start: datetime, end: datetime, zone: ZoneInfo) -> list[Bucket]:
    """Every ISO week (Monday 00:00 to Monday 00:00, local time in ``zone``) that
    overlaps ``[start, end)``, in order, each cut to the period; labels read
    ``2024-W44`` (the ISO year, which differs from the calendar year around 1 January).
    """
    first = start.astimezone(zone).date()
    monday = first - timedelta(days=first.weekday())
    return _buckets(start, end, zone, first_day=monday, step=_WEEK)


def boundaries(buckets: Sequence[Bucket]) -> tuple[datetime, ...]:
    """The increasing instants that separate consecutive ``buckets`` (for
    :class:`~supportkit.storage.StatsQuery`); ``()`` for no buckets."""
    if not buckets:
        return ()
    return (buckets[0].start, *(bucket.end for bucket in buckets))


def percent(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, rounded half up to one decimal; ``None`` when
    ``whole`` is 0."""
    if whole <= 0:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(_TENTH, rounding=ROUND_HALF_UP)
    return float(value)


def hours(microseconds: int, count: int) -> float | None:
    """The average of ``count`` durations summing to ``microseconds``, in hours rounded
    half up to one decimal; ``None`` when ``count`` is 0."""
    if count <= 0:
        return None
    value = (Decimal(microseconds) / count / _US_PER_HOUR).quantize(_TENTH, rounding=ROUND_HALF_UP)
    return float(value)


def resolution_view(stats: TicketStats) -> dict[str, Any]:
    """``avg_resolution_time`` (``"4.2 hours"``) and its twin in whole seconds."""
    average = hours(stats.resolution_us, stats.resolved)
    if average is None:
        return {"avg_resolution_time": None, "avg_resolution_time_seconds": None}
    return {
        "avg_resolution_time": f"{average:.1f} hours",
        "avg_resolution_time_seconds": stats.resolution_us // stats.resolved // 1_000_000,
    }


def parse_customer(value: object, *, field: str = "customer_id") -> str | None:
    """A customer id filter: ``None`` or a non-empty string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError.for_field(field, "expected a customer id")
    return value


# -- the service -------------------------------------------------------------------------


class Analytics:
    """``desk.analytics``: support metrics computed by the storage. See the module
    docstring for what each number means."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    def dashboard(
        self,
        *,
        customer_id: str | None = None,
        date_range: str | Mapping[str, Any] = "30d",
        timezone: str = "UTC",
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The seed's dashboard: ``{"dashboard": {"period", "overview", "categories",
        "trends"}}``.

        :param customer_id: only this customer's tickets (a customer's own view).
        :param date_range: ``7d``, ``30d``, ``90d``, ``1y``, or ``{"start", "end"}``.
        :param timezone: the IANA timezone of the daily and weekly trends.
        :param now: where a preset period ends; the desk's clock by default.
        :raises ValidationError: naming the bad argument (``date_range``,
            ``timezone``, ``customer_id``, ``now``).
        """
        if now is None:
            now = self._desk.now()
        elif not isinstance(now, datetime) or now.utcoffset() is None:
            raise ValidationError.for_field("now", "expected an aware datetime")
        customer = parse_customer(customer_id)
        zone = parse_timezone(timezone)
        start, end = parse_period(date_range, now=now)
        days = local_days(start, end, zone)
        weeks = iso_weeks(start, end, zone)
        base = StatsQuery(
            start=start,
            end=end,
            done_statuses=tuple(sorted(self._desk.config.lifecycle.stop_statuses)),
            customer_ids=(customer,) if customer is not None else (),
        )
        with self._desk.storage.read() as tx:
            (overview,) = tx.ticket_stats(base)
            by_category = tx.ticket_stats(attrs.evolve(base, group_by=("category",)))
            per_day = tx.ticket_stats(
                attrs.evolve(base, group_by=("bucket",), buckets=boundaries(days))
            )
            per_week = tx.ticket_stats(
                attrs.evolve(base, group_by=("bucket",), buckets=boundaries(weeks))
            )
        daily = {stats.group[0]: stats for stats in per_day}
        weekly = {stats.group[0]: stats for stats in per_week}
        categories = sorted(by_category, key=lambda s: (-s.total, str(s.group[0])))
        return {
            "dashboard": {
                "period": {
                    "start": format_instant(start),
                    "end": format_instant(end),
                    "timezone": zone.key,
                },
                "overview": {
                    "total_tickets": overview.total,
                    "tickets_resolved": overview.resolved,
                    "tickets_open": overview.open,
                    **resolution_view(overview),
                    "sla_compliance": percent(overview.sla_met, overview.sla_measured),
                    "customer_satisfaction": None,
                },
                "categories": [
                    {
                        "category": stats.group[0],
                        "count": stats.total,
                        **resolution_view(stats),
                        "sla_compliance": percent(stats.sla_met, stats.sla_measured),
                    }
                    for stats in categories
                ],
                "trends": {
                    "tickets_per_day": [
                        {"date": day.label, "count": _stats_of(daily, i).total}
                        for i, day in enumerate(days)
                    ],
                    "resolution_time_trend": [
                        {
                            "week": week.label,
                            "avg_hours": hours(
                                _stats_of(weekly, i).resolution_us, _stats_of(weekly, i).resolved
                            ),
                            "tickets_resolved": _stats_of(weekly, i).resolved,
                        }
                        for i, week in enumerate(weeks)
                    ],
                },
            }
        }


def _stats_of(found: Mapping[Any, TicketStats], index: int) -> TicketStats:
    return found.get(index) or TicketStats((index,))
