"""``manage.py supportkit_key``: create an API key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from supportkit.api.auth import ROLES, create_key
from supportkit.errors import SupportkitError

from .. import _desk


class Command(BaseCommand):
    help = (
        "Create an API key in SUPPORTKIT['DATABASE_URL'] and print it (alone, on the last"
        " line). The key is shown only now; only a hash of it is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--customer-id", default=None, help="The customer a key is for.")
        parser.add_argument("--agent-id", default=None, help="The agent an agent key acts as.")
        parser.add_argument("--name", default=None, help="A note on what the key is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key = create_key(
                _desk(),
                role=options["role"],
                customer_id=options["customer_id"],
                agent_id=options["agent_id"],
                name=options["name"],
            )
        except SupportkitError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created a {key.role} key {key.id}; it is shown only once:")
        self.stdout.write(key.token)
