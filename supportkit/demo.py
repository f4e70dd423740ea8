"""``supportkit demo``: a guided tour of tickets moving through their lifecycle.

The tour replays a fixed timeline with its own clock, so every run prints the same
story: three tickets are routed, answered, paused, escalated and resolved, and their
SLA due dates are measured on a 24×7 calendar and on a US Pacific business calendar
with US holidays.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
from rich.console import Console
from rich.table import Table

from . import escalation as esc
from . import sla
from . import workflow as wf
from .calendar import BusinessCalendar
from .durations import format_duration
from .models import Agent, Category, Customer, RoutingRule, Team, Ticket, structure
from .routing import TicketFacts, route
from .seed import SEED_AGENTS, SEED_CALENDARS, SEED_CATEGORIES, SEED_ROUTING_RULES, SEED_TEAMS

__all__ = ["run_demo"]

PACIFIC = ZoneInfo("America/Los_Angeles")
H = timedelta(hours=1)


class _Tour:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.calendars = {
            c.id: c
            for c in [
                BusinessCalendar.always_open(),
                *(BusinessCalendar.from_dict(d) for d in SEED_CALENDARS),
            ]
        }
        self.categories = {c["id"]: structure(c, Category) for c in SEED_CATEGORIES}
        # The tour measures voice tickets in business hours to show the calendar at work.
        voice = self.categories["voice"]
        self.categories["voice"] = attrs.evolve(
            voice, sla=attrs.evolve(voice.sla, calendar="us_pacific")
        )
        self.teams = {t["id"]: structure(t, Team) for t in SEED_TEAMS}
        self.agents = {a["id"]: structure(a, Agent) for a in SEED_AGENTS}
        self.rules = [structure(r, RoutingRule) for r in SEED_ROUTING_RULES]
        self.customers = {
            "cust_1234567890": Customer("cust_1234567890", "Example Corp", tier="enterprise"),
            "cust_small_shop": Customer("cust_small_shop", "Small Shop", tier="standard"),
        }
        self.open_counts: dict[str, int] = {}
        self.round_robin: dict[str, str] = {}
        self.serial = 0

    # -- helpers ---------------------------------------------------------------------------

    def stamp(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(PACIFIC)
        return f"{local:%a %d %b %H:%M}"

    def calendar_of(self, ticket: Ticket) -> BusinessCalendar:
        assert ticket.sla is not None
        return self.calendars[ticket.sla.calendar_id]

    def create(self, now: datetime, **fields: str) -> Ticket:
        customer = self.customers[fields["customer_id"]]
        facts = TicketFacts(
            category=fields["category"],
            priority=fields["priority"],
            title=fields["title"],
            description=fields["description"],
            subcategory=fields.get("subcategory"),
            customer_id=customer.id,
            customer_tier=customer.tier,
        )
        category = self.categories[facts.category]
        decision = route(
            self.rules,
            facts,
            category=category,
            teams=self.teams,
            agents=self.agents,
            open_counts=self.open_counts,
            round_robin=self.round_robin,
        )
        self.round_robin = dict(decision.round_robin)
        targets = sla.select_targets(category, [], facts)
        calendar = self.calendars[targets.calendar_id]
        self.serial += 1
        agent = self.agents.get(decision.agent) if decision.agent else None
        if agent is not None:
            self.open_counts[agent.id] = self.open_counts.get(agent.id, 0) + 1
        ticket = wf.open_ticket(
            id=f"ticket_demo{self.serial:03d}",
            number=f"SK-{now.year}-{self.serial:06d}",
            title=facts.title,
            description=facts.description,
            category=facts.category,
            subcategory=facts.subcategory,
            priority=decision.set_priority or facts.priority,
            customer_id=customer.id,
            customer_tier=customer.tier,
            now=now,
            targets=targets,
            calendar=calendar,
            decision=decision,
            agent=agent,
        )
        who = agent.name if agent else "nobody yet"
        via = decision.assignment_source or "no rule"
        self.console.print(
            f"\n[bold]{ticket.number}[/] {ticket.title!r} — {ticket.priority} {ticket.category}"
            f" for {customer.name} ({customer.tier})"
        )
        self.console.print(f"  created {self.stamp(now)}")
        self.console.print(
            f"  routed to team [cyan]{decision.team or '—'}[/], agent [cyan]{who}[/] (by {via})"
        )
        self.show_sla(ticket, now)
        return ticket

    def show_sla(self, ticket: Ticket, now: datetime) -> None:
        assert ticket.sla is not None
        state = ticket.sla
        calendar = self.calendars[state.calendar_id]
        table = Table(
            title=f"SLA at {self.stamp(now)} on calendar {calendar.id}",
            title_justify="left",
            title_style="magenta",
            box=None,
            padding=(0, 1),
            header_style="dim",
        )
        table.add_column("target", no_wrap=True)
        table.add_column("for", no_wrap=True)
        table.add_column("due", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("used", no_wrap=True)
        for label, clock in (("response", state.response), ("resolution", state.resolution)):
            table.add_row(
                label,
                format_duration(clock.target),
                self.stamp(clock.due_at),
                _coloured(sla.clock_status(clock, now)),
                format_duration(sla.elapsed(clock, now, calendar)),
            )
        self.console.print(table)

    def step(
        self,
        ticket: Ticket,
        now: datetime,
        what: str,
        change: Callable[[Ticket, BusinessCalendar], Ticket],
    ) -> Ticket:
        before = ticket.status
        ticket = change(ticket, self.calendar_of(ticket))
        moved = f"{before} → {ticket.status}" if ticket.status != before else "(no change)"
        self.console.print(f"  {self.stamp(now)}  {what}")
        self.console.print(f"  {'':16}  [green]{moved}[/]")
        return ticket

    # -- the story -------------------------------------------------------------------------

    def run(self) -> None:
        c = self.console
        c.rule("[bold]supportkit demo[/]: tickets, lifecycle and SLA clocks")
        c.print(
            "A replay on a fixed timeline; times are US Pacific. The pure core decides every"
            " move\nand nothing here reads the real clock."
        )

        # 1. An enterprise outage, routed by a rule, escalated by a priority upgrade.
        t0 = datetime(2024, 11, 1, 21, 30, tzinfo=UTC)  # Fri 14:30 PDT
        outage = self.create(
            t0,
            title="Network down in the San Francisco office",
            description="Users report the MPLS link is down since 2 PM; office offline.",
            category="network",
            subcategory="connectivity",
            priority="high",
            customer_id="cust_1234567890",
        )
        outage = self.step(
            outage,
            t0 + 0.75 * H,
            "agent replies to the customer (first response)",
            lambda t, cal: wf.record_response(t, t0 + 0.75 * H, cal),
        )
        outage = self.step(
            outage,
            t0 + H,
            "agent starts work",
            lambda t, cal: wf.change_status(t, "in_progress", t0 + H, cal),
        )

        def upgrade(t: Ticket, cal: BusinessCalendar) -> Ticket:
            category = self.categories[t.category]
            facts = wf.facts_of(t, customer_tier="enterprise")
            targets = sla.select_targets(category, [], facts)
            changed, _ = wf.change_priority(
                t, "critical", targets, t0 + 1.25 * H, cal, status_named=True
            )
            return changed

        outage = self.step(outage, t0 + 1.25 * H, "priority raised to critical", upgrade)
        c.print(f"    escalation level {outage.escalation.level}: {outage.escalation.reason}")
        tick_at = t0 + 7 * H
        c.print(f"  {self.stamp(tick_at)}  the worker's tick fires the timers now due:")
        outage, fired = wf.run_timers(outage, tick_at, self.calendar_of(outage))
        for item in fired:
            level = f", escalation level {item.escalation.level}" if item.escalation else ""
            c.print(f"  {self.stamp(item.timer.due_at)}  timer {item.timer.key}")
            c.print(f"  {'':16}  [yellow]{item.timer.event}[/]{level}")
        outage = self.step(
            outage,
            t0 + 7.5 * H,
            "provider replaced the equipment",
            lambda t, cal: wf.change_status(t, "resolved", t0 + 7.5 * H, cal),
        )
        self.show_sla(outage, t0 + 7.5 * H)

        # 2. Voice quality on business hours: created the evening before Thanksgiving.
        t1 = datetime(2024, 11, 28, 0, 30, tzinfo=UTC)  # Wed 27 Nov 16:30 PST
        voice = self.create(
            t1,
            title="Choppy audio on outbound calls",
            description="Several users hear choppy audio on calls to mobiles.",
            category="voice",
            subcategory="call_quality",
            priority="medium",
            customer_id="cust_small_shop",
        )
        c.print(
            "  Thanksgiving (Thu 28 Nov) is a US holiday and the calendar is closed at night"
            " and over the weekend."
        )
        friday_10 = datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
        voice = self.step(
            voice,
            friday_10,
            "agent asks for a call sample",
            lambda t, cal: wf.change_status(
                wf.record_response(t, friday_10, cal), "waiting_on_customer", friday_10, cal
            ),
        )
        monday_11 = datetime(2024, 12, 2, 19, 0, tzinfo=UTC)
        voice = self.step(
            voice,
            monday_11,
            "customer sends the sample (clock resumes)",
            lambda t, cal: wf.customer_reply(t, monday_11, cal)[0],
        )
        c.print(f"  {self.stamp(monday_11)}  the worker's tick fires the timers now due:")
        voice, fired = wf.run_timers(voice, monday_11, self.calendar_of(voice))
        for item in fired:
            level = f", escalation level {item.escalation.level}" if item.escalation else ""
            c.print(f"  {self.stamp(item.timer.due_at)}  timer {item.timer.key}")
            c.print(f"  {'':16}  [yellow]{item.timer.event}[/]{level}")
        self.show_sla(voice, monday_11)
        nxt = esc.next_escalation(voice, self.calendar_of(voice))
        c.print(f"  next automatic escalation: {self.stamp(nxt)}")

        # 3. A resolved ticket reopened by the customer, then closed.
        t2 = datetime(2024, 11, 4, 17, 0, tzinfo=UTC)
        small = self.create(
            t2,
            title="Slow downloads at the branch",
            description="Downloads crawl since this morning.",
            category="network",
            subcategory="performance",
            priority="low",
            customer_id="cust_small_shop",
        )
        small = self.step(
            small,
            t2 + 2 * H,
            "resolved",
            lambda t, cal: wf.change_status(t, "resolved", t2 + 2 * H, cal),
        )
        small = self.step(
            small,
            t2 + 20 * H,
            "customer replies: still slow (reopen)",
            lambda t, cal: wf.customer_reply(t, t2 + 20 * H, cal)[0],
        )
        small = self.step(
            small,
            t2 + 22 * H,
            "resolved again",
            lambda t, cal: wf.change_status(t, "resolved", t2 + 22 * H, cal),
        )
        small = self.step(
            small,
            t2 + 23 * H,
            "closed",
            lambda t, cal: wf.change_status(t, "closed", t2 + 23 * H, cal),
        )
        self.show_sla(small, t2 + 23 * H)
        try:
            wf.change_status(small, "in_progress", t2 + 24 * H, self.calendar_of(small))
        except ValueError as exc:
            c.print(f"  trying to reopen a closed ticket: [red]{exc}[/]")


def _coloured(status: str) -> str:
    colour = {"met": "green", "breached": "red", "at_risk": "yellow"}.get(status)
    return f"[{colour}]{status}[/]" if colour else status


def run_demo(console: Console | None = None) -> None:
    """Print the tour to ``console`` (standard output by default)."""
    _Tour(console or Console()).run()
