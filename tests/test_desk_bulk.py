"""``tickets.create_many``: a batch is written at once, yet decides like single creates."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from supportkit import signals
from supportkit.desk import Desk
from supportkit.errors import ValidationError

from .desk_fixtures import PDF, T0, Clock, b64, open_desk, seed_ticket


@pytest.fixture(params=["sqlite", "postgresql"])
def make_desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[Clock], Desk]]:
    """Opens fresh, seeded desks (each on its own database) on one backend."""
    made: list[Iterator[Desk]] = []

    def make(clock: Clock) -> Desk:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'support{len(made)}.db'}"
        else:
            url = request.getfixturevalue("postgres_schema_urls")()
        opened = open_desk(url, clock)
        made.append(opened)
        desk = next(opened)
        # Two agents take turns on network performance, so a batch that forgot the
        # turn it gave would show it.
        desk.teams.put(
            {
                "id": "network_performance_team", "name": "Network performance",
                "strategy": "round_robin",
                "members": ["agent_network_specialist", "agent_tech_001"],
            }
        )  # fmt: skip
        return desk

    yield make
    for opened in made:
        next(opened, None)


def mixed_bodies(count: int) -> list[dict[str, Any]]:
    """Bodies that reach every team of the seed and each routing strategy.

    The least-loaded network team gets most of them, so its two agents' loads stay
    close and the choice depends on counting the batch's own tickets.
    """
    shapes: list[dict[str, Any]] = [
        # The seed rule: enterprise, high, "down" -> escalation team (skills).
        seed_ticket(attachments=[]),
        # Network connectivity, standard customer -> network team (least loaded).
        seed_ticket(attachments=[], customer_id="cust_small", priority="low"),
        # Network performance -> performance team (round robin).
        seed_ticket(attachments=[], subcategory="performance", priority="medium"),
        # Voice -> voice team (round robin); no customer record.
        seed_ticket(
            attachments=[],
            category="voice",
            subcategory="call_quality",
            customer_id="cust_unknown",
        ),
        seed_ticket(attachments=[], customer_id="cust_small", priority="medium"),
        seed_ticket(attachments=[], customer_id="cust_small", priority="low"),
        seed_ticket(attachments=[], customer_id="cust_small", priority="high"),
        seed_ticket(attachments=[], subcategory="performance", priority="low"),
    ]
    return [dict(body) for body in itertools.islice(itertools.cycle(shapes), count)]


def decided(desk: Desk, tickets: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for ticket in tickets:
        sla = ticket.sla
        out.append(
            (
                ticket.number, ticket.team,
                ticket.assigned_to.agent_id if ticket.assigned_to else None,
                ticket.priority, sla.response.due_at, sla.resolution.due_at, ticket.routing_rules,
            )
        )  # fmt: skip
    return out


def all_tickets(desk: Desk) -> list[Any]:
    found = desk.tickets.search({}, sort="number", order="asc", limit=100)
    return list(found.items)


def test_a_batch_routes_numbers_and_times_like_single_creates(
    make_desk: Callable[[Clock], Desk],
) -> None:
    bulk, single = make_desk(Clock()), make_desk(Clock())
    bodies = mixed_bodies(23)
    assert bulk.tickets.create_many(bodies, batch_size=5) == 23
    for body in bodies:
        single.tickets.create(body)
    made_bulk, made_single = all_tickets(bulk), all_tickets(single)
    assert [t.number for t in made_bulk] == [f"SK-2024-{n:06d}" for n in range(1, 24)]
    assert decided(bulk, made_bulk) == decided(single, made_single)
    # The same clocks, and the same stored next timers (a batch computes each set of
    # clocks and timers once): the same tickets fall due at every instant.
    assert [t.sla for t in made_bulk] == [t.sla for t in made_single]
    by_number = {desk: {t.id: t.number for t in all_tickets(desk)} for desk in (bulk, single)}
    for hours in (0, 1, 2, 4, 8, 24, 72, 24 * 30):
        due = []
        for desk in (bulk, single):
            with desk.storage.write() as tx:  # claiming only locks; nothing is written
                ids = tx.claim_due_tickets(T0 + timedelta(hours=hours), 1000)
            due.append(sorted(by_number[desk][i] for i in ids))
        assert due[0] == due[1], hours
    assert due[0], "some timers fall due within 30 days"
    # The agents' load and the round-robin positions were written: what comes next
    # is routed alike too.
    after = mixed_bodies(7)
    assert decided(bulk, [bulk.tickets.create(b) for b in after]) == decided(
        single, [single.tickets.create(b) for b in after]
    )
    # Every ticket has its events, in creation order.
    for desk, tickets in ((bulk, made_bulk), (single, made_single)):
        created = [e for e in desk.events.list(limit=1000) if e.type == "ticket.created"]
        assert [e.ticket_id for e in created][:23] == [t.id for t in tickets]


def test_a_batch_stores_its_attachments(make_desk: Callable[[Clock], Desk]) -> None:
    desk = make_desk(Clock())
    body = seed_ticket()
    body["attachments"][0]["data"] = b64(PDF)
    desk.tickets.create_many([body, seed_ticket(attachments=[]), body], batch_size=3)
    tickets = all_tickets(desk)
    assert [len(t.attachments) for t in tickets] == [1, 0, 1]
    for ticket in (tickets[0], tickets[2]):
        stored = desk.attachments.get(ticket.attachments[0].id)
        assert stored.data == PDF
        assert stored.ticket_id == ticket.id


def test_a_bad_body_rolls_back_its_batch_only(make_desk: Callable[[Clock], Desk]) -> None:
    desk = make_desk(Clock())
    bodies = mixed_bodies(6)
    bodies[4]["priority"] = "urgent"
    with pytest.raises(ValidationError) as caught:
        desk.tickets.create_many(bodies, batch_size=3)
    assert caught.value.committed == 3  # type: ignore[attr-defined]
    assert "[4].priority" in {e.field for e in caught.value.errors}
    tickets = all_tickets(desk)
    assert [t.number for t in tickets] == ["SK-2024-000001", "SK-2024-000002", "SK-2024-000003"]
    assert len([e for e in desk.events.list(limit=100) if e.type == "ticket.created"]) == 3
    # The rolled-back batch took no numbers (or, on a backend that may leave gaps,
    # only numbers above the committed ones).
    number = int(desk.tickets.create(bodies[0]).number.rsplit("-", 1)[1])
    assert number >= 4


def test_tickets_of_one_batch_keep_their_own_customer_tier(
    make_desk: Callable[[Clock], Desk],
) -> None:
    desk = make_desk(Clock())
    bodies = [
        seed_ticket(attachments=[], customer_id=customer, priority="medium")
        for customer in ("cust_1234567890", "cust_small", "cust_unknown", "cust_1234567890")
    ]
    assert desk.tickets.create_many(bodies, batch_size=4) == 4
    made = all_tickets(desk)
    assert [t.sla.tier for t in made] == ["enterprise", "standard", None, "enterprise"]
    assert len({(t.sla.response, t.sla.resolution) for t in made}) == 1  # one set of clocks


class _Watched:
    """A write transaction that notes every call made while the backend is taking the
    tickets of ``insert_tickets`` (that is, while the Desk is making one)."""

    def __init__(self, tx: Any, calls: list[str], taken: list[int]) -> None:
        self._tx, self._calls, self._taken = tx, calls, taken
        self._inside = False

    def insert_tickets(self, pairs: Any) -> None:
        def watched() -> Iterator[Any]:
            iterator = iter(pairs)
            while True:
                self._inside = True
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self._inside = False
                self._taken[-1] += 1
                yield item

        self._taken.append(0)
        self._tx.insert_tickets(watched())

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._tx, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._inside:
                self._calls.append(name)
            return found(*args, **kwargs)

        return call


def test_a_batch_reads_everything_before_its_tickets_are_made(
    make_desk: Callable[[Clock], Desk], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend may stream the tickets of a batch (PostgreSQL's COPY) while the Desk
    makes them: the Desk must not use the transaction meanwhile, even when nothing is
    cached (every customer read again, every team first met in this batch)."""
    import supportkit.desk as desk_module

    desk = make_desk(Clock())
    monkeypatch.setattr(desk_module, "_CUSTOMERS_CACHED", 0)
    desk._snapshot = None
    calls: list[str] = []
    taken: list[int] = []
    storage = desk.storage
    real_write = storage.write

    class Writes:
        def __init__(self) -> None:
            self.manager = real_write()

        def __enter__(self) -> Any:
            return _Watched(self.manager.__enter__(), calls, taken)

        def __exit__(self, *exc: Any) -> Any:
            return self.manager.__exit__(*exc)

    monkeypatch.setattr(storage, "write", Writes)
    assert desk.tickets.create_many(mixed_bodies(19), batch_size=8) == 19
    assert taken == [8, 8, 3]
    assert calls == []
    tickets = all_tickets(desk)
    assert {t.team for t in tickets} >= {"network_performance_team", "network_team"}


def test_a_batch_runs_with_the_cyclic_collector_paused(
    make_desk: Callable[[Clock], Desk],
) -> None:
    """The collector is off while a batch is written (signals fire inside it, after its
    commit) and on again after every batch, the failed one included."""
    desk = make_desk(Clock())
    seen: list[bool] = []

    def created(sender: object, **payload: object) -> None:
        seen.append(gc.isenabled())

    def bodies() -> Iterator[dict[str, Any]]:
        for i, body in enumerate(mixed_bodies(6)):
            seen.append(gc.isenabled())  # read between batches: the collector is on
            if i == 4:
                body["priority"] = "urgent"
            yield body

    gc.enable()
    with signals.ticket_created.connected_to(created, sender=desk):
        assert desk.tickets.create_many(mixed_bodies(4), batch_size=2) == 4
        assert gc.isenabled()
        assert seen == [False] * 4
        seen.clear()
        with pytest.raises(ValidationError):
            desk.tickets.create_many(bodies(), batch_size=3)
    assert gc.isenabled()
    # Bodies 0-2 are read with the collector on, their batch commits with it off;
    # bodies 3-5 are read with it on, and their batch fails.
    assert seen == [True, True, True, False, False, False, True, True, True]
