"""A transaction's statements on one connection, in libpq's pipeline mode, driven
through ``psycopg.pq``.

psycopg's own pipeline mode runs its per-statement machinery for every ``execute`` (a
cursor, a transformer, generators) and polls the socket before writing each statement
and reading whatever has come back. A create sends nine statements in two round trips,
so on a two-core machine that cost was a third of the create's wall time. Here a
statement is queued in libpq's output buffer and written at once, without waiting (the
server starts on it while the client goes on); the client waits only when it reads an
answer, and then sends a ``Sync`` and reads every answer up to it in one pass.
Parameters are dumped, and rows loaded, by the connection's own psycopg adapters
(:class:`psycopg.adapt.Transformer`), so values are what a psycopg cursor would give.
A statement is prepared on its connection the second time it is sent (in the same
round trip) and executed by name after that.

Errors are psycopg's (:func:`psycopg.errors.error_from_result`, or
:class:`psycopg.OperationalError` for a lost connection); the backend translates them
as it does any other.
"""

from __future__ import annotations

import functools
import re
import select
from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq.abc import PGresult

__all__ = ["Answer", "Batch", "Prepared"]


Key = tuple[str, tuple[int, ...]]


class Prepared:
    """The statements prepared on one connection, by query and parameter types, kept
    for as long as the connection lives. A statement is prepared the second time the
    connection sends it (a one-off, such as a rare combination of search filters,
    takes no name), and at most :data:`MAX_PREPARED` are. The connection must not
    prepare statements of its own (``prepare_threshold = None``): psycopg deallocates
    every statement of the session after a ``ROLLBACK`` when it has prepared any."""

    __slots__ = ("_count", "_seen", "names")

    def __init__(self) -> None:
        self.names: dict[Key, bytes] = {}
        self._seen: set[Key] = set()
        self._count = 0

    def name_for(self, key: Key) -> bytes | None:
        """A new name for ``key`` if it should be prepared now, else ``None``."""
        if key not in self._seen:
            if len(self._seen) >= 4 * MAX_PREPARED:
                self._seen.clear()
            self._seen.add(key)
            return None
        if len(self.names) >= MAX_PREPARED:
            return None
        self._count += 1
        return b"supportkit_%d" % self._count


#: Statements prepared per connection at most; past that, a statement is sent unnamed
#: (parsed and planned by the server each time, as in a plain ``execute``).
MAX_PREPARED: Final = 128

_OK: Final = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK})
_PLACEHOLDER: Final = re.compile(r"%\((\w+)\)s|%s|%%")
# Transaction control is parsed on the spot (nothing to gain from naming it) and
# written with the statement that follows it.
_CONTROL: Final = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_poll: Final = getattr(select, "poll", None)


@functools.lru_cache(maxsize=512)
def _convert(query: str) -> tuple[bytes, tuple[str, ...] | int]:
    """``query`` with ``$1, $2 …`` for psycopg's ``%s`` / ``%(name)s`` placeholders,
    and the names in order (named placeholders) or the count (positional ones)."""
    names: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        if match[0] == "%%":
            return "%"
        if match[1] is None:
            positional += 1
            return f"${positional}"
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    converted = _PLACEHOLDER.sub(number, query)
    if names and positional:
        raise psycopg.ProgrammingError("a query cannot mix %s and %(name)s placeholders")
    return converted.encode(), tuple(names) if names else positional


class Answer:
    """The answer to one queued statement. Reading it sends what waits in the batch,
    with a ``Sync``, if it has not come yet."""

    __slots__ = ("_batch", "_error", "_rows")

    def __init__(self, batch: Batch) -> None:
        self._batch: Batch | None = batch
        self._rows: list[Any] = []
        self._error: psycopg.Error | None = None

    def _answered(self) -> list[Any]:
        if self._batch is not None:
            self._batch.sync()
        if self._error is not None:
            raise self._error
        return self._rows

    def fetchone(self) -> Any:
        rows = self._answered()
        return rows[0] if rows else None

    def fetchall(self) -> list[Any]:
        return self._answered()


class Batch:
    """Statements queued on ``conn`` (in autocommit mode, idle) in libpq's pipeline
    mode, until :meth:`close`. ``prepared`` is the connection's statement names, kept by
    the caller for as long as the connection lives."""

    def __init__(self, conn: psycopg.Connection[Any], prepared: Prepared) -> None:
        self._conn = conn
        self._pgconn = conn.pgconn
        self._prepared = prepared
        self._transformer = Transformer.from_context(conn)
        # What was sent and is not answered yet, in order: an Answer, or the key of a
        # statement being prepared (its answer comes before its first execution's).
        self._waiting: list[Answer | Key] = []
        # Set when reading the answers failed part way: the connection cannot be used.
        self.broken = False
        self._pgconn.enter_pipeline_mode()

    def execute(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> Answer:
        """Send ``query`` without waiting for its answer, which comes back with the next
        :meth:`sync` (reading any answer syncs)."""
        pgconn = self._pgconn
        text, names = _convert(query)
        values: Sequence[Any]
        if isinstance(names, tuple):
            if not isinstance(params, Mapping):
                raise psycopg.ProgrammingError("named placeholders need a mapping")
            values = [params[name] for name in names]
        else:
            if isinstance(params, Mapping):
                raise psycopg.ProgrammingError("positional placeholders need a sequence")
            values = () if params is None else params
            if len(values) != names:
                raise psycopg.ProgrammingError(
                    f"the query has {names} placeholders, {len(values)} parameters were given"
                )
        transformer = self._transformer
        if values:
            dumped = transformer.dump_sequence(values, [PyFormat.AUTO] * len(values))
            types: tuple[int, ...] = transformer.types or ()
            formats = transformer.formats
        else:
            dumped, types, formats = [], (), []
        key = (query, types)
        prepared = self._prepared.names
        name = prepared.get(key)
        control = query.startswith(_CONTROL)
        if name is None and not control and (name := self._prepared.name_for(key)):
            pgconn.send_prepare(name, text, param_types=types)
            prepared[key] = name
            self._waiting.append(key)
        if name is None:
            pgconn.send_query_params(text, dumped, param_types=types, param_formats=formats)
        else:
            pgconn.send_query_prepared(name, dumped, param_formats=formats)
        if not control:
            # Written now if the socket takes it (no waiting): the server works on it
            # while the client goes on. Transaction control goes with what follows it.
            pgconn.flush()
        answer = Answer(self)
        self._waiting.append(answer)
        return answer

    def sync(self) -> None:
        """Send what waits, with a ``Sync``, and read every answer up to it. The first
        failed statement's error is raised (the statements after it were skipped)."""
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        pgconn = self._pgconn
        error: psycopg.Error | None = None
        try:
            pgconn.pipeline_sync()
            self._flush()
            for item in waiting:
                results = self._results()
                result = results[0] if results else None
                if result is not None and result.status in _OK:
                    if isinstance(item, Answer):
                        transformer = self._transformer
                        transformer.set_pgresult(result)
                        item._rows = transformer.load_rows(0, result.ntuples, tuple)
                        item._batch = None
                    continue
                if result is None or result.status == pq.ExecStatus.PIPELINE_ABORTED:
                    failed: psycopg.Error = pg_errors.PipelineAborted("pipeline aborted")
                else:
                    failed = pg_errors.error_from_result(result, encoding=self._conn.info.encoding)
                    error = error or failed
                if isinstance(item, Answer):
                    item._error, item._batch = failed, None
                else:  # a statement that was not prepared after all
                    self._prepared.names.pop(item, None)
            synced = self._result()
            if synced is None or synced.status != pq.ExecStatus.PIPELINE_SYNC:
                raise psycopg.OperationalError("the server's answers ended before the Sync")
        except BaseException:
            self.broken = True
            for item in waiting:
                if isinstance(item, Answer) and item._batch is not None:
                    item._error = psycopg.OperationalError("the statement's answer was lost")
                    item._batch = None
                elif not isinstance(item, Answer):
                    self._prepared.names.pop(item, None)
            raise
        if error is not None:
            raise error

    def close(self) -> None:
        """Send and read what waits (raising its error, if any), then leave pipeline
        mode."""
        try:
            self.sync()
        finally:
            if not self.broken:
                self._pgconn.exit_pipeline_mode()

    # -- the socket ---------------------------------------------------------------------

    def _wait(self, readable: bool, writable: bool) -> bool:
        """Wait until the socket is ready; whether it is readable."""
        fd = self._pgconn.socket
        if _poll is None:  # Windows has no poll()
            ready = select.select([fd] if readable else [], [fd] if writable else [], [])
            return bool(ready[0])
        poller = _poll()
        poller.register(
            fd, (select.POLLIN if readable else 0) | (select.POLLOUT if writable else 0)
        )
        events = poller.poll()
        return bool(events[0][1] & (select.POLLIN | select.POLLERR | select.POLLHUP))

    def _flush(self) -> None:
        """Write libpq's output buffer, reading whatever the server sends meanwhile
        (it may answer the first statements before the last are written)."""
        pgconn = self._pgconn
        while pgconn.flush():
            if self._wait(readable=True, writable=True):
                pgconn.consume_input()

    def _result(self) -> PGresult | None:
        pgconn = self._pgconn
        while pgconn.is_busy():
            self._wait(readable=True, writable=False)
            pgconn.consume_input()
        return pgconn.get_result()

    def _results(self) -> list[PGresult]:
        """One statement's results (libpq ends each statement's with a null)."""
        results: list[PGresult] = []
        while (result := self._result()) is not None:
            results.append(result)
        if self._pgconn.status == pq.ConnStatus.BAD:
            raise psycopg.OperationalError(
                self._pgconn.error_message.decode(errors="replace").strip()
                or "the connection to the server was lost"
            )
        return results
