"""Stored records: the cache of decoded values never returns a stale one, and a ticket's
record is exactly what cattrs writes and reads."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import attrs
import cattrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from supportkit import _ticket_codec, models, records
from supportkit.desk import Desk
from supportkit.models import (
    PRIORITIES,
    Assignee,
    Attachment,
    Contact,
    EscalationRecord,
    EscalationState,
    Location,
    Pause,
    SlaClock,
    Ticket,
    TicketSla,
)

from .desk_fixtures import Clock, seed, seed_ticket

T = TypeVar("T")


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


# -- the ticket codec: exactly what cattrs writes and reads -------------------------------

_MAX_INSTANT = datetime(9999, 12, 30)  # a day off the ends: any zone's offset fits
_MIN_INSTANT = datetime(1, 1, 2)

texts = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too
strings = texts | st.integers(-3, 3)  # a str field may hold anything, as attrs allows
zones = st.one_of(
    st.just(UTC),
    st.timezones(),
    st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
)
#: A few instants recur in every zone, so that remembered texts and values are reused.
_RECURRING = [datetime(2024, 11, 1, 21, 30, tzinfo=UTC), datetime(999, 3, 4, 5, 6, 7, 8, UTC)]
instants = st.builds(
    lambda moment, fold: moment.replace(fold=fold),
    st.datetimes(_MIN_INSTANT, _MAX_INSTANT, timezones=zones)
    | st.builds(lambda m, zone: m.astimezone(zone), st.sampled_from(_RECURRING), zones),
    st.integers(0, 1),
)
durations = st.timedeltas() | st.sampled_from([timedelta(0), timedelta(hours=2)])


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def tuples(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(strategy, max_size=3).map(tuple)


#: What metadata may hold: JSON data, and what cattrs turns into it.
data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts | instants
    | st.builds(Contact, name=maybe(texts)),
    lambda inner: st.lists(inner, max_size=3)
    | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(texts | st.integers(), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
objects = st.dictionaries(texts | st.integers(), data, max_size=4)


def built(cls: type) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: st.builds(cls, **FIELDS[cls]))


#: A strategy for every field of every class in a ticket (a test checks it is so).
FIELDS: dict[type, dict[str, st.SearchStrategy[Any]]] = {
    Contact: {"name": maybe(strings), "email": maybe(texts), "phone": maybe(texts),
              "role": maybe(texts)},
    Location: {"site_id": maybe(texts), "address": maybe(texts), "timezone": maybe(texts)},
    Assignee: {"agent_id": strings, "name": maybe(texts), "email": maybe(texts),
               "specialization": maybe(texts)},
    Pause: {"status": texts, "started_at": instants, "ended_at": maybe(instants)},
    SlaClock: {"target": durations, "started_at": instants, "consumed": durations,
               "running_since": maybe(instants), "due_at": maybe(instants),
               "at_risk_at": maybe(instants), "stopped_at": maybe(instants),
               "pauses": tuples(built(Pause))},
    TicketSla: {"policy_id": maybe(texts), "calendar_id": texts,
                "warning_threshold": st.floats(allow_nan=False) | st.integers(0, 1),
                "pause_statuses": tuples(texts), "response": built(SlaClock),
                "resolution": built(SlaClock), "tier": maybe(texts)},
    EscalationRecord: {"level": st.integers(), "at": instants, "reason": texts,
                       "trigger": texts},
    EscalationState: {"level": st.integers(), "escalated_at": maybe(instants),
                      "reason": maybe(texts), "fired": st.frozensets(texts, max_size=3),
                      "history": tuples(built(EscalationRecord))},
    Attachment: {"id": texts, "filename": texts, "content_type": texts,
                 "size": st.integers(min_value=0), "sha256": maybe(texts)},
    Ticket: {
        "id": strings, "number": texts, "title": texts, "description": texts,
        "status": texts, "priority": st.sampled_from(PRIORITIES), "category": texts,
        "created_at": instants, "updated_at": instants, "customer_id": maybe(strings),
        "severity": maybe(texts), "subcategory": maybe(texts),
        "contact": maybe(built(Contact)), "location": maybe(built(Location)),
        "service_affected": maybe(texts), "metadata": objects, "custom_fields": objects,
        "tags": tuples(strings), "assigned_to": maybe(built(Assignee)), "team": maybe(texts),
        "estimated_resolution": maybe(instants), "sla": maybe(built(TicketSla)),
        "escalation": built(EscalationState), "escalate_after": maybe(durations),
        "auto_update_frequency": maybe(durations), "next_update_at": maybe(instants),
        "routing_rules": tuples(texts), "resolved_at": maybe(instants),
        "closed_at": maybe(instants), "merged_into": maybe(texts),
        "linked_tickets": tuples(texts), "attachments": tuples(built(Attachment)),
        "version": st.integers(),
    },
}  # fmt: skip
tickets = built(Ticket)


def cattrs_text(value: Any) -> str:
    return records.to_json(records.record_converter.unstructure(value))


def cattrs_value(text: str, cls: type[T]) -> T:
    return records._trusted_converter.structure(json.loads(text), cls)


def handled(cls: type) -> dict[type, set[str]]:
    """The classes the codec of ``cls`` has code of its own for, with their fields."""
    found = _ticket_codec.shortcut_classes(
        cls, records.record_converter, records._trusted_converter
    )
    return {part: set(fields) for part, fields in found.items()}


def test_the_strategies_cover_every_field_of_every_class_of_a_ticket() -> None:
    # A new field or class fails here until FIELDS has a strategy for it.
    assert handled(Ticket) == {cls: set(fields) for cls, fields in FIELDS.items()}


@given(tickets)
def test_a_ticket_is_written_as_cattrs_writes_it(ticket: Ticket) -> None:
    assert records.dumps(ticket) == cattrs_text(ticket)


@given(tickets)
def test_the_api_shape_of_a_tickets_parts_is_the_converters(ticket: Ticket) -> None:
    # The ticket's API shape builds its nested values directly, as the converter would.
    shape = models.to_dict(ticket)
    for key in (
        "assigned_to", "contact", "location", "attachments", "metadata", "custom_fields", "tags",
    ):  # fmt: skip
        assert shape[key] == models.converter.unstructure(getattr(ticket, key)), key


@given(tickets)
def test_a_ticket_is_read_as_cattrs_reads_it(ticket: Ticket) -> None:
    text = cattrs_text(ticket)
    read, expected = records.loads(text, Ticket), cattrs_value(text, Ticket)
    assert read == expected
    assert repr(read) == repr(expected)  # the same types too: 1.0 is not 1
    assert records.loads(text.encode("utf-8", "surrogatepass"), Ticket) == expected


@given(tickets, st.data())
def test_a_record_written_before_a_field_was_added_is_read_as_cattrs_reads_it(
    ticket: Ticket, data: st.DataObject
) -> None:
    record = records.record_converter.unstructure(ticket)
    for part in (record, record["escalation"]):
        part.pop(data.draw(st.sampled_from(sorted(part))))
    text = records.to_json({**record, "unknown": 1})
    try:
        expected = cattrs_value(text, Ticket)
    except KeyError:  # a required field
        with pytest.raises(KeyError):
            records.loads(text, Ticket)
    else:
        assert repr(records.loads(text, Ticket)) == repr(expected)


def test_infinities_and_nans_are_written_and_read_as_cattrs_does(
    ticket: Ticket,
) -> None:
    special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "in": [math.nan]}
    sla = attrs.evolve(ticket.sla, warning_threshold=math.inf) if ticket.sla else None
    odd = attrs.evolve(ticket, metadata=special, custom_fields=special, sla=sla)
    text = records.dumps(odd)
    assert text == cattrs_text(odd) and "NaN" in text and "-Infinity" in text
    assert repr(records.loads(text, Ticket)) == repr(cattrs_value(text, Ticket))


@given(st.lists(instants, min_size=1, max_size=4), st.lists(zones, max_size=4))
@example([datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/New_York"))], [])  # twice
@example([datetime(2040, 3, 25, 3, 0, tzinfo=ZoneInfo("Europe/Riga"))], [])  # never
def test_remembered_instants_are_those_of_equal_instants(
    moments: list[datetime], others: list[tzinfo]
) -> None:
    for moment in moments:
        refolded = moment.replace(fold=1 - moment.fold)  # equal, maybe another instant
        for variant in [moment, refolded, *(moment.astimezone(zone) for zone in others)]:
            expected = records.to_json(records._dump_instant(variant))
            assert records._instant_text(variant) == expected
            text = records._dump_instant(variant)
            assert records.instant_key(variant) == text  # the indexed columns' form
            assert records._instant(text) == records._load_instant(text, None)


def test_a_desks_tickets_are_written_and_read_as_cattrs_does(tmp_path: Path) -> None:
    clock = Clock()
    desk = seed(Desk.open(f"sqlite:///{tmp_path / 'support.db'}", clock=clock))
    made = desk.tickets.create(seed_ticket())
    reply = {"content": "Looking at it.", "author": {"type": "agent", "id": "agent_tech_001"}}
    desk.comments.add(made.id, reply)
    clock.advance(minutes=7, microseconds=123)
    desk.tickets.update(made.id, {"status": "on_hold"})
    clock.advance(hours=1)
    desk.tickets.update(made.id, {"status": "in_progress"})
    desk.tickets.escalate(made.id, {"reason": "Customer waiting"})
    plain = desk.tickets.create(seed_ticket(attachments=[], metadata={}, contact=None))
    for ticket in (desk.tickets.get(made.id), desk.tickets.get(plain.id)):
        text = records.dumps(ticket)
        assert text == cattrs_text(ticket)
        assert records.loads(text, Ticket) == cattrs_value(text, Ticket) == ticket
    worked = desk.tickets.get(made.id)  # every part of a ticket was in the records
    assert worked.sla and worked.sla.response.pauses and worked.sla.resolution.pauses
    assert worked.escalation.history and worked.attachments and worked.metadata


# -- the codec, for fields of other types ---------------------------------------------------


@attrs.frozen
class _Part:
    when: datetime | None
    count: int | None = None


@attrs.frozen
class _Computed:
    value: int
    double: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "double", 2 * self.value)


@attrs.frozen
class _Odd:
    numbers: list[int]
    scores: dict[str, int]
    maybe_numbers: tuple[int | None, ...]
    labels: frozenset[int]
    parts: tuple[_Part, ...]
    part: _Part | None
    computed: _Computed
    anything: Any
    _private: str = "private"
    flag: bool = attrs.field(default=False, kw_only=True)


_ODD_ENCODER = _ticket_codec.make_encoder(
    _Odd, records.record_converter, records.to_json, structure=records._trusted_converter
)
_ODD_DECODER = _ticket_codec.make_decoder(
    _Odd, records._trusted_converter, unstructure=records.record_converter
)
parts = st.builds(_Part, maybe(instants), maybe(st.integers()))
odds = st.builds(
    _Odd,
    numbers=st.lists(st.integers(), max_size=3),
    scores=st.dictionaries(texts, st.integers(), max_size=3),
    maybe_numbers=tuples(maybe(st.integers())),
    labels=st.frozensets(st.integers(), max_size=3),
    parts=tuples(parts),
    part=maybe(parts),
    computed=st.builds(_Computed, st.integers()),
    anything=data,
    private=texts,
    flag=st.booleans(),
)


def test_the_codec_has_code_for_classes_with_fields_of_any_type() -> None:
    assert set(handled(_Odd)) == {_Odd, _Part}  # _Computed is left to the converters


@given(odds)
def test_fields_of_any_type_are_written_and_read_as_cattrs_does(odd: _Odd) -> None:
    text = _ODD_ENCODER(odd)
    assert text == cattrs_text(odd)
    assert repr(_ODD_DECODER(json.loads(text))) == repr(cattrs_value(text, _Odd))


def test_converters_with_other_options_are_left_to_do_it_themselves() -> None:
    terse = cattrs.Converter(omit_if_default=True)
    encode = _ticket_codec.make_encoder(_Part, terse, records.to_json)
    assert encode(_Part(None)) == '{"when":null}'
    strict = cattrs.Converter(forbid_extra_keys=True, detailed_validation=False)
    decode = _ticket_codec.make_decoder(_Part, strict)
    with pytest.raises(cattrs.errors.ForbiddenExtraKeysError):
        decode({"when": None, "count": 1, "extra": 2})


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_json_data = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(_json_data | st.tuples(_json_data, _json_data))
def test_to_json_is_compact_json_dumps(value: Any) -> None:
    # NaN and the infinities included, as json.dumps writes them.
    assert records.to_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("value", [{"when": datetime(2026, 1, 1, tzinfo=UTC)}, [object()], {1j}])
def test_to_json_refuses_what_json_dumps_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError, match="is not JSON serializable"):
        records.to_json(value)


@given(
    shapes=st.lists(
        st.dictionaries(st.text(max_size=6), _json_data, max_size=3), min_size=1, max_size=3
    ),
    picks=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2),
            st.sampled_from(["ticket", "tïcket", "other"]),
            st.dictionaries(st.text(max_size=6), _json_data, max_size=3),
            st.booleans(),
            st.sampled_from(["t1", "t2", None]),
        ),
        max_size=6,
    ),
    extra=st.lists(
        st.dictionaries(st.text(max_size=6) | st.integers(), _json_data, max_size=3), max_size=2
    ),
)
def test_stored_event_data_reads_back_as_each_datas_json(
    shapes: list[dict[str, Any]],
    picks: list[tuple[int, str, dict[str, Any], bool, str | None]],
    extra: list[dict[Any, Any]],
) -> None:
    # Events of one command share a ticket shape (the same dict) under their first key.
    events: list[tuple[str, str | None, dict[Any, Any]]] = []
    for n, (index, key, rest, shared, ticket_id) in enumerate(picks):
        shape = shapes[index % len(shapes)]
        value = shape if shared else dict(shape)
        data = {key: value, **{k: v for k, v in rest.items() if k != key}}
        events.append((f"evt_{n}", ticket_id, data))
    events += [(f"evt_extra_{n}", "t1", data) for n, data in enumerate(extra)]
    stored = list(records.event_texts(events))
    by_id = {event[0]: text for event, (text, _) in zip(events, stored, strict=True)}
    owners: dict[int, tuple[str, str | None, Any]] = {}
    for (event_id, ticket_id, data), (text, shares) in zip(events, stored, strict=True):
        first = next(iter(data), None)
        value = data.get(first) if first is not None else None
        shareable = type(first) is str and type(value) is dict
        owner = owners.get(id(value)) if shareable else None
        if owner is not None and owner[1:] == (ticket_id, first):
            # Shares with the event of its ticket that stored this very dict, same key.
            assert shares == owner[0]
            rest = {k: v for k, v in data.items() if k != first}
            assert text == records.to_json(rest)
        else:
            assert shares is None
            assert text == records.to_json(data)
            if shareable:  # the last event to store this dict whole holds it
                owners[id(value)] = (event_id, ticket_id, first)
        joined = records.joined_data(text, by_id[shares] if shares else None)
        expected = json.loads(records.to_json(data))
        assert joined == expected
        assert list(joined) == list(expected)


def test_a_shared_shape_is_stored_once() -> None:
    shape = {"id": "ticket_1", "title": "Ünïcode"}
    events = [
        ("evt_1", "ticket_1", {"ticket": shape, "routing": {"rule": None}}),
        ("evt_2", "ticket_1", {"ticket": shape}),
        ("evt_3", None, {}),
        ("evt_4", "ticket_1", {"ticket": shape, "assigned_to": "agent_1"}),
        ("evt_5", "ticket_2", {"ticket": shape}),  # another ticket's event stands alone
        ("evt_6", "ticket_2", {"tïcket": shape}),  # and so does one under another key
    ]
    assert list(records.event_texts(events)) == [
        ('{"ticket":{"id":"ticket_1","title":"Ünïcode"},"routing":{"rule":null}}', None),
        ("{}", "evt_1"),
        ("{}", None),
        ('{"assigned_to":"agent_1"}', "evt_1"),
        ('{"ticket":{"id":"ticket_1","title":"Ünïcode"}}', None),
        ('{"tïcket":{"id":"ticket_1","title":"Ünïcode"}}', None),
    ]
    whole = '{"ticket":{"id":"ticket_1","title":"Ünïcode"},"routing":{"rule":null}}'
    assert records.joined_data('{"assigned_to":"agent_1"}', whole) == {
        "ticket": shape,
        "assigned_to": "agent_1",
    }
    assert records.joined_data("{}", whole) == {"ticket": shape}


def test_stored_event_data_is_made_one_at_a_time() -> None:
    shape = {"id": "ticket_1"}
    pulled: list[int] = []

    def events() -> Iterator[tuple[str, str, dict[str, Any]]]:
        for n in range(3):
            pulled.append(n)
            yield f"evt_{n}", "ticket_1", {"ticket": shape, "n": n}

    texts = records.event_texts(events())
    assert pulled == []
    assert next(texts) == ('{"ticket":{"id":"ticket_1"},"n":0}', None)
    assert pulled == [0]  # the next data is not read, let alone encoded, yet
    assert list(texts) == [('{"n":1}', "evt_0"), ('{"n":2}', "evt_0")]
