from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportkit import to_dict
from supportkit.errors import ValidationError
from supportkit.models import (
    Agent,
    Assignee,
    Category,
    Contact,
    Customer,
    RoutingRule,
    SlaPolicy,
    Team,
    Ticket,
    format_instant,
    structure,
)

SEED_CATEGORY = {
    "id": "network",
    "name": "Network & Connectivity",
    "description": "Internet, MPLS, SD-WAN, and network infrastructure issues",
    "sla": {"response_time": "2 hours", "resolution_time": "8 hours"},
    "subcategories": [
        {
            "id": "connectivity",
            "name": "Connectivity Issues",
            "routing_rules": {"auto_assign": "network_team", "escalation_threshold": "4 hours"},
        },
        {"id": "performance", "name": "Performance Issues"},
    ],
}


def test_seed_category_reads_and_writes_the_seed_shape() -> None:
    category = structure(SEED_CATEGORY, Category)
    assert category.sla.response_time == timedelta(hours=2)
    assert category.sla.calendar == "24x7"
    sub = category.subcategory("connectivity")
    assert sub is not None and sub.routing_rules is not None
    assert sub.routing_rules.escalation_threshold == timedelta(hours=4)
    data = to_dict(category)
    assert data["sla"]["response_time"] == "2 hours"
    assert data["sla"]["response_time_seconds"] == 7200
    assert data["subcategories"][0]["routing_rules"]["escalation_threshold"] == "4 hours"
    assert structure(data, Category) == category


def test_instants_are_written_in_utc_with_z() -> None:
    assert format_instant(datetime(2024, 11, 1, 14, 30, tzinfo=UTC)) == "2024-11-01T14:30:00Z"
    pacific = datetime(2024, 11, 1, 7, 30, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("America/Los_Angeles")
    )
    assert format_instant(pacific) == "2024-11-01T07:30:00Z"
    assert format_instant(datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC)).endswith(".000005Z")


_ZONES = st.one_of(
    st.just(UTC),
    st.timezones(),
    st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
)
#: A few instants recur, in every zone, so that remembered texts are reused.
_RECURRING = [datetime(2024, 11, 1, 21, 30, tzinfo=UTC), datetime(2024, 3, 31, 1, 0, 0, 5, UTC)]


class _Instant(datetime):
    """A datetime subclass (as clock-faking libraries make): formatted, never remembered."""


@given(
    st.lists(
        st.builds(
            lambda moment, fold: moment.replace(fold=fold),
            st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=_ZONES)
            | st.builds(lambda m, zone: m.astimezone(zone), st.sampled_from(_RECURRING), _ZONES),
            st.integers(0, 1),
        ),
        max_size=8,
    )
)
def test_format_instant_is_the_utc_isoformat_whatever_it_remembers(
    moments: list[datetime],
) -> None:
    for moment in moments * 2:  # the second time from what it remembered
        expected = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        assert format_instant(moment) == expected
        odd = _Instant.combine(moment.date(), moment.timetz(), moment.tzinfo).replace(
            fold=moment.fold
        )
        assert type(odd) is _Instant and odd == moment
        assert format_instant(odd) == expected


def test_ticket_to_dict_has_the_seed_fields() -> None:
    now = datetime(2024, 11, 1, 14, 30, tzinfo=UTC)
    ticket = Ticket(
        id="ticket_abc123def456",
        number="SK-2024-001234",
        title="Network connectivity issues",
        description="Users in our SF office…",
        status="open",
        priority="high",
        category="network",
        created_at=now,
        updated_at=now,
        customer_id="cust_1234567890",
        severity="business_impacting",
        subcategory="connectivity",
        contact=Contact("John Smith", "john.smith@example.com", "+1-555-123-4567", "IT Manager"),
        assigned_to=Assignee("agent_tech_001", "Sarah Johnson", "sarah@example.com", "network"),
    )
    data = to_dict(ticket)
    for key in ("id", "number", "title", "status", "priority", "severity", "category",
                "subcategory", "created_at", "updated_at", "customer_id", "assigned_to",
                "contact", "sla"):  # fmt: skip
        assert key in data
    assert data["created_at"] == "2024-11-01T14:30:00Z"
    assert data["assigned_to"] == {
        "agent_id": "agent_tech_001",
        "name": "Sarah Johnson",
        "email": "sarah@example.com",
        "specialization": "network",
    }
    assert data["contact"]["role"] == "IT Manager"
    assert data["escalation_level"] == 0


def test_routing_rule_uses_json_key_continue() -> None:
    rule = structure(
        {
            "id": "rule_1",
            "rule_name": "High Priority Network Issues",
            "conditions": {"category": "network", "priority": ["high", "critical"]},
            "actions": {"assign_to": "network_escalation_team", "escalate_after": "1 hour"},
            "continue": True,
        },
        RoutingRule,
    )
    assert rule.continue_ is True
    assert rule.conditions.category == ("network",)
    data = to_dict(rule)
    assert data["continue"] is True and "continue_" not in data
    assert data["actions"]["escalate_after_seconds"] == 3600


@pytest.mark.parametrize(
    ("data", "cls", "fields"),
    [
        ({"name": "x"}, Agent, {"id"}),
        ({"id": "a", "name": 5}, Agent, {"name"}),
        ({"id": "a", "name": "A", "active": "yes"}, Agent, {"active"}),
        ({"id": "a", "name": "A", "nickname": "x"}, Agent, {"nickname"}),
        ({"id": "t", "name": "T", "strategy": "random"}, Team, {"strategy"}),
        ({"id": "c", "name": "C", "tier": 3}, Customer, {"tier"}),
        ({"id": "p", "warning_threshold": 1.5}, SlaPolicy, {"warning_threshold"}),
        ({"id": "p", "response_time": "soon"}, SlaPolicy, {"response_time"}),
        ({"id": "p", "conditions": {"priority": "urgent"}}, SlaPolicy, {"conditions.priority"}),
        ({"id": "p", "conditions": {"colour": "red"}}, SlaPolicy, {"conditions.colour"}),
        (
            {"id": "n", "name": "N", "sla": {"response_time": "1 hour"},
             "subcategories": [{"name": "x"}]},
            Category,
            {"sla.resolution_time", "subcategories[0].id"},
        ),
        (
            {"id": "r", "rule_name": "R", "actions": {"set_priority": "urgent"}, "continue": 1},
            RoutingRule,
            {"actions.set_priority", "continue"},
        ),
    ],
)  # fmt: skip
def test_structure_names_every_bad_field(data: dict[str, Any], cls: type, fields: set[str]) -> None:
    with pytest.raises(ValidationError) as info:
        structure(data, cls)
    assert {e.field for e in info.value.errors} == fields


def test_structure_refuses_a_non_object() -> None:
    with pytest.raises(ValidationError, match="expected an object"):
        structure(["not", "a", "dict"], Agent)


def test_seconds_twin_is_exact_when_text_agrees_and_text_wins_when_edited() -> None:
    base = {"id": "p", "response_time": "1 minute", "response_time_seconds": 90}
    assert structure(base, SlaPolicy).response_time == timedelta(seconds=90)
    edited = {"id": "p", "response_time": "2 hours", "response_time_seconds": 90}
    assert structure(edited, SlaPolicy).response_time == timedelta(hours=2)
    only_twin = {"id": "p", "response_time_seconds": 300}
    assert structure(only_twin, SlaPolicy).response_time == timedelta(minutes=5)


names = st.text(st.characters(categories=["Ll", "Nd"]), min_size=1, max_size=12)
durations = st.integers(min_value=1, max_value=10**6).map(lambda s: timedelta(seconds=s))


@given(
    st.builds(
        SlaPolicy,
        id=names,
        response_time=st.none() | durations,
        resolution_time=st.none() | durations,
        calendar=st.none() | names,
        warning_threshold=st.floats(min_value=0.01, max_value=0.99),
        pause_statuses=st.none() | st.tuples(names),
    )
)
def test_sla_policy_round_trips(policy: SlaPolicy) -> None:
    assert structure(to_dict(policy), SlaPolicy) == policy


@given(
    st.builds(
        Team,
        id=names,
        name=names,
        strategy=st.sampled_from(["round_robin", "least_loaded", "skills"]),
        members=st.lists(names, max_size=4).map(tuple),
    ),
    st.builds(Agent, id=names, name=names, skills=st.lists(names, max_size=3).map(tuple)),
)
def test_team_and_agent_round_trip(team: Team, agent: Agent) -> None:
    assert structure(to_dict(team), Team) == team
    assert structure(to_dict(agent), Agent) == agent
