"""The SQLite backend's background checkpoints: the write-ahead log is copied back into
the database by a thread of the storage, not inside a caller's commit."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import pytest

from supportkit import Desk
from supportkit.backends.sqlite import (
    BACKSTOP_PAGES,
    BULK_BACKSTOP_PAGES,
    SQLiteStorage,
    _Checkpointer,
)
from supportkit.errors import ValidationError
from supportkit.testing import NOW, make_ticket


def _write(storage: SQLiteStorage, count: int, prefix: str = "k") -> None:
    for n in range(count):
        with storage.write() as tx:
            tx.set_state(f"{prefix}{n}", "x" * 2000)  # a page or so per commit


def _checkpointed(tmp_path: Path) -> tuple[SQLiteStorage, _Checkpointer]:
    """A file storage whose thread has run its first checkpoint."""
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    _write(storage, checkpointer.every)
    assert checkpointer.wait(1, timeout=30)
    return storage, checkpointer


def _autocheckpoint(storage: SQLiteStorage) -> int:
    with storage.read() as tx:
        return int(tx.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])  # type: ignore[attr-defined]


def test_a_thread_copies_the_log_into_the_database(tmp_path: Path) -> None:
    path = tmp_path / "support.db"
    storage = SQLiteStorage(str(path))
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    assert not checkpointer.alive  # nothing committed yet: no thread
    _write(storage, 3 * checkpointer.every)
    assert checkpointer.wait(1, timeout=30)
    assert checkpointer.alive
    assert checkpointer.last is not None
    _busy, log, copied = checkpointer.last
    assert log > 0 and copied > 0
    # Writers leave checkpoints to the thread, with SQLite's own as a backstop.
    assert _autocheckpoint(storage) == BACKSTOP_PAGES

    # What the thread copied is in the database file itself, without the log.
    before = checkpointer.runs
    _write(storage, 2 * checkpointer.every, prefix="late")
    assert checkpointer.wait(before + 1, timeout=30)
    checkpointer.close()  # no checkpoint under way while the file is copied
    shutil.copyfile(path, tmp_path / "copy.db")
    copy = sqlite3.connect(tmp_path / "copy.db")
    stored = copy.execute("SELECT COUNT(*) FROM state WHERE key GLOB 'k*'").fetchone()[0]
    copy.close()
    assert stored > 0
    storage.close()


def test_the_checkpoint_size_adapts_to_the_pages_each_commit_writes(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    first = checkpointer.every
    _write(storage, first)
    assert checkpointer.wait(1, timeout=30)
    assert checkpointer.last is not None
    log = checkpointer.last[1]
    # About 1,000 pages per checkpoint from then on, from what `first` commits wrote.
    assert checkpointer.every == max(1, min(1000, first * 1000 // log))
    assert checkpointer.every != first
    storage.close()


def _pragma(tx: object) -> int:
    return int(tx.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])  # type: ignore[attr-defined]


class _Boom(Exception):
    pass


def test_a_bulk_import_raises_the_backstop_for_its_own_transactions(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    tickets = [make_ticket(n, at=NOW) for n in range(1, 4)]
    with storage.write() as tx:
        assert _pragma(tx) == BACKSTOP_PAGES
        tx.insert_tickets((ticket, None) for ticket in tickets[:2])
        # Its batch's commit leaves the log to the thread up to the bulk backstop.
        assert _pragma(tx) == BULK_BACKSTOP_PAGES
    assert _autocheckpoint(storage) == BACKSTOP_PAGES  # the next writer's is the usual
    with pytest.raises(_Boom), storage.write() as tx:
        tx.insert_tickets([(tickets[2], None)])
        assert _pragma(tx) == BULK_BACKSTOP_PAGES
        raise _Boom
    assert _autocheckpoint(storage) == BACKSTOP_PAGES  # after a rollback too
    with storage.write() as tx:
        tx.insert_ticket(tickets[2], next_due_at=None)  # a single write keeps the usual
        assert _pragma(tx) == BACKSTOP_PAGES
    storage.close()


def test_without_the_thread_a_bulk_import_keeps_sqlites_checkpoints(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"), checkpoint="inline")
    with storage.write() as tx:
        tx.insert_tickets([(make_ticket(1, at=NOW), None)])
        assert _pragma(tx) == 1000  # SQLite's default: nobody else would checkpoint
    storage.close()


def test_close_stops_the_thread(tmp_path: Path) -> None:
    storage, checkpointer = _checkpointed(tmp_path)
    thread = checkpointer._thread
    assert thread is not None and thread.is_alive()
    storage.close()
    assert not thread.is_alive()
    assert not checkpointer.alive


def test_inline_checkpoints_leave_it_to_sqlite(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"), checkpoint="inline")
    assert storage.checkpointer is None
    _write(storage, 50)
    assert _autocheckpoint(storage) == 1000  # SQLite's default
    storage.close()


def test_an_in_memory_database_has_no_checkpointer() -> None:
    storage = SQLiteStorage(None)
    assert storage.checkpointer is None
    storage.close()


@pytest.mark.parametrize("value", ["sometimes", None, 1])
def test_an_unknown_checkpoint_option_is_refused(tmp_path: Path, value: object) -> None:
    with pytest.raises(ValidationError, match="checkpoint"):
        Desk.open(
            f"sqlite:///{tmp_path / 'support.db'}",
            storage_options={"checkpoint": value},
            load_entrypoints=False,
        )


def test_the_inline_option_through_desk_open(tmp_path: Path) -> None:
    desk = Desk.open(
        f"sqlite:///{tmp_path / 'support.db'}",
        storage_options={"checkpoint": "inline"},
        load_entrypoints=False,
    )
    assert desk.storage.checkpointer is None  # type: ignore[attr-defined]
    desk.close()


def _child(storage: SQLiteStorage, result: multiprocessing.Queue[bool]) -> None:
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    runs = checkpointer.runs
    _write(storage, 2 * checkpointer.every, prefix="child")
    result.put(checkpointer.wait(runs + 1, timeout=30) and checkpointer.alive)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_starts_its_own_thread(tmp_path: Path) -> None:
    storage, checkpointer = _checkpointed(tmp_path)
    context = multiprocessing.get_context("fork")
    result: multiprocessing.Queue[bool] = context.Queue()
    child = context.Process(target=_child, args=(storage, result))
    child.start()
    assert result.get(timeout=60) is True
    child.join(timeout=30)
    assert child.exitcode == 0
    assert checkpointer.alive  # the parent's thread is untouched
    storage.close()
