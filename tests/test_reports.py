"""Reports: validation, the generating → completed lifecycle, JSON and CSV results."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supportkit import reports as reports_mod
from supportkit.desk import Desk
from supportkit.errors import NotFound, ValidationError
from supportkit.reports import ReportNotReady, render_csv

from .desk_fixtures import Clock, open_desk
from .test_analytics import NOW, dst_scenario

H = timedelta(hours=1)
RANGE = {"start": "2024-10-28T07:00:00Z", "end": "2024-11-06T08:00:00Z"}


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def desk(backend_url: str, clock: Clock) -> Iterator[Desk]:
    yield from open_desk(backend_url, clock)


@pytest.fixture
def mem_desk(clock: Clock) -> Iterator[Desk]:
    """An in-memory desk, for what no storage can change (validation happens first)."""
    yield from open_desk("sqlite://", clock)


def request_body(**parameters: Any) -> dict[str, Any]:
    return {
        "report_type": "detailed_analytics",
        "parameters": {"date_range": RANGE, **parameters},
        "delivery": {"method": "download", "notification_email": "reports@example.com"},
    }


def completed(desk: Desk, body: dict[str, Any], **options: Any) -> tuple[str, dict[str, Any]]:
    report_id = desk.reports.generate(body, **options)["report"]["id"]
    assert desk.reports.run_pending() == [report_id]
    content_type, data, filename = desk.reports.download(report_id, format="json", **options)
    assert (content_type, filename) == ("application/json", f"{report_id}.json")
    return report_id, json.loads(data)


def config_version(desk: Desk) -> int:
    with desk.storage.read() as tx:
        return tx.config_version()


# -- the lifecycle ----------------------------------------------------------------------------


def test_generate_stores_a_generating_report(desk: Desk) -> None:
    version = config_version(desk)
    answer = desk.reports.generate(request_body(grouping=["category", "week"]))
    report = answer["report"]
    assert report["id"].startswith("report_")
    assert report["status"] == "generating"
    assert report["download_url"] is None
    assert report["estimated_completion"] == "2024-11-06T08:01:00Z"
    assert report["parameters"]["date_range"] == {
        "start": "2024-10-28T07:00:00Z",
        "end": "2024-11-06T08:00:00Z",
    }
    assert report["parameters"]["grouping"] == ["category", "week"]
    assert report["parameters"]["metrics"] == list(reports_mod.METRICS)
    assert report["delivery"]["notification_email"] == "reports@example.com"
    assert desk.reports.get(report["id"]) == answer
    with pytest.raises(ReportNotReady) as caught:
        desk.reports.download(report["id"])
    assert caught.value.status == "generating"
    assert isinstance(caught.value, NotFound)
    # A report is not configuration: the desk's configuration snapshot stays valid.
    assert config_version(desk) == version
    assert desk.events.list() == []


def test_run_pending_completes_reports_with_aggregates(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    first = desk.reports.generate(request_body())["report"]["id"]
    second = desk.reports.generate(request_body(grouping=["category"], format="csv"))
    second_id = second["report"]["id"]
    version = config_version(desk)
    clock.advance(seconds=20)
    assert desk.reports.run_pending(limit=1) == [first]
    assert desk.reports.get(second_id)["report"]["status"] == "generating"
    assert desk.reports.run_pending() == [second_id]
    assert desk.reports.run_pending() == []
    assert config_version(desk) == version
    report = desk.reports.get(first)["report"]
    assert report["status"] == "completed"
    assert report["completed_at"] == "2024-11-06T08:00:20Z"
    assert report["download_url"] == f"/v1/support/reports/{first}/download"
    result = json.loads(desk.reports.download(first)[1])
    # The five tickets of the scenario: 2, 5, 3 and 0.5 hours to resolve, one open.
    assert result["summary"] == {
        "tickets": 5,
        "tickets_resolved": 4,
        "tickets_open": 1,
        "avg_resolution_time_seconds": 9450,
        "avg_resolution_hours": 2.6,
        "sla_compliance": 75.0,
        "sla_met": 3,
        "sla_measured": 4,
        "customer_satisfaction": None,
        "escalation_rate": 0.0,
        "tickets_escalated": 0,
        "first_contact_resolution": 100.0,
        "first_contact_resolved": 4,
    }
    assert result["rows"] == [result["summary"]]
    assert result["report"]["period"]["timezone"] == "UTC"
    content_type, data, filename = desk.reports.download(second_id)
    assert (content_type, filename) == ("text/csv; charset=utf-8", f"{second_id}.csv")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["category"], r["tickets"], r["sla_compliance"]) for r in rows] == [
        ("network", "3", "100.0"),
        ("voice", "2", "50.0"),
    ]
    assert rows[0]["avg_resolution_time_seconds"] == "9000"


def test_tick_completes_reports(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    report_id = desk.reports.generate(
        {
            "report_type": "ticket_volume",
            "parameters": {"date_range": RANGE, "timezone": "America/Los_Angeles"},
        }
    )["report"]["id"]
    desk.tick()
    assert desk.reports.get(report_id)["report"]["status"] == "completed"
    result = json.loads(desk.reports.download(report_id)[1])
    # By local day (Los Angeles), every day of the period, zeros included.
    assert result["columns"] == ["date", "tickets", "tickets_resolved", "tickets_open"]
    assert [(r["date"], r["tickets"]) for r in result["rows"]] == [
        ("2024-10-28", 0),
        ("2024-10-29", 0),
        ("2024-10-30", 0),
        ("2024-10-31", 0),
        ("2024-11-01", 1),
        ("2024-11-02", 0),
        ("2024-11-03", 2),
        ("2024-11-04", 1),
        ("2024-11-05", 1),
    ]
    desk.tick()  # nothing left to do
    assert desk.reports.get(report_id)["report"]["status"] == "completed"


def test_reports_by_week_priority_and_customer(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    clock.now = datetime(2024, 11, 5, 13, 0, tzinfo=UTC)
    open_one = desk.tickets.search({"status": "open"}).items[0]
    desk.tickets.escalate(open_one.id, {"reason": "Customer called", "escalation_level": 1})
    clock.now = NOW
    _, weekly = completed(
        desk,
        request_body(
            grouping=["customer", "week"],
            metrics=["escalation_rate", "resolution_time"],
            timezone="America/Los_Angeles",
        ),
    )
    assert [(r["customer_id"], r["week"], r["tickets"]) for r in weekly["rows"]] == [
        ("cust_1234567890", "2024-W44", 3),
        ("cust_1234567890", "2024-W45", 1),
        ("cust_small", "2024-W45", 1),
    ]
    assert weekly["rows"][1]["escalation_rate"] == 100.0
    assert weekly["rows"][0]["avg_resolution_hours"] == 3.3
    assert weekly["summary"]["escalation_rate"] == 20.0
    _, by_priority = completed(
        desk, request_body(grouping=["priority"], filters={"categories": ["voice"]})
    )
    assert [(r["priority"], r["tickets"]) for r in by_priority["rows"]] == [("medium", 2)]


def test_internal_comments_never_reach_a_report(desk: Desk, clock: Clock) -> None:
    clock.now = NOW - 5 * H
    ticket = desk.tickets.create(
        {"title": "Phones down", "description": "No dial tone", "category": "voice"}
    )
    agent = {"type": "agent", "id": "agent_voice_001"}
    for n in range(3):
        desk.comments.add(
            ticket.id,
            {"content": f"zebracorn secret {n}", "visibility": "internal", "author": agent},
        )
    desk.comments.add(ticket.id, {"content": "Fixed it for you", "author": agent})
    desk.tickets.update(ticket.id, {"status": "resolved", "internal_notes": "zebracorn again"})
    clock.now = NOW
    report_id, result = completed(desk, request_body(grouping=["category", "day"]))
    csv_text = desk.reports.download(report_id, format="csv")[1].decode()
    for text in (json.dumps(result), csv_text):
        assert "zebracorn" not in text
        assert "Fixed it" not in text
    # Internal notes are not replies to the customer: one reply, so a first-contact fix.
    assert result["summary"]["first_contact_resolution"] == 100.0


def test_a_customer_reports_on_its_own_tickets_only(desk: Desk, clock: Clock) -> None:
    dst_scenario(desk, clock)
    report_id, result = completed(desk, request_body(), customer_id="cust_small")
    assert result["summary"]["tickets"] == 1
    assert result["report"]["filters"]["customer_ids"] == ["cust_small"]
    with pytest.raises(NotFound):
        desk.reports.get(report_id, customer_id="cust_1234567890")
    with pytest.raises(NotFound):
        desk.reports.download(report_id, customer_id="cust_1234567890")
    assert desk.reports.get(report_id)["report"]["status"] == "completed"  # an agent
    with pytest.raises(ValidationError) as caught:
        desk.reports.generate(
            request_body(filters={"customer_ids": ["cust_1234567890"]}), customer_id="cust_small"
        )
    assert [e.field for e in caught.value.errors] == ["parameters.filters.customer_ids"]


def test_a_report_that_cannot_be_computed_fails(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> dict[str, Any]:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(reports_mod, "compute", broken)
    report_id = desk.reports.generate(request_body())["report"]["id"]
    assert desk.reports.run_pending() == [report_id]
    report = desk.reports.get(report_id)["report"]
    assert report["status"] == "failed"
    assert report["error"] == "ZeroDivisionError: division by zero"
    assert report["download_url"] is None
    with pytest.raises(ReportNotReady):
        desk.reports.download(report_id)
    assert desk.reports.run_pending() == []  # a failed report is not retried forever


def test_unknown_reports_and_arguments(mem_desk: Desk) -> None:
    with pytest.raises(NotFound):
        mem_desk.reports.get("report_nope")
    with pytest.raises(NotFound):
        mem_desk.reports.download("report_nope")
    report_id = mem_desk.reports.generate(request_body())["report"]["id"]
    with pytest.raises(ValidationError):
        mem_desk.reports.download(report_id, format="xml")
    with pytest.raises(ValidationError):
        mem_desk.reports.run_pending(limit=0)


# -- validation -------------------------------------------------------------------------------


def test_every_bad_field_is_named(mem_desk: Desk) -> None:
    body = {
        "report_type": "everything",
        "parameters": {
            "date_range": {"start": "2024-11-02T00:00:00Z", "end": "2024-11-01T00:00:00Z"},
            "timezone": "Nowhere/Special",
            "filters": {"priorities": ["urgent"], "teams": ["x"], "categories": "network"},
            "metrics": ["resolution_time", "happiness"],
            "grouping": ["day", "week"],
            "format": "xml",
            "colour": "blue",
        },
        "delivery": {"method": "email", "notification_email": "not-an-address"},
        "extra": True,
    }
    with pytest.raises(ValidationError) as caught:
        mem_desk.reports.generate(body)
    assert sorted(e.field for e in caught.value.errors) == sorted(
        [
            "extra",
            "report_type",
            "parameters.colour",
            "parameters.date_range.end",
            "parameters.timezone",
            "parameters.filters.teams",
            "parameters.filters.categories",
            "parameters.filters.priorities[0]",
            "parameters.metrics[1]",
            "parameters.grouping",
            "parameters.format",
            "delivery.method",
            "delivery.notification_email",
        ]
    )
    with mem_desk.storage.read() as tx:
        assert tx.list_documents("report") == []


def sla(parameters: object) -> dict[str, Any]:
    return {"report_type": "sla_compliance", "parameters": parameters}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "report_type"),
        ({"report_type": "sla_compliance"}, "parameters"),
        (sla({}), "parameters.date_range"),
        (sla({"date_range": "30d"}), "parameters.date_range"),
        (sla({"date_range": {"end": "2024-11-01T00:00:00Z"}}), "parameters.date_range.start"),
        (sla([]), "parameters"),
    ],
)
def test_required_fields(mem_desk: Desk, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        mem_desk.reports.generate(body)
    assert field in [e.field for e in caught.value.errors]


def test_report_type_defaults() -> None:
    sla = reports_mod.parse_report(
        {"report_type": "sla_compliance", "parameters": {"date_range": RANGE, "metrics": []}}
    )
    assert (sla.metrics, sla.grouping) == (("sla_compliance",), ("category",))
    volume = reports_mod.parse_report(
        {"report_type": "ticket_volume", "parameters": {"date_range": RANGE}}
    )
    assert (volume.metrics, volume.grouping, volume.format) == ((), ("day",), "json")
    assert reports_mod.parse_report(volume.body()) == volume


def test_csv_cells_are_not_formulas() -> None:
    result = {
        "columns": ["customer_id", "tickets", "sla_compliance"],
        "rows": [
            {"customer_id": '=HYPERLINK("http://x")', "tickets": 1, "sla_compliance": None},
            {"customer_id": "@SUM(A1)", "tickets": 2, "sla_compliance": 50.0},
            {"customer_id": "plain, with comma", "tickets": 3, "sla_compliance": 100.0},
        ],
    }
    rows = list(csv.reader(io.StringIO(render_csv(result))))
    assert rows == [
        ["customer_id", "tickets", "sla_compliance"],
        ['\'=HYPERLINK("http://x")', "1", ""],
        ["'@SUM(A1)", "2", "50.0"],
        ["plain, with comma", "3", "100.0"],
    ]
