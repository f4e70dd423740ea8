"""Export and import (supportkit.transfer): the round trip, batches, and clear errors."""

from __future__ import annotations

import base64
import gc
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supportkit import records
from supportkit.desk import Desk
from supportkit.transfer import (
    FORMAT,
    RESOURCE_KINDS,
    TransferError,
    _Importer,
    export_jsonl,
    import_jsonl,
    scan_jsonl,
)

from .desk_fixtures import PNG, T0, Clock, b64, seed, seed_ticket

AGENT = {"type": "agent", "id": "agent_network_specialist"}
CUSTOMER = {"type": "customer", "name": "John Smith"}


def open_desk(url: str, clock: Clock) -> Desk:
    return Desk.open(url, clock=clock, load_entrypoints=False)


def build_history(desk: Desk, clock: Clock) -> None:
    """Tickets with everything an export must carry: attachments on tickets and on
    comments, internal notes, fired timers, escalations, a merge, a follow-up."""
    desk.sla_policies.create({"conditions": {"priority": ["critical"]}, "response_time": "30m"})
    first = desk.tickets.create(seed_ticket(tags=["mpls", "sf"]))
    clock.advance(minutes=20)
    desk.comments.add(
        first.id,
        {
            "content": "Looking into it — trace attached.",
            "author": AGENT,
            "attachments": [
                {"filename": "trace.png", "content_type": "image/png", "data": b64(PNG)}
            ],
            "metadata": {"steps": [1, 2], "ünïcode": "✓"},
        },
    )
    desk.comments.add(
        first.id, {"content": "check the router", "visibility": "internal", "author": AGENT}
    )
    clock.advance(hours=2)
    desk.tick()
    desk.tickets.escalate(
        first.id, {"escalation_level": 3, "reason": "CEO called", "comments": "Escalating."}
    )
    source = desk.tickets.create(seed_ticket(title="Duplicate: MPLS down", attachments=[]))
    desk.comments.add(source.id, {"content": "same here", "author": CUSTOMER})
    desk.tickets.merge(source.id, into=first.id)
    third = desk.tickets.create(
        seed_ticket(
            title="Slow downloads", priority="low", customer_id="cust_small", attachments=[]
        )
    )
    desk.tickets.update(third.id, {"status": "resolved"})
    desk.tickets.update(third.id, {"status": "closed"})
    clock.advance(minutes=5)
    desk.comments.add(
        third.id,
        {
            "content": "Still slow, see attached",
            "author": CUSTOMER,
            "attachments": [
                {"filename": "speed.png", "content_type": "image/png", "data": b64(PNG)}
            ],
        },
    )  # a follow-up ticket
    clock.advance(days=1)
    desk.tick()


def export_text(desk: Desk, **kwargs: Any) -> str:
    out = io.StringIO()
    export_jsonl(desk, out, **kwargs)
    return out.getvalue()


def content(text: str) -> list[Any]:
    """The lines of an export after its header, parsed (JSON key order aside)."""
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["format"] == FORMAT and lines[0]["version"] == 1
    return lines[1:]


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def source(tmp_path: Path, clock: Clock) -> Iterator[Desk]:
    desk = seed(open_desk(f"sqlite:///{tmp_path / 'source.db'}", clock))
    build_history(desk, clock)
    yield desk
    desk.close()


def check_round_trip(source: Desk, target: Desk) -> None:
    text = export_text(source)
    report = import_jsonl(target, io.StringIO(text), batch_size=2)
    assert report.tickets == 4 and report.skipped == 0
    assert report.attachments == 3
    assert report.comments == 5
    assert len(report.resources_added) == sum(1 for line in content(text) if "resource" in line)
    assert content(export_text(target)) == content(text)
    # What the desk reads back is the same, not just the export.
    for line in content(text):
        if "ticket" not in line:
            continue
        ticket_id = line["ticket"]["id"]
        assert target.tickets.get(ticket_id) == source.tickets.get(ticket_id)
        assert target.tickets.history(ticket_id) != []
        assert [e.id for e in target.tickets.history(ticket_id)] == [
            e.id for e in source.tickets.history(ticket_id)
        ]
        for item in line["attachments"]:
            got = target.attachments.get(item["meta"]["id"])
            assert got.data == base64.b64decode(item["data_base64"])
            assert got.comment_id == item["comment_id"]


def test_round_trip_into_an_empty_sqlite_desk(source: Desk, tmp_path: Path, clock: Clock) -> None:
    with open_desk(f"sqlite:///{tmp_path / 'target.db'}", clock) as target:
        check_round_trip(source, target)


def test_round_trip_into_an_empty_postgres_desk(
    source: Desk, postgres_schema_url: str, clock: Clock
) -> None:
    with open_desk(postgres_schema_url, clock) as target:
        check_round_trip(source, target)


def test_export_lines_come_in_order(source: Desk) -> None:
    text = export_text(source, page_size=2)  # pages through the tickets
    lines = content(text)
    kinds = [line["resource"] for line in lines if "resource" in line]
    assert kinds == sorted(kinds, key=RESOURCE_KINDS.index)
    first_ticket = next(i for i, line in enumerate(lines) if "ticket" in line)
    assert all("ticket" in line for line in lines[first_ticket:])
    tickets = [line["ticket"] for line in lines[first_ticket:]]
    assert len(tickets) == 4 == len({t["id"] for t in tickets})
    assert [t["created_at"] for t in tickets] == sorted(t["created_at"] for t in tickets)
    # Lossless records, events without storage sequence numbers, no API keys.
    assert records.load(tickets[0], type(source.tickets.get(tickets[0]["id"])))
    events = [e for line in lines[first_ticket:] for e in line["events"]]
    assert events and all("seq" not in e for e in events)
    assert "api_key" not in kinds
    assert text.isascii()


def test_numbers_continue_after_the_imported_ones(
    source: Desk, tmp_path: Path, clock: Clock
) -> None:
    text = export_text(source)
    with open_desk(f"sqlite:///{tmp_path / 'target.db'}", clock) as target:
        import_jsonl(target, io.StringIO(text))
        numbers = sorted(t.number for t in source.tickets.search(limit=100))
        # New numbers continue after the imported ones.
        fresh = target.tickets.create(seed_ticket(attachments=[]))
        assert fresh.number > numbers[-1]
        assert fresh.number.rsplit("-", 1)[0] == numbers[-1].rsplit("-", 1)[0]


def test_timers_survive_the_import(source: Desk, tmp_path: Path, clock: Clock) -> None:
    text = export_text(source)
    with open_desk(f"sqlite:///{tmp_path / 'target.db'}", clock) as target:
        import_jsonl(target, io.StringIO(text))
        clock.advance(days=3)
        assert sorted(target.tick().fired) == sorted(source.tick().fired)


def test_scan_counts_and_validates(source: Desk) -> None:
    text = export_text(source)
    report = scan_jsonl(io.StringIO(text))
    assert report.tickets == 4
    assert report.resources == sum(1 for line in content(text) if "resource" in line)


# -- errors name the line ----------------------------------------------------------------------


def lines_of(source: Desk) -> list[str]:
    return export_text(source).splitlines(keepends=True)


def first_ticket_line(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith('{"ticket"'))


def edit(lines: list[str], index: int, change: Any) -> list[str]:
    data = json.loads(lines[index])
    change(data)
    return [*lines[:index], json.dumps(data) + "\n", *lines[index + 1 :]]


def import_error(desk: Desk, lines: list[str], **kwargs: Any) -> TransferError:
    with pytest.raises(TransferError) as caught:
        import_jsonl(desk, iter(lines), **kwargs)
    assert str(caught.value).startswith(f"line {caught.value.line}: ")
    return caught.value


@pytest.fixture
def target(tmp_path: Path, clock: Clock) -> Iterator[Desk]:
    with open_desk(f"sqlite:///{tmp_path / 'target.db'}", clock) as desk:
        yield desk


def test_a_bad_ticket_field_names_its_line_and_field(source: Desk, target: Desk) -> None:
    lines = lines_of(source)
    at = first_ticket_line(lines) + 1

    error = import_error(target, edit(lines, at, lambda d: d["ticket"].update(priority="urgent")))
    assert error.line == at + 1
    assert [e.field for e in error.errors] == ["ticket.priority"]
    assert "'urgent' is not one of: low, medium, high, critical" in str(error)
    error = import_error(target, edit(lines, at, lambda d: d["ticket"].update(created_at="now")))
    assert [e.field for e in error.errors] == ["ticket.created_at"]
    # Nothing of the bad batch was written; the earlier batch stays (batch_size 500 here).
    assert error.committed == 0
    assert target.tickets.search().total == 0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d["comments"][0].update(ticket_id="ticket_other"), "comments[0].ticket_id",
         "the line's ticket"),
        (lambda d: d["comments"][0].update(visibility="secret"), "comments[0].visibility",
         "not one of"),
        (lambda d: d["attachments"][0].update(data_base64="***"), "attachments[0].data_base64",
         "base64"),
        (lambda d: d["attachments"][0].update(data_base64=b64(b"x")), "attachments[0].meta.size",
         "does not match"),
        (lambda d: d["attachments"][0].pop("meta"), "attachments[0].meta", "missing"),
        (lambda d: d["events"][0].pop("created_at"), "events[0].created_at", "missing"),
        (lambda d: d["events"][0].update(ticket_id=None), "events[0].ticket_id", "line's ticket"),
        (lambda d: d["events"][1].update(visibility="all"), "events[1].visibility", "not one of"),
        (lambda d: d["attachments"][0].update(comment_id="comment_x"),
         "attachments[0].comment_id", "not one of the line's comments"),
        (lambda d: d["attachments"][0]["meta"].update(sha256="0" * 64),
         "attachments[0].meta.sha256", "does not match"),
        (lambda d: d.update(extra=1), "extra", "unknown field"),
        (lambda d: d.update(comments={}), "comments", "expected a list"),
    ],
)  # fmt: skip
def test_bad_parts_of_a_ticket_line(
    source: Desk, target: Desk, change: Any, field: str, message: str
) -> None:
    lines = lines_of(source)
    # The first ticket has comments, attachments and events.
    at = first_ticket_line(lines)
    assert json.loads(lines[at])["attachments"] and json.loads(lines[at])["comments"]
    error = import_error(target, edit(lines, at, change))
    assert error.line == at + 1
    assert field in {e.field for e in error.errors}, error
    assert message in str(error)
    # scan_jsonl finds the same error without a desk.
    with pytest.raises(TransferError) as scanned:
        scan_jsonl(edit(lines, at, change))
    assert str(scanned.value) == str(error)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty input"),
        ('{"tickets": []}\n', 1, "not a supportkit export"),
        ('{"format": "supportkit-export", "version": 2}\n', 1, "version 2 is not supported"),
        ('{"format": "supportkit-export", "version": 1}\n\n{oops\n', 3, "not valid JSON"),
        ('{"format": "supportkit-export", "version": 1}\n[1]\n', 2, "expected a JSON object"),
        ('{"format": "supportkit-export", "version": 1}\n{"what": 1}\n', 2, "resource or a ticket"),
        ('{"format": "supportkit-export", "version": 1}\n{"resource": "planet", "data": {}}\n', 2,
         "'planet' is not one of"),
        ('{"format": "supportkit-export", "version": 1}\n'
         '{"resource": "category", "data": {"id": "x", "name": "X"}}\n', 2, "data.sla"),
    ],
)  # fmt: skip
def test_malformed_files(target: Desk, text: str, line: int, message: str) -> None:
    error = import_error(target, io.StringIO(text).readlines())
    assert error.line == line
    assert message in str(error)


def test_existing_tickets_stop_the_import_unless_skipped(source: Desk, target: Desk) -> None:
    lines = lines_of(source)
    import_jsonl(target, iter(lines))
    error = import_error(target, lines)
    assert error.line == first_ticket_line(lines) + 1
    assert "already exists" in str(error) and "--skip-existing" in str(error)
    report = import_jsonl(target, iter(lines), skip_existing=True)
    assert report.tickets == 0 and report.skipped == 4
    assert report.resources_added == () and len(report.resources_kept) > 0
    assert target.tickets.search().total == 4


def test_a_ticket_number_in_use_is_refused(source: Desk, target: Desk) -> None:
    lines = lines_of(source)
    at = first_ticket_line(lines)
    taken = json.loads(lines[at + 1])["ticket"]["number"]
    error = import_error(target, edit(lines, at, lambda d: d["ticket"].update(number=taken)))
    assert error.line == at + 2  # the second ticket with that number
    assert "number" in str(error)


def test_batches_before_a_bad_line_stay_imported(source: Desk, target: Desk) -> None:
    lines = lines_of(source)
    at = first_ticket_line(lines)
    bad = edit(lines, at + 3, lambda d: d["ticket"].update(priority="urgent"))
    error = import_error(target, bad, batch_size=2)
    assert error.line == at + 4
    assert error.committed == 2
    assert target.tickets.search().total == 2  # the first batch, not the third ticket
    report = import_jsonl(target, iter(lines), batch_size=2, skip_existing=True)
    assert (report.tickets, report.skipped) == (2, 2)


def test_tickets_need_their_configuration(source: Desk, target: Desk) -> None:
    lines = [line for line in lines_of(source) if not line.startswith('{"resource"')]
    assert first_ticket_line(lines) == 1

    def on_a_business_calendar(data: dict[str, Any]) -> None:
        data["ticket"]["sla"]["calendar_id"] = "us_pacific"

    error = import_error(target, edit(lines, 2, on_a_business_calendar))
    assert error.line == 3
    assert "calendar 'us_pacific' is not configured" in str(error)


def test_configuration_that_differs_is_not_overwritten(source: Desk, target: Desk) -> None:
    target.customers.put({"id": "cust_small", "name": "Renamed Shop", "tier": "standard"})
    lines = lines_of(source)
    error = import_error(target, lines)
    assert "customer 'cust_small' already exists with different settings" in str(error)
    report = import_jsonl(target, iter(lines), skip_existing=True)
    assert "customer:cust_small" in report.resources_kept
    assert target.customers.get("cust_small").name == "Renamed Shop"
    assert report.tickets == 4


def test_a_byte_order_mark_and_blank_lines_are_fine(source: Desk, target: Desk) -> None:
    lines = lines_of(source)
    lines = ["\ufeff" + lines[0], "\n", *lines[1:], "\r\n"]
    assert import_jsonl(target, iter(lines)).tickets == 4


def test_progress_is_reported(source: Desk, target: Desk) -> None:
    seen: list[tuple[int, int | None]] = []
    text = export_text(source, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(n, 4) for n in range(1, 5)]
    seen.clear()
    import_jsonl(target, io.StringIO(text), batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, None), (4, None)]


def test_arguments_are_checked(target: Desk) -> None:
    from supportkit.errors import ValidationError

    with pytest.raises(ValidationError):
        import_jsonl(target, [], batch_size=0)
    with pytest.raises(ValidationError):
        export_jsonl(target, io.StringIO(), page_size=0)


def test_each_batch_is_written_with_the_cyclic_collector_paused(
    source: Desk, target: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[bool] = []
    write = _Importer._write

    def recording(self: _Importer, items: Any) -> Any:
        written.append(gc.isenabled())
        return write(self, items)

    monkeypatch.setattr(_Importer, "_write", recording)
    gc.enable()
    report = import_jsonl(target, iter(lines_of(source)), batch_size=3)
    assert report.tickets == 4
    assert written == [False, False]
    assert gc.isenabled()


@pytest.fixture
def any_target(backend_url: str, clock: Clock) -> Iterator[Desk]:
    with open_desk(backend_url, clock) as desk:
        yield desk


@pytest.mark.parametrize("last", [True, False], ids=["at-the-commit", "before-another-ticket"])
def test_a_taken_comment_id_names_its_line_and_field(
    source: Desk, any_target: Desk, last: bool
) -> None:
    """PostgreSQL reports a taken id from a later statement (the next ticket's read)
    or from the commit; the error still names the line and the comment."""
    lines = lines_of(source)
    tickets = [i for i, line in enumerate(lines) if line.startswith('{"ticket"')]
    first, fourth = json.loads(lines[tickets[0]]), json.loads(lines[tickets[3]])
    assert first["comments"] and fourth["comments"]
    import_jsonl(any_target, iter(line for i, line in enumerate(lines) if i != tickets[3]))
    taken, mine = first["comments"][0]["id"], fourth["comments"][0]["id"]
    fourth["comments"][0]["id"] = taken
    for attachment in fourth["attachments"]:
        if attachment.get("comment_id") == mine:
            attachment["comment_id"] = taken
    moved = json.dumps(fourth) + "\n"
    others = [lines[i] for i in tickets[:3]]
    head = lines[: tickets[0]]
    again = [*head, *others, moved] if last else [*head, others[0], moved, *others[1:]]
    error = import_error(any_target, again, skip_existing=True)
    assert (error.line, error.errors[0].field) == (again.index(moved) + 1, "comments[0]")
    assert "already exists" in str(error)
    assert any_target.tickets.search().total == 3  # its batch was rolled back
