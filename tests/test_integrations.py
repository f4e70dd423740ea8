"""Slack and Jira configurations: validation, storage, and secrets never shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from supportkit.desk import Desk
from supportkit.errors import NotFound, ValidationError
from supportkit.integrations import DEFAULT_PRIORITY_MAPPING, DEFAULT_SLACK_TEMPLATE

from .desk_fixtures import Clock, open_desk

SLACK_PATH = "services/T0SECRET/B0SECRET/XXXXsecretXXXX"
TOKEN = "jira-token-4f1e9a7c"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(backend_url: str, clock: Clock) -> Iterator[Desk]:
    yield from open_desk(backend_url, clock)


@pytest.fixture
def mem_desk(clock: Clock) -> Iterator[Desk]:
    """An in-memory desk, for what no storage can change (validation happens first)."""
    yield from open_desk("sqlite://", clock)


def slack(**overrides: Any) -> dict[str, Any]:
    """The seed's Slack body."""
    body: dict[str, Any] = {
        "webhook_url": f"https://hooks.slack.com/{SLACK_PATH}",
        "channel": "#support-alerts",
        "events": ["ticket.created", "ticket.escalated"],
        "filters": {"priorities": ["high", "critical"]},
        "message_format": {
            "template": "New ticket created: {{ticket.title}} - Priority: {{ticket.priority}}"
            " - Customer: {{customer.name}}"
        },
    }
    body.update(overrides)
    return body


def jira(**overrides: Any) -> dict[str, Any]:
    """The seed's Jira body."""
    body: dict[str, Any] = {
        "jira_url": "https://your-company.atlassian.net",
        "username": "api-user@example.com",
        "api_token": TOKEN,
        "project_key": "SUPPORT",
        "sync_settings": {
            "create_jira_issues": True,
            "sync_comments": True,
            "priority_mapping": {
                "critical": "Highest",
                "high": "High",
                "medium": "Medium",
                "low": "Low",
            },
        },
    }
    body.update(overrides)
    return body


def assert_no_secret(*values: object) -> None:
    for value in values:
        text = json.dumps(value, default=str)
        assert "SECRET" not in text and "secret" not in text
        assert TOKEN not in text


def stored(desk: Desk, name: str) -> dict[str, Any]:
    with desk.storage.read() as tx:
        found = tx.get_resource("integration", name)
    assert found is not None
    return found


# -- Slack ------------------------------------------------------------------------------------


def test_configure_slack_shows_the_webhook_url_masked(desk: Desk) -> None:
    view = desk.integrations.configure("slack", slack())
    assert view == {
        "name": "slack",
        "webhook_url": "https://hooks.slack.com/***",
        "webhook_url_set": True,
        "channel": "#support-alerts",
        "events": ["ticket.created", "ticket.escalated"],
        "filters": {"priorities": ["high", "critical"]},
        "message_format": {
            "template": "New ticket created: {{ticket.title}} - Priority: {{ticket.priority}}"
            " - Customer: {{customer.name}}"
        },
        "active": True,
        "updated_at": "2024-11-01T21:30:00Z",
    }
    assert desk.integrations.get("slack") == view
    assert desk.integrations.list() == [view]
    assert_no_secret(view, desk.integrations.list(), desk.events.list())
    assert stored(desk, "slack")["webhook_url"].endswith(SLACK_PATH)


def test_reconfiguring_without_a_secret_keeps_it(desk: Desk, clock: Clock) -> None:
    desk.integrations.configure("slack", slack())
    clock.advance(minutes=5)
    body = slack(channel="#noc", message_format=None)
    del body["webhook_url"]
    view = desk.integrations.configure("slack", body)
    assert view["channel"] == "#noc"
    assert view["message_format"] == {"template": DEFAULT_SLACK_TEMPLATE}
    assert view["updated_at"] == "2024-11-01T21:35:00Z"
    assert stored(desk, "slack")["webhook_url"].endswith(SLACK_PATH)
    desk.integrations.configure("jira", jira())
    body = jira(username="other@example.com")
    del body["api_token"]
    assert desk.integrations.configure("jira", body)["username"] == "other@example.com"
    assert stored(desk, "jira")["api_token"] == TOKEN


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ ticket.title ", "line 1"),
        ("{% for x in ticket.tags %}{{ x }}", "line 1"),
        ("{{ ticket.title | no_such_filter }}", "no_such_filter"),
        ("{{ agent.name }}", "unknown variable 'agent'"),
        ("{{ config }}", "unknown variable 'config'"),
        ("{{ ticket.__class__.__mro__ }}", "no attribute starting with _"),
        ("{{ ticket['_secret'] }}", "no attribute starting with _"),
        ("", "non-empty"),
        ("x" * 4001, "at most 4000"),
    ],
)
def test_templates_must_compile_and_use_ticket_and_customer_only(
    mem_desk: Desk, template: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        mem_desk.integrations.configure("slack", slack(message_format={"template": template}))
    assert [e.field for e in caught.value.errors] == ["message_format.template"]
    assert problem in caught.value.errors[0].message


def test_templates_may_loop_and_filter(mem_desk: Desk) -> None:
    template = (
        "{% for tag in ticket.tags %}#{{ tag | upper }} {% endfor %}"
        "{{ customer.name | default('someone') }}: {{ ticket['title'] }}"
    )
    view = mem_desk.integrations.configure("slack", slack(message_format={"template": template}))
    assert view["message_format"]["template"] == template


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"webhook_url": None}, "webhook_url"),
        ({"webhook_url": "http://hooks.slack.com/services/x"}, "webhook_url"),
        ({"webhook_url": "https://"}, "webhook_url"),
        ({"channel": "support alerts"}, "channel"),
        ({"events": []}, "events"),
        ({"events": ["ticket.exploded"]}, "events[0]"),
        ({"filters": {"customer_ids": ["c"]}}, "filters.customer_ids"),
        ({"filters": {"priorities": ["urgent"]}}, "filters.priorities[0]"),
        ({"message_format": {"colour": "red"}}, "message_format.colour"),
        ({"message_format": "plain"}, "message_format"),
        ({"active": 1}, "active"),
        ({"username": "bot"}, "username"),
    ],
)
def test_slack_names_the_bad_field(mem_desk: Desk, overrides: dict[str, Any], field: str) -> None:
    body = slack(**overrides)
    if overrides.get("webhook_url", "") is None:
        del body["webhook_url"]
    with pytest.raises(ValidationError) as caught:
        mem_desk.integrations.configure("slack", body)
    assert [e.field for e in caught.value.errors] == [field]
    assert_no_secret([e.message for e in caught.value.errors])
    with pytest.raises(NotFound):
        mem_desk.integrations.get("slack")


# -- Jira -------------------------------------------------------------------------------------


def test_configure_jira_never_shows_the_token(desk: Desk) -> None:
    view = desk.integrations.configure("jira", jira())
    assert view == {
        "name": "jira",
        "jira_url": "https://your-company.atlassian.net",
        "username": "api-user@example.com",
        "api_token_set": True,
        "project_key": "SUPPORT",
        "sync_settings": {
            "create_jira_issues": True,
            "sync_comments": True,
            "priority_mapping": DEFAULT_PRIORITY_MAPPING,
        },
        "active": True,
        "updated_at": "2024-11-01T21:30:00Z",
    }
    assert desk.integrations.get("jira") == view
    assert_no_secret(view, desk.integrations.list(), desk.events.list())
    assert stored(desk, "jira")["api_token"] == TOKEN
    defaults = jira(
        sync_settings={"priority_mapping": {**DEFAULT_PRIORITY_MAPPING, "low": "Lowest"}}
    )
    settings = desk.integrations.configure("jira", defaults)["sync_settings"]
    assert settings == {
        "create_jira_issues": True,
        "sync_comments": False,
        "priority_mapping": {**DEFAULT_PRIORITY_MAPPING, "low": "Lowest"},
    }


MAPPING = "sync_settings.priority_mapping"


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"jira_url": "http://your-company.atlassian.net"}, ["jira_url"]),
        ({"jira_url": None}, ["jira_url"]),
        ({"username": None}, ["username"]),
        ({"username": ""}, ["username"]),
        ({"api_token": None}, ["api_token"]),
        ({"api_token": "short"}, ["api_token"]),
        ({"project_key": "support"}, ["project_key"]),
        ({"project_key": "S"}, ["project_key"]),
        ({"project_key": "SUPPORT-1"}, ["project_key"]),
        ({"project_key": None}, ["project_key"]),
        ({"sync_settings": {"create_jira_issues": "yes"}}, ["sync_settings.create_jira_issues"]),
        ({"sync_settings": {"push": True}}, ["sync_settings.push"]),
        ({"sync_settings": {"priority_mapping": {"critical": "Highest"}}},
         [f"{MAPPING}.low", f"{MAPPING}.medium", f"{MAPPING}.high"]),
        ({"sync_settings": {"priority_mapping": {**DEFAULT_PRIORITY_MAPPING, "urgent": "X"}}},
         [f"{MAPPING}.urgent"]),
        ({"sync_settings": {"priority_mapping": {**DEFAULT_PRIORITY_MAPPING, "low": ""}}},
         [f"{MAPPING}.low"]),
        ({"sync_settings": {"priority_mapping": ["High"]}}, [MAPPING]),
        ({"webhook_url": "https://hooks.slack.com/x"}, ["webhook_url"]),
    ],
)  # fmt: skip
def test_jira_names_the_bad_fields(
    mem_desk: Desk, overrides: dict[str, Any], fields: list[str]
) -> None:
    body = jira(**{k: v for k, v in overrides.items() if v is not None})
    for key in [k for k, v in overrides.items() if v is None]:
        del body[key]
    with pytest.raises(ValidationError) as caught:
        mem_desk.integrations.configure("jira", body)
    assert sorted(e.field for e in caught.value.errors) == sorted(fields)
    assert_no_secret(str(caught.value))


# -- names ------------------------------------------------------------------------------------


def test_unknown_and_unconfigured_integrations(desk: Desk) -> None:
    for call in (
        lambda: desk.integrations.configure("teams", {}),
        lambda: desk.integrations.get("teams"),
        lambda: desk.integrations.get("jira"),  # known, not configured
        lambda: desk.integrations.delete("jira"),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(ValidationError):
        desk.integrations.configure("jira", ["not", "an", "object"])  # type: ignore[arg-type]
    desk.integrations.configure("jira", jira())
    desk.integrations.delete("jira")
    with pytest.raises(NotFound):
        desk.integrations.get("jira")
    assert desk.integrations.list() == []
