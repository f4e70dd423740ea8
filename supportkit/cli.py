"""The ``supportkit`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__

__all__ = ["main"]

_DATABASE_HELP = "Database URL (default: $SUPPORTKIT_DATABASE_URL, else sqlite:///supportkit.db)."


def _desk(database: str | None):  # type: ignore[no-untyped-def]
    from .desk import Desk

    return Desk.open(database)


@click.group()
@click.version_option(__version__, prog_name="supportkit")
def main() -> None:
    """supportkit: an embeddable support-ticket engine."""


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
    from .errors import SupportkitError
    from .setup import install, load_config_file, seed_configuration

    config_file = config_file or os.environ.get("SUPPORTKIT_CONFIG")
    try:
        data = load_config_file(config_file) if config_file else seed_configuration()
        with _desk(database) as desk:
            report = install(desk, data, replace=replace)
            where = desk.storage
    except SupportkitError as exc:
        raise click.ClickException(str(exc)) from exc
    for section, ids in report.added.items():
        click.echo(f"added {section}: {', '.join(ids)}")
    for section, ids in report.kept.items():
        click.echo(f"kept {section} (already there): {', '.join(ids)}")
    click.echo(f"ready: {where!r}")


@main.command()
@click.option("--database", default=None, help=_DATABASE_HELP)
@click.option("--once", is_flag=True, default=True, help="Run the due timers once and exit.")
def tick(database: str | None, once: bool) -> None:
    """Run the SLA and escalation timers that are due now."""
    from .errors import SupportkitError

    try:
        with _desk(database) as desk:
            report = desk.tick()
    except SupportkitError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{report.tickets} tickets, {len(report.fired)} timers fired,"
        f" {report.escalations} escalations"
    )
    sys.exit(0)
