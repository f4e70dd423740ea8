"""The ``supportkit`` command line."""

from __future__ import annotations

import click

from . import __version__

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="supportkit")
def main() -> None:
    """supportkit: an embeddable support-ticket engine."""


@main.command()
def demo() -> None:
    """Replay example tickets through their lifecycle, with SLA due dates."""
    from .demo import run_demo

    run_demo()
