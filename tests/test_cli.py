import importlib
import json
import os
import signal
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from supportkit.api.auth import ApiKeyAuthenticator
from supportkit.cli import main, run_worker, stop_on_signals
from supportkit.desk import Desk, TickReport
from supportkit.errors import StorageError
from supportkit.plugins import Principal

from .desk_fixtures import seed_ticket


def test_demo_tells_the_lifecycle_and_sla_story(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    result = CliRunner().invoke(main, ["demo", "--database", str(database)], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "network_escalation_team" in out
    assert "Priority upgraded to critical" in out
    # Business-calendar due dates skip Thanksgiving and the night: Wed 16:30 + 1 h.
    assert "Fri 29 Nov 09:30" in out
    assert "ticket.reopened" in out
    assert "Follow-up: Slow downloads" in out
    # The tour really went through a desk on that file.
    with Desk.open(f"sqlite:///{database}") as desk:
        tickets = desk.tickets.search(sort={"field": "number", "order": "asc"})
        assert [t.status for t in tickets] == ["resolved", "escalated", "closed", "open"]
        assert tickets.items[1].sla is not None
        assert tickets.items[1].sla.calendar_id == "us_pacific"
    # A second run starts afresh.
    again = CliRunner().invoke(main, ["demo", "--database", str(database)])
    assert again.exit_code == 0
    with Desk.open(f"sqlite:///{database}") as desk:
        assert desk.tickets.search().total == 4


def test_init_installs_the_seed_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'support.db'}"
    runner = CliRunner()
    first = runner.invoke(main, ["init", "--database", url])
    assert first.exit_code == 0, first.output
    assert "added categories: network, voice" in first.output
    second = runner.invoke(main, ["init", "--database", url])
    assert "kept categories (already there): network, voice" in second.output
    with Desk.open(url) as desk:
        assert [c.id for c in desk.categories.list()] == ["network", "voice"]
        assert len(desk.routing_rules.list()) == 1


def test_init_reads_a_toml_config(tmp_path: Path) -> None:
    config = tmp_path / "support.toml"
    config.write_text(
        """
[[calendars]]
id = "emea"
timezone = "Europe/London"
hours = { mon = [["09:00", "17:30"]], fri = [["09:00", "16:00"]] }

[[categories]]
id = "billing"
name = "Billing"
sla = { response_time = "4 hours", resolution_time = "2 days", calendar = "emea" }

[[sla_policies]]
conditions = { priority = ["critical"] }
response_time = "1h"
"""
    )
    url = f"sqlite:///{tmp_path / 'support.db'}"
    result = CliRunner().invoke(
        main, ["init", "--database", url], env={"SUPPORTKIT_CONFIG": str(config)}
    )
    assert result.exit_code == 0, result.output
    with Desk.open(url) as desk:
        assert desk.categories.get("billing").sla.calendar == "emea"
        assert desk.sla_policies.list()[0].id.startswith("sla_")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[planets]]\nid = 'x'\n", "unknown section"),
        ("not toml = = =", "not valid TOML"),
        ("[[categories]]\nid = 'x'\nname = 'X'\n", "categories[0].sla"),
    ],
)
def test_init_reports_bad_configs_clearly(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = CliRunner().invoke(
        main, ["init", "--database", f"sqlite:///{tmp_path / 'x.db'}", "--config", str(config)]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_tick_runs_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'support.db'}"
    runner = CliRunner()
    runner.invoke(main, ["init", "--database", url])
    result = runner.invoke(main, ["tick", "--database", url])
    assert result.exit_code == 0, result.output
    assert "0 tickets, 0 timers fired" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "supportkit" in result.output


# -- API keys ------------------------------------------------------------------------------------


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'support.db'}"


def authenticate(url: str, key: str) -> Principal | None:
    with Desk.open(url) as desk:
        return ApiKeyAuthenticator().authenticate("Bearer " + key, desk=desk, now=datetime.now(UTC))


def test_keys_create_prints_the_key_alone_on_the_last_line(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    result = CliRunner().invoke(
        main, ["keys", "create", "--role", "admin", "--name", "ops", "--database", url]
    )
    assert result.exit_code == 0, result.output
    *intro, last = result.stdout.splitlines()
    assert intro and "shown only this once" in result.stdout
    assert last == last.strip() and last.startswith("sk_") and " " not in last
    principal = authenticate(url, last)
    assert principal is not None
    assert (principal.role, principal.customer_id) == ("admin", None)
    assert principal.key_id is not None and principal.key_id in intro[0]


def test_customer_keys_are_bound_to_a_customer(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    runner = CliRunner()
    refused = runner.invoke(main, ["keys", "create", "--role", "customer", "--database", url])
    assert refused.exit_code == 2
    assert "a customer key needs --customer-id" in refused.output
    wrong = runner.invoke(
        main, ["keys", "create", "--role", "agent", "--customer-id", "cust_1", "--database", url]
    )
    assert wrong.exit_code == 2 and "only for customer keys" in wrong.output
    made = runner.invoke(
        main,
        ["keys", "create", "--role", "customer", "--customer-id", "cust_1", "--database", url],
    )
    assert made.exit_code == 0, made.output
    principal = authenticate(url, made.stdout.splitlines()[-1])
    assert principal is not None
    assert (principal.role, principal.customer_id) == ("customer", "cust_1")
    agent = runner.invoke(
        main, ["keys", "create", "--role", "agent", "--agent-id", "agent_007", "--database", url]
    )
    principal = authenticate(url, agent.stdout.splitlines()[-1])
    assert principal is not None and principal.agent_id == "agent_007"
    bad_role = runner.invoke(main, ["keys", "create", "--role", "root", "--database", url])
    assert bad_role.exit_code == 2


def test_keys_list_never_shows_secrets(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    runner = CliRunner()
    empty = runner.invoke(main, ["keys", "list", "--database", url])
    assert empty.exit_code == 0 and "No API keys yet" in empty.output
    tokens = [
        runner.invoke(
            main, ["keys", "create", "--role", "admin", "--database", url]
        ).stdout.splitlines()[-1]
        for _ in range(2)
    ]
    runner.invoke(
        main,
        ["keys", "create", "--role", "customer", "--customer-id", "cust_9", "--name", "portal",
         "--database", url],
    )  # fmt: skip
    listed = runner.invoke(main, ["keys", "list", "--database", url], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    for token in tokens:
        key_id, secret = token[3:].split("_", 1)
        assert key_id in listed.output
        assert secret not in listed.output and secret[:8] not in listed.output
    assert "cust_9" in listed.output and "portal" in listed.output
    with Desk.open(url) as desk, desk.storage.read() as tx:
        hashes = [row["hash"] for row in tx.list_resources("api_key")]
    assert len(hashes) == 3
    assert not any(h in listed.output or h[:8] in listed.output for h in hashes)


def test_keys_revoke(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    runner = CliRunner()
    token = runner.invoke(
        main, ["keys", "create", "--role", "admin", "--database", url]
    ).stdout.splitlines()[-1]
    key_id = token.split("_")[1]
    assert authenticate(url, token) is not None
    result = runner.invoke(main, ["keys", "revoke", key_id, "--database", url])
    assert result.exit_code == 0, result.output
    assert f"Revoked key {key_id}" in result.output
    assert authenticate(url, token) is None
    again = runner.invoke(main, ["keys", "revoke", key_id, "--database", url])
    assert again.exit_code == 1
    assert f"no API key '{key_id}'" in again.output and "Traceback" not in again.output
    # The whole key works as well as its id.
    other = runner.invoke(
        main, ["keys", "create", "--role", "agent", "--database", url]
    ).stdout.splitlines()[-1]
    assert runner.invoke(main, ["keys", "revoke", other, "--database", url]).exit_code == 0
    assert authenticate(url, other) is None


def test_keys_use_the_database_from_the_environment(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    result = CliRunner().invoke(
        main, ["keys", "create", "--role", "admin"], env={"SUPPORTKIT_DATABASE_URL": url}
    )
    assert result.exit_code == 0, result.output
    assert authenticate(url, result.stdout.splitlines()[-1]) is not None


def test_errors_are_one_clean_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "list", "--database", "nosuch://x"])
    assert result.exit_code == 1
    assert "no storage backend" in result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)


# -- tick and the worker -------------------------------------------------------------------------


def test_tick_once_is_the_same_single_run(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    runner = CliRunner()
    runner.invoke(main, ["init", "--database", url])
    for args in (["tick", "--once"], ["tick"]):
        result = runner.invoke(main, [*args, "--database", url])
        assert result.exit_code == 0, result.output
        assert result.output == "0 tickets, 0 timers fired, 0 escalations\n"


class FakeDesk:
    """Counts ticks; ``fail_on`` ticks raise a storage error."""

    def __init__(self, fail_on: tuple[int, ...] = ()) -> None:
        self.ticks = 0
        self.fail_on = fail_on

    def tick(self) -> TickReport:
        self.ticks += 1
        if self.ticks in self.fail_on:
            raise StorageError("the database is down")
        fired = (("ticket_1", "update_due"),) if self.ticks == 2 else ()
        return TickReport(tickets=len(fired), fired=fired, escalations=0)


def test_worker_loop_stops_when_asked_without_sleeping() -> None:
    desk = FakeDesk()
    sleeps: list[float] = []
    logged: list[str] = []
    rounds = run_worker(
        desk,  # type: ignore[arg-type]
        interval=5,
        sleep=sleeps.append,
        should_stop=lambda: desk.ticks >= 3,
        log=logged.append,
    )
    assert rounds == 3 and desk.ticks == 3
    assert sleeps == [5, 5]  # no sleep after the last round
    assert logged == ["tick: 1 tickets, 1 timers fired, 0 escalations"]  # only busy rounds


def test_worker_logs_errors_and_carries_on() -> None:
    desk = FakeDesk(fail_on=(1,))
    logged: list[str] = []
    rounds = run_worker(
        desk,  # type: ignore[arg-type]
        interval=0.5,
        sleep=lambda _: None,
        should_stop=lambda: desk.ticks >= 2,
        log=logged.append,
        verbose=True,
    )
    assert rounds == 2
    assert logged[0] == "error: the database is down (retrying in 0.5s)"
    assert logged[1].startswith("tick: 1 tickets")
    with pytest.raises(StorageError):
        run_worker(FakeDesk(fail_on=(1,)), interval=1, once=True, log=logged.append)  # type: ignore[arg-type]


def test_worker_dispatches_when_the_desk_can() -> None:
    desk = FakeDesk()
    dispatched: list[int] = []

    def dispatch() -> int:
        dispatched.append(1)
        return 2

    desk.dispatch = dispatch  # type: ignore[attr-defined]
    logged: list[str] = []
    run_worker(desk, interval=1, once=True, log=logged.append)  # type: ignore[arg-type]
    assert dispatched == [1]
    assert logged == ["dispatch: 2 delivered"]


def test_a_signal_stops_the_worker_after_the_current_round() -> None:
    desk = FakeDesk()
    logged: list[str] = []
    before = signal.getsignal(signal.SIGTERM)

    def sleep(_: float) -> None:
        if desk.ticks == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with stop_on_signals() as stop:
        rounds = run_worker(
            desk,  # type: ignore[arg-type]
            interval=60,
            sleep=sleep,
            should_stop=stop.is_set,
            log=logged.append,
        )
    assert rounds == 3 and desk.ticks == 3
    assert stop.signal == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored


def test_worker_command_finishes_the_tick_then_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    ticks: list[int] = []
    real_tick = Desk.tick

    def tick(self: Desk) -> TickReport:
        ticks.append(1)
        if len(ticks) == 3:  # a signal arrives in the middle of the third tick
            os.kill(os.getpid(), signal.SIGINT)
        return real_tick(self)

    monkeypatch.setattr(Desk, "tick", tick)
    result = CliRunner().invoke(main, ["worker", "--interval", "0", "--database", url])
    assert result.exit_code == 0, result.output
    assert len(ticks) == 3
    assert "worker stopped on SIGINT after 3 rounds" in result.output


def test_worker_once_and_its_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqlite_url(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["worker", "--once", "-v", "--database", url])
    assert result.exit_code == 0, result.output
    assert "tick: 0 tickets, 0 timers fired, 0 escalations" in result.output
    assert "worker stopped after 1 round\n" in result.output

    def broken(self: Desk) -> TickReport:
        raise StorageError("the database is down")

    monkeypatch.setattr(Desk, "tick", broken)
    failed = runner.invoke(main, ["worker", "--once", "--database", url])
    assert failed.exit_code == 1
    assert "Error: the database is down" in failed.output and "Traceback" not in failed.output


def test_dispatch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqlite_url(tmp_path)
    runner = CliRunner()
    if not hasattr(Desk, "dispatch"):
        missing = runner.invoke(main, ["dispatch", "--once", "--database", url])
        assert missing.exit_code == 1 and "no notification dispatcher" in missing.output
    monkeypatch.setattr(Desk, "dispatch", lambda self: 3, raising=False)
    result = runner.invoke(main, ["dispatch", "--once", "--database", url])
    assert result.exit_code == 0, result.output
    assert result.output == "dispatch: 3 delivered\n"


# -- export and import ---------------------------------------------------------------------------


def make_tickets(url: str, count: int) -> None:
    CliRunner().invoke(main, ["init", "--database", url])
    with Desk.open(url) as desk:
        for index in range(count):
            ticket = desk.tickets.create(seed_ticket(title=f"Ticket {index}"))
            desk.comments.add(ticket.id, {"content": "on it", "author": {"type": "agent"}})


def test_export_and_import_files(tmp_path: Path) -> None:
    source, target = sqlite_url(tmp_path), f"sqlite:///{tmp_path / 'copy.db'}"
    make_tickets(source, 3)
    runner = CliRunner()
    dump = tmp_path / "export.jsonl"
    exported = runner.invoke(main, ["export", "--database", source, "--output", str(dump)])
    assert exported.exit_code == 0, exported.output
    assert f"exported 3 tickets to {dump}" in exported.output
    imported = runner.invoke(main, ["import", "--database", target, "--input", str(dump)])
    assert imported.exit_code == 0, imported.output
    assert "imported 3 tickets (3 comments, 3 attachments," in imported.output
    assert "added configuration: calendar:us_pacific" in imported.output
    again = runner.invoke(main, ["export", "--database", target, "-o", str(tmp_path / "2.jsonl")])
    assert again.exit_code == 0
    first, second = dump.read_text().splitlines(), (tmp_path / "2.jsonl").read_text().splitlines()
    assert first[1:] == second[1:]
    # Importing the same file again names the line of the first existing ticket.
    clash = runner.invoke(main, ["import", "--database", target, "-i", str(dump)])
    assert clash.exit_code == 1
    line = next(i for i, text in enumerate(first, start=1) if text.startswith('{"ticket"'))
    assert f"line {line}: ticket.id: ticket " in clash.output
    assert "Traceback" not in clash.output
    skipped = runner.invoke(main, ["import", "--database", target, "-i", str(dump),
                                   "--skip-existing"])  # fmt: skip
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 3 tickets that already existed" in skipped.output


def test_export_to_stdout_and_import_from_stdin(tmp_path: Path) -> None:
    source, target = sqlite_url(tmp_path), f"sqlite:///{tmp_path / 'copy.db'}"
    make_tickets(source, 2)
    runner = CliRunner()
    exported = runner.invoke(main, ["export", "--database", source, "--progress"])
    assert exported.exit_code == 0, exported.output
    lines = exported.stdout.splitlines()
    assert json.loads(lines[0])["format"] == "supportkit-export"
    assert sum(1 for line in lines if line.startswith('{"ticket"')) == 2
    assert "exported 2 tickets to stdout" in exported.stderr
    imported = runner.invoke(
        main, ["import", "--database", target, "--progress", "--batch-size", "1"],
        input=exported.stdout,
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert "imported 2 tickets" in imported.output
    with Desk.open(target) as desk:
        assert desk.tickets.search().total == 2


def test_import_errors_name_the_line_and_import_nothing(tmp_path: Path) -> None:
    source, target = sqlite_url(tmp_path), f"sqlite:///{tmp_path / 'copy.db'}"
    make_tickets(source, 2)
    runner = CliRunner()
    dump = tmp_path / "export.jsonl"
    runner.invoke(main, ["export", "--database", source, "-o", str(dump)])
    lines = dump.read_text().splitlines()
    last = json.loads(lines[-1])
    last["ticket"]["status"] = 42
    last["comments"][0]["author"] = {"type": "robot"}
    lines[-1] = json.dumps(last)
    dump.write_text("\n".join(lines) + "\n")
    result = runner.invoke(main, ["import", "--database", target, "-i", str(dump)])
    assert result.exit_code == 1
    assert f"line {len(lines)}: comments[0].author.type: 'robot' is not one of" in result.output
    assert "nothing was imported" in result.output and "Traceback" not in result.output
    with Desk.open(target) as desk:  # the file was checked before anything was written
        assert desk.tickets.search().total == 0
        assert desk.categories.list() == []
    # From stdin, the batches before the bad line are kept, and the message says so.
    piped = runner.invoke(
        main, ["import", "--database", target, "--batch-size", "1"], input=dump.read_text()
    )
    assert piped.exit_code == 1
    assert f"stdin: line {len(lines)}:" in piped.output
    assert "1 tickets of earlier batches were imported" in piped.output
    missing = runner.invoke(main, ["import", "-i", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_a_failed_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqlite_url(tmp_path)
    make_tickets(url, 1)

    def broken(*args: object, **kwargs: object) -> int:
        raise StorageError("disk on fire")

    monkeypatch.setattr("supportkit.transfer.export_jsonl", broken)
    out = tmp_path / "export.jsonl"
    result = CliRunner().invoke(main, ["export", "--database", url, "-o", str(out)])
    assert result.exit_code == 1 and "disk on fire" in result.output
    assert not out.exists()


# -- serve ---------------------------------------------------------------------------------------


class FakeServer(types.ModuleType):
    """Stands in for ``supportkit.server``: records what the command asked of it."""

    def __init__(self) -> None:
        super().__init__("supportkit.server")
        self.created: list[tuple[str | None, bool]] = []
        self.served: list[tuple[object, str, int]] = []
        self.app = object()

    def create_app(self, database_url: str | None = None, *, seed: bool = True) -> object:
        self.created.append((database_url, seed))
        return self.app

    def serve(self, app: object, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.served.append((app, host, port))


def test_serve_wiring_with_a_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeServer()
    monkeypatch.setitem(sys.modules, "supportkit.server", fake)
    runner = CliRunner()
    result = runner.invoke(main, ["serve", "--port", "8123", "--database", "sqlite:///x.db"])
    assert result.exit_code == 0, result.output
    assert fake.created == [("sqlite:///x.db", True)]
    assert fake.served == [(fake.app, "127.0.0.1", 8123)]
    assert "http://127.0.0.1:8123/v1/support" in result.output
    assert "http://127.0.0.1:8123/v1/support/openapi.json" in result.output
    assert "supportkit keys create --role admin --database sqlite:///x.db" in result.output
    # --database defaults to $SUPPORTKIT_DATABASE_URL, then sqlite:///supportkit.db.
    runner.invoke(main, ["serve"], env={"SUPPORTKIT_DATABASE_URL": "sqlite:///env.db"})
    runner.invoke(main, ["serve"], env={"SUPPORTKIT_DATABASE_URL": None})
    assert [c[0] for c in fake.created[1:]] == ["sqlite:///env.db", "sqlite:///supportkit.db"]
    assert fake.served[-1][1:] == ("127.0.0.1", 8000)
    hidden = runner.invoke(
        main, ["serve", "--host", "0.0.0.0", "--database", "postgresql://u:secret@db/support"]
    )
    assert "secret" not in hidden.output and "u:***@db" in hidden.output
    assert "listening on every interface" in hidden.output


def test_serve_without_flask_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeServer()

    def create_app(database_url: str | None = None, *, seed: bool = True) -> object:
        raise ModuleNotFoundError("No module named 'flask'", name="flask")

    fake.create_app = create_app  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "supportkit.server", fake)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "pip install 'supportkit[flask]'" in result.output
    assert "Traceback" not in result.output
    monkeypatch.setitem(sys.modules, "supportkit.server", None)  # no server module at all
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1 and "no example server" in result.output


def test_serve_reports_a_busy_port(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeServer()

    def serve(app: object, host: str = "127.0.0.1", port: int = 8000) -> None:
        raise OSError(98, "Address already in use")

    fake.serve = serve  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "supportkit.server", fake)
    result = CliRunner().invoke(main, ["serve", "--port", "8001"])
    assert result.exit_code == 1
    assert "cannot serve on 127.0.0.1:8001: Address already in use" in result.output


def test_serve_with_the_real_flask_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        server = importlib.import_module("supportkit.server")
    except ModuleNotFoundError as exc:
        if exc.name != "supportkit.server":
            raise
        pytest.skip("supportkit.server (the example Flask app) does not exist yet")
    flask = pytest.importorskip("flask", reason="the example server needs Flask")
    served: list[tuple[object, str, int]] = []
    monkeypatch.setattr(
        server, "serve", lambda app, host="127.0.0.1", port=8000: served.append((app, host, port))
    )
    url = sqlite_url(tmp_path)
    result = CliRunner().invoke(
        main, ["serve", "--host", "127.0.0.1", "--port", "8765", "--database", url]
    )
    assert result.exit_code == 0, result.output
    ((app, host, port),) = served
    assert isinstance(app, flask.Flask)
    assert (host, port) == ("127.0.0.1", 8765)
    response = app.test_client().get("/v1/support/openapi.json")
    assert response.status_code == 200
