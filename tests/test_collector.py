"""``supportkit._collector.paused``: the cyclic collector off for a batch, then as before."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator

import pytest

from supportkit._collector import paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    gc.enable()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_exception_switches_it_back_on() -> None:
    gc.enable()
    with pytest.raises(ZeroDivisionError), paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()


def test_a_host_that_keeps_it_off_keeps_it_off() -> None:
    gc.disable()
    with paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_nested_pauses_end_with_the_outer_one() -> None:
    gc.enable()
    with paused():
        with paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


class _PausingThread:
    """Another thread that holds a pause from :meth:`start` until :meth:`end`."""

    def __init__(self) -> None:
        self._inside, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        with paused():
            self._inside.set()
            self._release.wait(10)

    def start(self) -> None:
        self._thread.start()
        assert self._inside.wait(10)

    def end(self) -> None:
        self._release.set()
        self._thread.join(10)


def test_overlapping_pauses_in_threads_end_with_the_last() -> None:
    gc.enable()
    other = _PausingThread()
    with paused():
        other.start()
    # This thread's pause is over; the other's is not.
    assert not gc.isenabled()
    other.end()
    assert gc.isenabled()


def test_a_child_forked_during_another_threads_pause_has_its_collector_back() -> None:
    gc.enable()
    other = _PausingThread()
    other.start()
    try:
        assert not gc.isenabled()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then leave at once
            try:
                with paused():
                    inner = gc.isenabled()
                os.write(write, f"{int(inner)}{int(gc.isenabled())}".encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as answer:
            reported = answer.read()
        os.waitpid(pid, 0)
    finally:
        other.end()
    assert reported == "01"  # off inside the child's own pause, on after it
    assert gc.isenabled()
