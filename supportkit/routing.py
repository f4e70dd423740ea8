"""Routing: which rules a ticket matches, and where it goes.

Everything here is a pure function of its arguments: no clock, no storage, no
randomness. The same rules, facts, teams, agents, load counts and round-robin state
always give the same :class:`RoutingDecision`, so a decision can be replayed, tested
and explained. The caller loads the inputs, stores the decision (including the new
round-robin state) and applies it to the ticket.

How :func:`route` decides
-------------------------

1. **Rules, in order.** Inactive rules are skipped. The first rule whose conditions
   hold (:func:`matches`) matches and evaluation stops there, unless that rule has
   ``continue`` set, in which case later rules are evaluated as well, until the next
   matching rule without ``continue``. Every rule is tested against the *original*
   facts: one rule's ``set_priority`` does not change what later rules see, so a
   rule's conditions mean the same thing wherever it sits in the list.
2. **Combining actions.** Scalar actions (``assign_to``, ``escalate_after``,
   ``auto_update_frequency``, ``set_priority``) come from the first matched rule that
   sets them: earlier rules are the more specific ones. List actions (``notify``,
   ``add_tags``) are concatenated in rule order, without duplicates.
3. **Resolving an assignment target.** A name that is a team id sends the ticket to
   that team and :func:`choose_agent` picks one of its agents; otherwise a name that
   is the id of an active agent assigns the ticket straight to that agent. Team ids
   win over agent ids when a name is both. Any other name (unknown, or an inactive
   agent) is noted in :attr:`RoutingDecision.notes` and treated as if the rule had
   not assigned, so the next source gets its turn. A stale rule therefore never
   strands a ticket.
4. **Fallbacks.** When no rule assigned the ticket, the subcategory's
   ``routing_rules.auto_assign`` is tried, then the category's ``default_team``, each
   resolved as in 3. Similarly ``escalate_after`` falls back to the subcategory's
   ``routing_rules.escalation_threshold``.

A target that resolves to a team counts as assigned even when the team has no eligible
agent: the ticket then waits in the team's queue (``agent`` is ``None``) and a note
says so. Falling through to another team instead would silently route around a team
that is merely short-staffed right now.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Final, TypeVar

import attrs

from .models import Agent, Category, RoutingRule, RuleConditions, Team

__all__ = [
    "RoutingDecision",
    "RoutingPlan",
    "TicketFacts",
    "choose_agent",
    "decide",
    "matches",
    "plan",
    "route",
]

# Read-only, so sharing one instance between calls as a default is safe.
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})

T = TypeVar("T")


@attrs.frozen
class TicketFacts:
    """What routing and SLA-policy conditions look at.

    A projection of a ticket (plus its customer's tier) rather than the ticket
    itself, so that a ticket can be routed before it exists, from the create request,
    and so that conditions cannot come to depend on state such as the status or the
    assignee that routing itself changes.
    """

    category: str
    priority: str
    title: str = ""
    description: str = ""
    subcategory: str | None = None
    severity: str | None = None
    customer_id: str | None = None
    customer_tier: str | None = None
    service_affected: str | None = None
    custom_fields: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class RoutingDecision:
    """The outcome of :func:`route`; the caller applies it to the ticket.

    :ivar matched_rules: ids of the rules that matched, in evaluation order (stored on
        the ticket to explain why it went where it went).
    :ivar team: the team the ticket goes to; ``None`` when it was assigned straight to
        an agent, or not assigned at all.
    :ivar agent: the agent chosen; ``None`` when no eligible agent exists or nothing
        assigned the ticket.
    :ivar assignment_source: what decided the assignment: ``"rule:<rule id>"``,
        ``"subcategory"``, ``"category"``, or ``None`` when nothing did.
    :ivar notify: addresses to notify, from all matched rules, first occurrence first.
    :ivar escalate_after: from the first matched rule that sets it, else the
        subcategory's escalation threshold.
    :ivar auto_update_frequency: from the first matched rule that sets it.
    :ivar set_priority: from the first matched rule that sets it; ``None`` leaves the
        ticket's priority alone.
    :ivar add_tags: tags from all matched rules, first occurrence first.
    :ivar round_robin: the round-robin state to store for the next call: the input
        state, plus ``{team id: agent id}`` when a team picked an agent (whatever the
        team's strategy, see :func:`route`).
    :ivar notes: why something in the configuration was ignored, for operators.
    """

    matched_rules: tuple[str, ...]
    team: str | None
    agent: str | None
    assignment_source: str | None
    notify: tuple[str, ...]
    escalate_after: timedelta | None
    auto_update_frequency: timedelta | None
    set_priority: str | None
    add_tags: tuple[str, ...]
    round_robin: Mapping[str, str]
    notes: tuple[str, ...] = ()


# -- conditions ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str] | None:
    """The compiled whole-word pattern for ``keyword``, or ``None`` for a blank one.

    Rules are evaluated for every ticket against a small, stable set of keywords, so
    compiling each once pays. Words of a phrase may be separated by any whitespace
    (``"network outage"`` finds ``"Network\\n  outage"``). The look-arounds rather than
    ``\\b`` make keywords that start or end with punctuation (``"c++"``, ``".net"``)
    work: ``\\b`` needs a word character on one side.
    """
    words = keyword.split()
    if not words:
        return None
    body = r"\s+".join(re.escape(word) for word in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _keyword_found(keyword: str, facts: TicketFacts) -> bool:
    pattern = _keyword_pattern(keyword)
    if pattern is None:
        return False
    # Title and description are searched apart so a phrase cannot straddle the two.
    return bool(pattern.search(facts.title) or pattern.search(facts.description))


def _custom_field_holds(facts: TicketFacts, name: str, allowed: tuple[str, ...]) -> bool:
    value = facts.custom_fields.get(name)
    if value is None:  # missing, or JSON null: no value to compare
        return False
    values = value if isinstance(value, list | tuple) else (value,)
    return any(str(item) in allowed for item in values if item is not None)


def matches(conditions: RuleConditions, facts: TicketFacts) -> bool:
    """Whether every condition that is set holds for ``facts``.

    One function for routing rules and SLA policies, so a condition means the same in
    both places.

    - A condition is a tuple of values and holds when *any* of them does; an empty
      tuple is no condition at all, so ``RuleConditions()`` matches every ticket.
    - ``category``, ``subcategory``, ``priority``, ``severity``, ``customer_tier``,
      ``customer_id`` and ``service_affected`` compare exactly (case matters: they
      are identifiers, not prose). A condition on a field the ticket does not have
      (``None``) does not hold.
    - ``keywords`` are searched in the title and the description, case-insensitively,
      as whole words: ``"down"`` finds ``"Network DOWN."`` but not ``"download"`` or
      ``"slowdown"``. A keyword of several words is a whole phrase, its words
      separated by any whitespace. A blank keyword never matches.
    - ``custom_fields``: every named field must be present in the ticket's custom
      fields with one of the listed values. Values compare as strings (conditions
      come from JSON where ``5`` and ``"5"`` are easily confused); a list value on
      the ticket matches if any element does; ``None`` counts as absent. A field
      listed with no values is, like an empty tuple elsewhere, no condition.
    """
    exact: tuple[tuple[tuple[str, ...], str | None], ...] = (
        (conditions.category, facts.category),
        (conditions.subcategory, facts.subcategory),
        (conditions.priority, facts.priority),
        (conditions.severity, facts.severity),
        (conditions.customer_tier, facts.customer_tier),
        (conditions.customer_id, facts.customer_id),
        (conditions.service_affected, facts.service_affected),
    )
    for wanted, actual in exact:
        if wanted and (actual is None or actual not in wanted):
            return False
    if conditions.keywords and not any(
        _keyword_found(keyword, facts) for keyword in conditions.keywords
    ):
        return False
    return all(
        _custom_field_holds(facts, name, allowed)
        for name, allowed in conditions.custom_fields.items()
        if allowed
    )


# -- choosing an agent ------------------------------------------------------------------


def _eligible(team: Team, agents: Mapping[str, Agent]) -> list[str]:
    """Active, known members in member order, each once."""
    seen: set[str] = set()
    out: list[str] = []
    for member in team.members:
        agent = agents.get(member)
        if member in seen or agent is None or not agent.active:
            continue
        seen.add(member)
        out.append(member)
    return out


@functools.lru_cache(maxsize=4096)
def _terms(values: tuple[str | None, ...]) -> frozenset[str]:
    """Each value lowercased, plus each of its ``_``-separated tokens. Remembered: the
    same agents' skills and the same categories come back ticket after ticket."""
    out: set[str] = set()
    for value in values:
        if not value:
            continue
        lowered = value.lower()
        out.add(lowered)
        out.update(token for token in lowered.split("_") if token)
    return frozenset(out)


def _round_robin(team: Team, eligible: list[str], last_assigned: str | None) -> str:
    if last_assigned is None or last_assigned not in team.members:
        return eligible[0]
    start = team.members.index(last_assigned) + 1
    # Walk the member order (not the eligible list) so that a last agent who has since
    # gone inactive still marks the position to continue from. The walk ends with
    # ``last_assigned`` itself: a lone eligible agent gets every ticket.
    rotation = team.members[start:] + team.members[:start]
    return next(member for member in rotation if member in eligible)


def choose_agent(
    team: Team,
    agents: Mapping[str, Agent],
    open_counts: Mapping[str, int],
    facts: TicketFacts,
    last_assigned: str | None = None,
) -> str | None:
    """The agent of ``team`` who should take the ticket, or ``None`` if none can.

    Only members that exist in ``agents`` and are active are eligible; unknown ids in
    the member list are skipped rather than fatal, since teams and agents are edited
    independently. Every strategy is deterministic and breaks ties by member order,
    so the team's member list is also its order of preference.

    - ``round_robin``: the next eligible member after ``last_assigned`` in member
      order, wrapping around. If ``last_assigned`` has gone inactive, the turn still
      passes from its position; if it is ``None`` or no longer a member, the first
      eligible member goes first. The state is the last agent rather than a
      position, so adding members or deactivating one does not shift whose turn it is.
    - ``least_loaded``: the fewest open tickets (``open_counts``, missing = 0).
    - ``skills``: the most ticket terms among the agent's terms. Ticket terms are the
      category, subcategory, service affected and severity, lowercased, plus each of
      their ``_``-separated tokens; agent terms are the agent's skills and
      specialization treated the same way, so a ``network_infrastructure``
      specialist scores on category ``network``. Ties go to fewer open tickets, then
      member order. When nobody scores, this is simply least-loaded: somebody still
      has to take the ticket.
    """
    eligible = _eligible(team, agents)
    if not eligible:
        return None
    if team.strategy == "least_loaded":
        return min(eligible, key=lambda member: open_counts.get(member, 0))
    if team.strategy == "skills":
        wanted = _terms((facts.category, facts.subcategory, facts.service_affected, facts.severity))

        def rank(member: str) -> tuple[int, int]:
            agent = agents[member]
            offered = _terms((*agent.skills, agent.specialization))
            return (-len(wanted & offered), open_counts.get(member, 0))

        # min() keeps the first of equal keys, i.e. the earliest member.
        return min(eligible, key=rank)
    return _round_robin(team, eligible, last_assigned)


# -- routing ------------------------------------------------------------------------------


@attrs.frozen
class _Target:
    team: str | None
    agent: str | None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _first(*values: T | None) -> T | None:
    return next((value for value in values if value is not None), None)


@attrs.frozen
class RoutingPlan:
    """Where the rules and fallbacks send a ticket, before a team picks an agent.

    The first half of :func:`route`. A caller that loads the team's inputs (open
    ticket counts, round-robin state) from storage asks :func:`plan` first, loads
    only what :attr:`team` needs, then finishes with :func:`decide`.
    """

    matched: tuple[RoutingRule, ...]
    #: The team the ticket goes to (an agent is still to be chosen), if any.
    team: str | None
    #: The agent a rule or fallback assigned directly, if any.
    agent: str | None
    source: str | None
    #: The subcategory's ``escalation_threshold`` (the fallback of ``escalate_after``).
    escalation_threshold: timedelta | None
    notes: tuple[str, ...]


def plan(
    rules: Sequence[RoutingRule],
    facts: TicketFacts,
    *,
    category: Category | None = None,
    teams: Mapping[str, Team] = _EMPTY,
    agents: Mapping[str, Agent] = _EMPTY,
) -> RoutingPlan:
    """Match ``rules`` and resolve the assignment target (steps 1–4 of :func:`route`)."""
    matched: list[RoutingRule] = []
    for rule in rules:
        if not rule.active or not matches(rule.conditions, facts):
            continue
        matched.append(rule)
        if not rule.continue_:
            break

    notes: list[str] = []

    def resolve(name: str, source: str) -> _Target | None:
        if name in teams:
            return _Target(team=name, agent=None)
        agent = agents.get(name)
        if agent is not None and agent.active:
            return _Target(team=None, agent=name)
        what = "inactive agent" if agent is not None else "unknown target"
        notes.append(f"{source} assigns to {what} {name!r}; ignored")
        return None

    # (target name, assignment source, who to blame in a note), in order of precedence.
    candidates: list[tuple[str, str, str]] = []
    for rule in matched:
        if rule.actions.assign_to is not None:
            candidates.append((rule.actions.assign_to, f"rule:{rule.id}", f"rule {rule.id}"))
    sub = category.subcategory(facts.subcategory) if category is not None else None
    sub_routing = sub.routing_rules if sub is not None else None
    if sub is not None and sub_routing is not None and sub_routing.auto_assign is not None:
        candidates.append((sub_routing.auto_assign, "subcategory", f"subcategory {sub.id!r}"))
    if category is not None and category.default_team is not None:
        candidates.append((category.default_team, "category", f"category {category.id!r}"))

    target: _Target | None = None
    source: str | None = None
    for name, candidate_source, who in candidates:
        target = resolve(name, who)
        if target is not None:
            source = candidate_source
            break
    return RoutingPlan(
        matched=tuple(matched),
        team=target.team if target is not None else None,
        agent=target.agent if target is not None else None,
        source=source,
        escalation_threshold=(
            sub_routing.escalation_threshold if sub_routing is not None else None
        ),
        notes=tuple(notes),
    )


def decide(
    planned: RoutingPlan,
    facts: TicketFacts,
    *,
    teams: Mapping[str, Team] = _EMPTY,
    agents: Mapping[str, Agent] = _EMPTY,
    open_counts: Mapping[str, int] = _EMPTY,
    round_robin: Mapping[str, str] = _EMPTY,
) -> RoutingDecision:
    """Finish a :func:`plan`: the planned team picks an agent; the actions combine."""
    notes = list(planned.notes)
    state = dict(round_robin)
    team_id, agent_id = planned.team, planned.agent
    if team_id is not None:
        agent_id = choose_agent(
            teams[team_id], agents, open_counts, facts, round_robin.get(team_id)
        )
        if agent_id is None:
            notes.append(f"team {team_id!r} has no eligible agent; the ticket waits in its queue")
        else:
            state[team_id] = agent_id

    matched = planned.matched
    actions = [rule.actions for rule in matched]
    return RoutingDecision(
        matched_rules=tuple(rule.id for rule in matched),
        team=team_id,
        agent=agent_id,
        assignment_source=planned.source,
        notify=_unique(address for a in actions for address in a.notify),
        escalate_after=_first(*(a.escalate_after for a in actions), planned.escalation_threshold),
        auto_update_frequency=_first(*(a.auto_update_frequency for a in actions)),
        set_priority=_first(*(a.set_priority for a in actions)),
        add_tags=_unique(tag for rule in matched for tag in rule.actions.add_tags),
        round_robin=state,
        notes=tuple(notes),
    )


def route(
    rules: Sequence[RoutingRule],
    facts: TicketFacts,
    *,
    category: Category | None = None,
    teams: Mapping[str, Team] = _EMPTY,
    agents: Mapping[str, Agent] = _EMPTY,
    open_counts: Mapping[str, int] = _EMPTY,
    round_robin: Mapping[str, str] = _EMPTY,
) -> RoutingDecision:
    """Evaluate ``rules`` for a ticket and decide where it goes.

    See the module documentation for the order of evaluation, how the actions of
    several matched rules combine and how targets and fallbacks are resolved. The
    same as :func:`decide` of :func:`plan`.

    :param rules: the routing rules, in evaluation order.
    :param facts: the ticket, as conditions see it.
    :param category: the ticket's category, for the subcategory's and the category's
        fallbacks; without it there are none.
    :param teams: teams by id; assignment targets are looked up here first.
    :param agents: agents by id; for direct assignment and team members.
    :param open_counts: open tickets per agent id, for load-based strategies.
    :param round_robin: per team id, the agent it last assigned a ticket to.

    The returned round-robin state records the chosen agent for *every* team
    assignment that picked one, whatever the team's strategy: the state then always
    means "who this team last gave a ticket to", and a team switched to round robin
    later continues from there. The input mapping is never modified.
    """
    planned = plan(rules, facts, category=category, teams=teams, agents=agents)
    return decide(
        planned, facts, teams=teams, agents=agents, open_counts=open_counts,
        round_robin=round_robin,
    )  # fmt: skip
