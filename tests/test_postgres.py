"""The PostgreSQL backend under concurrency: processes, threads, workers, crashes.

Skipped without SUPPORTKIT_TEST_POSTGRES_URL; CI sets it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from supportkit.desk import Desk
from supportkit.errors import StorageError, VersionConflict
from supportkit.testing import _assign, make_ticket

from .desk_fixtures import T0, Clock, seed, seed_ticket
from .pg_helpers import one_connection_desk, waits

ROOT = Path(__file__).resolve().parent.parent


def _creator(url: str, count: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        with Desk.open(url, load_entrypoints=False) as desk:
            numbers = [
                desk.tickets.create(seed_ticket(attachments=[])).number for _ in range(count)
            ]
        queue.put(("ok", numbers))
    except BaseException as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def test_four_processes_create_2000_tickets(postgres_schema_url: str) -> None:
    seed(Desk.open(postgres_schema_url, load_entrypoints=False)).close()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_creator, args=(postgres_schema_url, 500, queue)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [detail for status, detail in results if status == "error"] == []
    numbers = [n for _, batch in results for n in batch]
    assert len(numbers) == 2000 and len(set(numbers)) == 2000
    # Per process, numbers only grow; across all, no gaps (a create never rolled back).
    for _, batch in results:
        assert batch == sorted(batch)
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 2001))
    with Desk.open(postgres_schema_url, load_entrypoints=False) as desk:
        assert desk.tickets.search(limit=1).total == 2000


def test_eight_threads_updating_one_ticket_lose_nothing(postgres_schema_url: str) -> None:
    desk = seed(
        Desk.open(postgres_schema_url, load_entrypoints=False, storage_options={"max_size": 8})
    )
    ticket = desk.tickets.create(seed_ticket())
    applied: list[int] = []
    conflicts: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(10):
            current = desk.tickets.get(ticket.id)
            try:
                desk.tickets.update(
                    ticket.id, {"metadata": {f"w{n}_{i}": True}}, if_version=current.version
                )
            except VersionConflict:
                with lock:
                    conflicts.append(n)
            else:
                with lock:
                    applied.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(applied) + len(conflicts) == 80
    final = desk.tickets.get(ticket.id)
    # Every applied update is there, every refused one is not: none lost silently.
    assert final.version == ticket.version + len(applied)
    written = [key for key in final.metadata if key.startswith("w")]
    assert len(written) == len(applied)
    desk.close()


TICKER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    sys.path.insert(0, {root!r})
    from supportkit.desk import Desk
    now = datetime.fromisoformat({now!r})
    desk = Desk.open({url!r}, clock=lambda: now, load_entrypoints=False)
    print("ready", flush=True)
    sys.stdin.readline()
    report = desk.tick()
    print(len(report.fired), report.escalations, flush=True)
    """
)


def test_three_workers_ticking_at_once_escalate_each_ticket_once(
    postgres_schema_url: str,
) -> None:
    clock = Clock()
    desk = seed(Desk.open(postgres_schema_url, clock=clock, load_entrypoints=False))
    made = desk.tickets.create_many((seed_ticket(attachments=[]) for _ in range(60)), batch_size=20)
    assert made == 60
    later = T0 + timedelta(hours=9)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = TICKER.format(root=str(ROOT), url=postgres_schema_url, now=later.isoformat())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:  # release all three together
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=120)[0].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    fired = sum(int(out[0]) for out in outputs)
    escalations = sum(int(out[1]) for out in outputs)
    events = desk.events.list(limit=1000)
    while len(events) % 1000 == 0 and events:
        more = desk.events.list(after=events[-1].id, limit=1000)
        if not more:
            break
        events += more
    escalated = [e for e in events if e.type == "ticket.escalated"]
    per_ticket: dict[str, list[str]] = {}
    for event in escalated:
        per_ticket.setdefault(event.ticket_id or "", []).append(event.data["trigger"])
    assert len(per_ticket) == 60
    for triggers in per_ticket.values():
        # Each trigger escalated exactly once, whichever worker ran it.
        assert len(triggers) == len(set(triggers)) == 5
    assert escalations == len(escalated) == 300
    assert fired >= 300
    clock.now = later
    assert desk.tick().fired == ()
    desk.close()


KILLED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from supportkit.desk import Desk
    from tests.desk_fixtures import seed_ticket
    desk = Desk.open({url!r}, load_entrypoints=False)
    print("ready", flush=True)
    desk.tickets.create_many((seed_ticket() for _ in range(100000)), batch_size=25)
    """
)


def test_killing_a_writer_mid_transaction_leaves_no_partial_ticket(
    postgres_schema_url: str,
) -> None:
    seed(Desk.open(postgres_schema_url, load_entrypoints=False)).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.3, 0.7, 1.1):
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED.format(root=str(ROOT), url=postgres_schema_url)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    schema = postgres_schema_url.rsplit("schema=", 1)[1]
    base = postgres_schema_url.split("?")[0]
    with contextlib.closing(psycopg.connect(base, autocommit=True)) as conn:
        conn.execute(f"SET search_path TO {schema}")
        # The server notices the dead connections; their transactions roll back.
        for _ in range(100):
            busy = conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'"
                " OR (state = 'active' AND pid <> pg_backend_pid() AND datname = current_database()"
                " AND query LIKE 'INSERT%%')"
            ).fetchone()
            if busy is not None and busy[0] == 0:
                break
            time.sleep(0.1)
        tickets = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
        assert tickets > 0 and tickets % 25 == 0
        orphans = conn.execute(
            "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM events e"
            " WHERE e.ticket_id = t.id AND e.type = 'ticket.created') OR NOT EXISTS"
            " (SELECT 1 FROM attachments a WHERE a.ticket_id = t.id)"
        ).fetchone()[0]
        assert orphans == 0
        numbers = conn.execute("SELECT MAX(last) FROM ticket_counters").fetchone()[0]
        assert numbers == tickets  # no gaps: a rolled-back create gave its number back


CLAIMER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    sys.path.insert(0, {root!r})
    from supportkit.backends.postgresql_plugin import open_postgresql
    storage = open_postgresql({url!r}, {{}})
    with storage.write() as tx:
        claimed = tx.claim_due_tickets(datetime.fromisoformat({now!r}), 1000)
        print(len(claimed), flush=True)
        time.sleep(600)  # dies here, holding the claim
    """
)


def test_a_worker_that_dies_mid_claim_leaves_its_tickets_to_others(
    postgres_schema_url: str,
) -> None:
    clock = Clock()
    desk = seed(Desk.open(postgres_schema_url, clock=clock, load_entrypoints=False))
    desk.tickets.create_many((seed_ticket(attachments=[]) for _ in range(10)), batch_size=10)
    clock.now = T0 + timedelta(hours=3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = CLAIMER.format(root=str(ROOT), url=postgres_schema_url, now=clock.now.isoformat())
    claimer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    assert claimer.stdout is not None and claimer.stdout.readline().strip() == b"10"
    # While it holds them, another worker skips them instead of waiting or doubling up.
    assert desk.tick().tickets == 0
    claimer.send_signal(signal.SIGKILL)
    claimer.wait(timeout=30)
    deadline = time.monotonic() + 30
    report = desk.tick()
    while report.tickets == 0 and time.monotonic() < deadline:
        time.sleep(0.1)  # until the server has noticed the dead connection
        report = desk.tick()
    assert report.tickets == 10
    desk.close()


def test_an_unreachable_server_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot connect to PostgreSQL"):
        Desk.open("postgresql://nobody@127.0.0.1:1/none", storage_options={"timeout": 1})


def test_a_newer_schema_is_refused(postgres_schema_url: str) -> None:
    from supportkit.errors import SchemaVersionError

    Desk.open(postgres_schema_url, load_entrypoints=False).close()
    schema = postgres_schema_url.rsplit("schema=", 1)[1]
    with contextlib.closing(
        psycopg.connect(postgres_schema_url.split("?")[0], autocommit=True)
    ) as conn:
        conn.execute(f"INSERT INTO {schema}.supportkit_schema(version) VALUES (99)")
    with pytest.raises(SchemaVersionError):
        Desk.open(postgres_schema_url, load_entrypoints=False)


def test_postgres_url_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_psycopg(name: str, *args: object, **kwargs: object) -> object:
        if name.endswith("postgresql") and args and args[2] and "open_postgres" in args[2]:  # type: ignore[operator]
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(StorageError, match=r"supportkit\[postgres\]"):
        Desk.open("postgresql://localhost/x", load_entrypoints=False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_leaves_the_parents_sessions_alone(postgres_schema_url: str) -> None:
    # A host that opens its desk before its server forks workers (gunicorn --preload):
    # the child shares the pool's sockets with the parent.
    desk = seed(
        Desk.open(
            postgres_schema_url,
            load_entrypoints=False,
            storage_options={"min_size": 1, "max_size": 1},
        )
    )
    storage = desk.storage
    with storage.read() as tx:
        parent_session = tx.conn.info.backend_pid  # type: ignore[attr-defined]
    inherited = list(storage._connections)  # type: ignore[attr-defined]
    assert inherited
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: exits without returning into pytest
        code = 1
        try:
            number = desk.tickets.create(seed_ticket(attachments=[])).number
            with storage.read() as tx:
                session = tx.conn.info.backend_pid  # type: ignore[attr-defined]
            os.write(writer, f"{number} {session}".encode())
            # What the child's exit would do to what it inherited: close it.
            for conn in inherited:
                conn.pgconn.finish()
            desk.close()
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(reader) as pipe:
        number, child_session = pipe.read().split()
    assert int(child_session) != parent_session
    # The parent's session survived the child's use and close of its copy.
    with storage.read() as tx:
        assert tx.conn.info.backend_pid == parent_session  # type: ignore[attr-defined]
    assert desk.tickets.get_by_number(number).number == number
    desk.close()


def test_a_create_is_two_round_trips_and_a_search_one(postgres_schema_url: str) -> None:
    # One to read (configuration version, number, agents' load, round-robin turn), one
    # to write the ticket, the state and the events with the COMMIT.
    desk, conn = one_connection_desk(postgres_schema_url)
    try:
        desk.tickets.create(seed_ticket(attachments=[]))  # the configuration is read
        assert waits(conn, lambda: desk.tickets.create(seed_ticket(attachments=[]))) == 2
        search = {"customer_id": "cust_1234567890", "status": ["open"]}
        assert waits(conn, lambda: desk.tickets.search(search, limit=25)) == 1
        assert desk.tickets.search(search, limit=25).total == 2
    finally:
        desk.close()


def test_a_comment_and_an_update_are_two_round_trips(postgres_schema_url: str) -> None:
    # One to read the ticket (locking its row) and the configuration version; one to
    # write the ticket, the comment and the events with the COMMIT: the row lock makes
    # the ticket's UPDATE certain, so it is not waited for, nor is the comment's INSERT.
    desk, conn = one_connection_desk(postgres_schema_url)
    try:
        ticket = desk.tickets.create(seed_ticket(attachments=[]))
        body = {
            "content": "Checking the circuit.",
            "author": {"type": "agent", "id": "agent_tech_001"},
        }
        assert waits(conn, lambda: desk.comments.add(ticket.id, body)) == 2
        update = {"status": "in_progress", "internal_notes": "Carrier ticket opened."}
        assert waits(conn, lambda: desk.tickets.update(ticket.id, update)) == 2
        stored = desk.tickets.get(ticket.id)
        assert (stored.status, stored.version) == ("in_progress", ticket.version + 2)
        contents = [c.content for c in desk.comments.list(ticket.id)]
        assert contents == ["Checking the circuit.", "Carrier ticket opened."]
        # A stale version still conflicts, and nothing of that update is written.
        with pytest.raises(VersionConflict):
            desk.tickets.update(ticket.id, {"status": "on_hold"}, if_version=ticket.version)
        assert desk.tickets.get(ticket.id) == stored
    finally:
        desk.close()


@pytest.mark.parametrize("tickets", [1, 2])
def test_a_tick_reads_the_tickets_it_claims_with_the_claim(
    postgres_schema_url: str, tickets: int
) -> None:
    # The claim (FOR UPDATE SKIP LOCKED) reads the rows it locks, so each ticket's
    # timers run without a round trip of their own: the claim, the commit and the
    # reports waiting to be generated, however many tickets are due.
    desk, conn = one_connection_desk(postgres_schema_url)
    try:
        made = [desk.tickets.create(seed_ticket(attachments=[])) for _ in range(tickets)]
        desk.clock.now = T0 + timedelta(hours=9)  # type: ignore[attr-defined]
        report = []
        assert waits(conn, lambda: report.append(desk.tick())) == 3
        assert report[0].tickets == tickets and len(report[0].fired) == 6 * tickets
        for ticket in made:
            after = desk.tickets.get(ticket.id)
            assert after.version == ticket.version + 1 and after.escalation.level > 0
        assert desk.tick().fired == ()  # nothing fires twice
    finally:
        desk.close()


@pytest.mark.parametrize("count", [2, 40], ids=["insert", "copy"])
def test_appending_events_holds_the_append_lock_until_commit(
    postgres_schema_url: str, postgres_url: str, count: int
) -> None:
    # Events must become visible in the order of their numbers, or a reader following
    # them (the outbox) skips one: whoever appends holds one lock until it commits.
    from supportkit.backends.postgresql import _EVENTS_LOCK
    from supportkit.testing import _event

    def holders() -> list[int]:
        with contextlib.closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = %s AND objid = %s AND objsubid = 1",
                (_EVENTS_LOCK >> 32, _EVENTS_LOCK & 0xFFFF_FFFF),
            ).fetchall()
        return [row[0] for row in rows]

    desk = Desk.open(postgres_schema_url, clock=Clock(), load_entrypoints=False)
    try:
        with desk.storage.write() as tx:
            pid = tx.conn.info.backend_pid  # type: ignore[attr-defined]
            assert holders() == []
            stored = tx.insert_events([_event(f"ev-{n}") for n in range(count)])
            assert [event.seq for event in stored] == sorted({event.seq for event in stored})
            assert holders() == [pid]
        assert holders() == []
    finally:
        desk.close()


def test_a_create_waiting_for_the_number_reads_what_the_one_before_committed(
    postgres_schema_url: str, postgres_url: str
) -> None:
    # Creates take turns at the year's counter. The one that waited must then see the
    # round-robin turn and the agents' load that the one before it committed, not what
    # was there when it started waiting, or two creates in a row pick the same agent.
    desk = Desk.open(
        postgres_schema_url, clock=Clock(), load_entrypoints=False,
        storage_options={"min_size": 2, "max_size": 2},
    )  # fmt: skip
    reads = {"year": 2024, "agent_ids": ["agent-a"], "done_statuses": ["closed"]}
    try:
        with desk.storage.write() as tx:
            tx.create_reads(**reads, state_key="turn")  # the counter row exists
        answers: list[Any] = []
        with desk.storage.write() as first:
            assert first.create_reads(**reads, state_key="turn").number == 2
            first.insert_ticket(_assign(make_ticket(1, at=T0), "agent-a"), next_due_at=None)
            first.set_state("turn", "agent-a")

            def second() -> None:
                with desk.storage.write() as tx:
                    answers.append(tx.create_reads(**reads, state_key="turn"))

            waiting = threading.Thread(target=second)
            waiting.start()
            with contextlib.closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
                for _ in range(500):  # until the second waits for the counter's row lock
                    if conn.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%%ticket_counters%%'"
                    ).fetchone():
                        break
                    time.sleep(0.01)
                else:
                    pytest.fail("the second create never waited for the counter")
        waiting.join(timeout=30)
        assert [(a.number, a.open_counts, a.state) for a in answers] == [
            (3, {"agent-a": 1}, "agent-a")
        ]
    finally:
        desk.close()


def _load_and_tags(url: str) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """The agents' load and the tag index as stored, and both as the tickets say."""
    schema = url.rsplit("schema=", 1)[1]
    with contextlib.closing(psycopg.connect(url.split("?")[0], autocommit=True)) as conn:
        conn.execute(f"SET search_path TO {schema}")

        def pairs(sql: str) -> dict[tuple[str, str], int]:
            return {(a, b): int(n) for a, b, n in conn.execute(sql).fetchall() if n}

        stored_load = pairs("SELECT assignee, status, n FROM assignee_load")
        load = pairs(
            "SELECT assignee, status, COUNT(*) FROM tickets WHERE assignee IS NOT NULL"
            " GROUP BY assignee, status"
        )
        stored_tags = pairs(
            "SELECT t.id, g.tag, 1 FROM ticket_tags g JOIN tickets t ON t.seq = g.ticket_seq"
        )
        tags = pairs(
            "SELECT id, tag, 1 FROM tickets, jsonb_array_elements_text(tags) AS tag"
            " WHERE jsonb_typeof(tags) = 'array'"
        )
    assert stored_load == load
    assert stored_tags == tags
    return load, tags


def test_upgrading_from_row_triggers_keeps_the_load_and_tags(
    postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Schema version 4 counted each ticket and indexed its tags in row triggers;
    # version 5 does it per statement. A database made at 4 and upgraded must agree
    # with its tickets before and after, for single creates and COPY batches alike.
    from supportkit.backends import postgresql

    later = postgresql.MIGRATIONS[5:]
    with monkeypatch.context() as patched:
        patched.setattr(postgresql, "MIGRATIONS", postgresql.MIGRATIONS[:4])
        patched.setattr(postgresql, "SCHEMA_VERSION", 4)
        desk = seed(Desk.open(postgres_schema_url, clock=Clock(), load_entrypoints=False))
        # Today's code needs what the later versions add; those that do not touch the
        # triggers are idempotent, so they can go in ahead.
        schema = postgres_schema_url.rsplit("schema=", 1)[1]
        with contextlib.closing(
            psycopg.connect(postgres_schema_url.split("?")[0], autocommit=True)
        ) as conn:
            conn.execute(f"SET search_path TO {schema}")
            for migration in later:
                conn.execute(migration)
        try:
            for i in range(3):
                desk.tickets.create(seed_ticket(attachments=[], tags=["old", f"t{i}"]))
            desk.tickets.create_many(
                [seed_ticket(attachments=[], tags=["old"]) for _ in range(6)], batch_size=6
            )
        finally:
            desk.close()
    load, tags = _load_and_tags(postgres_schema_url)
    assert sum(load.values()) == 9 and len(tags) == 3 * 2 + 6

    desk = Desk.open(postgres_schema_url, clock=Clock(), load_entrypoints=False)
    try:
        created = [desk.tickets.create(seed_ticket(attachments=[], tags=["new"])) for _ in range(2)]
        desk.tickets.create_many(
            [seed_ticket(attachments=[], tags=["new", "bulk"]) for _ in range(40)], batch_size=20
        )
        desk.tickets.update(created[0].id, {"status": "resolved"})
        desk.tickets.update(created[1].id, {"tags": ["moved"]})
        load, tags = _load_and_tags(postgres_schema_url)
        assert sum(load.values()) == 9 + 2 + 40
        assert len(tags) == 3 * 2 + 6 + 1 + 1 + 40 * 2
        assert any(status == "resolved" for _, status in load)
        found = desk.tickets.search({"tags": ["bulk"]}, limit=100)
        assert found.total == 40
    finally:
        desk.close()
