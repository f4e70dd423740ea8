"""Custom reports: ``POST /v1/support/reports/generate``, computed asynchronously.

::

    report = desk.reports.generate({
        "report_type": "detailed_analytics",
        "parameters": {
            "date_range": {"start": "2024-10-01T00:00:00Z", "end": "2024-11-01T00:00:00Z"},
            "timezone": "America/Los_Angeles",           # of day/week groups; UTC by default
            "filters": {"customer_ids": [...], "categories": [...], "priorities": [...]},
            "metrics": ["resolution_time", "sla_compliance", "escalation_rate"],
            "grouping": ["category", "week"],
            "format": "json",                            # or "csv"
        },
        "delivery": {"method": "download", "notification_email": "reports@example.com"},
    })
    report["report"]["status"]                          # "generating"
    desk.tick()                                         # a worker computes it ...
    desk.reports.get(report_id)["report"]["status"]     # ... "completed" (or "failed")
    content_type, data, filename = desk.reports.download(report_id)

A report is validated (every bad field is named), stored as a
:class:`~supportkit.storage.Document` with status ``generating``, and computed later
by :meth:`Reports.run_pending`, which :meth:`Desk.tick <supportkit.desk.Desk.tick>`
calls — one transaction per report, so concurrent workers never compute the same one.
The result is stored in both renderings, JSON and CSV; the status becomes
``completed``, or ``failed`` with the reason in ``error``.

What a report holds: a ``summary`` and ``rows``, one per group of ``grouping``
(``category``, ``priority``, ``customer``, ``day``, ``week`` — day and week in the
report's timezone; at most one of the two). Rows exist for the groups that have
tickets; a report grouped by ``day`` or ``week`` alone has every day or week of the
period, zeros included. Every row counts ``tickets`` (created in the period),
``tickets_resolved`` and ``tickets_open``, then the ``metrics`` asked for:

- ``resolution_time``: ``avg_resolution_time_seconds`` and ``avg_resolution_hours``
  (wall-clock time from creation to resolution, as on the dashboard);
- ``sla_compliance``: the percentage of resolved tickets with a resolution target
  that met it, with ``sla_met`` and ``sla_measured``;
- ``customer_satisfaction``: always ``null`` (supportkit collects no CSAT yet);
- ``escalation_rate``: the percentage of tickets with an escalation level above 0,
  with ``tickets_escalated``;
- ``first_contact_resolution``: the percentage of resolved tickets that got at most
  one customer-visible comment from an agent, with ``first_contact_resolved``.

Defaults by ``report_type``: ``detailed_analytics`` has every metric and no grouping;
``sla_compliance`` always has ``sla_compliance`` (and by default ``resolution_time``),
grouped by category; ``ticket_volume`` has the counts alone, grouped by day.

Reports are computed with the storage's aggregate queries
(:meth:`~supportkit.storage.Transaction.ticket_stats`): no ticket is loaded, and no
comment's content (internal or not) can reach a report — comments are only counted.
CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``) are prefixed with ``'``.

``delivery.notification_email`` is validated and kept with the report; sending that
e-mail is left to the notification dispatcher (not built yet). ``download`` is the
only delivery method.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from .analytics import (
    Bucket,
    boundaries,
    hours,
    iso_weeks,
    local_days,
    parse_period,
    parse_timezone,
    percent,
)
from .desk import _retrying
from .errors import FieldError, NotFound, StorageError, ValidationError
from .ids import new_id
from .models import PRIORITIES, format_instant
from .storage import Document, StatsQuery, TicketStats

if TYPE_CHECKING:
    from .desk import Desk
    from .storage import Transaction

__all__ = [
    "FORMATS",
    "GROUPINGS",
    "METRICS",
    "REPORT_TYPES",
    "ReportNotReady",
    "ReportRequest",
    "Reports",
    "compute",
    "parse_report",
    "render_csv",
]

REPORT_TYPES: Final = ("detailed_analytics", "sla_compliance", "ticket_volume")
METRICS: Final = (
    "resolution_time",
    "sla_compliance",
    "customer_satisfaction",
    "escalation_rate",
    "first_contact_resolution",
)
GROUPINGS: Final = ("category", "week", "day", "priority", "customer")
FORMATS: Final = ("json", "csv")
#: The document kind reports are stored as.
KIND: Final = "report"
#: How long a report is expected to take: until a worker's next tick.
ESTIMATE: Final = timedelta(minutes=1)

_DEFAULT_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "detailed_analytics": METRICS,
    "sla_compliance": ("sla_compliance", "resolution_time"),
    "ticket_volume": (),
}
_DEFAULT_GROUPING: Final[dict[str, tuple[str, ...]]] = {
    "detailed_analytics": (),
    "sla_compliance": ("category",),
    "ticket_volume": ("day",),
}
_GROUP_COLUMN: Final = {"category": "category", "priority": "priority", "customer": "customer_id"}
_MAX_FILTER_VALUES: Final = 100
_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_BODY_FIELDS: Final = ("report_type", "parameters", "delivery")


class ReportNotReady(NotFound):
    """A report that cannot be downloaded (yet): it is still generating, or failed.

    A :class:`~supportkit.errors.NotFound`, so an API answers 404 unless it tells
    this case apart; ``status`` says where the report stands.
    """

    def __init__(self, report_id: str, status: str) -> None:
        super().__init__("report download", report_id)
        self.status = status
        self.args = (f"report {report_id!r} is {status}: there is nothing to download",)


@attrs.frozen
class ReportRequest:
    """A validated report request (:func:`parse_report` builds it)."""

    report_type: str
    start: datetime
    end: datetime
    timezone: str
    customer_ids: tuple[str, ...]
    categories: tuple[str, ...]
    priorities: tuple[str, ...]
    metrics: tuple[str, ...]
    grouping: tuple[str, ...]
    format: str
    notification_email: str | None
    #: The customer whose caller asked for the report, if it was a customer.
    customer_id: str | None = None

    def parameters(self) -> dict[str, Any]:
        """The request's ``parameters`` as JSON, with every default filled in."""
        return {
            "date_range": {"start": format_instant(self.start), "end": format_instant(self.end)},
            "timezone": self.timezone,
            "filters": {
                "customer_ids": list(self.customer_ids),
                "categories": list(self.categories),
                "priorities": list(self.priorities),
            },
            "metrics": list(self.metrics),
            "grouping": list(self.grouping),
            "format": self.format,
        }

    def body(self) -> dict[str, Any]:
        """A request body that :func:`parse_report` reads back into this request."""
        return {
            "report_type": self.report_type,
            "parameters": self.parameters(),
            "delivery": {"method": "download", "notification_email": self.notification_email},
        }


class _Errors:
    def __init__(self) -> None:
        self.found: list[FieldError] = []

    def fail(self, field: str, message: str) -> None:
        self.found.append(FieldError(field, message))

    def mapping(self, value: object, field: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(field, "expected an object")
            return {}
        for key in value:
            if key not in allowed:
                self.fail(f"{field}.{key}" if field else str(key), "unknown field")
        return value

    def strings(
        self, value: object, field: str, *, choices: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            self.fail(field, "expected a list of strings")
            return ()
        if len(value) > _MAX_FILTER_VALUES:
            self.fail(field, f"at most {_MAX_FILTER_VALUES} values")
            return ()
        found: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip() or len(item) > 200:
                self.fail(f"{field}[{i}]", "expected a non-empty string")
            elif choices is not None and item not in choices:
                self.fail(f"{field}[{i}]", f"{item!r} is not one of: {', '.join(choices)}")
            else:
                found.append(item)
        return tuple(dict.fromkeys(found))


def parse_report(body: object, *, customer_id: str | None = None) -> ReportRequest:
    """Validate the seed's report body (see the module docstring).

    :param customer_id: the customer a customer-role caller is bound to: the report
        then covers that customer's tickets only, and naming any other is an error.
    :raises ValidationError: listing every bad field by its path
        (``parameters.date_range.end``, ``parameters.metrics[1]``, …).
    """
    errors = _Errors()
    if not isinstance(body, Mapping):
        raise ValidationError.for_field("", "the report request must be a JSON object")
    errors.mapping(body, "", _BODY_FIELDS)
    report_type = body.get("report_type")
    if report_type is None:
        errors.fail("report_type", "required")
    elif report_type not in REPORT_TYPES:
        errors.fail("report_type", f"{report_type!r} is not one of: {', '.join(REPORT_TYPES)}")
    raw_parameters = body.get("parameters")
    if raw_parameters is None:
        errors.fail("parameters", "required")
    parameters = errors.mapping(
        raw_parameters,
        "parameters",
        ("date_range", "timezone", "filters", "metrics", "grouping", "format"),
    )
    start = end = None
    if raw_parameters is not None and isinstance(raw_parameters, Mapping):
        try:
            # Presets are relative to a clock; a stored report must mean one period.
            start, end = parse_period(
                parameters.get("date_range"),
                now=_EPOCH,
                field="parameters.date_range",
                presets=False,
            )
        except ValidationError as exc:
            errors.found.extend(exc.errors)
    timezone = parameters.get("timezone", "UTC")
    try:
        zone = parse_timezone(timezone, field="parameters.timezone")
    except ValidationError as exc:
        errors.found.extend(exc.errors)
        zone = None
    filters = errors.mapping(
        parameters.get("filters"),
        "parameters.filters",
        ("customer_ids", "categories", "priorities"),
    )
    customer_ids = errors.strings(filters.get("customer_ids"), "parameters.filters.customer_ids")
    if customer_id is not None:
        if customer_ids not in ((), (customer_id,)):
            errors.fail(
                "parameters.filters.customer_ids", "a customer reports on its own tickets only"
            )
        customer_ids = (customer_id,)
    categories = errors.strings(filters.get("categories"), "parameters.filters.categories")
    priorities = errors.strings(
        filters.get("priorities"), "parameters.filters.priorities", choices=PRIORITIES
    )
    kind = report_type if report_type in REPORT_TYPES else "detailed_analytics"
    metrics: tuple[str, ...] = _DEFAULT_METRICS[kind]
    if parameters.get("metrics") is not None:
        metrics = errors.strings(parameters["metrics"], "parameters.metrics", choices=METRICS)
    if kind == "sla_compliance" and "sla_compliance" not in metrics:
        metrics = ("sla_compliance", *metrics)
    grouping: tuple[str, ...] = _DEFAULT_GROUPING[kind]
    if parameters.get("grouping") is not None:
        grouping = errors.strings(parameters["grouping"], "parameters.grouping", choices=GROUPINGS)
        if "day" in grouping and "week" in grouping:
            errors.fail("parameters.grouping", "group by day or by week, not both")
    output = parameters.get("format", "json")
    if output not in FORMATS:
        errors.fail("parameters.format", f"{output!r} is not one of: {', '.join(FORMATS)}")
    delivery = errors.mapping(body.get("delivery"), "delivery", ("method", "notification_email"))
    method = delivery.get("method", "download")
    if method != "download":
        errors.fail("delivery.method", f"{method!r} is not one of: download")
    email = delivery.get("notification_email")
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        errors.fail("delivery.notification_email", "not an e-mail address")
    if errors.found:
        raise ValidationError.from_errors(errors.found)
    assert start is not None and end is not None and zone is not None
    return ReportRequest(
        report_type=str(report_type),
        start=start,
        end=end,
        timezone=zone.key,
        customer_ids=customer_ids,
        categories=categories,
        priorities=priorities,
        metrics=metrics,
        grouping=grouping,
        format=str(output),
        notification_email=email,
        customer_id=customer_id,
    )


# -- computing a report --------------------------------------------------------------------


def _metric_columns(metrics: Sequence[str]) -> list[str]:
    columns = ["tickets", "tickets_resolved", "tickets_open"]
    for metric in metrics:
        columns += {
            "resolution_time": ["avg_resolution_time_seconds", "avg_resolution_hours"],
            "sla_compliance": ["sla_compliance", "sla_met", "sla_measured"],
            "customer_satisfaction": ["customer_satisfaction"],
            "escalation_rate": ["escalation_rate", "tickets_escalated"],
            "first_contact_resolution": ["first_contact_resolution", "first_contact_resolved"],
        }[metric]
    return columns


def _measures(stats: TicketStats, metrics: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tickets": stats.total,
        "tickets_resolved": stats.resolved,
        "tickets_open": stats.open,
    }
    for metric in metrics:
        if metric == "resolution_time":
            row["avg_resolution_time_seconds"] = (
                stats.resolution_us // stats.resolved // 1_000_000 if stats.resolved else None
            )
            row["avg_resolution_hours"] = hours(stats.resolution_us, stats.resolved)
        elif metric == "sla_compliance":
            row["sla_compliance"] = percent(stats.sla_met, stats.sla_measured)
            row["sla_met"] = stats.sla_met
            row["sla_measured"] = stats.sla_measured
        elif metric == "customer_satisfaction":
            row["customer_satisfaction"] = None
        elif metric == "escalation_rate":
            row["escalation_rate"] = percent(stats.escalated, stats.total)
            row["tickets_escalated"] = stats.escalated
        elif metric == "first_contact_resolution":
            row["first_contact_resolution"] = percent(stats.first_contact, stats.resolved)
            row["first_contact_resolved"] = stats.first_contact
    return row


def compute(
    tx: Transaction,
    request: ReportRequest,
    *,
    report_id: str,
    now: datetime,
    done_statuses: Sequence[str],
) -> dict[str, Any]:
    """A report's JSON result, from the storage's aggregates in ``tx``."""
    zone = parse_timezone(request.timezone)
    buckets: list[Bucket] = []
    time_column = None
    if "day" in request.grouping:
        buckets, time_column = local_days(request.start, request.end, zone), "date"
    elif "week" in request.grouping:
        buckets, time_column = iso_weeks(request.start, request.end, zone), "week"
    group_by = tuple("bucket" if name in ("day", "week") else name for name in request.grouping)
    base = StatsQuery(
        start=request.start,
        end=request.end,
        done_statuses=tuple(done_statuses),
        customer_ids=request.customer_ids,
        categories=request.categories,
        priorities=request.priorities,
    )
    (summary,) = tx.ticket_stats(base)
    group_columns = [
        time_column if name in ("day", "week") else _GROUP_COLUMN[name] for name in request.grouping
    ]
    if group_by:
        found = tx.ticket_stats(
            attrs.evolve(base, group_by=group_by, buckets=boundaries(buckets) if buckets else ())
        )
        if group_by == ("bucket",):
            by_index = {stats.group[0]: stats for stats in found}
            found = [by_index.get(i) or TicketStats((i,)) for i in range(len(buckets))]
    else:
        found = [summary]

    def order(stats: TicketStats) -> tuple[Any, ...]:
        key: list[Any] = []
        for name, value in zip(group_by, stats.group, strict=True):
            if name == "priority":
                key.append(PRIORITIES.index(str(value)))
            elif name == "bucket":
                key.append(value)
            else:
                key.append((value is not None, str(value or "")))
        return tuple(key)

    rows = []
    for stats in sorted(found, key=order):
        row: dict[str, Any] = {}
        for column, name, value in zip(group_columns, group_by, stats.group, strict=True):
            row[str(column)] = buckets[int(value or 0)].label if name == "bucket" else value
        row.update(_measures(stats, request.metrics))
        rows.append(row)
    return {
        "report": {
            "id": report_id,
            "report_type": request.report_type,
            "generated_at": format_instant(now),
            "period": {
                "start": format_instant(request.start),
                "end": format_instant(request.end),
                "timezone": request.timezone,
            },
            "filters": request.parameters()["filters"],
            "metrics": list(request.metrics),
            "grouping": list(request.grouping),
        },
        "columns": [str(c) for c in group_columns] + _metric_columns(request.metrics),
        "summary": _measures(summary, request.metrics),
        "rows": rows,
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA):
        return "'" + text  # not a formula in a spreadsheet
    return text


def render_csv(result: Mapping[str, Any]) -> str:
    """A report's rows as CSV text (a header line, then one line per row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = list(result["columns"])
    writer.writerow(columns)
    for row in result["rows"]:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()


# -- the service -----------------------------------------------------------------------------


class Reports:
    """``desk.reports``: generate, compute, read and download reports."""

    #: Where the API serves a completed report (``download_url`` of the report view).
    DOWNLOAD_PATH: Final = "/v1/support/reports/{id}/download"

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @_retrying
    def generate(
        self, body: Mapping[str, Any], *, customer_id: str | None = None
    ) -> dict[str, Any]:
        """Validate and store a report request; it is computed later (``run_pending``).

        Returns ``{"report": {"id": "report_…", "status": "generating",
        "estimated_completion", "download_url": null, "parameters": {…}, …}}``.

        :param customer_id: the customer a customer-role caller is bound to.
        :raises ValidationError: listing every bad field; nothing is stored.
        """
        request = parse_report(body, customer_id=customer_id)
        now = self._desk.now()
        report_id = new_id("report")
        data = {
            **request.body(),
            "id": report_id,
            "status": "generating",
            "customer_id": customer_id,
            "created_at": format_instant(now),
            "estimated_completion": format_instant(now + ESTIMATE),
            "completed_at": None,
            "error": None,
            "result": None,
        }
        with self._desk.storage.write() as tx:
            tx.insert_document(
                Document(kind=KIND, id=report_id, data=data, created_at=now, status="generating")
            )
        return {"report": self._view(data)}

    def get(self, report_id: str, *, customer_id: str | None = None) -> dict[str, Any]:
        """``{"report": {…}}``: where a report stands (``generating``, ``completed``
        with its ``download_url``, or ``failed`` with its ``error``).

        :param customer_id: a customer-role caller sees only its own reports.
        :raises NotFound: no such report (or not this customer's).
        """
        return {"report": self._view(self._data(report_id, customer_id))}

    def download(
        self, report_id: str, *, format: str | None = None, customer_id: str | None = None
    ) -> tuple[str, bytes, str]:
        """A completed report as ``(content_type, data, filename)``, in the format it
        asked for or in ``format`` (``json`` or ``csv``).

        :raises NotFound: no such report (or not this customer's).
        :raises ReportNotReady: the report is still generating, or failed.
        :raises ValidationError: an unknown ``format``.
        """
        if format is not None and format not in FORMATS:
            raise ValidationError.for_field("format", f"expected one of: {', '.join(FORMATS)}")
        data = self._data(report_id, customer_id)
        if data["status"] != "completed" or not data.get("result"):
            raise ReportNotReady(report_id, str(data["status"]))
        chosen = format or data["parameters"]["format"]
        if chosen == "csv":
            return "text/csv; charset=utf-8", data["result"]["csv"].encode(), f"{report_id}.csv"
        text = json.dumps(data["result"]["json"], ensure_ascii=False, indent=2)
        return "application/json", text.encode(), f"{report_id}.json"

    def run_pending(self, *, limit: int = 10) -> list[str]:
        """Compute up to ``limit`` reports that are ``generating``, oldest first; returns
        the ids of those that finished (``completed`` or ``failed``).

        Each report is one write transaction that claims it (so two workers never
        compute the same one), runs the aggregate queries and stores the result. A
        report whose computation raises is marked ``failed`` with the reason; a
        storage failure rolls its transaction back and leaves it for the next run.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError.for_field("limit", "expected a positive integer")
        with self._desk.storage.read() as tx:
            if not tx.list_documents(KIND, status="generating", limit=1):
                return []
        finished: list[str] = []
        while len(finished) < limit:
            done = self._run_one()
            if done is None:
                break
            finished.append(done)
        return finished

    @_retrying
    def _run_one(self) -> str | None:
        desk = self._desk
        now = desk.now()
        with desk.storage.write() as tx:
            claimed = tx.list_documents(KIND, status="generating", limit=1, claim=True)
            if not claimed:
                return None
            document = claimed[0]
            data = dict(document.data)
            try:
                body = {key: data[key] for key in _BODY_FIELDS}
                request = parse_report(body, customer_id=data.get("customer_id"))
                result = compute(
                    tx,
                    request,
                    report_id=document.id,
                    now=now,
                    done_statuses=sorted(desk.config.lifecycle.stop_statuses),
                )
                data["result"] = {"json": result, "csv": render_csv(result)}
                data["status"], data["error"] = "completed", None
            except StorageError:
                raise
            except Exception as exc:  # a report must fail, not block the queue
                data["status"], data["error"] = "failed", f"{type(exc).__name__}: {exc}"
            data["completed_at"] = format_instant(now)
            tx.update_document(KIND, document.id, data=data, status=data["status"])
        return document.id

    # -- helpers --------------------------------------------------------------------------

    def _data(self, report_id: str, customer_id: str | None) -> dict[str, Any]:
        if not isinstance(report_id, str):
            raise NotFound(KIND, str(report_id))
        with self._desk.storage.read() as tx:
            document = tx.get_document(KIND, report_id)
        if document is None or (
            customer_id is not None and document.data.get("customer_id") != customer_id
        ):
            raise NotFound(KIND, report_id)
        return document.data

    def _view(self, data: Mapping[str, Any]) -> dict[str, Any]:
        completed = data["status"] == "completed"
        return {
            "id": data["id"],
            "report_type": data["report_type"],
            "status": data["status"],
            "created_at": data["created_at"],
            "estimated_completion": data["estimated_completion"],
            "completed_at": data["completed_at"],
            "download_url": self.DOWNLOAD_PATH.format(id=data["id"]) if completed else None,
            "error": data["error"],
            "parameters": data["parameters"],
            "delivery": data["delivery"],
        }
