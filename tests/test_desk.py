"""The Desk over a real SQLite file, with an injected clock."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from supportkit import signals
from supportkit.desk import Desk
from supportkit.errors import (
    AlreadyExists,
    InvalidTransition,
    NotFound,
    TicketNotFound,
    ValidationError,
    VersionConflict,
)
from supportkit.storage import TicketQuery

from .desk_fixtures import PDF, PNG, T0, Clock, b64, open_desk, seed, seed_ticket

H = timedelta(hours=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(backend_url: str, clock: Clock) -> Iterator[Desk]:
    """A seeded desk on a real SQLite file, and on PostgreSQL when one is configured."""
    yield from open_desk(backend_url, clock)


def count_events(desk: Desk) -> int:
    return len(desk.events.list(limit=1000))


def agent(name: str = "agent_network_specialist") -> dict[str, str]:
    return {"type": "agent", "id": name}


# -- create --------------------------------------------------------------------------------


def test_create_routes_numbers_and_starts_the_sla(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    assert ticket.id.startswith("ticket_")
    assert ticket.number == "SK-2024-000001"
    assert ticket.status == "open"
    # The seed's rule: enterprise, high, "down" in the description.
    assert ticket.team == "network_escalation_team"
    assert ticket.routing_rules == ("rule_high_priority_network",)
    assert ticket.assigned_to is not None
    assert ticket.assigned_to.agent_id == "agent_network_specialist"  # skills: network_*
    assert ticket.escalate_after == H
    assert ticket.auto_update_frequency == H / 2
    assert ticket.sla is not None
    assert ticket.sla.response.due_at == T0 + 2 * H
    assert ticket.sla.resolution.due_at == T0 + 8 * H
    assert ticket.sla.tier == "enterprise"
    second = desk.tickets.create(seed_ticket())
    assert second.number == "SK-2024-000002"
    assert desk.tickets.get(ticket.id) == ticket
    assert desk.tickets.get_by_number("SK-2024-000001") == ticket


def test_create_stores_attachments_by_generated_id(desk: Desk) -> None:
    body = seed_ticket(
        attachments=[
            {
                "filename": "../../etc/passwd.pdf",
                "content_type": "application/pdf",
                "data": b64(PDF),
            }
        ]
    )
    ticket = desk.tickets.create(body)
    (meta,) = ticket.attachments
    assert meta.id.startswith("att_")
    assert meta.filename == "passwd.pdf"
    assert meta.sha256 == hashlib.sha256(PDF).hexdigest()
    assert meta.size == len(PDF)
    stored = desk.attachments.get(meta.id)
    assert stored.data == PDF and stored.ticket_id == ticket.id
    with pytest.raises(NotFound):
        desk.attachments.get("att_missing")


def test_create_writes_events_in_order_and_signals_after_commit(desk: Desk) -> None:
    seen: list[tuple[str, int]] = []

    def receiver(sender: Desk, **kwargs: Any) -> None:
        # After the commit: the ticket is readable from a fresh transaction.
        ticket = kwargs["ticket"]
        assert sender.tickets.get(ticket.id) == ticket
        seen.append((kwargs["event"].type, kwargs["event"].seq))

    with (
        signals.ticket_created.connected_to(receiver),
        signals.ticket_assigned.connected_to(receiver),
    ):
        ticket = desk.tickets.create(seed_ticket())
        with pytest.raises(ValidationError):
            desk.tickets.create(seed_ticket(priority="urgent"))
    assert [t for t, _ in seen] == ["ticket.created", "ticket.assigned"]
    events = desk.events.list()
    assert [e.type for e in events] == ["ticket.created", "ticket.assigned"]
    assert events[0].data["ticket"]["number"] == ticket.number
    assert events[0].data["routing"]["rule"]["rule_name"] == "High Priority Network Issues"


def test_signals_pass_the_event_its_ticket_and_its_comment(desk: Desk) -> None:
    received: list[dict[str, Any]] = []

    def receiver(sender: Desk, **kwargs: Any) -> None:
        received.append(kwargs)

    ticket = desk.tickets.create(seed_ticket())
    with (
        signals.comment_added.connected_to(receiver),
        signals.ticket_created.connected_to(receiver),
    ):
        comment = desk.comments.add(ticket.id, {"content": "Looking into it.", "type": "comment"})
        created = desk.tickets.create(seed_ticket())
    assert [sorted(kwargs) for kwargs in received] == [
        ["comment", "event", "ticket"],
        ["event", "ticket"],
    ]
    assert received[0]["comment"] == comment
    assert received[0]["ticket"].id == ticket.id
    assert received[0]["event"].type == "comment.added"
    assert received[1]["ticket"] == created
    assert received[1]["event"].type == "ticket.created"


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"title": ""}, {"title"}),
        ({"title": None, "description": 5}, {"title", "description"}),
        ({"title": "x" * 201}, {"title"}),
        ({"category": "plumbing"}, {"category"}),
        ({"subcategory": "wifi"}, {"subcategory"}),
        ({"priority": "urgent"}, {"priority"}),
        ({"severity": "apocalyptic"}, {"severity"}),
        ({"contact": {"name": "J", "email": "not-an-email"}}, {"contact.email"}),
        ({"contact": {"name": "J", "fax": "1"}}, {"contact.fax"}),
        ({"location": {"timezone": "Mars/Base"}}, {"location.timezone"}),
        ({"metadata": {"blob": "x" * 20000}}, {"metadata"}),
        ({"metadata": [1]}, {"metadata"}),
        ({"colour": "red"}, {"colour"}),
        ({"custom_fields": {"plan": "gold"}}, {"custom_fields.plan"}),
        ({"tags": ["ok", "no spaces allowed here because too long" * 3]}, {"tags[1]"}),
        ({"description": "nul\x00byte"}, {"description"}),
        ({"title": "lone \ud800 surrogate"}, {"title"}),
        (
            {"attachments": [{"filename": "a.pdf", "content_type": "application/pdf",
                              "data": "%%%"}]},
            {"attachments[0].data"},
        ),
        (
            {"attachments": [{"filename": "a.pdf", "content_type": "application/pdf",
                              "data": b64(PNG)}]},
            {"attachments[0].content_type"},
        ),
        (
            {"attachments": [{"filename": "a.exe", "content_type": "application/x-msdownload",
                              "data": b64(b"MZ")}]},
            {"attachments[0].content_type"},
        ),
        (
            {"attachments": [{"filename": "a.pdf", "content_type": "application/pdf",
                              "size": 3, "data": b64(PDF)}]},
            {"attachments[0].size"},
        ),
    ],
)  # fmt: skip
def test_bad_create_names_fields_and_writes_nothing(
    desk: Desk, overrides: dict[str, Any], fields: set[str]
) -> None:
    before = count_events(desk)
    with pytest.raises(ValidationError) as info:
        desk.tickets.create(seed_ticket(**overrides))
    assert {e.field for e in info.value.errors} == fields
    assert count_events(desk) == before
    assert desk.tickets.search().total == 0
    # The number counter did not move either.
    assert desk.tickets.create(seed_ticket()).number.endswith("-000001")


def test_attachment_size_limit_is_configurable(tmp_path: Path, clock: Clock) -> None:
    from supportkit.config import DeskConfig
    from supportkit.validation import Limits

    config = DeskConfig(limits=Limits(attachment_bytes=16))
    with Desk.open(f"sqlite:///{tmp_path / 'x.db'}", clock=clock, config=config) as desk:
        desk.categories.put(
            {"id": "network", "name": "N",
             "sla": {"response_time": "1 hour", "resolution_time": "2 hours"}}
        )  # fmt: skip
        with pytest.raises(ValidationError, match="larger than the limit of 16 bytes"):
            desk.tickets.create(seed_ticket(subcategory=None))


def test_preview_writes_nothing(desk: Desk) -> None:
    preview = desk.tickets.preview(seed_ticket())
    assert preview["routing"]["rule"]["id"] == "rule_high_priority_network"
    assert preview["routing"]["assigned_to"]["agent_id"] == "agent_network_specialist"
    assert preview["sla"]["response_due"] == "2024-11-01T23:30:00Z"
    assert preview["sla"]["resolution_due"] == "2024-11-02T05:30:00Z"
    assert count_events(desk) == 0
    assert desk.tickets.create(seed_ticket()).number.endswith("-000001")


def test_missing_tickets(desk: Desk) -> None:
    with pytest.raises(TicketNotFound):
        desk.tickets.get("ticket_nope")
    with pytest.raises(TicketNotFound):
        desk.tickets.get_by_number("SK-2024-999999")
    with pytest.raises(LookupError):
        desk.tickets.update("ticket_nope", {"status": "in_progress"})


# -- update --------------------------------------------------------------------------------


def test_seed_update_escalates_by_priority_and_keeps_the_named_status(
    desk: Desk, clock: Clock
) -> None:
    ticket = desk.tickets.create(seed_ticket())
    clock.advance(hours=1, minutes=15)
    updated = desk.tickets.update(
        ticket.id,
        {
            "status": "in_progress",
            "priority": "critical",
            "assigned_to": "agent_network_specialist",
            "estimated_resolution": "2024-11-01T20:00:00-07:00",
            "internal_notes": "Circuit provider confirms equipment failure at local POP.",
            "customer_update": "We have identified the issue.",
            "metadata": {"root_cause": "Provider equipment failure", "affected_users": None},
        },
        if_version=ticket.version,
    )
    assert updated.status == "in_progress"
    assert updated.priority == "critical"
    assert updated.escalation.level == 1
    assert updated.escalation.reason == "Priority upgraded to critical"
    assert updated.version == ticket.version + 1
    assert updated.estimated_resolution == T0 + 5.5 * H
    assert updated.metadata["root_cause"] == "Provider equipment failure"
    assert "affected_users" not in updated.metadata
    assert updated.sla is not None and updated.sla.response.stopped_at == clock.now
    assert updated == desk.tickets.get(ticket.id)  # what update returns is what it stored
    comments = desk.comments.list(ticket.id)
    assert [(c.type, c.visibility) for c in comments] == [
        ("internal_note", "internal"),
        ("customer_update", "customer"),
    ]
    assert [c.type for c in desk.comments.list(ticket.id, visibility="customer")] == [
        "customer_update"
    ]
    types = [e.type for e in desk.events.list()]
    assert types[2:] == [
        "ticket.updated",
        "ticket.priority_changed",
        "ticket.escalated",
        "ticket.status_changed",
        "comment.added",
        "comment.added",
    ]
    internal = [e for e in desk.events.list() if e.visibility == "internal"]
    assert len(internal) == 1 and internal[0].data["comment"]["type"] == "internal_note"


def test_update_without_status_moves_an_escalated_ticket_to_escalated(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    updated = desk.tickets.update(ticket.id, {"priority": "critical"})
    assert updated.status == "escalated"


def test_stale_version_conflicts_and_writes_nothing(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    desk.tickets.update(ticket.id, {"status": "in_progress"}, if_version=ticket.version)
    before = count_events(desk)
    with pytest.raises(VersionConflict) as info:
        desk.tickets.update(ticket.id, {"status": "on_hold"}, if_version=ticket.version)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert desk.tickets.get(ticket.id).status == "in_progress"
    assert count_events(desk) == before


def test_illegal_transition_names_the_allowed_ones_and_writes_nothing(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    desk.tickets.update(ticket.id, {"status": "in_progress"})
    before = count_events(desk)
    with pytest.raises(InvalidTransition, match="allowed: waiting_on_customer"):
        desk.tickets.update(ticket.id, {"status": "closed", "internal_notes": "closing"})
    assert count_events(desk) == before
    assert desk.comments.list(ticket.id) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, ""),
        ({"status": "done"}, "status"),
        ({"assigned_to": "agent_ghost"}, "assigned_to"),
        ({"estimated_resolution": "tomorrow"}, "estimated_resolution"),
        ({"estimated_resolution": "2024-11-01T20:00:00"}, "estimated_resolution"),
        ({"escalation_level": 3}, "escalation_level"),
        ({"internal_notes": ""}, "internal_notes"),
    ],
)
def test_bad_updates(desk: Desk, body: dict[str, Any], field: str) -> None:
    ticket = desk.tickets.create(seed_ticket())
    with pytest.raises(ValidationError) as info:
        desk.tickets.update(ticket.id, body)
    assert field in {e.field for e in info.value.errors}
    assert desk.tickets.get(ticket.id) == ticket


def test_bulk_update_reports_each_item(desk: Desk) -> None:
    one = desk.tickets.create(seed_ticket())
    two = desk.tickets.create(seed_ticket())
    results = desk.tickets.bulk_update(
        [
            {"id": one.id, "status": "in_progress"},
            {"id": two.id, "status": "closed", "if_version": 7},
            {"id": "ticket_nope", "status": "in_progress"},
            {"status": "in_progress"},
        ]
    )
    assert [r["ok"] for r in results] == [True, False, False, False]
    assert results[1]["error"]["type"] == "VersionConflict"
    assert results[2]["error"]["type"] == "TicketNotFound"
    assert desk.tickets.get(one.id).status == "in_progress"
    assert desk.tickets.get(two.id).status == "open"


# -- comments --------------------------------------------------------------------------------


def test_agent_reply_is_the_first_response(desk: Desk, clock: Clock) -> None:
    ticket = desk.tickets.create(seed_ticket())
    clock.advance(minutes=30)
    desk.comments.add(ticket.id, {"content": "note", "visibility": "internal", "author": agent()})
    assert desk.tickets.get(ticket.id).sla.response.stopped_at is None  # type: ignore[union-attr]
    clock.advance(minutes=15)
    comment = desk.comments.add(
        ticket.id,
        {
            "content": "Circuit provider replaced the equipment.",
            "type": "customer_update",
            "visibility": "customer",
            "author": {"type": "agent", "id": "agent_network_specialist", "name": "Michael Chen"},
            "attachments": [
                {"filename": "circuit_test_results.png", "content_type": "image/png",
                 "data": b64(PNG)}
            ],
            "metadata": {"update_type": "progress_update"},
        },
    )  # fmt: skip
    assert comment.author.email == "michael.chen@example.com"
    assert comment.attachments[0].id.startswith("att_")
    assert desk.attachments.get(comment.attachments[0].id).comment_id == comment.id
    sla = desk.tickets.sla(ticket.id)
    assert sla["response_time"]["status"] == "met"
    assert sla["response_time"]["actual"] == "45 minutes"


def test_customer_replies_follow_the_lifecycle(desk: Desk, clock: Clock) -> None:
    ticket = desk.tickets.create(seed_ticket())
    desk.tickets.update(ticket.id, {"status": "waiting_on_customer"})
    customer = {"type": "customer", "name": "John Smith"}
    desk.comments.add(ticket.id, {"content": "Here is the log", "author": customer})
    assert desk.tickets.get(ticket.id).status == "in_progress"
    desk.tickets.update(ticket.id, {"status": "resolved"})
    desk.comments.add(ticket.id, {"content": "Still broken", "author": customer})
    assert desk.tickets.get(ticket.id).status == "open"
    assert "ticket.reopened" in [e.type for e in desk.events.list()]
    desk.tickets.update(ticket.id, {"status": "closed"})
    reply = desk.comments.add(ticket.id, {"content": "It is back!", "author": customer})
    assert reply.ticket_id != ticket.id
    follow_up = desk.tickets.get(reply.ticket_id)
    assert follow_up.title.startswith("Follow-up: ")
    assert follow_up.linked_tickets == (ticket.id,)
    assert follow_up.customer_id == ticket.customer_id
    assert desk.tickets.get(ticket.id).linked_tickets == (follow_up.id,)
    assert desk.tickets.get(ticket.id).status == "closed"


def test_customer_comments_cannot_be_internal(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    with pytest.raises(ValidationError):
        desk.comments.add(
            ticket.id, {"content": "x", "visibility": "internal", "author": {"type": "customer"}}
        )
    with pytest.raises(ValidationError):
        desk.comments.add(
            ticket.id, {"content": "x", "type": "internal_note", "visibility": "customer"}
        )


# -- search ----------------------------------------------------------------------------------


def test_search_filters_sort_and_pages(desk: Desk, clock: Clock) -> None:
    made = []
    for i in range(7):
        clock.advance(minutes=10)
        customer = "cust_1234567890" if i % 2 == 0 else "cust_small"
        made.append(
            desk.tickets.create(
                seed_ticket(customer_id=customer, priority=["low", "high"][i % 2],
                            title=f"Ticket {i}", attachments=[])
            )
        )  # fmt: skip
    desk.tickets.update(made[0].id, {"status": "in_progress"})
    page = desk.tickets.search(
        {"customer_id": "cust_1234567890", "status": ["open", "in_progress"]},
        sort={"field": "created_at", "order": "desc"},
        page=1,
        limit=2,
    )
    assert page.total == 4 and page.pages == 2
    assert [t.title for t in page] == ["Ticket 6", "Ticket 4"]
    second = desk.tickets.search({"customer_id": "cust_1234567890"}, page=2, limit=2, order="desc")
    assert [t.title for t in second] == ["Ticket 2", "Ticket 0"]
    flat = desk.tickets.search({"status": "in_progress"})
    assert [t.id for t in flat] == [made[0].id]
    assert desk.tickets.search({"priority": "high,critical"}).total == 3
    assert desk.tickets.search(sort="priority", order="asc").items[0].priority == "low"
    assert desk.tickets.search({"created_after": "2024-11-01T22:00:00Z"}).total == 5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sort": "title; DROP TABLE tickets"}, "sort.field"),
        ({"sort": {"field": "created_at", "order": "sideways"}}, "sort.order"),
        ({"limit": 101}, "pagination.limit"),
        ({"limit": 0}, "pagination.limit"),
        ({"page": 0}, "pagination.page"),
        ({"filters": {"colour": "red"}}, "filters.colour"),
        ({"filters": {"status": "pending"}}, "filters.status"),
        ({"filters": {"created_after": "yesterday"}}, "filters.created_after"),
    ],
)
def test_bad_searches_are_validation_errors(desk: Desk, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        desk.tickets.search(**kwargs)
    assert field in {e.field for e in info.value.errors}


def test_text_search_respects_internal_notes(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    desk.tickets.update(ticket.id, {"internal_notes": "the vendor is Zanzibar Telecom"})
    assert desk.tickets.search(q="zanzibar").total == 1
    assert desk.tickets.search(q="zanzibar", include_internal=False).total == 0
    assert desk.tickets.search(q="MPLS connection").total == 1
    assert desk.tickets.search(q='"unbalanced AND (NEAR*').total == 0


def test_customer_scope_sees_only_its_tickets(desk: Desk) -> None:
    mine = desk.tickets.create(seed_ticket(customer_id="cust_small"))
    desk.tickets.create(seed_ticket())
    scoped = desk.tickets.search(customer_id="cust_small")
    assert [t.id for t in scoped] == [mine.id]
    other = desk.tickets.search({"customer_id": "cust_1234567890"}, customer_id="cust_small")
    assert other.total == 0


# -- escalation and timers -------------------------------------------------------------------------


def test_manual_escalation(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    escalated = desk.tickets.escalate(
        ticket.id,
        {
            "escalation_level": 3,
            "reason": "Customer request - business critical impact",
            "notify": ["escalation-team@example.com"],
            "metadata": {"customer_escalation": True},
            "comments": "Customer CEO called directly.",
        },
    )
    assert escalated.status == "escalated" and escalated.escalation.level == 3
    event = next(e for e in desk.events.list() if e.type == "ticket.escalated")
    assert event.data["notify"] == ["escalation-team@example.com"]
    assert desk.comments.list(ticket.id)[0].visibility == "internal"
    with pytest.raises(ValidationError):
        desk.tickets.escalate(ticket.id, {"escalation_level": 2, "reason": "lower"})
    desk.tickets.update(ticket.id, {"status": "resolved"})
    with pytest.raises(InvalidTransition):
        desk.tickets.escalate(ticket.id, {"reason": "too late"})


def test_tick_fires_each_timer_once(desk: Desk, clock: Clock) -> None:
    ticket = desk.tickets.create(seed_ticket())
    assert desk.tick().fired == ()
    clock.advance(hours=1, minutes=31)
    report = desk.tick()
    keys = [key for _, key in report.fired]
    assert keys == ["update_due", "escalate_after", "response.at_risk"]
    assert report.escalations == 2
    assert desk.tick().fired == ()
    after = desk.tickets.get(ticket.id)
    assert after.status == "escalated" and after.escalation.level == 2
    assert after.version == ticket.version + 1
    clock.advance(hours=7)
    keys = [key for _, key in desk.tick().fired]
    assert keys == ["response.breached", "update_due", "resolution.at_risk", "resolution.breached"]
    types = [e.type for e in desk.events.list(limit=1000)]
    assert types.count("sla.breached") == 2 and types.count("sla.at_risk") == 2


# -- merge, notify, events, resources ------------------------------------------------------------


def test_merge_moves_comments_and_links(desk: Desk) -> None:
    source = desk.tickets.create(seed_ticket())
    target = desk.tickets.create(seed_ticket())
    desk.comments.add(
        source.id, {"content": "internal", "visibility": "internal", "author": agent()}
    )
    desk.comments.add(source.id, {"content": "public", "author": agent()})
    joined = desk.tickets.merge(source.id, into=target.id)
    assert joined.linked_tickets == (source.id,)
    closed = desk.tickets.get(source.id)
    assert closed.status == "closed" and closed.merged_into == target.id
    assert [(c.content, c.visibility) for c in desk.comments.list(target.id)] == [
        ("internal", "internal"),
        ("public", "customer"),
    ]
    assert desk.comments.list(source.id) == []
    with pytest.raises(ValidationError):
        desk.tickets.merge(target.id, into=target.id)
    with pytest.raises(InvalidTransition):
        desk.tickets.merge(source.id, into=target.id)
    with pytest.raises(ValidationError):
        desk.tickets.merge(target.id, into=source.id)


def test_notify_queues_a_notification(desk: Desk) -> None:
    ticket = desk.tickets.create(seed_ticket())
    queued = desk.tickets.notify(
        ticket.id,
        {"type": "sms", "recipients": [{"phone": "+1-555-123-4567", "name": "John Smith"}],
         "message": "Update: equipment replaced. Reply STOP to opt out."},
    )  # fmt: skip
    assert queued["status"] == "queued" and queued["id"].startswith("ntf_")
    event = desk.events.list()[-1]
    assert event.type == "notification.requested"
    assert event.data["notification"]["id"] == queued["id"]
    with pytest.raises(ValidationError):
        desk.tickets.notify(ticket.id, {"type": "sms", "recipients": [{"email": "a@b.co"}],
                                        "message": "x"})  # fmt: skip


def test_events_page_in_order(desk: Desk) -> None:
    for _ in range(3):
        desk.tickets.create(seed_ticket())
    everything = desk.events.list()
    assert len(everything) == 6
    first = desk.events.list(limit=2)
    rest = desk.events.list(after=first[-1].id)
    assert [e.id for e in first + rest] == [e.id for e in everything]
    assert [e.seq for e in everything] == sorted(e.seq for e in everything)  # type: ignore[type-var]
    with pytest.raises(ValidationError):
        desk.events.list(after="evt_unknown")
    history = desk.tickets.history(everything[0].ticket_id or "")
    assert [e.type for e in history] == ["ticket.created", "ticket.assigned"]


def test_resources(desk: Desk) -> None:
    assert [c.id for c in desk.categories.list()] == ["network", "voice"]
    with pytest.raises(ValidationError, match="is not configured"):
        desk.categories.put(
            {"id": "x", "name": "X",
             "sla": {"response_time": "1h", "resolution_time": "2h", "calendar": "mars"}}
        )  # fmt: skip
    desk.categories.put(
        {"id": "x", "name": "X",
         "sla": {"response_time": "1h", "resolution_time": "2h", "calendar": "us_pacific"}}
    )  # fmt: skip
    with pytest.raises(ValidationError, match="in use by x"):
        desk.calendars.delete("us_pacific")
    with pytest.raises(ValidationError):
        desk.calendars.delete("24x7")
    assert desk.calendars.get("24x7").id == "24x7"
    desk.categories.delete("x")
    desk.calendars.delete("us_pacific")
    with pytest.raises(NotFound):
        desk.calendars.get("us_pacific")
    rule = desk.routing_rules.create({"rule_name": "Second", "actions": {"add_tags": ["b"]}})
    assert rule.id.startswith("rule_")
    assert [r.rule_name for r in desk.routing_rules.list()] == [
        "High Priority Network Issues",
        "Second",
    ]
    with pytest.raises(AlreadyExists):
        desk.routing_rules.create({"id": rule.id, "rule_name": "dup"})
    with pytest.raises(NotFound):
        desk.teams.delete("nope")


def test_open_picks_backend_by_scheme(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no storage backend for 'mongodb'"):
        Desk.open("mongodb://localhost/x")
    monkeypatch.setenv("SUPPORTKIT_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with Desk.open() as desk:
        assert desk.storage.path == str(tmp_path / "env.db")  # type: ignore[attr-defined]


def test_a_naive_clock_is_refused(tmp_path: Path) -> None:
    from datetime import datetime

    desk = Desk.open("sqlite://", clock=lambda: datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="aware"):
        desk.now()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_command_uses_configuration_another_desk_has_just_changed(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock, backend: str
) -> None:
    # A desk goes on with the configuration of its last command and checks before
    # committing that it is still current; when it is not, the command runs again.
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'support.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(
            contextlib.closing(seed(Desk.open(url, clock=clock, load_entrypoints=False)))
        )
        other = stack.enter_context(
            contextlib.closing(Desk.open(url, clock=clock, load_entrypoints=False))
        )
        before = first.tickets.create(seed_ticket(attachments=[]))  # configuration read
        assert before.sla is not None
        network = other.categories.get("network")
        faster = attrs.evolve(network.sla, response_time=timedelta(minutes=7))
        other.categories.put(attrs.evolve(network, sla=faster, subcategories=()))
        changed = first.tickets.create(seed_ticket(attachments=[], subcategory=None))
        assert changed.sla is not None
        assert changed.sla.response.target == timedelta(minutes=7)  # not what it had cached
        billing = attrs.evolve(network, id="billing", name="Billing", subcategories=())
        other.categories.put(billing)
        made = first.tickets.create(
            seed_ticket(attachments=[], category="billing", subcategory=None)
        )  # a category the desk had not seen: no ValidationError
        assert made.category == "billing"
        with first.storage.read() as tx:  # the retried commands wrote each ticket once
            assert tx.search_tickets(TicketQuery(now=clock.now)).total == 3
