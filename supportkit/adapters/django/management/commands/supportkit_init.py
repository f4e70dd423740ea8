"""``manage.py supportkit_init``: install supportkit's configuration (idempotent)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from supportkit.errors import SupportkitError
from supportkit.setup import install, load_config_file, seed_configuration

from .. import _desk


class Command(BaseCommand):
    help = (
        "Create supportkit's tables in SUPPORTKIT['DATABASE_URL'] and install the"
        " configuration: a TOML file (--config, else $SUPPORTKIT_CONFIG) or the seed's"
        " example categories, calendar, teams, agents and routing rule. Resources that"
        " already exist are kept unless --replace is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--config", default=None, help="A TOML configuration file.")
        parser.add_argument(
            "--replace", action="store_true", help="Replace resources that already exist."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config_file = options["config"] or os.environ.get("SUPPORTKIT_CONFIG")
        try:
            data = load_config_file(config_file) if config_file else seed_configuration()
            report = install(_desk(), data, replace=options["replace"])
        except SupportkitError as exc:
            raise CommandError(str(exc)) from exc
        for section, ids in report.added.items():
            self.stdout.write(f"added {section}: {', '.join(ids)}")
        for section, ids in report.kept.items():
            self.stdout.write(f"kept {section} (already there): {', '.join(ids)}")
