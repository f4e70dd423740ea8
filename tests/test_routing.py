"""Tests for supportkit.routing: conditions, actions, fallbacks and team strategies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportkit.models import Agent, Category, RoutingRule, RuleConditions, Team, structure
from supportkit.routing import RoutingDecision, TicketFacts, choose_agent, matches, route

# -- helpers ------------------------------------------------------------------------------


def rule(
    rule_id: str,
    conditions: dict[str, Any] | None = None,
    *,
    cont: bool | None = None,
    **extra: Any,
) -> RoutingRule:
    """A rule from the API's JSON shape; ``extra`` holds actions/active, ``cont`` continue."""
    data: dict[str, Any] = {"id": rule_id, "rule_name": rule_id.replace("_", " ").title()}
    if conditions is not None:
        data["conditions"] = conditions
    if cont is not None:
        data["continue"] = cont
    data.update(extra)
    return structure(data, RoutingRule)


def facts(**overrides: Any) -> TicketFacts:
    base: dict[str, Any] = {"category": "network", "priority": "medium"}
    base.update(overrides)
    return TicketFacts(**base)


def conditions(data: dict[str, Any]) -> RuleConditions:
    return structure(data, RuleConditions)


AGENTS: dict[str, Agent] = {
    "a1": Agent("a1", "Ana", specialization="network_infrastructure"),
    "a2": Agent("a2", "Bo", skills=("billing", "refunds")),
    "a3": Agent("a3", "Cy", skills=("hardware",), specialization="printers"),
    "a4": Agent("a4", "Di", active=False, specialization="network_infrastructure"),
    "solo": Agent("solo", "Solo"),
    "gone": Agent("gone", "Gone", active=False),
}

TEAMS: dict[str, Team] = {
    "net_team": Team("net_team", "Network", "round_robin", ("a1", "a2", "a3")),
    "load_team": Team("load_team", "Load", "least_loaded", ("a1", "a2", "a3")),
    "empty_team": Team("empty_team", "Empty", "round_robin", ("a4", "ghost")),
}

CATEGORY: Category = structure(
    {
        "id": "network",
        "name": "Network",
        "sla": {"response_time": "1 hour", "resolution_time": "4 hours"},
        "default_team": "load_team",
        "subcategories": [
            {
                "id": "vpn",
                "name": "VPN",
                "routing_rules": {"auto_assign": "net_team", "escalation_threshold": "2 hours"},
            },
            {"id": "wifi", "name": "Wi-Fi", "routing_rules": {"auto_assign": "nobody"}},
            {"id": "dns", "name": "DNS"},
        ],
    },
    Category,
)


def decide(
    rules: list[RoutingRule], ticket: TicketFacts | None = None, **kw: Any
) -> RoutingDecision:
    kw.setdefault("teams", TEAMS)
    kw.setdefault("agents", AGENTS)
    return route(rules, ticket or facts(), **kw)


# -- conditions ---------------------------------------------------------------------------

STRING_CONDITION_CASES = [
    # (condition, facts, expected)
    ({"category": "network"}, {"category": "network"}, True),
    ({"category": "network"}, {"category": "billing"}, False),
    ({"category": ["billing", "network"]}, {"category": "network"}, True),
    ({"category": ["billing", "hardware"]}, {"category": "network"}, False),
    ({"category": "Network"}, {"category": "network"}, False),  # exact, case matters
    ({"subcategory": "vpn"}, {"subcategory": "vpn"}, True),
    ({"subcategory": "vpn"}, {"subcategory": "wifi"}, False),
    ({"subcategory": ["wifi", "vpn"]}, {"subcategory": "vpn"}, True),
    ({"subcategory": "vpn"}, {}, False),  # None in facts
    ({"priority": "high"}, {"priority": "high"}, True),
    ({"priority": "high"}, {"priority": "low"}, False),
    ({"priority": ["high", "critical"]}, {"priority": "critical"}, True),
    ({"priority": ["high", "critical"]}, {"priority": "medium"}, False),
    ({"severity": "major"}, {"severity": "major"}, True),
    ({"severity": "major"}, {"severity": "minor"}, False),
    ({"severity": ["major", "critical"]}, {"severity": "critical"}, True),
    ({"severity": "major"}, {}, False),
    ({"customer_tier": "enterprise"}, {"customer_tier": "enterprise"}, True),
    ({"customer_tier": "enterprise"}, {"customer_tier": "basic"}, False),
    ({"customer_tier": ["premium", "enterprise"]}, {"customer_tier": "premium"}, True),
    ({"customer_tier": "enterprise"}, {}, False),
    ({"customer_id": "cust_1"}, {"customer_id": "cust_1"}, True),
    ({"customer_id": "cust_1"}, {"customer_id": "cust_2"}, False),
    ({"customer_id": ["cust_2", "cust_1"]}, {"customer_id": "cust_1"}, True),
    ({"customer_id": "cust_1"}, {}, False),
    ({"service_affected": "internet"}, {"service_affected": "internet"}, True),
    ({"service_affected": "internet"}, {"service_affected": "voice"}, False),
    ({"service_affected": ["voice", "internet"]}, {"service_affected": "internet"}, True),
    ({"service_affected": "internet"}, {}, False),
    ({"category": []}, {"category": "anything"}, True),  # empty list: no condition
    ({"severity": []}, {}, True),
]


@pytest.mark.parametrize(("condition", "ticket", "expected"), STRING_CONDITION_CASES)
def test_string_conditions(
    condition: dict[str, Any], ticket: dict[str, Any], expected: bool
) -> None:
    assert matches(conditions(condition), facts(**ticket)) is expected


KEYWORD_CASES = [
    # (keywords, title, description, expected)
    (["down"], "Network down.", "", True),
    (["down"], "NETWORK DOWN", "", True),
    (["DOWN"], "network is down", "", True),
    (["down"], "Cannot download the file", "", False),
    (["down"], "Big slowdown today", "", False),
    (["down"], "down_stream is broken", "", False),  # underscore is a word character
    (["down"], "(down)", "", True),
    (["down"], "Is it down?", "", True),
    (["down"], "down-time since noon", "", True),  # a hyphen ends a word
    (["down"], "All fine", "the link went down, again", True),  # description searched
    (["down"], "", "", False),
    (["outage", "down", "offline"], "Printer offline", "", True),  # any of
    (["outage", "offline"], "Printer jammed", "", False),
    (["network outage"], "Major network outage reported", "", True),
    (["network outage"], "Major NETWORK   Outage", "", True),  # any whitespace, any case
    (["network outage"], "network\noutage", "", True),
    (["network outage"], "outage of the network", "", False),  # a phrase, in order
    (["network outage"], "network outages", "", False),  # whole phrase
    (["network outage"], "subnetwork outage", "", False),
    (["network outage"], "About the network", "outage since 9am", False),  # no straddling
    (["c++"], "Build fails on C++ code", "", True),
    (["c++"], "Build fails on c code", "", False),
    (["a.b"], "axb", "", False),  # regex characters are literal
    (["a.b"], "see a.b now", "", True),
    (["   "], "anything at all", "", False),  # a blank keyword never matches
    (["café"], "Le Café est fermé", "", True),
]


@pytest.mark.parametrize(("keywords", "title", "description", "expected"), KEYWORD_CASES)
def test_keyword_conditions(
    keywords: list[str], title: str, description: str, expected: bool
) -> None:
    ticket = facts(title=title, description=description)
    assert matches(conditions({"keywords": keywords}), ticket) is expected


CUSTOM_FIELD_CASES = [
    # (condition, custom_fields, expected)
    ({"site": "hq"}, {"site": "hq"}, True),
    ({"site": "hq"}, {"site": "branch"}, False),
    ({"site": ["branch", "hq"]}, {"site": "hq"}, True),
    ({"site": "hq"}, {}, False),  # missing
    ({"site": "hq"}, {"other": "hq"}, False),
    ({"site": "hq"}, {"site": None}, False),  # null counts as absent
    ({"floor": 5}, {"floor": 5}, True),  # compared as strings
    ({"floor": "5"}, {"floor": 5}, True),
    ({"floor": 5}, {"floor": "5"}, True),
    ({"floor": 5}, {"floor": 6}, False),
    ({"vip": True}, {"vip": True}, True),
    ({"vip": True}, {"vip": False}, False),
    ({"site": "hq"}, {"site": ["branch", "hq"]}, True),  # a list value: any element
    ({"site": "hq"}, {"site": ("branch", "hq")}, True),
    ({"site": "hq"}, {"site": ["branch", "lab"]}, False),
    ({"site": "hq"}, {"site": []}, False),
    ({"site": "HQ"}, {"site": "hq"}, False),
    ({"site": "hq", "floor": 5}, {"site": "hq", "floor": 5}, True),  # all must hold
    ({"site": "hq", "floor": 5}, {"site": "hq", "floor": 4}, False),
    ({"site": "hq", "floor": 5}, {"site": "hq"}, False),
    ({"site": []}, {}, True),  # no values listed: no condition
    ({}, {}, True),
]


@pytest.mark.parametrize(("condition", "custom", "expected"), CUSTOM_FIELD_CASES)
def test_custom_field_conditions(
    condition: dict[str, Any], custom: dict[str, Any], expected: bool
) -> None:
    ticket = facts(custom_fields=custom)
    assert matches(conditions({"custom_fields": condition}), ticket) is expected


SEED_CONDITIONS = {
    "category": "network",
    "priority": ["high", "critical"],
    "keywords": ["outage", "down", "offline"],
    "customer_tier": "enterprise",
}
SEED_TICKET = {
    "category": "network",
    "priority": "high",
    "title": "Site offline",
    "customer_tier": "enterprise",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"category": "billing"}, False),
        ({"priority": "low"}, False),
        ({"title": "Site slow"}, False),
        ({"customer_tier": "basic"}, False),
        ({"customer_tier": None}, False),
        ({"priority": "critical", "title": "Everything DOWN"}, True),
    ],
)
def test_all_conditions_must_hold(change: dict[str, Any], expected: bool) -> None:
    ticket = facts(**{**SEED_TICKET, **change})
    assert matches(conditions(SEED_CONDITIONS), ticket) is expected


def test_empty_conditions_match_everything() -> None:
    assert matches(RuleConditions(), facts())
    assert matches(RuleConditions(), TicketFacts(category="", priority=""))


# -- actions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "attribute", "expected"),
    [
        ({"notify": ["oncall@example.com"]}, "notify", ("oncall@example.com",)),
        ({"notify": "oncall@example.com"}, "notify", ("oncall@example.com",)),
        ({"notify": ["a@x", "b@x", "a@x"]}, "notify", ("a@x", "b@x")),
        ({"escalate_after": "1 hour"}, "escalate_after", timedelta(hours=1)),
        ({"auto_update_frequency": "30 minutes"}, "auto_update_frequency", timedelta(minutes=30)),
        ({"set_priority": "critical"}, "set_priority", "critical"),
        ({"add_tags": ["vip", "network"]}, "add_tags", ("vip", "network")),
        ({}, "notify", ()),
        ({}, "escalate_after", None),
        ({}, "auto_update_frequency", None),
        ({}, "set_priority", None),
        ({}, "add_tags", ()),
    ],
)
def test_scalar_and_list_actions(actions: dict[str, Any], attribute: str, expected: Any) -> None:
    decision = decide([rule("rule_1", actions=actions)])
    assert decision.matched_rules == ("rule_1",)
    assert getattr(decision, attribute) == expected


def test_seed_rule_end_to_end() -> None:
    seed = rule(
        "rule_1",
        SEED_CONDITIONS,
        actions={
            "assign_to": "net_team",
            "notify": ["network-oncall@example.com"],
            "escalate_after": "1 hour",
            "auto_update_frequency": "30 minutes",
        },
        active=True,
    )
    decision = decide([seed], facts(**SEED_TICKET))
    assert decision == RoutingDecision(
        matched_rules=("rule_1",),
        team="net_team",
        agent="a1",
        assignment_source="rule:rule_1",
        notify=("network-oncall@example.com",),
        escalate_after=timedelta(hours=1),
        auto_update_frequency=timedelta(minutes=30),
        set_priority=None,
        add_tags=(),
        round_robin={"net_team": "a1"},
        notes=(),
    )
    # The same rule does not match a ticket that misses a condition.
    missed = decide([seed], facts(**{**SEED_TICKET, "customer_tier": "basic"}))
    assert missed.matched_rules == ()
    assert missed.team is None and missed.agent is None and missed.assignment_source is None


@pytest.mark.parametrize(
    ("target", "team", "agent", "source"),
    [
        ("net_team", "net_team", "a1", "rule:r"),  # a team: its strategy picks
        ("load_team", "load_team", "a1", "rule:r"),
        ("a3", None, "a3", "rule:r"),  # an active agent: straight to them
        ("solo", None, "solo", "rule:r"),
    ],
)
def test_assign_to_resolves_teams_and_agents(
    target: str, team: str | None, agent: str, source: str
) -> None:
    decision = decide([rule("r", actions={"assign_to": target})])
    assert (decision.team, decision.agent, decision.assignment_source) == (team, agent, source)
    assert decision.notes == ()


def test_team_id_wins_over_agent_id() -> None:
    teams = {"x": Team("x", "X", "round_robin", ("a2",))}
    agents = {**AGENTS, "x": Agent("x", "Also X")}
    decision = decide([rule("r", actions={"assign_to": "x"})], teams=teams, agents=agents)
    assert (decision.team, decision.agent) == ("x", "a2")


@pytest.mark.parametrize(
    ("target", "note"),
    [
        ("nobody", "rule r assigns to unknown target 'nobody'; ignored"),
        ("gone", "rule r assigns to inactive agent 'gone'; ignored"),
    ],
)
def test_unusable_target_falls_through_with_a_note(target: str, note: str) -> None:
    rules = [rule("r", actions={"assign_to": target, "add_tags": ["kept"]})]
    # Without a category there is nothing to fall through to.
    alone = decide(rules)
    assert (alone.team, alone.agent, alone.assignment_source) == (None, None, None)
    assert alone.notes == (note,)
    assert alone.add_tags == ("kept",)  # the rule's other actions still apply
    # With one, the category's default team takes over.
    fallback = decide(rules, category=CATEGORY)
    assert (fallback.team, fallback.assignment_source) == ("load_team", "category")
    assert fallback.notes == (note,)


def test_unusable_target_falls_through_to_next_matched_rule() -> None:
    rules = [
        rule("first", actions={"assign_to": "nobody"}, cont=True),
        rule("second", actions={"assign_to": "a3"}),
    ]
    decision = decide(rules, category=CATEGORY)
    assert (decision.team, decision.agent) == (None, "a3")
    assert decision.assignment_source == "rule:second"
    assert decision.notes == ("rule first assigns to unknown target 'nobody'; ignored",)


def test_team_without_eligible_agent_keeps_the_ticket() -> None:
    decision = decide([rule("r", actions={"assign_to": "empty_team"})], category=CATEGORY)
    assert (decision.team, decision.agent) == ("empty_team", None)
    assert decision.assignment_source == "rule:r"  # no fall-through to the category
    assert decision.round_robin == {}
    assert decision.notes == (
        "team 'empty_team' has no eligible agent; the ticket waits in its queue",
    )


# -- rule order, continue, combination -------------------------------------------------


def test_first_match_wins() -> None:
    rules = [
        rule("no_match", {"category": "billing"}, actions={"assign_to": "a2"}),
        rule("first", {"category": "network"}, actions={"assign_to": "a1", "add_tags": ["x"]}),
        rule("second", {"category": "network"}, actions={"assign_to": "a3", "add_tags": ["y"]}),
    ]
    decision = decide(rules)
    assert decision.matched_rules == ("first",)
    assert decision.agent == "a1"
    assert decision.add_tags == ("x",)


def test_inactive_rules_are_skipped() -> None:
    rules = [
        rule("off", actions={"assign_to": "a2", "notify": ["off@x"]}, active=False),
        rule("on", actions={"assign_to": "a3"}),
    ]
    decision = decide(rules)
    assert decision.matched_rules == ("on",)
    assert decision.agent == "a3"
    assert decision.notify == ()


def test_inactive_continue_rule_does_not_chain() -> None:
    rules = [
        rule("off", active=False, cont=True),
        rule("a"),
        rule("b"),
    ]
    assert decide(rules).matched_rules == ("a",)


def test_continue_chains_and_combines_actions() -> None:
    rules = [
        rule(
            "tagger",
            {"category": "network"},
            actions={"notify": ["a@x"], "add_tags": ["net"], "escalate_after": "1 hour"},
            cont=True,
        ),
        rule("skip", {"category": "billing"}, actions={"assign_to": "a2"}),
        rule(
            "prio",
            {"priority": "medium"},
            actions={
                "notify": ["b@x", "a@x"],
                "add_tags": ["net", "prio"],
                "set_priority": "high",
                "escalate_after": "3 hours",
                "auto_update_frequency": "1 hour",
            },
            cont=True,
        ),
        rule(
            "assign",
            actions={
                "assign_to": "a3",
                "set_priority": "low",
                "auto_update_frequency": "2 hours",
                "add_tags": ["end"],
            },
        ),
        rule("after_stop", actions={"assign_to": "a1", "add_tags": ["never"]}),
    ]
    decision = decide(rules)
    assert decision.matched_rules == ("tagger", "prio", "assign")
    assert decision.agent == "a3"
    assert decision.assignment_source == "rule:assign"
    assert decision.notify == ("a@x", "b@x")
    assert decision.add_tags == ("net", "prio", "end")
    assert decision.escalate_after == timedelta(hours=1)  # first that sets it
    assert decision.set_priority == "high"
    assert decision.auto_update_frequency == timedelta(hours=1)


def test_first_assigning_rule_wins_under_continue() -> None:
    rules = [
        rule("one", actions={"assign_to": "a1"}, cont=True),
        rule("two", actions={"assign_to": "a3"}),
    ]
    decision = decide(rules)
    assert decision.matched_rules == ("one", "two")
    assert (decision.agent, decision.assignment_source) == ("a1", "rule:one")


def test_continue_to_the_end_when_every_rule_continues() -> None:
    rules = [rule(f"r{i}", actions={"add_tags": [f"t{i}"]}, cont=True) for i in range(3)]
    decision = decide(rules)
    assert decision.matched_rules == ("r0", "r1", "r2")
    assert decision.add_tags == ("t0", "t1", "t2")


def test_conditions_see_the_original_facts() -> None:
    rules = [
        rule("raise", actions={"set_priority": "critical"}, cont=True),
        rule("critical_only", {"priority": "critical"}, actions={"add_tags": ["crit"]}),
        rule("medium", {"priority": "medium"}, actions={"add_tags": ["med"]}),
    ]
    decision = decide(rules, facts(priority="medium"))
    assert decision.matched_rules == ("raise", "medium")
    assert decision.set_priority == "critical"
    assert decision.add_tags == ("med",)


def test_no_rules() -> None:
    decision = route([], facts())
    assert decision == RoutingDecision(
        matched_rules=(),
        team=None,
        agent=None,
        assignment_source=None,
        notify=(),
        escalate_after=None,
        auto_update_frequency=None,
        set_priority=None,
        add_tags=(),
        round_robin={},
    )


# -- fallbacks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subcategory", "team", "agent", "source", "escalate_after", "notes"),
    [
        ("vpn", "net_team", "a1", "subcategory", timedelta(hours=2), ()),
        (
            "wifi",
            "load_team",
            "a1",
            "category",
            None,
            ("subcategory 'wifi' assigns to unknown target 'nobody'; ignored",),
        ),
        ("dns", "load_team", "a1", "category", None, ()),  # no routing_rules
        (None, "load_team", "a1", "category", None, ()),
        ("not_a_subcategory", "load_team", "a1", "category", None, ()),
    ],
)
def test_subcategory_and_category_fallbacks(
    subcategory: str | None,
    team: str,
    agent: str,
    source: str,
    escalate_after: timedelta | None,
    notes: tuple[str, ...],
) -> None:
    decision = decide([], facts(subcategory=subcategory), category=CATEGORY)
    assert (decision.team, decision.agent, decision.assignment_source) == (team, agent, source)
    assert decision.escalate_after == escalate_after
    assert decision.notes == notes


def test_rule_assignment_beats_fallbacks() -> None:
    decision = decide(
        [rule("r", actions={"assign_to": "a3"})], facts(subcategory="vpn"), category=CATEGORY
    )
    assert (decision.team, decision.agent, decision.assignment_source) == (None, "a3", "rule:r")
    # No assignment came from the subcategory, but its escalation threshold still applies.
    assert decision.escalate_after == timedelta(hours=2)


def test_rule_escalate_after_beats_subcategory_threshold() -> None:
    rules = [rule("r", actions={"escalate_after": "15 minutes"})]
    decision = decide(rules, facts(subcategory="vpn"), category=CATEGORY)
    assert decision.escalate_after == timedelta(minutes=15)
    assert decision.assignment_source == "subcategory"


def test_unknown_default_team_leaves_ticket_unassigned() -> None:
    category = structure(
        {
            "id": "billing",
            "name": "Billing",
            "sla": {"response_time": "1 hour", "resolution_time": "1 day"},
            "default_team": "ghost_team",
        },
        Category,
    )
    decision = decide([], facts(category="billing"), category=category)
    assert (decision.team, decision.agent, decision.assignment_source) == (None, None, None)
    assert decision.notes == ("category 'billing' assigns to unknown target 'ghost_team'; ignored",)


def test_category_default_can_name_an_agent() -> None:
    category = structure(
        {
            "id": "misc",
            "name": "Misc",
            "sla": {"response_time": "1 hour", "resolution_time": "1 day"},
            "default_team": "solo",
        },
        Category,
    )
    decision = decide([], facts(category="misc"), category=category)
    assert (decision.team, decision.agent, decision.assignment_source) == (None, "solo", "category")


# -- team strategies --------------------------------------------------------------------


def rr_team(*members: str) -> Team:
    return Team("t", "T", "round_robin", members)


@pytest.mark.parametrize(
    ("members", "last", "expected"),
    [
        (("a1", "a2", "a3"), None, "a1"),
        (("a1", "a2", "a3"), "a1", "a2"),
        (("a1", "a2", "a3"), "a2", "a3"),
        (("a1", "a2", "a3"), "a3", "a1"),  # wraps around
        (("a1", "a2", "a3"), "stranger", "a1"),  # not a member: start over
        (("a1", "a4", "a3"), "a1", "a3"),  # inactive members are skipped
        (("a1", "a4", "a3"), "a4", "a3"),  # an inactive last agent keeps its place
        (("a3", "a4", "a1"), "a4", "a1"),
        (("a1", "ghost", "a3"), "ghost", "a3"),  # unknown ids keep their place too
        (("a1", "ghost", "a3"), "a1", "a3"),
        (("a1", "a2"), "a2", "a1"),
        (("a1",), "a1", "a1"),  # a lone agent gets every ticket
        (("a4", "a1", "gone"), "a1", "a1"),
        (("a1", "a2", "a1"), "a2", "a1"),  # duplicates do not get extra turns
        (("a4", "gone", "ghost"), None, None),
        ((), None, None),
    ],
)
def test_round_robin(members: tuple[str, ...], last: str | None, expected: str | None) -> None:
    assert choose_agent(rr_team(*members), AGENTS, {}, facts(), last) == expected


def test_round_robin_cycles_through_route_state() -> None:
    rules = [rule("r", actions={"assign_to": "net_team"})]
    state: dict[str, str] = {"other_team": "zz"}
    picked = []
    for _ in range(5):
        decision = decide(rules, round_robin=state)
        picked.append(decision.agent)
        assert decision.round_robin == {"other_team": "zz", "net_team": decision.agent}
        state = dict(decision.round_robin)
    assert picked == ["a1", "a2", "a3", "a1", "a2"]


def test_route_does_not_modify_round_robin_input() -> None:
    state = {"net_team": "a1"}
    decision = decide([rule("r", actions={"assign_to": "net_team"})], round_robin=state)
    assert decision.agent == "a2"
    assert state == {"net_team": "a1"}
    assert decision.round_robin is not state


def test_round_robin_state_is_recorded_for_every_strategy() -> None:
    decision = decide([rule("r", actions={"assign_to": "load_team"})], open_counts={"a1": 3})
    assert decision.agent == "a2"
    assert decision.round_robin == {"load_team": "a2"}


def test_direct_agent_assignment_leaves_state_alone() -> None:
    decision = decide([rule("r", actions={"assign_to": "a3"})], round_robin={"net_team": "a1"})
    assert decision.round_robin == {"net_team": "a1"}


@pytest.mark.parametrize(
    ("members", "counts", "expected"),
    [
        (("a1", "a2", "a3"), {"a1": 5, "a2": 2, "a3": 7}, "a2"),
        (("a1", "a2", "a3"), {"a1": 1, "a2": 1, "a3": 1}, "a1"),  # tie: member order
        (("a3", "a2", "a1"), {"a1": 1, "a2": 1, "a3": 1}, "a3"),
        (("a1", "a2", "a3"), {"a1": 2, "a2": 1, "a3": 1}, "a2"),
        (("a1", "a2", "a3"), {"a1": 2}, "a2"),  # missing counts are zero
        (("a1", "a2", "a3"), {}, "a1"),
        (("a4", "a2", "a3"), {"a2": 4, "a3": 4}, "a2"),  # inactive a4 (0 open) ignored
        (("ghost", "a3"), {"ghost": 0, "a3": 9}, "a3"),  # unknown members ignored
        (("a4", "gone"), {}, None),
    ],
)
def test_least_loaded(
    members: tuple[str, ...], counts: dict[str, int], expected: str | None
) -> None:
    team = Team("t", "T", "least_loaded", members)
    assert choose_agent(team, AGENTS, counts, facts(), last_assigned="a1") == expected


SKILLED: dict[str, Agent] = {
    "net": Agent("net", "Net", specialization="network_infrastructure"),
    "vpn": Agent("vpn", "Vpn", skills=("VPN", "remote_access")),
    "net_vpn": Agent("net_vpn", "Both", specialization="network", skills=("vpn",)),
    "print": Agent("print", "Print", skills=("printers",)),
    "print2": Agent("print2", "Print Two", skills=("printers",)),
    "off": Agent("off", "Off", skills=("network", "vpn", "internet"), active=False),
}


@pytest.mark.parametrize(
    ("members", "ticket", "counts", "expected"),
    [
        # specialization "network_infrastructure" has the token "network"
        (("print", "net"), {"category": "network"}, {}, "net"),
        # skills are lowercased and compared with the subcategory
        (("print", "vpn"), {"subcategory": "vpn"}, {}, "vpn"),
        # the highest score wins, regardless of load
        (("net", "vpn", "net_vpn"), {"subcategory": "vpn"}, {"net_vpn": 9}, "net_vpn"),
        # both sides are tokenised: "remote_desktop" and "remote_access" share "remote"
        (("net", "vpn"), {"category": "billing", "service_affected": "remote_desktop"}, {}, "vpn"),
        (("print", "net"), {"category": "printers", "severity": "minor"}, {}, "print"),
        # equal score: fewer open tickets
        (("print", "print2"), {"category": "printers"}, {"print": 3, "print2": 1}, "print2"),
        # equal score and load: member order
        (("print", "print2"), {"category": "printers"}, {"print": 1, "print2": 1}, "print"),
        (("print2", "print"), {"category": "printers"}, {}, "print2"),
        # nobody scores: least loaded, then member order
        (("net", "print"), {"category": "billing"}, {"net": 2}, "print"),
        (("net", "print"), {"category": "billing"}, {}, "net"),
        # inactive agents are never picked, whatever their skills
        (("off", "print"), {"category": "network", "subcategory": "vpn"}, {}, "print"),
        (("off", "ghost"), {"category": "network"}, {}, None),
    ],
)
def test_skills(
    members: tuple[str, ...], ticket: dict[str, Any], counts: dict[str, int], expected: str | None
) -> None:
    team = Team("t", "T", "skills", members)
    assert choose_agent(team, SKILLED, counts, facts(**ticket)) == expected


def test_skills_counts_matching_terms() -> None:
    # "net_vpn" matches both the category and the subcategory and beats "net",
    # which only matches the category, even though it is later and busier.
    team = Team("t", "T", "skills", ("net", "net_vpn"))
    ticket = facts(category="network", subcategory="vpn")
    assert choose_agent(team, SKILLED, {"net_vpn": 3}, ticket) == "net_vpn"


@pytest.mark.parametrize("strategy", ["round_robin", "least_loaded", "skills"])
def test_strategies_are_deterministic(strategy: str) -> None:
    team = Team("t", "T", strategy, ("a1", "a2", "a3"))
    ticket = facts(category="hardware")
    counts = {"a1": 1, "a2": 1, "a3": 1}
    first = choose_agent(team, AGENTS, counts, ticket)
    # Same inputs, and the same inputs in another mapping order: same answer.
    shuffled = dict(reversed(list(AGENTS.items())))
    for _ in range(5):
        assert choose_agent(team, AGENTS, counts, ticket) == first
        assert choose_agent(team, shuffled, dict(reversed(list(counts.items()))), ticket) == first


# -- properties -------------------------------------------------------------------------

_word = st.sampled_from(["network", "down", "vpn", "billing", "outage", "x", "Down.", ""])
_maybe = st.one_of(st.none(), st.sampled_from(["network", "vpn", "major", "enterprise"]))
_facts = st.builds(
    TicketFacts,
    category=st.sampled_from(["network", "billing", "hardware"]),
    priority=st.sampled_from(["low", "medium", "high", "critical"]),
    title=st.lists(_word, max_size=4).map(" ".join),
    description=st.text(max_size=30),
    subcategory=st.one_of(st.none(), st.sampled_from(["vpn", "wifi", "dns"])),
    severity=_maybe,
    customer_id=_maybe,
    customer_tier=_maybe,
    service_affected=_maybe,
    custom_fields=st.dictionaries(st.sampled_from(["site", "floor"]), st.sampled_from(["hq", 5])),
)
_rule = st.builds(
    lambda i, cond, target, cont, active: rule(
        f"r{i}",
        cond,
        actions={"assign_to": target, "add_tags": [f"t{i}"]},
        active=active,
        cont=cont,
    ),
    st.integers(0, 9),
    st.fixed_dictionaries(
        {},
        optional={
            "category": st.sampled_from(["network", "billing"]),
            "priority": st.lists(st.sampled_from(["low", "high", "critical"]), max_size=2),
            "keywords": st.lists(st.sampled_from(["down", "outage", "network outage"]), max_size=2),
            "subcategory": st.sampled_from(["vpn", "dns"]),
        },
    ),
    st.sampled_from(["net_team", "load_team", "empty_team", "a1", "a4", "gone", "nobody"]),
    st.booleans(),
    st.booleans(),
)


@given(
    ticket=_facts,
    rules=st.lists(_rule, max_size=5),
    counts=st.dictionaries(st.sampled_from(list(AGENTS)), st.integers(0, 5)),
    state=st.dictionaries(st.sampled_from(list(TEAMS)), st.sampled_from(list(AGENTS))),
)
def test_route_is_deterministic(
    ticket: TicketFacts,
    rules: list[RoutingRule],
    counts: dict[str, int],
    state: dict[str, str],
) -> None:
    assert matches(RuleConditions(), ticket)
    kwargs: dict[str, Any] = {
        "category": CATEGORY,
        "teams": TEAMS,
        "agents": AGENTS,
        "open_counts": counts,
        "round_robin": state,
    }
    first = route(rules, ticket, **kwargs)
    assert route(rules, ticket, **kwargs) == first
    # Whatever the rules, a chosen agent is active and a team is a known one.
    if first.agent is not None:
        assert AGENTS[first.agent].active
    assert first.team is None or first.team in TEAMS
    assert set(first.matched_rules) <= {r.id for r in rules}
