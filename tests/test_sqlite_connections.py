"""The SQLite backend's connections: idle ones are reused, most recently used first."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from supportkit.backends.sqlite import SQLiteStorage


def test_threads_taking_turns_share_one_warm_connection(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    used: list[int] = []

    def work() -> None:
        with storage.write() as tx:
            tx.set_state("turn", threading.current_thread().name)
            used.append(id(tx.conn))  # type: ignore[attr-defined]
        with storage.read() as tx:
            used.append(id(tx.conn))  # type: ignore[attr-defined]

    for n in range(4):
        thread = threading.Thread(target=work, name=f"t{n}")
        thread.start()
        thread.join()
    assert len(set(used)) == 1
    assert len(storage._connections) == 1
    storage.close()


def test_concurrent_transactions_get_their_own_connections(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    inside = threading.Barrier(2)
    used: list[int] = []

    def read() -> None:
        with storage.read() as tx:
            used.append(id(tx.conn))  # type: ignore[attr-defined]
            inside.wait(timeout=10)  # both readers are in a transaction at once

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(used)) == 2
    # Afterwards both wait idle, and the next transaction takes the last one returned.
    with storage.read() as tx:
        assert id(tx.conn) in used  # type: ignore[attr-defined]
    assert len(storage._connections) == 2
    storage.close()


def test_a_connection_left_in_a_transaction_is_not_handed_out_again(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    conn = storage._acquire()
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE stray (x)")  # as if a ROLLBACK had failed before release
    storage._release(conn)  # rolled back on release, then reusable
    assert not conn.in_transaction
    with storage.read() as tx:
        assert tx.conn is conn  # type: ignore[attr-defined]
        tables = {r[0] for r in tx.conn.execute("SELECT name FROM sqlite_master")}  # type: ignore[attr-defined]
        assert "stray" not in tables
    storage.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connections(tmp_path: Path) -> None:
    # A host that opens its desk before its server forks workers (gunicorn --preload).
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    with storage.write() as tx:
        tx.set_state("parent", "before")
    inherited = list(storage._connections)
    assert inherited
    pid = os.fork()
    if pid == 0:  # the child: exits without returning into pytest
        code = 1
        try:
            with storage.write() as tx:
                used = tx.conn  # type: ignore[attr-defined]
                tx.set_state("child", "written")
            code = 0 if all(used is not conn for conn in inherited) else 2
            storage.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with storage.write() as tx:
        assert tx.conn in inherited  # type: ignore[attr-defined]
        tx.set_state("parent", "after")
    with storage.read() as tx:
        assert tx.get_state("child") == "written"
        assert tx.get_state("parent") == "after"
        assert tx.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"  # type: ignore[attr-defined]
    storage.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_locks_held_at_the_fork_do_not_hang_the_child(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "support.db"))
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    for n in range(checkpointer.every):  # the checkpoint thread has started
        with storage.write() as tx:
            tx.set_state(f"k{n}", "x")
    assert checkpointer.wait(1, timeout=30)
    # Another thread is inside the storage's and the checkpointer's locks when the
    # process forks.
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with storage._registry_lock, checkpointer._done:
            holding.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(timeout=30)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for n in range(2 * checkpointer.every):
                with storage.write() as tx:
                    tx.set_state(f"child{n}", "x")
            storage.close()
            code = 0
        finally:
            os._exit(code)
    release.set()
    holder.join()
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on a lock it inherited")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    with storage.read() as tx:
        assert tx.get_state(f"child{2 * checkpointer.every - 1}") == "x"
    storage.close()
