"""The ``supportkit`` command line. See ``docs/cli.md``.

Every command that touches a database takes ``--database URL`` (default:
``$SUPPORTKIT_DATABASE_URL``, else ``sqlite:///supportkit.db``). supportkit's own errors
become one clean line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import click

from . import __version__
from .errors import SupportkitError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from .desk import Desk

__all__ = ["StopRequest", "main", "run_worker", "stop_on_signals"]

_DATABASE_HELP = "Database URL (default: $SUPPORTKIT_DATABASE_URL, else sqlite:///supportkit.db)."
_FLASK_MODULES: Final = ("flask", "werkzeug", "waitress", "jinja2", "itsdangerous")


def _database_url(database: str | None) -> str:
    """The URL a command uses: ``--database``, else the environment, else the default."""
    from .desk import DEFAULT_DATABASE_URL

    return database or os.environ.get("SUPPORTKIT_DATABASE_URL") or DEFAULT_DATABASE_URL


def _desk(database: str | None) -> Desk:
    from .desk import Desk

    return Desk.open(_database_url(database))


@contextlib.contextmanager
def _clean_errors() -> Iterator[None]:
    """supportkit's errors as one clean line (exit status 1), not a traceback."""
    try:
        yield
    except SupportkitError as exc:
        raise click.ClickException(str(exc)) from exc


def _redacted(url: str) -> str:
    """``url`` with any password hidden, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _progress(console: Console, *, enabled: bool | None) -> Progress:
    """A rich progress display on stderr; by default only when stderr is a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not (console.is_terminal if enabled is None else enabled),
    )


_PROGRESS_OPTION = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr (default: when stderr is a terminal).",
)


@click.group()
@click.version_option(__version__, prog_name="supportkit")
def main() -> None:
    """supportkit: an embeddable support-ticket engine."""


# -- demo, init --------------------------------------------------------------------------------


@main.command()
@click.option("--database", default="supportkit-demo.db", show_default=True,
              help="The SQLite file the tour writes (recreated on every run).")  # fmt: skip
def demo(database: str) -> None:
    """Replay example tickets through their lifecycle, with SLA due dates."""
    from .demo import run_demo

    run_demo(database=Path(database))


@main.command()
@click.option("--database", default=None, help=_DATABASE_HELP)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="A TOML file of calendars, categories, teams, … "
              "(default: $SUPPORTKIT_CONFIG, else the seed's examples).")  # fmt: skip
@click.option("--replace", is_flag=True, help="Replace resources that already exist.")
def init(database: str | None, config_file: str | None, replace: bool) -> None:
    """Create the database and install the configuration (idempotent)."""
    from .setup import install, load_config_file, seed_configuration

    config_file = config_file or os.environ.get("SUPPORTKIT_CONFIG")
    with _clean_errors():
        data = load_config_file(config_file) if config_file else seed_configuration()
        with _desk(database) as desk:
            report = install(desk, data, replace=replace)
            where = desk.storage
    for section, ids in report.added.items():
        click.echo(f"added {section}: {', '.join(ids)}")
    for section, ids in report.kept.items():
        click.echo(f"kept {section} (already there): {', '.join(ids)}")
    click.echo(f"ready: {where!r}")


# -- timers and the worker -----------------------------------------------------------------------


def _describe_tick(desk: Desk) -> tuple[str, bool]:
    report = desk.tick()
    text = (
        f"{report.tickets} tickets, {len(report.fired)} timers fired,"
        f" {report.escalations} escalations"
    )
    return text, bool(report.tickets or report.fired or report.escalations)


def _describe_dispatch(desk: Desk) -> tuple[str, bool] | None:
    dispatch: Callable[[], object] | None = getattr(desk, "dispatch", None)
    if dispatch is None:
        return None
    result = dispatch()
    if result is None:
        return "done", False
    if isinstance(result, int) and not isinstance(result, bool):
        return f"{result} delivered", result > 0
    return str(result), True


@main.command()
@click.option("--database", default=None, help=_DATABASE_HELP)
@click.option("--once", is_flag=True,
              help="Run the due timers once and exit (also the default: `supportkit worker`"
              " is the loop).")  # fmt: skip
def tick(database: str | None, once: bool) -> None:
    """Run the SLA and escalation timers that are due now, once."""
    with _clean_errors(), _desk(database) as desk:
        text, _ = _describe_tick(desk)
    click.echo(text)


@main.command()
@click.option("--database", default=None, help=_DATABASE_HELP)
@click.option("--once", is_flag=True,
              help="Deliver the pending notifications once and exit (the default).")  # fmt: skip
def dispatch(database: str | None, once: bool) -> None:
    """Deliver the queued notifications of the outbox, once."""
    with _clean_errors(), _desk(database) as desk:
        done = _describe_dispatch(desk)
    if done is None:
        raise click.ClickException("this version of supportkit has no notification dispatcher")
    click.echo(f"dispatch: {done[0]}")


def _stamp(message: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{now} {message}"


def run_worker(
    desk: Desk,
    *,
    interval: float,
    once: bool = False,
    sleep: Callable[[float], object] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    log: Callable[[str], None] = lambda message: click.echo(_stamp(message)),
    verbose: bool = False,
) -> int:
    """The worker loop: ``desk.tick()`` (and ``desk.dispatch()`` where the desk has it),
    then ``sleep(interval)``, until ``should_stop()``; returns how many rounds ran.

    ``should_stop`` is checked after each round, so a stop request lets the current
    round finish. A supportkit error in a round (the database is unreachable, say) is
    logged and the loop goes on; with ``once`` it is raised. Rounds that did nothing
    are logged only when ``verbose``.
    """
    rounds = 0
    while not should_stop():
        rounds += 1
        try:
            steps = [("tick", _describe_tick(desk))]
            dispatched = _describe_dispatch(desk)
            if dispatched is not None:
                steps.append(("dispatch", dispatched))
        except SupportkitError as exc:
            if once:
                raise
            log(f"error: {exc} (retrying in {interval:g}s)")
        else:
            for name, (text, busy) in steps:
                if busy or verbose:
                    log(f"{name}: {text}")
        if once or should_stop():
            break
        sleep(interval)
    return rounds


class StopRequest(threading.Event):
    """Set when the worker should stop; ``signal`` names the signal that asked."""

    signal: str | None = None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """A :class:`StopRequest` that SIGINT or SIGTERM sets, for a loop to stop at its
    next check (the handler only sets it: printing from a signal handler is unsafe).

    A second signal interrupts at once (``KeyboardInterrupt``). The previous handlers
    come back when the block ends. Outside the main thread, signals cannot be caught:
    the request is then only set by hand.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.signal = signal.Signals(signum).name
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@main.command()
@click.option("--database", default=None, help=_DATABASE_HELP)
@click.option("--interval", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds between rounds.")  # fmt: skip
@click.option("--once", is_flag=True, help="Run one round and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log rounds that had nothing to do too.")
def worker(database: str | None, interval: float, once: bool, verbose: bool) -> None:
    """Run the due timers (and deliver notifications) in a loop.

    Every INTERVAL seconds: `desk.tick()`, and `desk.dispatch()` where the desk has it.

    Stops cleanly on SIGINT or SIGTERM: the current round finishes, then the worker
    exits with status 0 (a second signal aborts at once).
    """

    def log(message: str) -> None:
        click.echo(_stamp(message))

    with _clean_errors(), _desk(database) as desk:
        log(f"worker on {desk.storage!r}, every {interval:g}s")
        with stop_on_signals() as stop:
            rounds = run_worker(
                desk,
                interval=interval,
                once=once,
                sleep=stop.wait,
                should_stop=stop.is_set,
                log=log,
                verbose=verbose,
            )
    why = f" on {stop.signal}" if stop.signal else ""
    log(f"worker stopped{why} after {rounds} round{'s' if rounds != 1 else ''}")


# -- the example server -----------------------------------------------------------------------


def _server_problem(exc: ImportError) -> click.ClickException | None:
    """A clean message for a missing optional dependency (or a missing server module)."""
    missing = (exc.name or "").split(".")[0]
    if missing in _FLASK_MODULES:
        return click.ClickException(
            f"the example server needs Flask and waitress ({missing} is not installed):"
            " pip install 'supportkit[flask]'"
        )
    if exc.name == "supportkit.server":
        return click.ClickException(
            "this installation of supportkit has no example server (supportkit.server)"
        )
    return None


@contextlib.contextmanager
def _server_errors(host: str, port: int) -> Iterator[None]:
    try:
        with _clean_errors():
            yield
    except ImportError as exc:
        problem = _server_problem(exc)
        if problem is None:
            raise
        raise problem from exc
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc


def _base_url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="The port to listen on.")  # fmt: skip
@click.option("--database", default=None, help=_DATABASE_HELP)
def serve(host: str, port: int, database: str | None) -> None:
    """Serve the example Flask app (the Support API) with waitress."""
    from .api.app import PREFIX

    url = _database_url(database)
    with _server_errors(host, port):
        server: Any = importlib.import_module("supportkit.server")
        app = server.create_app(url, seed=True)
    base = _base_url(host, port)
    keys_hint = "supportkit keys create --role admin"
    if database:
        keys_hint += f" --database {_redacted(database)}"
    click.echo(f"supportkit {__version__}: the Support API on {_redacted(url)}")
    click.echo(f"  API:      {base}{PREFIX}")
    click.echo(f"  OpenAPI:  {base}{PREFIX}/openapi.json")
    click.echo(f"  API key:  {keys_hint}")
    if host in ("0.0.0.0", "::"):
        click.echo("  (listening on every interface)")
    click.echo("Press Ctrl-C to stop.")
    with _server_errors(host, port):
        server.serve(app, host=host, port=port)


# -- API keys ------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(["admin", "agent", "customer"]),
              help="admin: everything; agent: tickets and comments; customer: one"
              " customer's own tickets.")  # fmt: skip
@click.option("--customer-id", default=None, help="The customer a customer key is bound to.")
@click.option("--agent-id", default=None, help="The agent an agent key acts as.")
@click.option("--name", default=None, help="A note on what the key is for.")
@click.option("--database", default=None, help=_DATABASE_HELP)
def keys_create(
    role: str,
    customer_id: str | None,
    agent_id: str | None,
    name: str | None,
    database: str | None,
) -> None:
    """Create an API key; the key itself is printed alone on the last line.

    \b
    KEY=$(supportkit keys create --role admin | tail -n1)
    curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8000/v1/support/tickets
    """
    from .api.auth import create_key

    if role == "customer" and not customer_id:
        raise click.UsageError("a customer key needs --customer-id")
    if role != "customer" and customer_id:
        raise click.UsageError("--customer-id is only for customer keys")
    with _clean_errors(), _desk(database) as desk:
        key = create_key(desk, role=role, customer_id=customer_id, agent_id=agent_id, name=name)
    details = [f"customer {customer_id}"] if customer_id else []
    details += [f"agent {agent_id}"] if agent_id else []
    details += [f"name {name!r}"] if name else []
    suffix = f" ({', '.join(details)})" if details else ""
    click.echo(f"Created {role} key {key.id}{suffix}.")
    click.echo(
        "Store it now: it is shown only this once. Send it as 'Authorization: Bearer <key>'."
    )
    click.echo(key.token)


@keys.command("list")
@click.option("--database", default=None, help=_DATABASE_HELP)
def keys_list(database: str | None) -> None:
    """List the API keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from .api.auth import list_keys

    with _clean_errors(), _desk(database) as desk:
        rows = list_keys(desk)
    console = Console(highlight=False)
    if not rows:
        console.print("No API keys yet. Create one: supportkit keys create --role admin")
        return
    table = Table("ID", "Role", "Customer", "Agent", "Name", "Created", title="API keys")
    for row in rows:
        table.add_row(
            *(
                str(row.get(field) or "")
                for field in ("id", "role", "customer_id", "agent_id", "name", "created_at")
            )
        )
    console.print(table)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--database", default=None, help=_DATABASE_HELP)
def keys_revoke(key_id: str, database: str | None) -> None:
    """Revoke (delete) the key KEY_ID; requests with it are refused from now on."""
    from .api.auth import revoke_key

    if key_id.startswith("sk_"):  # the whole key was given: its id is the middle part
        key_id = key_id.split("_")[1]
    with _clean_errors(), _desk(database) as desk:
        found = revoke_key(desk, key_id)
    if not found:
        raise click.ClickException(f"no API key {key_id!r}")
    click.echo(f"Revoked key {key_id}.")


# -- export and import ---------------------------------------------------------------------------


@contextlib.contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """``path`` (``-``: stdout) to write; a file appears only when the block succeeds,
    so a failed export leaves no half-written file behind."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, or on failure
            "w", encoding="utf-8", newline="\n", dir=target.parent or ".",
            prefix=f".{target.name}.", suffix=".tmp", delete=False,
        )  # fmt: skip
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with handle:
            yield handle
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


@main.command("export")
@click.option("--database", default=None, help=_DATABASE_HELP)
@click.option("-o", "--output", default="-", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True, writable=True),
              help="The JSON Lines file to write; - for stdout.")  # fmt: skip
@_PROGRESS_OPTION
def export_command(database: str | None, output: str, progress: bool | None) -> None:
    """Export the configuration and all tickets as JSON Lines.

    Each ticket line carries its comments, attachments (base64) and events. Progress
    and the summary go to stderr, so `--output -` (the default) writes only JSON.
    """
    from .transfer import export_jsonl

    console = _stderr_console()
    with (
        _clean_errors(),
        _desk(database) as desk,
        _output(output) as out,
        _progress(console, enabled=progress) as bar,
    ):
        task = bar.add_task("exporting", total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        count = export_jsonl(desk, out, progress=advance)
    where = "stdout" if output == "-" else output
    click.echo(f"exported {count} ticket{'s' if count != 1 else ''} to {where}", err=True)


@main.command("import")
@click.option("--database", default=None, help=_DATABASE_HELP)
@click.option("-i", "--input", "input_", default="-", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True, exists=True),
              help="The export to read; - for stdin.")  # fmt: skip
@click.option("--skip-existing", is_flag=True,
              help="Skip tickets whose id exists (and keep existing configuration) instead"
              " of stopping.")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="Tickets per transaction.")  # fmt: skip
@_PROGRESS_OPTION
def import_command(
    database: str | None,
    input_: str,
    skip_existing: bool,
    batch_size: int,
    progress: bool | None,
) -> None:
    """Import an export: the configuration, then the tickets.

    Tickets keep their ids and numbers; new tickets are numbered after them. A file is
    checked in full before anything is written.
    """
    from .transfer import TransferError, import_jsonl, scan_jsonl

    console = _stderr_console()
    total: int | None = None
    if input_ != "-":
        # A first pass counts the tickets for the progress bar and validates every line,
        # so a malformed file imports nothing.
        try:
            with open(input_, encoding="utf-8") as handle:
                total = scan_jsonl(handle).tickets
        except TransferError as exc:
            raise click.ClickException(f"{input_}: {exc} (nothing was imported)") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read {input_}: {exc}") from exc
    try:
        with (
            _desk(database) as desk,
            click.open_file(input_, "r", encoding="utf-8") as source,
            _progress(console, enabled=progress) as bar,
        ):
            task = bar.add_task("importing", total=total)

            def advance(done: int, _: int | None) -> None:
                bar.update(task, completed=done)

            report = import_jsonl(
                desk, source, batch_size=batch_size, skip_existing=skip_existing, progress=advance
            )
    except TransferError as exc:
        where = "stdin" if input_ == "-" else input_
        if exc.committed:
            hint = (
                f" ({exc.committed} tickets of earlier batches were imported;"
                " fix the line and import again with --skip-existing)"
            )
        else:
            hint = " (no tickets were imported)"
        raise click.ClickException(f"{where}: {exc}{hint}") from exc
    except SupportkitError as exc:
        raise click.ClickException(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"cannot read {input_}: {exc}") from exc
    parts = [
        f"imported {report.tickets} ticket{'s' if report.tickets != 1 else ''}",
        f"{report.comments} comments, {report.attachments} attachments, {report.events} events",
    ]
    click.echo(f"{parts[0]} ({parts[1]})")
    if report.skipped:
        click.echo(f"skipped {report.skipped} tickets that already existed")
    if report.resources_added:
        click.echo(f"added configuration: {', '.join(report.resources_added)}")
    if report.resources_kept:
        click.echo(f"kept configuration (already there): {', '.join(report.resources_kept)}")
