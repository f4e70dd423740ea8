"""Helpers to build desks for tests: a movable clock and the seed's configuration."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from supportkit.desk import Desk
from supportkit.seed import (
    SEED_AGENTS,
    SEED_CALENDARS,
    SEED_CATEGORIES,
    SEED_ROUTING_RULES,
    SEED_TEAMS,
)

T0 = datetime(2024, 11, 1, 21, 30, tzinfo=UTC)  # Fri 14:30 PDT


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def seed(desk: Desk) -> Desk:
    for calendar in SEED_CALENDARS:
        desk.calendars.put(calendar)
    for agent in SEED_AGENTS:
        desk.agents.put(agent)
    for team in SEED_TEAMS:
        desk.teams.put(team)
    for category in SEED_CATEGORIES:
        desk.categories.put(category)
    for rule in SEED_ROUTING_RULES:
        desk.routing_rules.create(rule)
    desk.customers.put({"id": "cust_1234567890", "name": "Example Corp", "tier": "enterprise"})
    desk.customers.put({"id": "cust_small", "name": "Small Shop", "tier": "standard"})
    return desk


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def seed_ticket(**overrides: Any) -> dict[str, Any]:
    """The seed's create body (with real base64 data)."""
    body: dict[str, Any] = {
        "title": "Network connectivity issues in San Francisco office",
        "description": (
            "Users in our SF office are experiencing intermittent connectivity issues with"
            " our MPLS connection; the office is down at times."
        ),
        "customer_id": "cust_1234567890",
        "contact": {
            "name": "John Smith",
            "email": "john.smith@example.com",
            "phone": "+1-555-123-4567",
            "role": "IT Manager",
        },
        "category": "network",
        "subcategory": "connectivity",
        "priority": "high",
        "severity": "business_impacting",
        "service_affected": "mpls_network",
        "location": {
            "site_id": "site_sf_001",
            "address": "123 Market St, San Francisco, CA 94105",
            "timezone": "America/Los_Angeles",
        },
        "metadata": {
            "affected_users": 25,
            "business_impact": "50% productivity reduction",
            "troubleshooting_attempted": ["Restarted network equipment"],
        },
        "attachments": [
            {
                "filename": "network_diagnostics.pdf",
                "content_type": "application/pdf",
                "size": len(PDF),
                "data": b64(PDF),
            }
        ],
    }
    body.update(overrides)
    return body


def open_desk(url: str, clock: Clock) -> Iterator[Desk]:
    desk = seed(Desk.open(url, clock=clock, load_entrypoints=False))
    try:
        yield desk
    finally:
        desk.close()
