"""``tickets.create`` on PostgreSQL against a raw autocommit insert of the same
stored row, in alternating rounds in one process: a quick side-by-side for comparing
two checkouts on a noisy machine.

Run it from each checkout in turn, with that checkout first on the path::

    PYTHONPATH=. python benchmarks/pg_create_rounds.py \\
        --postgres-url postgresql://postgres@127.0.0.1:5432/test --label new

It prints the median milliseconds per create (and the client's CPU per create), per
raw insert, their ratio, and the ratio of each round. Where the server runs on this
machine and its processes can be read in ``/proc`` (Linux), it also prints the
server's CPU per create and per raw insert: the CPU of every ``postgres`` process over
the round, so run nothing else against that server meanwhile. The schemas it makes are
dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_desk


def server_cpu() -> float | None:
    """Seconds of CPU used so far by this machine's ``postgres`` processes (user and
    system, from ``/proc/<pid>/stat``), or ``None`` where ``/proc`` shows none."""
    ticks = 0
    found = False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name, _, rest = text.partition(" (")[2].rpartition(")")
        if name != "postgres":
            continue
        fields = rest.split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        found = True
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=200)
    options = parser.parse_args()
    bench = bench_desk.PgBench(options.postgres_url)
    desk_schema, raw_schema = bench.schema("rounds_desk"), bench.schema("rounds_raw")
    try:
        desk = bench.desk(desk_schema)
        bench.desk(raw_schema).close()
        body = bench_desk.seed_ticket(attachments=[])
        template = desk.tickets.create(body)
        cloner = bench_desk.TicketCloner(
            bench.stored_row(desk_schema, template.id), "RAW", bench_desk.pg_columns()
        )
        rows = iter(cloner.many((options.rounds + 1) * options.per_round))
        raw = bench.raw(raw_schema, autocommit=True)
        insert = bench_desk.pg_insert_sql()
        for _ in range(50):  # warm up: prepared statements, caches
            desk.tickets.create(body)
            raw.execute(insert, next(rows))
        creates: list[float] = []
        inserts: list[float] = []
        cpu: list[float] = []
        server: dict[str, list[float]] = {"desk": [], "raw": []}
        n = options.per_round
        for r in range(options.rounds):
            for side in ("desk", "raw") if r % 2 else ("raw", "desk"):
                before = resource.getrusage(resource.RUSAGE_SELF)
                server_before = server_cpu()
                start = time.perf_counter()
                if side == "desk":
                    for _ in range(n):
                        desk.tickets.create(body)
                else:
                    for _ in range(n):
                        raw.execute(insert, next(rows))
                elapsed = (time.perf_counter() - start) / n * 1e3
                after = resource.getrusage(resource.RUSAGE_SELF)
                server_after = server_cpu()
                if server_before is not None and server_after is not None:
                    server[side].append((server_after - server_before) / n * 1e3)
                if side == "desk":
                    creates.append(elapsed)
                    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                    cpu.append(used / n * 1e3)
                else:
                    inserts.append(elapsed)
        desk.close()
        raw.close()
    finally:
        bench.drop(desk_schema)
        bench.drop(raw_schema)
    create, row = statistics.median(creates), statistics.median(inserts)
    print(
        f"{options.label}: create {create:.3f} ms (client CPU {statistics.median(cpu):.3f}),"
        f" raw insert {row:.3f} ms, ratio {row / create:.3f}; rounds:",
        " ".join(f"{i / c:.2f}" for c, i in zip(creates, inserts, strict=True)),
    )
    if server["desk"] and server["raw"]:
        print(
            f"{options.label}: server CPU per create {statistics.median(server['desk']):.3f} ms,"
            f" per raw insert {statistics.median(server['raw']):.3f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
