"""A Flask app of its own that mounts supportkit's Support API with the extension.

Run it from the repository root, after ``pip install -e '.[flask,django]'``::

    python examples/flask_app/app.py            # waitress, on http://127.0.0.1:5000
    flask --app examples/flask_app/app.py run   # or Flask's development server

Settings come from the environment: ``SUPPORTKIT_DATABASE_URL`` (default
``sqlite:///example-flask.db``), ``HOST`` and ``PORT``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from supportkit import signals
from supportkit.adapters.flask import Supportkit, current_desk
from supportkit.setup import install, seed_configuration

log = logging.getLogger("example")

# One extension object for every app the factory makes (Flask's init_app pattern).
support = Supportkit()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory: the host's own pages, plus the Support API under /v1/support."""
    app = Flask(__name__)
    app.config.from_mapping(
        SUPPORTKIT_DATABASE_URL=os.environ.get(
            "SUPPORTKIT_DATABASE_URL", "sqlite:///example-flask.db"
        ),
        SUPPORTKIT_MAX_BODY_BYTES=16 * 1024 * 1024,
    )
    app.config.from_mapping(config or {})
    support.init_app(app)

    with app.app_context():
        # The seed's categories, calendar, teams, agents and routing rule, and one
        # customer: installed once, kept as they are on every later start.
        customers = [{"id": "cust_1234567890", "name": "Example Corp", "tier": "enterprise"}]
        install(current_desk(), {**seed_configuration(), "customers": customers})

    @app.get("/")
    def home() -> dict[str, Any]:
        # The host's own page uses the same desk through the Python API.
        desk = current_desk()
        return {
            "app": "the example Flask app",
            "support_api": "/v1/support/",
            "openapi": "/v1/support/openapi.json",
            "categories": [c.id for c in desk.categories.list()],
            "open_tickets": desk.tickets.search({"status": "open"}, limit=1).total,
        }

    return app


# The host hears about changes after they are committed (blinker signals).
@signals.ticket_created.connect
def announce(desk: Any, *, ticket: Any, event: Any) -> None:
    log.info("new ticket %s: %s", ticket.number, ticket.title)


if __name__ == "__main__":
    from supportkit.server import serve

    logging.basicConfig(level=logging.INFO)
    serve(
        create_app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
    )
