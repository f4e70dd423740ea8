"""Pausing Python's cyclic garbage collector around a batch of work.

A bulk import allocates hundreds of container objects per ticket (parsed bodies,
tickets, their clocks, event payloads) and keeps a whole batch of them alive until its
commit. Each 700 allocations start a collection that walks every young object, and
every tenth of those walks the batch again: about a tenth of an import's time, spent
finding almost nothing, because what a batch makes is freed by reference counting.
:func:`paused` switches the collector off for one batch and back on after it.

The collector is process-wide, so the pause is counted: threads (or nested calls)
pausing at once leave it off until the last of them is done, and it is switched back
on only if it was on when the first of them began. A host that keeps the collector
off keeps it off. A child forked while another thread's pause was running starts with
no pause of its own: its collector is back as it was before that pause.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator

__all__ = ["paused"]

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (see the module)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()


def _after_fork_in_child() -> None:
    """In a forked child: the threads that held pauses are gone (only the forking one
    lives on, and it is not inside a pause: it is forking). Forget their pauses."""
    global _lock, _holders
    _lock = threading.Lock()
    if _holders:
        _holders = 0
        if _was_enabled:
            gc.enable()


os.register_at_fork(after_in_child=_after_fork_in_child)
