"""Stored records: the cache of decoded values never returns a stale one."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from supportkit import records
from supportkit.desk import Desk
from supportkit.models import Ticket

from .desk_fixtures import Clock, seed, seed_ticket


@pytest.fixture
def ticket() -> Ticket:
    desk = seed(Desk.open("sqlite://", clock=Clock(), load_entrypoints=False))
    return desk.tickets.create(seed_ticket(attachments=[]))


def test_the_same_text_gives_the_value_decoded_before(ticket: Ticket) -> None:
    cache = records.RecordCache(Ticket)
    text = records.dumps(ticket)
    first = cache.load(ticket.id, text)
    assert first == ticket
    assert cache.load(ticket.id, text) is first


def test_new_text_for_a_key_is_decoded_afresh(ticket: Ticket) -> None:
    cache = records.RecordCache(Ticket)
    cache.remember(ticket.id, records.dumps(ticket), ticket)
    changed = attrs.evolve(ticket, title="Another title", version=ticket.version + 1)
    loaded = cache.load(ticket.id, records.dumps(changed))
    assert loaded == changed and loaded.title == "Another title"


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_used(
    ticket: Ticket,
) -> None:
    cache = records.RecordCache(Ticket, size=3)
    text = records.dumps(ticket)
    for key in "abc":
        cache.load(key, text)
    kept = cache.load("a", text)  # "a" is now the most recently used
    cache.load("d", text)  # drops "b"
    assert cache.load("a", text) is kept
    assert set(cache._items) == {"a", "c", "d"}


def test_a_desk_sees_another_desks_write_to_the_same_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'support.db'}"
    clock = Clock()
    one = seed(Desk.open(url, clock=clock, load_entrypoints=False))
    two = Desk.open(url, clock=clock, load_entrypoints=False)
    made = one.tickets.create(seed_ticket(attachments=[]))
    assert one.tickets.get(made.id) == made  # now in one's cache
    two.tickets.update(made.id, {"priority": "critical"})
    seen = one.tickets.get(made.id)
    assert seen.priority == "critical"
    assert seen == two.tickets.get(made.id)


def test_a_rolled_back_write_is_not_read_back(tmp_path: Path) -> None:
    desk = seed(Desk.open(f"sqlite:///{tmp_path / 'support.db'}", clock=Clock()))
    made = desk.tickets.create(seed_ticket(attachments=[]))
    changed = attrs.evolve(made, title="Never committed", version=made.version + 1)
    with pytest.raises(RuntimeError), desk.storage.write() as tx:
        tx.update_ticket(changed, expected_version=made.version, next_due_at=None)
        raise RuntimeError("roll back")
    assert desk.tickets.get(made.id) == made


def test_a_comment_touches_the_stored_ticket_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'support.db'}"
    clock = Clock()
    desk = seed(Desk.open(url, clock=clock, load_entrypoints=False))
    made = desk.tickets.create(seed_ticket(attachments=[]))
    reply = {"content": "Looking at it.", "author": {"type": "agent", "id": "agent_tech_001"}}
    desk.comments.add(made.id, reply)  # the first response: the SLA changes too
    answered = desk.tickets.get(made.id)
    clock.advance(minutes=5)
    desk.comments.add(made.id, reply)  # only activity now
    touched = desk.tickets.get(made.id)
    assert touched == attrs.evolve(answered, version=answered.version + 1, updated_at=clock.now)
    # What is stored, read by a desk that has cached nothing, is the same ticket.
    fresh = Desk.open(url, clock=clock, load_entrypoints=False)
    assert fresh.tickets.get(made.id) == touched
    newest = fresh.tickets.search({}, sort="updated_at", order="desc", limit=1)
    assert [t.id for t in newest.items] == [made.id]
    assert fresh.tickets.search({"updated_after": clock.now.isoformat()}).total == 1


def test_a_touched_record_keeps_every_value_exactly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'support.db'}"
    clock = Clock()
    desk = seed(Desk.open(url, clock=clock, load_entrypoints=False))
    metadata = {
        "big": 1e100, "tenth": 0.1, "whole": 1.0, "huge_int": 12345678901234567890123,
        "text": "é \\n \u2028 \U0001f600 \"quoted\"", "nested": {"list": [1, 2.5, None, True]},
    }  # fmt: skip
    made = desk.tickets.create(seed_ticket(attachments=[], metadata=metadata))
    reply = {"content": "Looking at it.", "author": {"type": "agent", "id": "agent_tech_001"}}
    desk.comments.add(made.id, reply)
    clock.advance(minutes=1)
    desk.comments.add(made.id, reply)  # the in-place stamp
    fresh = Desk.open(url, clock=clock, load_entrypoints=False).tickets.get(made.id)
    assert fresh == desk.tickets.get(made.id)
    assert dict(fresh.metadata) == metadata
    assert isinstance(fresh.metadata["big"], float) and isinstance(fresh.metadata["whole"], float)
