"""``supportkit demo``: a guided tour of tickets moving through their lifecycle.

The tour opens a :class:`~supportkit.desk.Desk` on an embedded SQLite file, installs
the seed's configuration, and replays a fixed timeline with the desk's injected clock,
so every run tells the same story: tickets are routed, answered, paused, escalated,
reopened and closed, with their SLA due dates on a 24×7 calendar and on a US Pacific
business calendar with US holidays.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from . import sla
from .desk import Desk
from .durations import format_duration
from .models import Ticket
from .setup import install, seed_configuration
from .storage import Event

__all__ = ["DEMO_DATABASE", "run_demo"]

#: The file the tour writes, recreated on every run.
DEMO_DATABASE: Final = "supportkit-demo.db"
PACIFIC: Final = ZoneInfo("America/Los_Angeles")
H: Final = timedelta(hours=1)
AGENT: Final = {"type": "agent", "id": "agent_network_specialist"}
VOICE_AGENT: Final = {"type": "agent", "id": "agent_voice_001"}
CUSTOMER: Final = {"type": "customer", "name": "John Smith"}


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 11, 1, 21, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment


def _stamp(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment.astimezone(PACIFIC):%a %d %b %H:%M}"


def _coloured(status: str) -> str:
    colour = {"met": "green", "breached": "red", "at_risk": "yellow"}.get(status)
    return f"[{colour}]{status}[/]" if colour else status


class _Tour:
    def __init__(self, desk: Desk, clock: _Clock, console: Console) -> None:
        self.desk = desk
        self.clock = clock
        self.console = console
        self.seen = 0  # events already shown

    def say(self, text: str) -> None:
        self.console.print(text)

    def show_sla(self, ticket: Ticket) -> None:
        desk, now = self.desk, self.clock.now
        state = desk.tickets.get(ticket.id).sla
        assert state is not None
        calendar = desk.calendars.get(state.calendar_id)
        table = Table(
            title=f"SLA at {_stamp(now)} on calendar {calendar.id}",
            title_justify="left",
            title_style="magenta",
            box=None,
            padding=(0, 1),
            header_style="dim",
        )
        for column in ("target", "for", "due", "status", "used"):
            table.add_column(column, no_wrap=True)
        for label, clock in (("response", state.response), ("resolution", state.resolution)):
            table.add_row(
                label,
                format_duration(clock.target),
                _stamp(clock.due_at),
                _coloured(sla.clock_status(clock, now)),
                format_duration(sla.elapsed(clock, now, calendar)),
            )
        self.console.print(table)

    def events(self) -> list[Event]:
        found = self.desk.events.list(limit=1000)
        new, self.seen = found[self.seen :], len(found)
        return new

    def step(self, moment: datetime, what: str, action: Any) -> Any:
        self.clock.at(moment)
        result = action()
        types = [e.type for e in self.events()]
        self.console.print(f"  {_stamp(moment)}  {what}")
        self.console.print(f"  {'':16}  [dim]events:[/] [cyan]{', '.join(types)}[/]")
        return result

    def created(self, ticket: Ticket) -> None:
        customer = self.desk.customers.get(ticket.customer_id or "")
        who = ticket.assigned_to.name if ticket.assigned_to else "nobody yet"
        self.say(
            f"\n[bold]{ticket.number}[/] {ticket.title!r}\n"
            f"  {ticket.priority} {ticket.category} for {customer.name} ({customer.tier}),"
            f" created {_stamp(ticket.created_at)}\n"
            f"  routed to team [cyan]{ticket.team or '—'}[/], agent [cyan]{who}[/]"
            + (f" by rule {ticket.routing_rules[0]}" if ticket.routing_rules else "")
        )
        self.events()
        self.show_sla(ticket)

    def tick(self, moment: datetime) -> None:
        self.clock.at(moment)
        self.say(f"  {_stamp(moment)}  the worker's tick fires the timers now due:")
        report = self.desk.tick()
        for event in self.events():
            detail = event.data.get("trigger") or event.data.get("escalation_reason") or ""
            self.say(f"  {'':16}  [yellow]{event.type}[/] {detail}")
        if not report.fired:
            self.say(f"  {'':16}  (nothing due)")

    # -- the story -------------------------------------------------------------------------

    def run(self) -> None:
        desk, c = self.desk, self.clock
        t0 = c.now  # Fri 1 Nov 2024 14:30 PDT

        outage = desk.tickets.create(
            {
                "title": "Network connectivity issues in San Francisco office",
                "description": "The MPLS link is down since 2 PM; half the office is offline.",
                "customer_id": "cust_1234567890",
                "contact": {"name": "John Smith", "email": "john.smith@example.com"},
                "category": "network",
                "subcategory": "connectivity",
                "priority": "high",
                "severity": "business_impacting",
            }
        )
        self.created(outage)
        self.step(
            t0 + 0.75 * H,
            "agent replies to the customer (the first response)",
            lambda: desk.comments.add(
                outage.id,
                {"content": "We are on it.", "type": "customer_update", "author": AGENT},
            ),
        )
        self.step(
            t0 + 1.25 * H,
            "update: in progress, priority critical (the seed's PUT)",
            lambda: desk.tickets.update(
                outage.id,
                {
                    "status": "in_progress",
                    "priority": "critical",
                    "internal_notes": "Provider confirms equipment failure at the local POP.",
                },
            ),
        )
        escalation = desk.tickets.get(outage.id).escalation
        self.say(f"    escalation level {escalation.level}: {escalation.reason}")
        self.tick(t0 + 3.5 * H)
        self.step(
            t0 + 3.75 * H,
            "resolved: provider replaced the equipment",
            lambda: desk.tickets.update(outage.id, {"status": "resolved"}),
        )
        self.show_sla(outage)

        c.at(datetime(2024, 11, 28, 0, 30, tzinfo=UTC))  # Wed 27 Nov 16:30 PST
        voice = desk.tickets.create(
            {
                "title": "Choppy audio on outbound calls",
                "description": "Several users hear choppy audio on calls to mobiles.",
                "customer_id": "cust_small",
                "category": "voice",
                "subcategory": "call_quality",
                "priority": "medium",
            }
        )
        self.created(voice)
        self.say(
            "  Thanksgiving (Thu 28 Nov) is a US holiday; the calendar is closed at night"
            " and on weekends."
        )
        friday = datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
        self.step(
            friday,
            "agent asks for a call sample, waits on the customer",
            lambda: (
                desk.comments.add(
                    voice.id, {"content": "Could you send a sample?", "author": VOICE_AGENT}
                ),
                desk.tickets.update(voice.id, {"status": "waiting_on_customer"}),
            ),
        )
        monday = datetime(2024, 12, 2, 19, 0, tzinfo=UTC)
        self.step(
            monday,
            "the customer sends the sample (the clock resumes)",
            lambda: desk.comments.add(voice.id, {"content": "Attached.", "author": CUSTOMER}),
        )
        self.tick(monday + timedelta(minutes=1))
        self.show_sla(voice)

        c.at(datetime(2024, 11, 4, 17, 0, tzinfo=UTC))
        slow = desk.tickets.create(
            {
                "title": "Slow downloads at the branch",
                "description": "Downloads crawl since this morning.",
                "customer_id": "cust_small",
                "category": "network",
                "subcategory": "performance",
                "priority": "low",
            }
        )
        self.created(slow)
        start = c.now
        self.step(
            start + 2 * H,
            "resolved",
            lambda: desk.tickets.update(slow.id, {"status": "resolved"}),
        )
        self.step(
            start + 20 * H,
            "the customer replies: still slow (a reopen)",
            lambda: desk.comments.add(slow.id, {"content": "Still slow.", "author": CUSTOMER}),
        )
        self.step(
            start + 22 * H,
            "resolved again, then closed",
            lambda: (
                desk.tickets.update(slow.id, {"status": "resolved"}),
                desk.tickets.update(slow.id, {"status": "closed"}),
            ),
        )
        self.show_sla(slow)
        reply = self.step(
            start + 30 * H,
            "the customer writes to the closed ticket",
            lambda: desk.comments.add(slow.id, {"content": "Slow again!", "author": CUSTOMER}),
        )
        follow_up = desk.tickets.get(reply.ticket_id)
        self.say(f"    it opened the linked follow-up {follow_up.number} {follow_up.title!r}")
        with contextlib.suppress(ValueError):
            desk.tickets.update(slow.id, {"status": "in_progress"})
        self.summary()

    def summary(self) -> None:
        desk = self.desk
        table = Table(
            title="\nAll tickets", title_justify="left", header_style="bold", box=None,
            padding=(0, 1),
        )  # fmt: skip
        for column in ("number", "status", "priority", "assignee", "response", "resolution"):
            table.add_column(column, no_wrap=True)
        for ticket in desk.tickets.search(sort={"field": "number", "order": "asc"}, limit=100):
            assert ticket.sla is not None
            table.add_row(
                ticket.number,
                ticket.status,
                ticket.priority,
                ticket.assigned_to.name if ticket.assigned_to else "—",
                _coloured(sla.clock_status(ticket.sla.response, self.clock.now)),
                _coloured(sla.clock_status(ticket.sla.resolution, self.clock.now)),
            )
        self.console.print(table)


def run_demo(console: Console | None = None, *, database: str | Path = DEMO_DATABASE) -> Path:
    """Replay the tour into a fresh SQLite file and print it; returns the file's path."""
    console = console or Console()
    path = Path(database)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    clock = _Clock()
    console.rule("[bold]supportkit demo[/]: tickets, lifecycle and SLA clocks")
    console.print(
        f"A desk on the embedded SQLite file {path}, replaying a fixed timeline\n"
        "with an injected clock; times are US Pacific."
    )
    with Desk.open(f"sqlite:///{path}", clock=clock, load_entrypoints=False) as desk:
        config = seed_configuration()
        # Voice tickets are measured in business hours, to show the calendar at work.
        for category in config["categories"]:
            if category["id"] == "voice":
                category["sla"] = {**category["sla"], "calendar": "us_pacific"}
        config["customers"] = [
            {"id": "cust_1234567890", "name": "Example Corp", "tier": "enterprise"},
            {"id": "cust_small", "name": "Small Shop", "tier": "standard"},
        ]
        install(desk, config)
        _Tour(desk, clock, console).run()
    console.print(f"\nEverything above is stored in {path}; run the tour again to start afresh.")
    return path
