"""Benchmark the HTTP API under waitress against calling the Desk directly.

Run by hand from the repository root (this is not part of the test suite)::

    python benchmarks/bench_http.py            # full run, about five minutes
    python benchmarks/bench_http.py --quick    # smoke run, about ten seconds

Needs Flask and waitress (the ``flask`` extra); httpx (in the ``dev`` extra) only for
one reference row: ``pip install -e '.[flask]' httpx``. ``--dir`` chooses where the
temporary databases go.

The example app (:func:`supportkit.server.create_app`, which mounts the API with
``Supportkit(app, direct=True)``: in front of Flask) runs on SQLite under waitress,
a production WSGI server (4 threads), in a subprocess bound to 127.0.0.1 on an
ephemeral port. The subprocess stops by itself when this script closes its stdin or
exits, or after a deadline. Its database is filled before it starts, straight through
the Desk: the seed's configuration, 200 customers, 20,000 tickets with
``create_many`` (1 in 20 for the example customer, the rest spread evenly), a
lifecycle mix of statuses applied with ``tickets.update`` (most tickets done, as on a
desk that has run for a while), and an admin API key.

Three copies of that database (SQLite's backup API, so they are identical) serve the
three other sides, in this process:

- **Flask in-process**: the same Flask app called as a WSGI function with the environ
  waitress would build, no network: the adapter (and Flask's ``wsgi_app`` wrapper), the
  API and the Desk.
- **API in-process**: ``SupportApi.handle(Request(...))``, no network, no Flask: the
  framework-agnostic API layer and the Desk.
- **Desk direct**: ``desk.tickets.create(body)`` and ``desk.tickets.search(...)`` with
  the filters the API passes: the Desk alone.

Operations (each side, with 1 and with 4 concurrent clients; one thread and, for HTTP,
one keep-alive ``http.client.HTTPConnection`` per client: the standard library's
client, much lighter than httpx, so that the HTTP side measures the server rather than
the load generator; a connection the server closes fails the run instead of being
silently reopened):

- ``POST /v1/support/tickets`` with the seed's body without its attachment, and with a
  small PDF attachment (4 KiB, base64 in the JSON body);
- the customer search ``GET /v1/support/tickets?customer_id=cust_1234567890&status=
  open,in_progress&priority=high,critical&sort=created_at&order=desc&limit=25``.

Each (operation, clients) cell runs in rounds; within a round every side does the same
number of requests, the order of the sides rotating from round to round so that a busy
spell of a shared machine does not land on one side only. Searches run before creates
(the creates would add matches). Requests/s is the median over rounds (requests of the
round over its wall time); p50/p99 latency is over all requests of all rounds. The
server also times each API request inside its WSGI call, and an empty 200 answered
below Flask gives the transport's floor (with ``http.client``, with a minimal client
writing prebuilt bytes to the socket, and with httpx, to show what each client costs;
not a 204: waitress 3.0 closes the connection after every 204). Finally
``SupportApi.handle`` is profiled with cProfile for create and for the search.

Exit status: 0 (a missed goal is reported but does not fail the run) unless a check of
the benchmark itself fails (a request not answered as expected, the sides disagreeing).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchlib import checkout, log, machine_lines, version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's supportkit and its test fixtures

from supportkit.adapters.flask import state_of  # noqa: E402
from supportkit.api.auth import create_key  # noqa: E402
from supportkit.api.http import Request, Response  # noqa: E402
from supportkit.desk import Desk  # noqa: E402
from supportkit.server import create_app  # noqa: E402
from tests.desk_fixtures import b64, seed_ticket  # noqa: E402

# -- modes and constants --------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str
    prefill: int  # tickets in the database before the server starts
    rounds: int  # rounds per (operation, clients) cell
    per_round: int  # requests per side and round (split over the clients)
    warmup: int  # untimed requests per side before a cell
    profile_creates: int  # SupportApi.handle creates under cProfile
    profile_searches: int
    deadline: float  # seconds after which the server subprocess exits regardless


FULL = Mode("full", 20_000, 20, 150, 40, 2_000, 500, 1800.0)
QUICK = Mode("quick", 2_000, 3, 40, 10, 200, 50, 300.0)

CLIENT_COUNTS = (1, 4)
SERVER_THREADS = 4  # waitress's default, stated explicitly
GOAL_RATIO = 2.0  # HTTP create p50 ≤ 2 × Desk create p50
# The Desk's create is heading for ~0.5 ms: the goal then leaves the HTTP layer 0.5 ms.
OVERHEAD_TARGET_MS = 0.5

PREFIX = "/v1/support"
EXAMPLE_CUSTOMER = "cust_1234567890"
CUSTOMERS = 200  # the example customer and 199 others
EXAMPLE_SHARE = 20  # every 20th prefill ticket is the example customer's (a big account)
SEARCH_QUERY = {
    "customer_id": EXAMPLE_CUSTOMER,
    "status": "open,in_progress",
    "priority": "high,critical",
    "sort": "created_at",
    "order": "desc",
    "limit": "25",
}
SEARCH_PATH = (
    f"{PREFIX}/tickets?customer_id={EXAMPLE_CUSTOMER}&status=open,in_progress"
    "&priority=high,critical&sort=created_at&order=desc&limit=25"
)
# What the API's flat search hands the Desk for that query.
DESK_FILTERS = {k: SEARCH_QUERY[k] for k in ("customer_id", "status", "priority")}

PRIORITY_WEIGHTS = {"low": 30, "medium": 40, "high": 20, "critical": 10}
# The lifecycle mix of a desk that has run for a while: most tickets are done. It
# matters for create: routing to a least-loaded team counts the members' open tickets.
STATUS_WEIGHTS = {
    "open": 8, "in_progress": 10, "waiting_on_customer": 5, "on_hold": 2,
    "resolved": 22, "closed": 53,
}  # fmt: skip


def small_pdf(size: int = 4096) -> bytes:
    """A small, well-formed-looking PDF of exactly ``size`` bytes."""
    head = b"%PDF-1.4\n1 0 obj<< /Type /Catalog >>endobj\n2 0 obj<< /Length 0 >>stream\n"
    tail = b"\nendstream endobj\ntrailer<< /Root 1 0 R >>\n%%EOF\n"
    filler = (b"0123456789abcdef" * (size // 16 + 1))[: size - len(head) - len(tail)]
    return head + filler + tail


PDF = small_pdf()
BODY_PLAIN = seed_ticket(attachments=[])
BODY_PDF = seed_ticket(
    attachments=[
        {
            "filename": "network_diagnostics.pdf",
            "content_type": "application/pdf",
            "size": len(PDF),
            "data": b64(PDF),
        }
    ]
)

# Prefill bodies, one per category/subcategory of the seed, priorities set per ticket.
TEMPLATES: tuple[dict[str, Any], ...] = (
    seed_ticket(attachments=[]),
    seed_ticket(
        attachments=[],
        title="Slow throughput on the Denver branch circuit",
        description="File transfers to the data centre run at a tenth of the usual speed "
        "since this morning; latency spikes above 300 ms.",
        subcategory="performance",
        severity="major",
    ),
    seed_ticket(
        attachments=[],
        title="Choppy audio on outbound calls",
        description="Callers report robotic voice and dropped words on calls placed from "
        "the contact centre queue.",
        category="voice",
        subcategory="call_quality",
        service_affected="voice_trunks",
    ),
    seed_ticket(
        attachments=[],
        title="Set up hunt group for the new sales team",
        description="Please add extensions 4410 to 4425 to a new hunt group that rings "
        "in order, with voicemail after 30 seconds.",
        category="voice",
        subcategory="features",
        severity="minor",
        service_affected="voice_features",
    ),
)


# -- small helpers ---------------------------------------------------------------------------


def loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def fmt_ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


# -- the server subprocess -------------------------------------------------------------------


class TimingMiddleware:
    """Times each API request inside WSGI (adapter + API + Desk) and answers
    ``/__bench/ping`` (an empty 200: the transport's floor) and ``/__bench/samples``
    (the times since the last call, in ms, as JSON)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.samples: list[float] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/__bench/ping":
            # Not a 204: waitress 3.0 closes the connection after one (no Content-Length).
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        if path == "/__bench/samples":
            with self.lock:
                samples, self.samples = self.samples, []
            body = json.dumps(samples).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])  # fmt: skip
            return [body]
        t0 = time.perf_counter_ns()
        result = self.app(environ, start_response)
        elapsed = (time.perf_counter_ns() - t0) / 1e6
        if path.startswith(PREFIX):
            with self.lock:
                self.samples.append(elapsed)
        return result


def serve_main(url: str, deadline: float, threads: int) -> int:
    """The subprocess: serve the example app under waitress until told to stop."""
    import waitress

    app = create_app(url)  # the seed is already installed: this changes nothing
    server = waitress.create_server(
        TimingMiddleware(app), host="127.0.0.1", port=0, threads=threads, ident="waitress"
    )

    def watchdog() -> None:
        # stdin reaches EOF when the parent closes it or dies; the deadline is a backstop.
        stopper = threading.Timer(deadline, lambda: os._exit(3))
        stopper.daemon = True
        stopper.start()
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    print(json.dumps({"port": server.effective_port}), flush=True)
    server.run()
    return 0


@dataclass
class Server:
    process: subprocess.Popen[str]
    base_url: str

    def stop(self) -> int | None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                return self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()


def start_server(url: str, mode: Mode, stderr_path: Path) -> Server:
    stderr = stderr_path.open("w")
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", url,
         "--deadline", str(mode.deadline), "--threads", str(SERVER_THREADS)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
    )  # fmt: skip
    stderr.close()
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        sys.exit("bench_http: the server did not start:\n" + stderr_path.read_text())
    port = json.loads(line)["port"]
    return Server(process, f"http://127.0.0.1:{port}")


# -- building the databases ------------------------------------------------------------------


def customer_ids() -> list[str]:
    return [EXAMPLE_CUSTOMER] + [f"cust_bench_{i:03d}" for i in range(1, CUSTOMERS)]


def prefill_bodies(n: int) -> Any:
    customers = customer_ids()
    rng = random.Random(20_000)  # the same data on every run
    priorities = rng.choices(list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values()), k=n)
    others = customers[1:]
    for i in range(n):
        body = dict(TEMPLATES[i % len(TEMPLATES)])
        if i % EXAMPLE_SHARE == 0:
            body["customer_id"] = EXAMPLE_CUSTOMER
        else:
            body["customer_id"] = others[(i - i // EXAMPLE_SHARE - 1) % len(others)]
        body["priority"] = priorities[i]
        yield body


def build_database(path: Path, mode: Mode) -> tuple[str, dict[str, int]]:
    """The server's database: seed, customers, tickets, statuses, an admin key."""
    url = f"sqlite:///{path}"
    app = create_app(url)  # installs the seed's configuration and example customer
    desk = state_of(app).desk
    for i, customer in enumerate(customer_ids()[1:]):
        tier = ("enterprise", "premium", "standard", "standard")[i % 4]
        desk.customers.put({"id": customer, "name": f"Bench Customer {i + 1}", "tier": tier})
    t0 = time.perf_counter()
    created = desk.tickets.create_many(prefill_bodies(mode.prefill), batch_size=500)
    log(f"prefill: {created:,} tickets with create_many in {time.perf_counter() - t0:.1f} s")
    conn = sqlite3.connect(str(path))
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM tickets ORDER BY seq")]
    finally:
        conn.close()
    rng = random.Random(25)  # the same data on every run
    targets = rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()), k=len(ids))
    t0 = time.perf_counter()
    statuses: dict[str, int] = {}
    for ticket_id, status in zip(ids, targets, strict=True):
        if status != "open":
            desk.tickets.update(ticket_id, {"status": status})
        statuses[status] = statuses.get(status, 0) + 1
    log(f"prefill: {len(ids) - statuses.get('open', 0):,} status changes (desk.tickets.update) "
        f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    token = create_key(desk, role="admin", name="bench_http").token
    state_of(app).close()
    checkpoint(path)
    return token, statuses


def checkpoint(path: Path) -> None:
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def copy_database(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(str(source)), sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def count_tickets(path: Path) -> int:
    conn = sqlite3.connect(str(path))
    try:
        return int(conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])
    finally:
        conn.close()


# -- the three sides ---------------------------------------------------------------------------

Action = Callable[[], None]


class BenchError(Exception):
    """A request not answered as the benchmark expects."""


class HttpSide:
    """One keep-alive ``http.client.HTTPConnection`` per client."""

    name = "HTTP (waitress)"

    def __init__(self, server: Server, token: str) -> None:
        address = urlsplit(server.base_url)
        self.host, self.port = address.hostname or "127.0.0.1", address.port or 80
        self.server = server
        self.auth = f"Bearer {token}"
        self.clients: list[HTTPConnection] = []

    def connect(self) -> HTTPConnection:
        conn = HTTPConnection(self.host, self.port, timeout=30.0)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def ensure_clients(self, n: int) -> None:
        while len(self.clients) < n:
            conn = self.connect()
            _fetch(conn, "GET", "/__bench/ping", {}, None, 200)  # open the connection
            self.clients.append(conn)

    def actions(self, op: str, n: int) -> list[Action]:
        self.ensure_clients(n)
        return [self._action(op, client) for client in self.clients[:n]]

    def _action(self, op: str, conn: HTTPConnection) -> Action:
        if op == "ping":
            return lambda: _fetch(conn, "GET", "/__bench/ping", {}, None, 200)
        auth = {"Authorization": self.auth}
        if op == "search":
            return lambda: _fetch(conn, "GET", SEARCH_PATH, auth, None, 200)
        body = json.dumps(BODY_PLAIN if op == "create" else BODY_PDF).encode()
        headers = {**auth, "Content-Type": "application/json"}
        return lambda: _fetch(conn, "POST", f"{PREFIX}/tickets", headers, body, 201)

    def get_json(self, path: str) -> Any:
        self.ensure_clients(1)
        return json.loads(_fetch(self.clients[0], "GET", path, {"Authorization": self.auth},
                                 None, 200))  # fmt: skip

    def server_samples(self) -> list[float]:
        return [float(x) for x in self.get_json("/__bench/samples")]

    def close(self) -> None:
        for client in self.clients:
            client.close()


def _fetch(
    conn: HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> bytes:
    """One request on a kept-alive connection; its body. A connection the server closed
    (which ``http.client`` would silently reopen) fails the run: it would time a new
    TCP connection, not a request."""
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != status:
        raise BenchError(f"expected {status}, got {response.status}: {data[:300]!r}")
    if response.will_close:
        raise BenchError(f"the server closed the connection after {method} {path}")
    return data


def _expect(call: Callable[[], Any], status: int) -> Action:
    """``call``, checking the status of the httpx or API response it returns."""

    def action() -> None:
        response = call()
        if isinstance(response, Response):
            code, body = response.status, response.body
        else:
            code, body = response.status_code, response.content
        if code != status:
            raise BenchError(f"expected {status}, got {code}: {body[:300]!r}")

    return action


class WsgiSide:
    name = "Flask in-process"

    def __init__(self, path: Path, token: str) -> None:
        self.app = create_app(f"sqlite:///{path}", seed=False)
        self.token = token

    def environ(self, op: str) -> tuple[dict[str, Any], bytes]:
        """A WSGI environ like the one waitress builds for the http.client request."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": f"{PREFIX}/tickets",
            "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "HTTP_ACCEPT_ENCODING": "identity",
            "HTTP_AUTHORIZATION": f"Bearer {self.token}",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        }  # fmt: skip
        body = b""
        if op == "search":
            environ["QUERY_STRING"] = SEARCH_PATH.split("?", 1)[1]
        else:
            body = json.dumps(BODY_PLAIN if op == "create" else BODY_PDF).encode()
            environ.update(REQUEST_METHOD="POST", CONTENT_TYPE="application/json",
                           CONTENT_LENGTH=str(len(body)))  # fmt: skip
        return environ, body

    def actions(self, op: str, n: int) -> list[Action]:
        base, body = self.environ(op)
        app = self.app
        expected = "200 OK" if op == "search" else "201 CREATED"

        def call() -> None:
            environ = dict(base)
            environ["wsgi.input"] = io.BytesIO(body)
            statuses: list[str] = []

            def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
                statuses.append(status)
                return lambda data: None

            result = app(environ, start_response)
            try:
                answer = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if statuses[0].upper() != expected:
                raise BenchError(f"expected {expected}, got {statuses[0]}: {answer[:300]!r}")

        return [call] * n

    def close(self) -> None:
        state_of(self.app).close()


class ApiSide:
    name = "API in-process"

    def __init__(self, path: Path, token: str) -> None:
        self.app = create_app(f"sqlite:///{path}", seed=False)
        self.api = state_of(self.app).api
        self.token = token

    def request(self, op: str) -> Callable[[], Request]:
        auth = f"Bearer {self.token}"
        base = "http://127.0.0.1"
        if op == "search":
            query = {k: [v] for k, v in SEARCH_QUERY.items()}
            return lambda: Request(
                method="GET", path=f"{PREFIX}/tickets", query=query,
                headers={"Authorization": auth}, base_url=base,
            )  # fmt: skip
        body = json.dumps(BODY_PLAIN if op == "create" else BODY_PDF).encode()
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        return lambda: Request(method="POST", path=f"{PREFIX}/tickets", headers=headers,
                               body=body, base_url=base)  # fmt: skip

    def actions(self, op: str, n: int) -> list[Action]:
        make, handle = self.request(op), self.api.handle
        status = 200 if op == "search" else 201
        return [_expect(lambda: handle(make()), status) for _ in range(n)]

    def close(self) -> None:
        state_of(self.app).close()


class DeskSide:
    name = "Desk direct"

    def __init__(self, path: Path) -> None:
        # The same Desk the app opens (plugins from entry points, the system clock).
        self.app = create_app(f"sqlite:///{path}", seed=False)
        self.desk: Desk = state_of(self.app).desk

    def actions(self, op: str, n: int) -> list[Action]:
        tickets = self.desk.tickets
        if op == "search":

            def search() -> None:
                tickets.search(DESK_FILTERS, sort="created_at", order="desc", page=1, limit=25)

            return [search] * n
        body = BODY_PLAIN if op == "create" else BODY_PDF

        def create() -> None:
            tickets.create(body)

        return [create] * n

    def close(self) -> None:
        state_of(self.app).close()


# -- running a block of requests ---------------------------------------------------------------


@dataclass
class Block:
    wall_s: float
    latencies_ms: list[float]


def run_block(actions: list[Action], total: int) -> Block:
    """``total`` calls split over one thread per action, released together."""
    n = len(actions)
    shares = [total // n + (1 if i < total % n else 0) for i in range(n)]
    barrier = threading.Barrier(n + 1)
    latencies: list[list[float]] = [[] for _ in range(n)]
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        action, out, clock = actions[i], latencies[i], time.perf_counter_ns
        barrier.wait()
        try:
            for _ in range(shares[i]):
                t0 = clock()
                action()
                out.append((clock() - t0) / 1e6)
        except BaseException as exc:  # reported after the block
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if failures:
        raise failures[0]
    return Block(wall, [x for part in latencies for x in part])


@dataclass
class Cell:
    """One (operation, clients, side): all rounds."""

    rates: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # HTTP only: in-WSGI times

    def add(self, block: Block) -> None:
        self.rates.append(len(block.latencies_ms) / block.wall_s)
        self.latencies_ms.extend(block.latencies_ms)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def p(self, pct: float, values: list[float] | None = None) -> float:
        data = sorted(self.latencies_ms if values is None else values)
        return percentile(data, pct)


OPS = (
    ("search", "customer search (GET, 25 per page)"),
    ("create", "create, no attachment (POST)"),
    ("create_pdf", f"create, {len(PDF) // 1024} KiB PDF attachment (POST)"),
)


def bench_cells(
    mode: Mode,
    sides: list[Any],
    http: HttpSide,
    loads: list[tuple[float, float, float]],
    ops: Sequence[tuple[str, str]],
) -> dict[tuple[str, int, str], Cell]:
    cells: dict[tuple[str, int, str], Cell] = {}
    for op, label in ops:
        for clients in CLIENT_COUNTS:
            log(f"{label}, {clients} client(s): {mode.rounds} rounds × {mode.per_round} "
                "requests per side")  # fmt: skip
            actions = {side.name: side.actions(op, clients) for side in sides}
            for side in sides:  # warm-up, also keeps the databases in step
                run_block(actions[side.name], mode.warmup)
                cells[(op, clients, side.name)] = Cell()
            http.server_samples()  # drop the warm-up's server times
            for r in range(mode.rounds):
                shift = r % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    block = run_block(actions[side.name], mode.per_round)
                    cell = cells[(op, clients, side.name)]
                    cell.add(block)
                    if side is http:
                        cell.server_ms.extend(http.server_samples())
                current = loadavg()
                if current:
                    loads.append(current)
    return cells


def bench_ping(mode: Mode, http: HttpSide) -> dict[tuple[str, int], Cell]:
    """The transport's floor: an empty 200 answered by the middleware, no Flask, no API;
    with ``http.client`` (the load generator), with a minimal client that writes
    prebuilt bytes to the socket and reads the answer (about the least a Python client
    can cost) and with httpx (a typical application client), to show the clients'
    shares. The raw and httpx rows run interleaved with ``http.client`` rounds."""
    import httpx

    raw = http.connect().sock
    request = b"GET /__bench/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    def raw_ping() -> None:
        raw.sendall(request)
        data = raw.recv(65536)
        while b"\r\n\r\n" not in data:
            more = raw.recv(65536)
            if not more:
                raise BenchError("the server closed the raw connection")
            data += more
        if not data.startswith(b"HTTP/1.1 200") or b"Content-Length: 0" not in data:
            raise BenchError(f"unexpected answer to the raw ping: {data[:200]!r}")

    client = httpx.Client(base_url=http.server.base_url, timeout=30.0, trust_env=False)

    def httpx_ping() -> None:
        if client.get("/__bench/ping").status_code != 200:
            raise BenchError("the httpx ping was not answered with 200")

    plans: dict[tuple[str, int], list[Action]] = {
        ("http.client", n): http.actions("ping", n) for n in CLIENT_COUNTS
    }
    plans[("raw socket", 1)] = [raw_ping]
    plans[("httpx", 1)] = [httpx_ping]
    result = {key: Cell() for key in plans}
    for actions in plans.values():
        run_block(actions, mode.warmup)
    keys = list(plans)
    for r in range(mode.rounds):
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            result[key].add(run_block(plans[key], mode.per_round))
    raw.close()
    client.close()
    return result


# -- checks ------------------------------------------------------------------------------------


def check_search(http: HttpSide, api: ApiSide, desk: DeskSide) -> tuple[int, int]:
    """The three sides find the same tickets; returns (results on the page, total)."""
    http.ensure_clients(1)
    over_http = http.get_json(SEARCH_PATH)
    in_process = api.api.handle(api.request("search")()).json()
    direct = desk.desk.tickets.search(DESK_FILTERS, sort="created_at", order="desc", limit=25)
    ids = [t.id for t in direct.items]
    for name, answer in (("HTTP", over_http), ("API", in_process)):
        if [t["id"] for t in answer["tickets"]] != ids:
            raise BenchError(f"{name} search found other tickets than the Desk")
        if answer["pagination"]["total"] != direct.total:
            raise BenchError(f"{name} search total {answer['pagination']['total']} "
                             f"!= Desk {direct.total}")  # fmt: skip
    if not ids:
        raise BenchError("the search finds nothing: the data set is wrong")
    return len(ids), direct.total


# -- profiling ----------------------------------------------------------------------------------

# Where SupportApi.handle spends its time: (label, file suffix, function, direct caller
# or None). With a caller, only the time of calls made directly by it is counted.
Group = tuple[str, str, str, tuple[str, str] | None]
CREATE_BREAKDOWN: tuple[Group, ...] = (
    ("SupportApi.handle, in all", "api/app.py", "handle", None),
    ("  check path and query text (_check_text)", "api/app.py", "_check_text", None),
    ("  route match (_match)", "api/app.py", "_match", None),
    ("  authenticate the API key (_authenticate)", "api/app.py", "_authenticate", None),
    ("  read and check the JSON body (_json_body)", "api/app.py", "_json_body", None),
    ("    of which json.loads", "json/__init__.py", "loads", ("api/app.py", "_json_body")),
    ("    of which json_problem (depth/size check)", "validation.py", "json_problem",
     ("api/app.py", "_json_body")),
    ("  Desk: tickets.create", "desk.py", "create", None),
    ("  response: view + JSON (_ticket_response)", "api/handlers.py", "_ticket_response", None),
    ("    of which to_dict (ticket → dict)", "models.py", "to_dict", ("api/app.py", "ticket_view")),
    ("    of which JSON encoding (_dumps)", "api/http.py", "_dumps", None),
)  # fmt: skip
SEARCH_BREAKDOWN: tuple[Group, ...] = (
    ("SupportApi.handle, in all", "api/app.py", "handle", None),
    ("  authenticate the API key (_authenticate)", "api/app.py", "_authenticate", None),
    ("  Desk: tickets.search", "desk.py", "search", None),
    ("    of which the SQL query (search_tickets)", "backends/sqlite.py", "search_tickets", None),
    ("  results: _summary per ticket", "api/handlers.py", "_summary", None),
    ("    of which desk.calendars.get (a read per ticket)", "desk.py", "get",
     ("api/handlers.py", "_summary")),
    ("      of which BusinessCalendar.from_dict", "calendar.py", "from_dict", None),
    ("    of which sla.search_view", "sla.py", "search_view", ("api/handlers.py", "_summary")),
    ("    of which to_dict (ticket → dict)", "models.py", "to_dict",
     ("api/handlers.py", "_summary")),
    ("  JSON encoding (_dumps)", "api/http.py", "_dumps", None),
)  # fmt: skip


@dataclass
class Profile:
    calls: int
    seconds: float  # wall time with the profiler on
    breakdown: list[tuple[str, float, float]]  # (label, ms per call, share of handle)
    top_tottime: str
    top_cumulative: str


def _is(filename: str, name: str, suffix: str, func: str) -> bool:
    return name == func and filename.replace(os.sep, "/").endswith(suffix)


def profile_handle(api: ApiSide, op: str, n: int, groups: Sequence[Group]) -> Profile:
    make, handle = api.request(op), api.api.handle
    for _ in range(20):
        handle(make())
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    for _ in range(n):
        handle(make())
    profiler.disable()
    seconds = time.perf_counter() - t0
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def spent(suffix: str, func: str, caller: tuple[str, str] | None) -> float:
        total = 0.0
        for (filename, _, name), (_, _, _, cumulative, callers) in raw.items():
            if not _is(filename, name, suffix, func):
                continue
            if caller is None:
                total += cumulative
            else:
                total += sum(
                    value[3]
                    for (cfile, _, cname), value in callers.items()
                    if _is(cfile, cname, *caller)
                )
        return total

    handle_s = spent("api/app.py", "handle", None) or 1e-9
    breakdown = [
        (label, spent(suffix, func, caller) / n * 1000, spent(suffix, func, caller) / handle_s)
        for label, suffix, func, caller in groups
    ]

    def top(sort: str, count: int) -> str:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(count)
        lines = out.getvalue().splitlines()
        begin = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        return "\n".join(line for line in lines[begin:] if line.strip())

    return Profile(n, seconds, breakdown, top("tottime", 20), top("cumulative", 25))


# -- reporting ---------------------------------------------------------------------------------


def print_header(mode: Mode) -> None:
    print("HTTP API benchmark: Flask adapter under waitress vs SupportApi.handle vs the Desk")
    print(f"  mode:      {mode.name}")
    print("\n".join(machine_lines()))
    print(f"  sqlite:    {sqlite3.sqlite_version}")
    print("  packages:  " + ", ".join(
        f"{name} {version(name)}"
        for name in ("supportkit", "flask", "werkzeug", "waitress", "httpx")
    ))  # fmt: skip
    print(f"  checkout:  {checkout()}")
    load = loadavg()
    if load:
        print(f"  load avg:  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) at start")
    print(f"  server:    waitress, {SERVER_THREADS} threads, in a subprocess on 127.0.0.1 "
          "(ephemeral port); the clients in this process")  # fmt: skip
    print("  clients:   one thread and one keep-alive http.client.HTTPConnection per client; "
          "the request bodies JSON-encoded once, up front")  # fmt: skip
    print(f"  rounds:    {mode.rounds} per cell × {mode.per_round} requests per side "
          f"(split over the clients), sides rotated per round; {mode.warmup} warm-up "
          "requests per side and cell")  # fmt: skip
    print()


def print_results(
    cells: dict[tuple[str, int, str], Cell], ping: dict[tuple[str, int], Cell], sides: list[Any]
) -> None:
    print("Results: requests/s = median over rounds; latency over all requests of all rounds")
    header = (
        f"{'operation':<36} {'clients':>7}  {'side':<16} {'req/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'× Desk p50':>10} {'in-server p50/p99 ms':>21}"
    )
    print(header)
    print("-" * len(header))
    for op, label in OPS:
        for clients in CLIENT_COUNTS:
            desk_p50 = cells[(op, clients, "Desk direct")].p(50)
            for side in sides:
                cell = cells[(op, clients, side.name)]
                server = ""
                if cell.server_ms:
                    p50, p99 = cell.p(50, cell.server_ms), cell.p(99, cell.server_ms)
                    server = f"{fmt_ms(p50)} / {fmt_ms(p99)}"
                print(
                    f"{label:<36} {clients:>7}  {side.name:<16} {cell.rate:>8,.0f} "
                    f"{fmt_ms(cell.p(50)):>8} {fmt_ms(cell.p(99)):>8} "
                    f"{cell.p(50) / desk_p50:>10.2f} {server:>21}"
                )
        print()
    for (client, clients), cell in ping.items():
        print(
            f"{'empty 200 (no Flask), ' + client:<36} {clients:>7}  {'HTTP (waitress)':<16} "
            f"{cell.rate:>8,.0f} {fmt_ms(cell.p(50)):>8} {fmt_ms(cell.p(99)):>8}"
        )
    print()


def print_decomposition(
    cells: dict[tuple[str, int, str], Cell], ping: dict[tuple[str, int], Cell]
) -> None:
    print("Where an HTTP request's time goes, 1 client, p50 ms (differences of medians)")
    for op, label in OPS:
        http = cells[(op, 1, "HTTP (waitress)")]
        wsgi = cells[(op, 1, "Flask in-process")].p(50)
        api = cells[(op, 1, "API in-process")].p(50)
        desk = cells[(op, 1, "Desk direct")].p(50)
        total, server = http.p(50), http.p(50, http.server_ms)
        print(f"  {label}: {fmt_ms(total)} in all =")
        print(f"      Desk                                         {fmt_ms(desk):>7}")
        print(f"    + API layer (handle − Desk)                    {fmt_ms(api - desk):>7}")
        print(f"    + adapter (Flask in-process − handle)          {fmt_ms(wsgi - api):>7}")
        print(f"    + waitress + loopback + client (the rest)      {fmt_ms(total - wsgi):>7}"
              f"   (empty-200 floor: {fmt_ms(ping[('http.client', 1)].p(50))}; with a raw "
              f"socket {fmt_ms(ping[('raw socket', 1)].p(50))}, with httpx "
              f"{fmt_ms(ping[('httpx', 1)].p(50))})")  # fmt: skip
        print(f"    (timed inside the server's WSGI call: {fmt_ms(server)}, against "
              f"{fmt_ms(wsgi)} in this process)")  # fmt: skip
    print()


def print_goal(cells: dict[tuple[str, int, str], Cell]) -> float:
    print(f"Goal: HTTP create p50 ≤ {GOAL_RATIO:g} × Desk create p50 (1 client, no attachment)")
    http = cells[("create", 1, "HTTP (waitress)")].p(50)
    desk = cells[("create", 1, "Desk direct")].p(50)
    ratio = http / desk
    verdict = "PASS" if ratio <= GOAL_RATIO else "MISS"
    print(f"  HTTP {fmt_ms(http)} ms / Desk {fmt_ms(desk)} ms = {ratio:.2f}×  {verdict}")
    print(f"  the HTTP layer adds {fmt_ms(http - desk)} ms; the goal allows {fmt_ms(desk)} ms "
          f"at this Desk speed ({fmt_ms(OVERHEAD_TARGET_MS)} ms once the Desk takes "
          f"{fmt_ms(OVERHEAD_TARGET_MS)} ms)")  # fmt: skip
    cell = cells[("create", 1, "HTTP (waitress)")]
    server = cell.p(50, cell.server_ms)
    print(f"  (timed inside the server's WSGI call instead: {fmt_ms(server)} ms = "
          f"{server / desk:.2f}× the Desk)")  # fmt: skip
    for op, clients in (("create_pdf", 1), ("create", 4), ("create_pdf", 4)):
        h = cells[(op, clients, "HTTP (waitress)")].p(50)
        d = cells[(op, clients, "Desk direct")].p(50)
        print(f"  (for reference: {op}, {clients} client(s): {h / d:.2f}×)")
    print()
    return ratio


def print_profile(title: str, profile: Profile) -> None:
    per_call = profile.seconds / profile.calls * 1000
    print(f"{title}: {profile.calls:,} calls under cProfile "
          f"({per_call:.3f} ms per call with the profiler on)")  # fmt: skip
    print(f"  {'what':<56} {'ms/call':>8} {'share':>7}")
    for label, ms, share in profile.breakdown:
        print(f"  {label:<56} {ms:>8.3f} {share:>7.0%}")
    print("  top functions by own time:")
    print("\n".join("    " + line for line in profile.top_tottime.splitlines()))
    print("  top functions by cumulative time:")
    print("\n".join("    " + line for line in profile.top_cumulative.splitlines()))
    print()


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests")
    parser.add_argument("--dir", type=Path, help="where the databases go (default: a temp dir)")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=600.0, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=SERVER_THREADS, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        return serve_main(options.serve, options.deadline, options.threads)
    mode = QUICK if options.quick else FULL
    for needed in ("flask", "waitress", "httpx"):
        try:
            __import__(needed)
        except ImportError:
            sys.exit(f"bench_http: {needed} is missing; install it with\n"
                     "    pip install -e '.[flask]' httpx")  # fmt: skip
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    print_header(mode)
    with tempfile.TemporaryDirectory(prefix="bench_http_", dir=options.dir) as tmp_name:
        tmp = Path(tmp_name)
        paths = {name: tmp / f"{name}.db" for name in ("http", "wsgi", "api", "desk")}
        log(f"building the database: {mode.prefill:,} tickets over {CUSTOMERS} customers")
        token, statuses = build_database(paths["http"], mode)
        for name in ("wsgi", "api", "desk"):
            copy_database(paths["http"], paths[name])
        start_count = count_tickets(paths["http"])

        server = start_server(f"sqlite:///{paths['http']}", mode, tmp / "server.log")
        http = HttpSide(server, token)
        wsgi = WsgiSide(paths["wsgi"], token)
        api = ApiSide(paths["api"], token)
        desk = DeskSide(paths["desk"])
        sides: list[Any] = [http, wsgi, api, desk]
        loads: list[tuple[float, float, float]] = []
        try:
            found, total = check_search(http, api, desk)
            mix = ", ".join(f"{n:,} {s}" for s, n in sorted(statuses.items(), key=lambda x: -x[1]))
            print(f"Data: {start_count:,} tickets (create_many) over {CUSTOMERS} customers, "
                  f"1 in {EXAMPLE_SHARE} the example customer's; statuses {mix}; the search "
                  f"finds {total} (a page of {found}) on every side")  # fmt: skip
            plain, with_pdf = len(json.dumps(BODY_PLAIN)), len(json.dumps(BODY_PDF))
            print(f"Bodies: the seed's create body without attachments ({plain} bytes "
                  f"of JSON), and with a {len(PDF):,}-byte PDF ({with_pdf:,} bytes)")  # fmt: skip
            print()
            ping = bench_ping(mode, http)
            cells = bench_cells(mode, sides, http, loads, OPS[:1])
            # Profile the search now: the creates below add matches to it.
            log(f"profiling SupportApi.handle: {mode.profile_searches:,} searches")
            search_profile = profile_handle(api, "search", mode.profile_searches,
                                            SEARCH_BREAKDOWN)  # fmt: skip
            cells.update(bench_cells(mode, sides, http, loads, OPS[1:]))
        finally:
            http.close()
            code = server.stop()
            if code not in (0, None):
                log(f"the server exited with status {code}; its log:")
                print((tmp / "server.log").read_text(), file=sys.stderr)
        counts = {name: count_tickets(path) for name, path in paths.items()}

        log(f"profiling SupportApi.handle: {mode.profile_creates:,} creates")
        create_profile = profile_handle(api, "create", mode.profile_creates, CREATE_BREAKDOWN)
        wsgi.close()
        api.close()
        desk.close()

    print_results(cells, ping, sides)
    print_decomposition(cells, ping)
    print_goal(cells)
    print_profile("Profile of SupportApi.handle, create without attachment", create_profile)
    print_profile("Profile of SupportApi.handle, the customer search", search_profile)
    if loads:
        ones = [x[0] for x in loads]
        print(f"Load average (1 min) during the run: {min(ones):.2f}–{max(ones):.2f}, "
              f"median {statistics.median(ones):.2f}")  # fmt: skip
    print(f"Tickets at the end: {', '.join(f'{k} {v:,}' for k, v in counts.items())}")
    if len(set(counts.values())) != 1:
        print("The three databases ended with different ticket counts.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
