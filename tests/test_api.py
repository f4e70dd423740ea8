"""The Support API over real HTTP, through both adapters.

Every test runs against the Flask adapter and the Django adapter (each under waitress,
see :mod:`tests.api_fixtures`) and asserts the same statuses and bodies; the ``any_client``
tests run on PostgreSQL too. The seed's flows come first, in the seed's order, then
authentication and the customer's view, then bad input, then concurrency.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .desk_fixtures import PDF, PNG, b64, seed_ticket

if TYPE_CHECKING:
    from .api_fixtures import Api

# The servers and the ``client`` / ``any_client`` fixtures.
pytest_plugins = ["tests.api_fixtures"]

PREFIX = "/v1/support"
PROBLEM = "application/problem+json"
CUSTOMER = "cust_1234567890"  # the customer key's
OTHER_CUSTOMER = "cust_small"  # the other customer key's


# -- helpers -----------------------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a successful response (and its content type checked)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json"
    return response.json()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 body of a refusal."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors", [])}


def each(cases: Iterable[Any], check: Callable[..., None]) -> None:
    """Run ``check(*case)`` for every case and report every case that fails, not just
    the first (cases share one server and database, which keeps the suite fast)."""
    failures = []
    for case in cases:
        try:
            check(*case)
        except AssertionError as exc:
            failures.append(f"{case!r}: {exc}")
    assert not failures, "\n".join(failures)


def create(api: Api, **overrides: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = ok(api.post("/tickets", seed_ticket(**overrides)), 201)["ticket"]
    return ticket


def snapshot(api: Api) -> tuple[int, str | None]:
    """How many tickets there are and the last event, asked over HTTP: compare before
    and after a refused request to see that nothing was written."""
    total = ok(api.get("/tickets?limit=1"))["pagination"]["total"]
    events = ok(api.get("/events?limit=1000"))["events"]
    return total, events[-1]["id"] if events else None


SEED_UPDATE: dict[str, Any] = {
    "status": "in_progress",
    "priority": "critical",
    "assigned_to": "agent_network_specialist",
    "estimated_resolution": "2024-11-01T20:00:00Z",
    "internal_notes": (
        "Escalated to network engineering team. Circuit provider confirms equipment"
        " failure at local POP."
    ),
    "customer_update": (
        "We have identified the issue and are working with our circuit provider to resolve"
        " the equipment failure. We expect resolution within 6 hours."
    ),
    "metadata": {
        "root_cause": "Provider equipment failure",
        "escalation_level": 2,
        "vendor_ticket": "ISP-2024-567890",
    },
}

SEED_COMMENT: dict[str, Any] = {
    "content": (
        "Circuit provider has replaced the failed equipment. Testing connectivity now."
        " Will provide update within 30 minutes."
    ),
    "type": "customer_update",
    "visibility": "customer",
    "author": {"type": "agent", "id": "agent_network_specialist", "name": "Michael Chen"},
    "attachments": [
        {"filename": "circuit_test_results.png", "content_type": "image/png", "data": b64(PNG)}
    ],
    "metadata": {"update_type": "progress_update", "next_update_eta": "2024-11-01T16:30:00Z"},
}

SEED_EMAIL: dict[str, Any] = {
    "type": "email",
    "recipients": [
        {"email": "john.smith@example.com", "name": "John Smith", "role": "primary_contact"},
        {"email": "it-team@example.com", "name": "IT Team", "role": "notification_list"},
    ],
    "template": "status_update",
    "subject": "Update on Network Connectivity Issue - Ticket #SF-2024-001234",
    "variables": {
        "customer_name": "John Smith",
        "ticket_number": "SF-2024-001234",
        "status": "In Progress",
        "expected_resolution": "2024-11-01T20:00:00Z",
        "next_update": "2024-11-01T18:00:00Z",
    },
    "include_comments": True,
    "comment_filter": "customer_visible",
}

SEED_SMS: dict[str, Any] = {
    "type": "sms",
    "recipients": [{"phone": "+1-555-123-4567", "name": "John Smith"}],
    "message": (
        "SOLVEFORCE Update: Network issue #SF-2024-001234 - Equipment replaced, testing in"
        " progress. ETA: 8PM. Reply STOP to opt out."
    ),
}

SEED_RULE: dict[str, Any] = {
    "rule_name": "High Priority Network Issues",
    "conditions": {
        "category": "network",
        "priority": ["high", "critical"],
        "keywords": ["outage", "down", "offline"],
        "customer_tier": "enterprise",
    },
    "actions": {
        "assign_to": "network_escalation_team",
        "notify": ["network-oncall@example.com", "management@example.com"],
        "escalate_after": "1 hour",
        "auto_update_frequency": "30 minutes",
    },
    "active": True,
}

SEED_ESCALATION: dict[str, Any] = {
    "escalation_level": 3,
    "reason": "Customer request - business critical impact",
    "notify": ["escalation-team@example.com", "customer-success@example.com"],
    "metadata": {
        "business_impact": "Complete office offline",
        "customer_escalation": True,
        "executive_sponsor": "jane.doe@example.com",
    },
    "comments": (
        "Customer CEO called directly. This is affecting their quarterly board meeting preparation."
    ),
}


# -- the seed, flow by flow ----------------------------------------------------------------------


def test_seed_walkthrough(any_client: Api) -> None:
    api = any_client
    base = f"{api.base_url}{PREFIX}"

    # Create New Ticket, with an attachment.
    response = api.post("/tickets", seed_ticket())
    ticket = ok(response, 201)["ticket"]
    tid = ticket["id"]
    assert re.fullmatch(r"ticket_[a-z0-9]+", tid)
    assert re.fullmatch(r"SK-2024-\d{6}", ticket["number"])
    assert response.headers["location"] == f"{base}/tickets/{tid}"
    assert response.headers["etag"] == f'"{tid}-v1"'
    for name in (
        "id", "number", "title", "status", "priority", "severity", "category", "subcategory",
        "created_at", "updated_at", "customer_id", "assigned_to", "contact", "sla", "urls",
    ):  # fmt: skip
        assert name in ticket, name
    assert ticket["status"] == "open"
    assert ticket["priority"] == "high"
    assert ticket["severity"] == "business_impacting"
    assert (ticket["category"], ticket["subcategory"]) == ("network", "connectivity")
    assert ticket["created_at"] == ticket["updated_at"] == "2024-11-01T21:30:00Z"
    assert ticket["customer_id"] == CUSTOMER
    assert ticket["contact"] == seed_ticket()["contact"]
    assert set(ticket["assigned_to"]) == {"agent_id", "name", "email", "specialization"}
    assert ticket["team"] == "network_escalation_team"  # the seed's rule: "down" is a keyword
    sla = ticket["sla"]
    assert (sla["response_time"], sla["resolution_time"]) == ("2 hours", "8 hours")
    assert sla["response_due"] == "2024-11-01T23:30:00Z"
    assert sla["resolution_due"] == "2024-11-02T05:30:00Z"
    assert ticket["urls"] == {
        "self": f"{base}/tickets/{tid}",
        "customer_portal": f"https://support.example.test/tickets/{ticket['number']}",
    }
    [pdf] = ticket["attachments"]
    assert (pdf["filename"], pdf["content_type"], pdf["size"]) == (
        "network_diagnostics.pdf",
        "application/pdf",
        len(PDF),
    )
    assert pdf["download_url"] == f"{base}/attachments/{pdf['id']}"

    # Get Single Ticket.
    response = api.get(f"/tickets/{tid}")
    assert ok(response)["ticket"] == ticket
    assert response.headers["etag"] == f'"{tid}-v1"'

    # A second ticket, five minutes later, for the searches' order.
    api.clock.advance(minutes=5)
    later = create(api, title="Voice quality poor", category="voice", subcategory="call_quality")

    # Get Customer Tickets.
    listed = ok(api.get(f"/tickets?customer_id={CUSTOMER}&status=open&limit=50"))
    assert [t["id"] for t in listed["tickets"]] == [later["id"], tid]
    assert listed["pagination"] == {"total": 2, "page": 1, "limit": 50, "pages": 1}

    # Advanced Ticket Search, both ways.
    found = ok(
        api.get(
            "/tickets/search?status=open,in_progress&sort=created_at&order=desc&page=1&limit=25"
        )
    )
    assert [t["id"] for t in found["tickets"]] == [later["id"], tid]
    assert found["pagination"] == {"total": 2, "page": 1, "limit": 25, "pages": 1}
    agent = ticket["assigned_to"]["agent_id"]
    body = {
        "filters": {
            "customer_id": CUSTOMER,
            "status": ["open", "in_progress"],
            "priority": ["high", "critical"],
            "created_after": "2024-10-01T00:00:00Z",
            "category": "network",
            "assigned_to": agent,
        },
        "sort": {"field": "created_at", "order": "desc"},
        "pagination": {"page": 1, "limit": 25},
    }
    found = ok(api.post("/tickets/search", body))
    assert found["pagination"] == {"total": 1, "page": 1, "limit": 25, "pages": 1}
    [item] = found["tickets"]
    assert (item["id"], item["number"], item["title"]) == (tid, ticket["number"], ticket["title"])
    assert (item["status"], item["priority"]) == ("open", "high")
    assert item["assigned_to"]["name"] == ticket["assigned_to"]["name"]
    assert item["assigned_to"]["email"] == ticket["assigned_to"]["email"]
    assert item["sla_status"]["response_met"] is None  # not yet responded to
    assert item["sla_status"]["resolution_due"] == "2024-11-02T05:30:00Z"
    assert item["sla_status"]["time_remaining"] == "7h 55m"

    # Update Ticket Status and Information: the priority upgrade escalates.
    api.clock.advance(hours=1, minutes=10)
    response = api.put(f"/tickets/{tid}", SEED_UPDATE, headers={"If-Match": f'"{tid}-v1"'})
    updated = ok(response)["ticket"]
    assert response.headers["etag"] == f'"{tid}-v2"'
    assert (updated["id"], updated["number"]) == (tid, ticket["number"])
    assert (updated["status"], updated["priority"]) == ("in_progress", "critical")
    assert updated["updated_at"] == "2024-11-01T22:45:00Z"
    assert updated["assigned_to"] == {
        "agent_id": "agent_network_specialist",
        "name": "Michael Chen",
        "email": "michael.chen@example.com",
        "specialization": "network_engineering",
    }
    assert updated["sla"]["response_met"] is True  # the customer_update answered
    assert updated["sla"]["escalated"] is True
    assert updated["sla"]["escalation_reason"] == "Priority upgraded to critical"
    assert updated["escalation_level"] == 1
    assert updated["metadata"]["vendor_ticket"] == "ISP-2024-567890"
    assert updated["estimated_resolution"] == "2024-11-01T20:00:00Z"

    # Add Comment to Ticket, with an attachment.
    api.clock.advance(minutes=15)
    comment = ok(api.post(f"/tickets/{tid}/comments", SEED_COMMENT), 201)["comment"]
    assert re.fullmatch(r"comment_[a-z0-9]+", comment["id"])
    assert comment["ticket_id"] == tid
    assert comment["content"] == SEED_COMMENT["content"]
    assert (comment["type"], comment["visibility"]) == ("customer_update", "customer")
    assert comment["created_at"] == "2024-11-01T23:00:00Z"
    assert comment["author"] == {
        "type": "agent",
        "id": "agent_network_specialist",
        "name": "Michael Chen",
        "email": "michael.chen@example.com",
    }
    [png] = comment["attachments"]
    assert (png["filename"], png["content_type"], png["size"]) == (
        "circuit_test_results.png",
        "image/png",
        len(PNG),
    )
    assert png["download_url"] == f"{base}/attachments/{png['id']}"

    # Download the attachments: exact bytes, never rendered inline.
    for url, data, kind, name in (
        (png["download_url"], PNG, "image/png", "circuit_test_results.png"),
        (pdf["download_url"], PDF, "application/pdf", "network_diagnostics.pdf"),
    ):
        for role in ("admin", "customer"):
            response = api.http.get(url, headers={"Authorization": f"Bearer {api.tokens[role]}"})
            assert response.status_code == 200
            assert response.content == data
            assert response.headers["content-type"] == kind
            assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
            assert response.headers["x-content-type-options"] == "nosniff"

    # Send Email Notification, SMS Notification.
    email = ok(api.post(f"/tickets/{tid}/notify", SEED_EMAIL), 202)["notification"]
    assert (email["status"], email["type"], email["ticket_id"]) == ("queued", "email", tid)
    assert [r["email"] for r in email["recipients"]] == [
        "john.smith@example.com",
        "it-team@example.com",
    ]
    sms = ok(api.post(f"/tickets/{tid}/notify", SEED_SMS), 202)["notification"]
    assert (sms["status"], sms["type"], sms["message"]) == ("queued", "sms", SEED_SMS["message"])

    # Get Available Categories (a customer may read them too).
    categories = ok(api.customer.get("/categories"))["categories"]
    by_id = {c["id"]: c for c in categories}
    assert set(by_id) == {"network", "voice"}
    network = by_id["network"]
    assert network["name"] == "Network & Connectivity"
    assert (network["sla"]["response_time"], network["sla"]["resolution_time"]) == (
        "2 hours",
        "8 hours",
    )
    connectivity = network["subcategories"][0]
    assert connectivity["id"] == "connectivity"
    assert connectivity["routing_rules"]["auto_assign"] == "network_team"
    assert connectivity["routing_rules"]["escalation_threshold"] == "4 hours"
    assert by_id["voice"]["sla"]["response_time"] == "1 hour"
    assert [s["id"] for s in by_id["voice"]["subcategories"]] == ["call_quality", "features"]

    # Configure Routing Rules: the seed's body as is, then a rule that routes a new ticket.
    response = api.post("/routing-rules", SEED_RULE)
    rule = ok(response, 201)
    assert re.fullmatch(r"rule_[a-z0-9]+", rule["id"])
    assert response.headers["location"] == f"{base}/routing-rules/{rule['id']}"
    assert rule["rule_name"] == SEED_RULE["rule_name"]
    assert rule["actions"]["escalate_after"] == "1 hour"
    assert rule["active"] is True
    voice_rule = ok(
        api.post(
            "/routing-rules",
            {
                "rule_name": "Voice outages",
                "conditions": {"category": "voice", "keywords": ["outage"]},
                "actions": {"assign_to": "agent_voice_001", "notify": ["voice@example.com"]},
            },
        ),
        201,
    )
    routed = create(
        api,
        title="Complete voice outage at HQ",
        description="Every phone is dead since the outage this morning.",
        category="voice",
        subcategory="call_quality",
        attachments=[],
    )
    assert routed["assigned_to"]["agent_id"] == "agent_voice_001"
    history = ok(api.get(f"/tickets/{routed['id']}/events"))["events"]
    created_event = next(e for e in history if e["event"] == "ticket.created")
    assert created_event["data"]["routing"]["rule"]["id"] == voice_rule["id"]

    # Get SLA Status.
    status = ok(api.get(f"/tickets/{tid}/sla"))["sla_status"]
    assert (status["ticket_id"], status["priority"], status["category"]) == (
        tid,
        "critical",
        "network",
    )
    assert status["sla_tier"] == "enterprise"
    response_time = status["response_time"]
    assert (response_time["target"], response_time["status"]) == ("2 hours", "met")
    assert response_time["actual"] == "1 hour 15 minutes"
    assert response_time["due_at"] == "2024-11-01T23:30:00Z"
    assert response_time["responded_at"] == "2024-11-01T22:45:00Z"
    resolution = status["resolution_time"]
    assert (resolution["target"], resolution["status"]) == ("8 hours", "in_progress")
    assert resolution["elapsed"] == "1 hour 30 minutes"
    assert resolution["due_at"] == "2024-11-02T05:30:00Z"
    assert resolution["time_remaining"] == "6 hours 30 minutes"
    escalation = status["escalation"]
    assert escalation["current_level"] == 1
    assert escalation["escalation_reason"] == "Priority upgraded to critical"
    assert {"escalated_at", "next_escalation"} <= set(escalation)

    # Escalate Ticket.
    before = api.last_event_id()
    escalated = ok(api.post(f"/tickets/{tid}/escalate", SEED_ESCALATION))["ticket"]
    assert escalated["escalation_level"] == 3
    assert escalated["sla"]["escalated"] is True
    assert escalated["sla"]["escalation_reason"] == SEED_ESCALATION["reason"]
    assert ok(api.get(f"/tickets/{tid}/sla"))["sla_status"]["escalation"]["current_level"] == 3

    # The events feed: everything after a given event, in order.
    feed = ok(api.get("/events", params={"after": before}))
    types = [e["event"] for e in feed["events"]]
    assert types[0] == "ticket.escalated"
    assert "comment.added" in types  # the escalation's internal comment
    assert all(e["ticket_id"] == tid for e in feed["events"])
    assert feed["next_after"] == feed["events"][-1]["id"]
    assert ok(api.get("/events", params={"after": feed["next_after"]}))["events"] == []
    everything = ok(api.get("/events", params={"limit": 1000}))["events"]
    assert [e["sequence"] for e in everything] == sorted(e["sequence"] for e in everything)
    expected = {"ticket.created", "ticket.assigned", "ticket.updated", "ticket.escalated",
                "comment.added", "notification.requested"}  # fmt: skip
    assert expected <= {e["event"] for e in everything}

    # Preview: what creating would do, without writing anything.
    counted = snapshot(api)
    preview = ok(api.post("/tickets/preview", seed_ticket()))["preview"]
    assert preview["routing"]["rule"]["id"] == "rule_high_priority_network"
    assert preview["routing"]["team"] == "network_escalation_team"
    assert preview["sla"]["response_time"] == "2 hours"
    assert preview["sla"]["response_due"] == "2024-11-02T01:00:00Z"
    assert snapshot(api) == counted

    # Merge a duplicate into the ticket.
    duplicate = create(api, title="SF office network down again", attachments=[])
    ok(api.post(f"/tickets/{duplicate['id']}/comments", {"content": "Same issue here."}), 201)
    joined = ok(api.post(f"/tickets/{duplicate['id']}/merge", {"into": tid}))["ticket"]
    assert joined["id"] == tid
    assert duplicate["id"] in joined["linked_tickets"]
    source = ok(api.get(f"/tickets/{duplicate['id']}"))["ticket"]
    assert (source["status"], source["merged_into"]) == ("closed", tid)
    moved = ok(api.get(f"/tickets/{tid}/comments"))["comments"]
    assert "Same issue here." in [c["content"] for c in moved]

    # Bulk update: each item on its own.
    results = ok(
        api.post(
            "/tickets/bulk-update",
            {
                "updates": [
                    {"id": later["id"], "priority": "low", "tags": ["voice"]},
                    {"id": "ticket_doesnotexist", "priority": "low"},
                ]
            },
        )
    )["results"]
    assert results[0]["ok"] is True
    assert results[0]["ticket"]["priority"] == "low"
    assert results[0]["ticket"]["urls"]["self"] == f"{base}/tickets/{later['id']}"
    assert results[1]["ok"] is False
    assert ok(api.get(f"/tickets/{later['id']}"))["ticket"]["tags"] == ["voice"]


def test_urls_are_built_from_the_request_host(client: Api) -> None:
    response = client.post("/tickets", seed_ticket(), headers={"Host": "support.example.test"})
    ticket = ok(response, 201)["ticket"]
    url = f"http://support.example.test{PREFIX}/tickets/{ticket['id']}"
    assert ticket["urls"]["self"] == url
    assert response.headers["location"] == url
    download = ticket["attachments"][0]["download_url"]
    assert download.startswith(f"http://support.example.test{PREFIX}/attachments/att_")


def test_openapi_document_is_public(client: Api) -> None:
    document = ok(client.anonymous.get("/openapi.json"))
    assert document["openapi"].startswith("3.1")
    assert f"{PREFIX}/tickets" in document["paths"]


# -- configuration -----------------------------------------------------------------------------

KEYED = {
    "calendars": (
        "us_east",
        {"timezone": "America/New_York", "hours": {"mon": [["09:00", "17:00"]]}},
        "timezone",
        "America/Chicago",
    ),
    "categories": (
        "billing",
        {"name": "Billing", "sla": {"response_time": "4 hours", "resolution_time": "24 hours"}},
        "name",
        "Billing & invoices",
    ),
    "teams": (
        "billing_team",
        {"name": "Billing", "strategy": "round_robin", "members": ["agent_voice_001"]},
        "name",
        "Billing desk",
    ),
    "agents": (
        "agent_billing_001",
        {"name": "Ada Lovelace", "email": "ada@example.com"},
        "name",
        "Ada King",
    ),
    "customers": (
        "cust_new",
        {"name": "New Customer", "tier": "standard"},
        "tier",
        "enterprise",
    ),
}


@pytest.mark.parametrize("collection", sorted(KEYED))
def test_admin_puts_gets_and_deletes(client: Api, collection: str) -> None:
    resource_id, body, field, changed = KEYED[collection]
    path = f"/{collection}/{resource_id}"
    problem(client.get(path), 404)
    created = ok(client.put(path, body))
    assert created["id"] == resource_id
    assert ok(client.get(path)) == created
    updated = ok(client.put(path, {**body, field: changed}))
    assert updated[field] == changed
    assert resource_id in [r["id"] for r in ok(client.get(f"/{collection}"))[collection]]
    response = client.delete(path)
    assert response.status_code == 204
    assert response.content == b""
    problem(client.get(path), 404)
    problem(client.delete(path), 404)


def test_admin_put_refuses_an_id_that_differs_from_the_url(client: Api) -> None:
    body = problem(client.put("/customers/cust_a", {"id": "cust_b", "name": "B"}), 422)
    assert fields(body) == {"id"}
    problem(client.get("/customers/cust_a"), 404)
    problem(client.get("/customers/cust_b"), 404)


ORDERED = {
    "sla-policies": (
        "sla_policies",
        {
            "id": "enterprise_critical",
            "conditions": {"priority": ["critical"], "customer_tier": "enterprise"},
            "response_time": "30 minutes",
            "resolution_time": "4 hours",
            "calendar": "24x7",
        },
    ),
    "routing-rules": ("routing_rules", SEED_RULE),
}


@pytest.mark.parametrize("path", sorted(ORDERED))
def test_admin_posts_gets_and_deletes(client: Api, path: str) -> None:
    plural, body = ORDERED[path]
    response = client.post(f"/{path}", body)
    created = ok(response, 201)
    location = f"{client.base_url}{PREFIX}/{path}/{created['id']}"
    assert response.headers["location"] == location
    assert ok(client.get(f"/{path}/{created['id']}")) == created
    assert created["id"] in [r["id"] for r in ok(client.get(f"/{path}"))[plural]]
    assert client.delete(f"/{path}/{created['id']}").status_code == 204
    problem(client.get(f"/{path}/{created['id']}"), 404)


def test_an_sla_policy_applies_to_new_tickets(client: Api) -> None:
    ok(client.post("/sla-policies", ORDERED["sla-policies"][1]), 201)
    ticket = create(client, priority="critical")
    assert ticket["sla"]["response_time"] == "30 minutes"
    assert ticket["sla"]["policy_id"] == "enterprise_critical"


# -- authentication and roles ------------------------------------------------------------------


UNAUTHENTICATED = [
    ("GET", "/tickets"),
    ("POST", "/tickets"),
    ("GET", "/tickets/ticket_x"),
    ("GET", "/events"),
    ("PUT", "/categories/network"),
    ("GET", "/categories"),
]
BAD_AUTHORIZATIONS = [None, "Bearer sk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                      "Bearer nonsense", "Basic YWRtaW46YWRtaW4=", "Bearer", "sk_abc"]  # fmt: skip


def test_no_key_or_a_bad_key_is_401(client: Api) -> None:
    counted = snapshot(client)

    def check(method: str, path: str, authorization: str | None) -> None:
        headers = {"Authorization": authorization} if authorization is not None else {}
        body = seed_ticket() if method in ("POST", "PUT") else None
        response = client.anonymous.request(method, path, json=body, headers=headers)
        problem(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer realm="supportkit"'

    each(
        [(m, p, a) for m, p in UNAUTHENTICATED for a in BAD_AUTHORIZATIONS],
        check,
    )
    assert snapshot(client) == counted


def test_a_revoked_key_is_401(client: Api) -> None:
    from supportkit.api import create_key, revoke_key

    key = create_key(client.desk, role="admin")
    assert client.http.get(
        f"{PREFIX}/tickets", headers={"Authorization": f"Bearer {key.token}"}
    ).is_success
    revoke_key(client.desk, key.id)
    response = client.http.get(
        f"{PREFIX}/tickets", headers={"Authorization": f"Bearer {key.token}"}
    )
    problem(response, 401)


CONFIG_CHANGES = [
    ("PUT", "/categories/network", {"name": "Renamed", "sla": {"response_time": "1 hour",
                                                             "resolution_time": "2 hours"}}),
    ("DELETE", "/categories/voice", None),
    ("PUT", "/calendars/us_pacific", {"timezone": "UTC", "hours": {}}),
    ("DELETE", "/calendars/us_pacific", None),
    ("PUT", "/teams/network_team", {"name": "N", "strategy": "round_robin", "members": []}),
    ("DELETE", "/teams/voice_team", None),
    ("PUT", "/agents/agent_tech_001", {"name": "Eve", "email": "eve@example.com"}),
    ("DELETE", "/agents/agent_voice_001", None),
    ("PUT", "/customers/cust_1234567890", {"name": "Taken over", "tier": "standard"}),
    ("DELETE", "/customers/cust_small", None),
    ("POST", "/sla-policies", ORDERED["sla-policies"][1]),
    ("DELETE", "/sla-policies/anything", None),
    ("POST", "/routing-rules", SEED_RULE),
    ("DELETE", "/routing-rules/rule_high_priority_network", None),
]  # fmt: skip


def test_agent_and_customer_cannot_change_configuration(client: Api) -> None:
    def check(method: str, path: str, body: Any) -> None:
        before = ok(client.get(path)) if method != "POST" and "anything" not in path else None
        for who in (client.agent, client.customer):
            refused = problem(who.request(method, path, json=body), 403)
            assert refused["type"].endswith("/forbidden")
        if before is not None:
            assert ok(client.get(path)) == before

    each(CONFIG_CHANGES, check)
    assert ok(client.get("/sla-policies"))["sla_policies"] == []
    assert len(ok(client.get("/routing-rules"))["routing_rules"]) == 1


def test_agent_reads_configuration_and_works_tickets(client: Api) -> None:
    assert ok(client.agent.get("/teams"))["teams"]
    assert ok(client.agent.get("/agents/agent_tech_001"))["id"] == "agent_tech_001"
    ticket = ok(client.agent.post("/tickets", seed_ticket()), 201)["ticket"]
    updated = ok(client.agent.put(f"/tickets/{ticket['id']}", {"internal_notes": "Checked."}))
    assert updated["ticket"]["version"] == 2
    [note] = ok(client.agent.get(f"/tickets/{ticket['id']}/comments"))["comments"]
    assert note["author"]["id"] == "agent_tech_001"  # the key's agent writes it


def test_customer_cannot_read_staff_configuration(client: Api) -> None:
    paths = ["/teams", "/agents", "/customers", "/sla-policies", "/routing-rules",
             "/customers/cust_1234567890", "/agents/agent_tech_001"]  # fmt: skip
    each([(p,) for p in paths], lambda path: problem(client.customer.get(path), 403))


# -- the customer's view ----------------------------------------------------------------------


def _without_id(body: dict[str, Any], ticket_id: str) -> dict[str, Any]:
    return {**body, "detail": body["detail"].replace(ticket_id, "<id>")}


OWN_TICKET_REQUESTS = [
    ("GET", "/tickets/{id}", None),
    ("PUT", "/tickets/{id}", {"status": "closed"}),
    ("GET", "/tickets/{id}/comments", None),
    ("POST", "/tickets/{id}/comments", {"content": "Hello?"}),
    ("GET", "/tickets/{id}/sla", None),
    ("GET", "/tickets/{id}/events", None),
]


def test_another_customers_ticket_is_a_404_like_a_missing_one(client: Api) -> None:
    theirs = create(client, customer_id=OTHER_CUSTOMER)
    missing = "ticket_doesnotexist00"
    counted = snapshot(client)

    def check(method: str, path: str, body: Any) -> None:
        found = client.customer.request(method, path.format(id=theirs["id"]), json=body)
        absent = client.customer.request(method, path.format(id=missing), json=body)
        assert _without_id(problem(found, 404), theirs["id"]) == _without_id(
            problem(absent, 404), missing
        )

    each(OWN_TICKET_REQUESTS, check)
    assert snapshot(client) == counted
    # … and its owner does see it.
    for method, path, body in OWN_TICKET_REQUESTS:
        response = client.other.request(method, path.format(id=theirs["id"]), json=body)
        assert response.is_success, (method, path, response.text)


def test_another_customers_attachment_is_a_404(client: Api) -> None:
    theirs = create(client, customer_id=OTHER_CUSTOMER)
    url = theirs["attachments"][0]["download_url"]
    response = client.http.get(
        url, headers={"Authorization": f"Bearer {client.tokens['customer']}"}
    )
    problem(response, 404)
    assert client.other.get(url.removeprefix(client.base_url + PREFIX)).status_code == 200


def test_customer_searches_only_its_own_tickets(client: Api) -> None:
    mine = create(client)
    theirs = create(client, customer_id=OTHER_CUSTOMER)
    assert [t["id"] for t in ok(client.customer.get("/tickets"))["tickets"]] == [mine["id"]]
    asked = ok(client.customer.get(f"/tickets?customer_id={OTHER_CUSTOMER}"))
    assert asked["tickets"] == []
    asked = ok(
        client.customer.post("/tickets/search", {"filters": {"customer_id": OTHER_CUSTOMER}})
    )
    assert asked["tickets"] == []
    assert [t["id"] for t in ok(client.other.get("/tickets/search"))["tickets"]] == [theirs["id"]]
    events = ok(client.customer.get("/events", params={"limit": 1000}))["events"]
    assert {e["ticket_id"] for e in events} == {mine["id"]}


def test_customer_never_sees_internal_comments(client: Api) -> None:
    ticket = create(client)
    tid = ticket["id"]
    secret = "zanzibar"
    ok(client.put(f"/tickets/{tid}", {"internal_notes": f"Vendor {secret} owes us."}))
    internal = ok(
        client.post(
            f"/tickets/{tid}/comments",
            {
                "content": f"The {secret} circuit again.",
                "visibility": "internal",
                "type": "internal_note",
                "attachments": [
                    {"filename": "internal.png", "content_type": "image/png", "data": b64(PNG)}
                ],
            },
        ),
        201,
    )["comment"]
    ok(client.post(f"/tickets/{tid}/escalate", {"reason": "Watch it", "comments": secret}))
    reply = {"content": "We are on it: checking the multiplexer.", "type": "comment"}
    ok(client.post(f"/tickets/{tid}/comments", reply), 201)

    # Staff see everything …
    staff = ok(client.get(f"/tickets/{tid}/comments"))["comments"]
    assert sum(secret in c["content"] for c in staff) == 3
    assert ok(client.get("/tickets/search", params={"q": secret}))["pagination"]["total"] == 1
    assert secret in repr(ok(client.get("/events", params={"limit": 1000})))

    # … the customer nothing internal, anywhere.
    visible = ok(client.customer.get(f"/tickets/{tid}/comments"))["comments"]
    assert [c["content"] for c in visible] == [reply["content"]]
    assert all(c["visibility"] == "customer" for c in visible)
    problem(client.customer.get(f"/tickets/{tid}/comments?visibility=internal"), 422)
    assert ok(client.customer.get("/tickets/search", params={"q": secret}))["tickets"] == []
    assert ok(client.customer.post("/tickets/search", {"q": secret}))["tickets"] == []
    assert ok(client.customer.get("/tickets?q=multiplexer"))["pagination"]["total"] == 1
    for path in ("/events?limit=1000", f"/tickets/{tid}/events"):
        events = ok(client.customer.get(path))["events"]
        assert events
        assert secret not in repr(events)
        assert all(e["event"] != "notification.requested" for e in events)
    assert secret not in repr(ok(client.customer.get(f"/tickets/{tid}")))
    response = client.customer.get(internal["attachments"][0]["download_url"].split(PREFIX)[1])
    problem(response, 404)
    assert client.get(internal["attachments"][0]["download_url"].split(PREFIX)[1]).is_success


INTERNAL_FIELDS = [
    ({"priority": "critical"}, {"priority"}),
    ({"assigned_to": "agent_tech_001"}, {"assigned_to"}),
    ({"internal_notes": "I am staff now"}, {"internal_notes"}),
    ({"status": "in_progress"}, {"status"}),
    ({"status": "resolved"}, {"status"}),
    ({"metadata": {"escalation_level": 9}}, {"metadata"}),
    ({"customer_update": "Official"}, {"customer_update"}),
    ({"status": "closed", "priority": "low"}, {"priority"}),
    ({"priority": "low", "assigned_to": None, "internal_notes": "x"},
     {"priority", "assigned_to", "internal_notes"}),
]  # fmt: skip


def test_customer_cannot_set_internal_fields(client: Api) -> None:
    tid = create(client)["id"]
    before = ok(client.get(f"/tickets/{tid}"))
    counted = snapshot(client)

    def check(body: dict[str, Any], named: set[str]) -> None:
        refused = problem(client.customer.put(f"/tickets/{tid}", body), 422)
        assert fields(refused) == named
        for name in named:
            assert name in refused["detail"]

    each(INTERNAL_FIELDS, check)
    assert ok(client.get(f"/tickets/{tid}")) == before
    assert snapshot(client) == counted


def test_customer_may_close_its_ticket(client: Api) -> None:
    tid = create(client)["id"]
    closed = ok(client.customer.put(f"/tickets/{tid}", {"status": "closed"}))["ticket"]
    assert closed["status"] == "closed"


def test_customer_creates_tickets_for_itself_only(client: Api) -> None:
    counted = snapshot(client)
    body = problem(client.customer.post("/tickets", seed_ticket(customer_id=OTHER_CUSTOMER)), 422)
    assert fields(body) == {"customer_id"}
    assert snapshot(client) == counted
    body = seed_ticket()
    del body["customer_id"]
    ticket = ok(client.customer.post("/tickets", body), 201)["ticket"]
    assert ticket["customer_id"] == CUSTOMER


def test_customer_comments_are_always_the_customers_and_visible(client: Api) -> None:
    tid = create(client)["id"]
    counted = snapshot(client)
    refused = [
        ({"content": "psst", "visibility": "internal"}, "visibility"),
        ({"content": "psst", "type": "internal_note"}, "visibility"),
        ({"content": "I am Sarah", "author": {"type": "agent", "id": "agent_tech_001"}},
         "author.type"),
    ]  # fmt: skip

    def check(body: dict[str, Any], named: str) -> None:
        response = client.customer.post(f"/tickets/{tid}/comments", body)
        assert fields(problem(response, 422)) == {named}

    each(refused, check)
    assert snapshot(client) == counted
    comment = ok(client.customer.post(f"/tickets/{tid}/comments", {"content": "Thanks!"}), 201)
    assert comment["comment"]["author"]["type"] == "customer"
    assert comment["comment"]["visibility"] == "customer"


def test_customer_cannot_use_staff_endpoints(client: Api) -> None:
    tid = create(client)["id"]
    counted = snapshot(client)
    staff_only = [
        ("POST", f"/tickets/{tid}/notify", SEED_SMS),
        ("POST", f"/tickets/{tid}/escalate", {"reason": "Please hurry"}),
        ("POST", f"/tickets/{tid}/merge", {"into": "ticket_x"}),
        ("POST", "/tickets/preview", seed_ticket()),
        ("POST", "/tickets/bulk-update", {"updates": []}),
    ]

    def check(method: str, path: str, body: Any) -> None:
        problem(client.customer.request(method, path, json=body), 403)

    each(staff_only, check)
    assert snapshot(client) == counted


# -- bad input ---------------------------------------------------------------------------------

_JSON = json.dumps(seed_ticket())
_HOLE = "@@"


def _body(**overrides: Any) -> bytes:
    return json.dumps(seed_ticket(**overrides)).encode("utf-8")


def _title(raw: bytes) -> bytes:
    """The seed's body with ``raw`` put as it is inside the title's string."""
    return _body(title=_HOLE).replace(_HOLE.encode(), raw)


def _number(raw: bytes) -> bytes:
    """The seed's body with the JSON token ``raw`` as a metadata value."""
    return _body(metadata={"affected_users": _HOLE}).replace(f'"{_HOLE}"'.encode(), raw)


_CONTACT = {"name": "John Smith", "email": "john.smith@example.com", "pager": "1"}

BAD_CREATES: list[tuple[str, bytes, str, int, set[str] | None]] = [
    # id, raw body, content type, status, field names the errors must include
    ("malformed", b'{"title": "x",', "application/json", 400, None),
    ("trailing-garbage", _JSON.encode() + b" x", "application/json", 400, None),
    ("empty", b"", "application/json", 400, None),
    ("not-an-object", b'["title"]', "application/json", 422, None),
    ("a-string", b'"title"', "application/json", 422, None),
    ("wrong-types", _body(priority=3, title=["Network"], contact="John"), "application/json",
     422, {"priority", "title", "contact"}),
    ("unknown-field", _body(is_vip=True), "application/json", 422, {"is_vip"}),
    ("unknown-nested-field", _body(contact=_CONTACT), "application/json", 422,
     {"contact.pager"}),
    ("missing-fields", b'{"title": "Only a title"}', "application/json", 422,
     {"description", "category"}),
    ("unknown-category", _body(category="plumbing"), "application/json", 422, {"category"}),
    ("bad-email", _body(contact={"email": "john at example"}), "application/json", 422,
     {"contact.email"}),
    ("duplicate-keys", _JSON[:-1].encode() + b', "title": "Another title"}', "application/json",
     400, None),
    ("nan", _number(b"NaN"), "application/json", 400, None),
    ("infinity", _number(b"-Infinity"), "application/json", 400, None),
    ("huge-float", _number(b"1e999"), "application/json", 400, None),
    ("huge-integer", _number(b"9" * 5000), "application/json", 400, None),
    ("lone-surrogate", _title(b"\\ud800 Network"), "application/json", 400, None),
    ("lone-surrogate-in-a-key", _number(b'{"\\udfff": 1}'), "application/json", 400, None),
    ("escaped-nul", _title(b"Net\\u0000work"), "application/json", 400, None),
    ("raw-nul", _title(b"Net\x00work"), "application/json", 400, None),
    ("invalid-utf8", _title(b"Net\xff\xfework"), "application/json", 400, None),
    ("bad-base64", _JSON.replace(b64(PDF), "not base64!").encode(), "application/json", 422,
     {"attachments[0].data"}),
    ("size-mismatch", _JSON.replace(f'"size": {len(PDF)}', '"size": 245760').encode(),
     "application/json", 422, {"attachments[0].size"}),
    ("content-type-lies", _JSON.replace('"application/pdf"', '"image/png"').encode(),
     "application/json", 422, {"attachments[0].content_type"}),
    ("not-json", _JSON.encode(), "text/plain", 415, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "named"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CREATES],
)
def test_bad_create_bodies_are_refused_and_nothing_is_written(
    client: Api, raw: bytes, content_type: str, status: int, named: set[str] | None
) -> None:
    counted = snapshot(client)
    response = client.request(
        "POST", "/tickets", content=raw, headers={"Content-Type": content_type}
    )
    body = problem(response, status)
    if named is not None:
        assert named <= fields(body), body
        for error in body["errors"]:
            assert error["message"]
    assert snapshot(client) == counted
    assert ok(client.get("/tickets"))["tickets"] == []


def test_the_body_the_bad_ones_are_made_from_is_valid(client: Api) -> None:
    ok(client.request("POST", "/tickets", content=_JSON.encode()), 201)


def test_deeply_nested_json_is_a_400_not_a_500(client: Api) -> None:
    """``json.loads`` raises ``RecursionError`` (not a ``ValueError``) on deep nesting."""
    counted = snapshot(client)
    nested = b'{"title": "x", "metadata": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    problem(client.request("POST", "/tickets", content=nested), 400)
    assert snapshot(client) == counted


def test_a_body_over_the_configured_size_is_a_413(client: Api) -> None:
    tid = create(client)["id"]
    counted = snapshot(client)
    big = seed_ticket(description="x" * (client.max_body_bytes + 10))
    body = problem(client.post("/tickets", big), 413)
    assert str(client.max_body_bytes) in body["detail"]
    problem(client.put(f"/tickets/{tid}", {"internal_notes": "y" * client.max_body_bytes}), 413)
    problem(client.post(f"/tickets/{tid}/comments", {"content": "z" * client.max_body_bytes}), 413)
    assert snapshot(client) == counted


def test_an_oversized_attachment_is_a_422(client: Api) -> None:
    tid = create(client)["id"]
    counted = snapshot(client)
    data = b64(PNG + b"\0" * (client.attachment_bytes - len(PNG) + 1))
    attachment = {"filename": "big.png", "content_type": "image/png", "data": data}
    body = problem(client.post("/tickets", seed_ticket(attachments=[attachment])), 422)
    assert fields(body) == {"attachments[0].data"}
    assert str(client.attachment_bytes) in body["errors"][0]["message"]
    body = problem(
        client.post(f"/tickets/{tid}/comments", {"content": "see", "attachments": [attachment]}),
        422,
    )
    assert fields(body) == {"attachments[0].data"}
    assert snapshot(client) == counted
    assert ok(client.get(f"/tickets/{tid}/comments"))["comments"] == []


BAD_UPDATES: list[tuple[bytes, int, set[str] | None]] = [
    (b'{"priority": "urgent"}', 422, {"priority"}),
    (b'{"status": "solved"}', 422, {"status"}),
    (b'{"assigned_to": "agent_nobody"}', 422, {"assigned_to"}),
    (b'{"estimated_resolution": "tomorrow"}', 422, {"estimated_resolution"}),
    (b'{"estimated_resolution": "2024-11-01T20:00:00"}', 422, {"estimated_resolution"}),
    (b'{"metadata": "text"}', 422, {"metadata"}),
    (b'{"title": ""}', 422, {"title"}),
    (b'{"colour": "red"}', 422, {"colour"}),
    (b"{}", 422, None),
    (b"[]", 422, None),
    (b'{"priority": "critical", "priority": "low"}', 400, None),
    (b'{"internal_notes": "\\ud800"}', 400, None),
    (b'{"internal_notes": "a\\u0000b"}', 400, None),
    (b'{"status": "resolved"', 400, None),
]


def test_bad_updates_change_nothing(client: Api) -> None:
    tid = create(client)["id"]
    before = ok(client.get(f"/tickets/{tid}"))
    counted = snapshot(client)

    def check(raw: bytes, status: int, named: set[str] | None) -> None:
        body = problem(client.request("PUT", f"/tickets/{tid}", content=raw), status)
        if named is not None:
            assert fields(body) == named

    each(BAD_UPDATES, check)
    assert ok(client.get(f"/tickets/{tid}")) == before
    assert snapshot(client) == counted


def test_an_invalid_transition_is_a_409_naming_the_allowed_ones(client: Api) -> None:
    tid = create(client)["id"]
    ok(client.put(f"/tickets/{tid}", {"status": "closed"}))
    body = problem(client.put(f"/tickets/{tid}", {"status": "in_progress"}), 409)
    assert (body["current"], body["requested"], body["allowed"]) == ("closed", "in_progress", [])


BAD_SEARCH_QUERIES = [
    ("sort=title", {"sort.field"}),
    ("sort=created_at&order=sideways", {"sort.order"}),
    ("order=", {"sort.order"}),
    ("sort=", {"sort.field"}),
    ("limit=101", {"pagination.limit"}),
    ("limit=0", {"pagination.limit"}),
    ("limit=ten", {"pagination.limit"}),
    ("page=0", {"pagination.page"}),
    ("page=-1", {"pagination.page"}),
    ("status=open,solved", {"filters.status"}),
    ("priority=urgent", {"filters.priority"}),
    ("created_after=last+week", {"filters.created_after"}),
    ("escalated=maybe", {"filters.escalated"}),
    ("colour=red", {"colour"}),
]

BAD_SEARCH_BODIES: list[tuple[dict[str, Any], set[str]]] = [
    ({"sort": {"field": "title"}}, {"sort.field"}),
    ({"sort": {"field": "created_at", "order": "up"}}, {"sort.order"}),
    ({"sort": {"field": "created_at", "order": ""}}, {"sort.order"}),
    ({"sort": {"by": "created_at"}}, {"sort.by"}),
    ({"sort": "created_at"}, {"sort"}),
    ({"sort": []}, {"sort"}),
    ({"pagination": {"page": 1, "limit": 101}}, {"pagination.limit"}),
    ({"pagination": {"page": "1"}}, {"pagination.page"}),
    ({"pagination": {"page": True}}, {"pagination.page"}),
    ({"pagination": {"offset": 10}}, {"pagination.offset"}),
    ({"filters": {"status": ["open", 7]}}, {"filters.status"}),
    ({"filters": {"status": "solved"}}, {"filters.status"}),
    ({"filters": {"colour": "red"}}, {"filters.colour"}),
    ({"filters": {"created_after": 1730419200}}, {"filters.created_after"}),
    ({"page": 1}, {"page"}),
    ({"q": ""}, {"q"}),
]


def test_bad_search_parameters_are_422(client: Api) -> None:
    def check(path: str, query: str, named: set[str]) -> None:
        assert fields(problem(client.get(f"{path}?{query}"), 422)) == named

    each([(p, q, n) for p in ("/tickets", "/tickets/search") for q, n in BAD_SEARCH_QUERIES], check)


def test_bad_search_bodies_are_422(client: Api) -> None:
    def check(body: dict[str, Any], named: set[str]) -> None:
        assert fields(problem(client.post("/tickets/search", body), 422)) == named

    each(BAD_SEARCH_BODIES, check)


@pytest.mark.parametrize("body", [{"filters": []}, {"pagination": []}, {"filters": ""}])
def test_search_body_parts_of_the_wrong_type_are_422(client: Api, body: dict[str, Any]) -> None:
    """API-layer bug: ``body_search`` reads ``body.get("filters") or {}`` (and the same for
    ``pagination``), so an empty list or string — falsy, but not an object — is
    silently taken as "no filters" instead of refused."""
    [(name, _)] = body.items()
    assert fields(problem(client.post("/tickets/search", body), 422)) == {name}


@pytest.mark.parametrize(
    "query",
    [
        "escalation_level=99999999999999999999999",
        "created_after=0001-01-01T00:00:00%2B14:00",
    ],
)
def test_out_of_range_search_values_are_422_not_500(client: Api, query: str) -> None:
    """Values that parse but do not fit: an escalation level beyond 64 bits (SQLite's
    INTEGER), an instant before year 1 once converted to UTC (``datetime`` overflows in
    ``validation.parse_instant``: a 500 at the time of writing)."""
    body = problem(client.get(f"/tickets?{query}"), 422)
    assert body["errors"]


def test_an_instant_before_year_one_in_an_update_is_a_422(client: Api) -> None:
    """``validation.parse_instant`` overflows converting ``0001-01-01T00:00:00+14:00`` to
    UTC (``OverflowError``, a 500 at the time of writing); the ticket must not change."""
    tid = create(client)["id"]
    before = ok(client.get(f"/tickets/{tid}"))
    body = {"estimated_resolution": "0001-01-01T00:00:00+14:00"}
    assert fields(problem(client.put(f"/tickets/{tid}", body), 422)) == {"estimated_resolution"}
    assert ok(client.get(f"/tickets/{tid}")) == before


@pytest.mark.parametrize("value", [[{}], 10**30])
def test_bad_escalation_level_filters_are_422_not_500(client: Api, value: Any) -> None:
    """``Tickets._query`` calls ``int()`` on each item: an object raises ``TypeError``
    (a 500 at the time of writing); a level beyond 64 bits must not reach SQLite."""
    body = problem(client.post("/tickets/search", {"filters": {"escalation_level": value}}), 422)
    assert fields(body) == {"filters.escalation_level"}


def test_nul_bytes_in_query_parameters_are_a_4xx(any_client: Api) -> None:
    """API-layer bug: JSON bodies are checked for NUL characters, query parameters are
    not. On SQLite a NUL in a filter silently matches nothing (200); on PostgreSQL it
    reaches the database and comes back as a 503 "database unavailable"."""

    def check(query: str) -> None:
        response = any_client.get(f"/tickets?{query}")
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert response.headers["content-type"] == PROBLEM

    each([("customer_id=cust%00x",), ("tags=a%00b",), ("assigned_to=agent%00",)], check)


def test_events_feed_refuses_bad_cursors(client: Api) -> None:
    assert fields(problem(client.get("/events?after=evt_nope"), 422)) == {"after"}
    assert fields(problem(client.get("/events?limit=0"), 422)) == {"limit"}
    assert fields(problem(client.get("/events?limit=1001"), 422)) == {"limit"}


def test_unknown_paths_and_methods_get_problem_json(client: Api) -> None:
    cases = [
        ("GET", "/nowhere", 404),
        ("GET", "/", 404),
        ("GET", "//tickets", 404),
        ("GET", "/tickets/ticket_x/nowhere", 404),
        ("DELETE", "/tickets", 405),
        ("PATCH", "/tickets/ticket_x", 405),
        ("OPTIONS", "/tickets", 405),
        ("PUT", "/events", 405),
        ("TRACE", "/tickets", 405),
    ]

    def check(method: str, path: str, status: int) -> None:
        response = client.request(method, path)
        problem(response, status)
        if status == 405:
            assert response.headers["allow"]

    each(cases, check)


def test_a_trailing_newline_makes_another_path(client: Api) -> None:
    """API-layer bug: ``app._compile`` anchors route patterns with ``$``, which also
    matches before a final newline, so ``GET /v1/support/tickets%0A`` lists the tickets
    (and ``/tickets/{id}%0A`` reaches the ticket) instead of being a 404. ``\\Z`` (or
    ``re.fullmatch``) anchors at the very end."""
    problem(client.get("/tickets%0A"), 404)
    problem(client.get("/openapi.json%0A"), 404)


# -- concurrency and retries -------------------------------------------------------------------


def test_if_match_guards_updates(client: Api) -> None:
    tid = create(client)["id"]
    etag = client.get(f"/tickets/{tid}").headers["etag"]
    assert etag == f'"{tid}-v1"'
    response = client.put(f"/tickets/{tid}", {"priority": "medium"}, headers={"If-Match": etag})
    assert ok(response)["ticket"]["priority"] == "medium"
    assert response.headers["etag"] == f'"{tid}-v2"'
    before = ok(client.get(f"/tickets/{tid}"))
    counted = snapshot(client)
    stale = client.put(f"/tickets/{tid}", {"priority": "low"}, headers={"If-Match": etag})
    assert problem(stale, 412)["type"].endswith("/version-conflict")
    assert ok(client.get(f"/tickets/{tid}")) == before
    assert snapshot(client) == counted
    weak = client.put(f"/tickets/{tid}", {"priority": "low"}, headers={"If-Match": f"W/{etag}"})
    problem(weak, 412)
    # A weak tag names the same version; "*" matches any; a list matches if one does.
    for version, header in ((2, f'W/"{tid}-v2"'), (3, "*"), (4, f'"other", "{tid}-v4"')):
        response = client.put(f"/tickets/{tid}", {"tags": [f"t{version}"]},
                              headers={"If-Match": header})  # fmt: skip
        assert ok(response)["ticket"]["version"] == version + 1


def test_racing_updates_with_the_same_if_match(any_client: Api) -> None:
    api = any_client
    tid = create(api)["id"]
    etag = api.get(f"/tickets/{tid}").headers["etag"]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def update(priority: str) -> None:
        with api.new_http() as http:
            client = api.as_("agent", http=http)
            client.get("/categories")  # connect before the race
            barrier.wait()
            response = client.put(
                f"/tickets/{tid}", {"priority": priority}, headers={"If-Match": etag}
            )
            statuses.append(response.status_code)
            if response.status_code == 412:
                assert response.headers["content-type"] == PROBLEM

    threads = [threading.Thread(target=update, args=(p,)) for p in ("low", "critical")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 412]
    assert ok(api.get(f"/tickets/{tid}"))["ticket"]["version"] == 2


def test_idempotency_key_replays_the_first_response(any_client: Api) -> None:
    api = any_client
    body = seed_ticket()
    key = {"Idempotency-Key": "create-0001"}
    first = api.post("/tickets", body, headers=key)
    ticket = ok(first, 201)["ticket"]
    assert "idempotent-replayed" not in first.headers
    counted = snapshot(api)
    api.clock.advance(minutes=3)
    again = api.post("/tickets", body, headers=key)
    assert ok(again, 201)["ticket"] == ticket
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert snapshot(api) == counted

    changed = api.post("/tickets", seed_ticket(title="Something else"), headers=key)
    assert problem(changed, 422)["type"].endswith("/idempotency-mismatch")
    assert snapshot(api) == counted

    # Keys belong to the caller: the agent's "create-0001" is another request.
    ok(api.agent.post("/tickets", body, headers=key), 201)
    assert api.ticket_count() == counted[0] + 1


def test_idempotency_key_on_a_comment(client: Api) -> None:
    tid = create(client)["id"]
    key = {"Idempotency-Key": "comment-1"}
    first = ok(client.post(f"/tickets/{tid}/comments", {"content": "Once"}, headers=key), 201)
    again = client.post(f"/tickets/{tid}/comments", {"content": "Once"}, headers=key)
    assert ok(again, 201) == first
    assert len(ok(client.get(f"/tickets/{tid}/comments"))["comments"]) == 1


def test_a_refused_request_is_not_remembered_under_its_idempotency_key(client: Api) -> None:
    key = {"Idempotency-Key": "retry-after-fix"}
    problem(client.post("/tickets", {"title": "incomplete"}, headers=key), 422)
    problem(client.post("/tickets", {"title": "incomplete"}, headers=key), 422)
    assert client.ticket_count() == 0


def test_every_response_below_the_prefix_is_json(client: Api) -> None:
    """Successes and refusals alike; only a download (and a bodiless 204) is not."""
    tid = create(client)["id"]
    requests: list[tuple[Any, str, str, Any]] = [
        (client.admin, "GET", f"/tickets/{tid}", None),
        (client.admin, "GET", "/tickets", None),
        (client.admin, "GET", "/events", None),
        (client.admin, "GET", "/openapi.json", None),
        (client.admin, "GET", "/nowhere", None),
        (client.admin, "PATCH", "/tickets", None),
        (client.admin, "POST", "/tickets", {"nope": 1}),
        (client.customer, "GET", "/teams", None),
        (client.anonymous, "GET", "/tickets", None),
        (client.admin, "PUT", f"/tickets/{tid}", {"status": "solved"}),
        (client.admin, "DELETE", "/customers/cust_small", None),
    ]
    for who, method, path, body in requests:
        response = who.request(method, path, json=body) if body else who.request(method, path)
        if response.status_code == 204:
            assert response.content == b""
            assert "content-type" not in response.headers
            continue
        assert response.headers["content-type"] in ("application/json", PROBLEM), (method, path)
        response.json()
