"""Concurrency and crash safety of the Desk on one SQLite file, with real processes."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from supportkit.desk import Desk
from supportkit.errors import VersionConflict

from .desk_fixtures import Clock, seed, seed_ticket

ROOT = Path(__file__).resolve().parent.parent


def _create_many(url: str, count: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        desk = Desk.open(url, load_entrypoints=False)
        numbers = [desk.tickets.create(seed_ticket(attachments=[])).number for _ in range(count)]
        desk.close()
        queue.put(("ok", numbers))
    except BaseException as exc:  # report everything to the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def test_processes_creating_at_once_get_unique_numbers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    seed(Desk.open(url, load_entrypoints=False)).close()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_create_many, args=(url, 60, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    errors = [detail for status, detail in results if status == "error"]
    assert errors == []  # in particular no "database is locked"
    numbers = [n for _, batch in results for n in batch]
    assert len(numbers) == 240 and len(set(numbers)) == 240
    with Desk.open(url, load_entrypoints=False) as desk:
        assert desk.tickets.search(limit=1).total == 240
        assert len(desk.events.list(limit=1000)) == 480


def test_two_updates_from_the_same_version_one_wins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    desk = seed(Desk.open(url, clock=Clock(), load_entrypoints=False))
    ticket = desk.tickets.create(seed_ticket())
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def update(status: str) -> None:
        barrier.wait()
        try:
            desk.tickets.update(ticket.id, {"status": status}, if_version=ticket.version)
            outcomes.append("ok")
        except VersionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=update, args=(s,)) for s in ("in_progress", "on_hold")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert desk.tickets.get(ticket.id).version == ticket.version + 1
    desk.close()


IMPORTER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from supportkit.desk import Desk
    from tests.desk_fixtures import seed_ticket
    desk = Desk.open({url!r}, load_entrypoints=False)
    print("ready", flush=True)
    bodies = (seed_ticket(title=f"Imported {{i}}") for i in range(100000))
    desk.tickets.create_many(bodies, batch_size=50)
    """
)


def test_bulk_import_killed_at_random_points_leaves_no_partial_ticket(tmp_path: Path) -> None:
    path = tmp_path / "import.db"
    url = f"sqlite:///{path}"
    seed(Desk.open(url, load_entrypoints=False)).close()
    rng = random.Random(20261128)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(5):
        process = subprocess.Popen(
            [sys.executable, "-c", IMPORTER.format(root=str(ROOT), url=url)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tickets = db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    assert tickets > 0  # the importer got somewhere before each kill
    orphans = db.execute(
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS "
        "(SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.type = 'ticket.created') "
        "OR NOT EXISTS (SELECT 1 FROM attachments a WHERE a.ticket_id = t.id)"
    ).fetchone()[0]
    assert orphans == 0
    stray = db.execute(
        "SELECT COUNT(*) FROM events e WHERE e.ticket_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM tickets t WHERE t.id = e.ticket_id)"
    ).fetchone()[0]
    assert stray == 0
    assert tickets % 50 == 0  # whole batches only
    highest = db.execute("SELECT MAX(CAST(substr(number, 9) AS INTEGER)) FROM tickets").fetchone()[
        0
    ]
    counter = db.execute("SELECT MAX(last) FROM ticket_counters").fetchone()[0]
    assert counter >= highest
    db.close()
    # And the desk opens and goes on numbering after the highest number.
    with Desk.open(url, load_entrypoints=False) as desk:
        number = desk.tickets.create(seed_ticket()).number
        assert int(number.rsplit("-", 1)[1]) > highest


@pytest.mark.parametrize("threads", [4])
def test_threads_share_one_desk(tmp_path: Path, threads: int) -> None:
    desk = seed(Desk.open(f"sqlite:///{tmp_path / 't.db'}", load_entrypoints=False))
    made: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            number = desk.tickets.create(seed_ticket(attachments=[])).number
            with lock:
                made.append(number)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(set(made)) == 25 * threads
    desk.close()
