"""The example app that ``supportkit serve`` runs: the Support API in a small Flask app.

::

    from supportkit.server import create_app, serve

    serve(create_app("sqlite:///support.db"), host="127.0.0.1", port=8000)

:func:`create_app` mounts the API with :class:`supportkit.adapters.flask.Supportkit`
and, unless told not to, installs the seed's example configuration (categories,
calendars, teams, agents, routing rule) and the example customer on first start —
idempotently, so restarting it never undoes an edit. The API is mounted with
``direct=True``: requests below ``/v1/support`` are answered in front of Flask (the
same responses, less work per request). :func:`serve` runs an app under
waitress, a production WSGI server. Hosts that embed supportkit in their own Flask app
use the extension directly instead (see ``docs/adapters.md``).
"""

from __future__ import annotations

import html
from typing import Any, Final

import flask

from .adapters.flask import Supportkit, current_desk, state_of
from .setup import install, seed_configuration

__all__ = ["EXAMPLE_CUSTOMERS", "create_app", "serve"]

#: The seed's example customer, installed with the seed's configuration.
EXAMPLE_CUSTOMERS: Final[list[dict[str, Any]]] = [
    {"id": "cust_1234567890", "name": "Example Corp", "tier": "enterprise"},
]


def create_app(database_url: str | None = None, *, seed: bool = True) -> flask.Flask:
    """The example Flask app, serving the Support API under ``/v1/support``.

    :param database_url: the database; by default ``SUPPORTKIT_DATABASE_URL``, else
        ``sqlite:///supportkit.db``.
    :param seed: install the seed's example configuration and customer where they are
        missing (resources that exist are left as they are).
    """
    app = flask.Flask(__name__)
    if database_url is not None:
        app.config["SUPPORTKIT_DATABASE_URL"] = database_url
    # The app has no request hooks of its own: the API is served in front of Flask.
    Supportkit(app, direct=True)
    if seed:
        with app.app_context():
            install(current_desk(), {**seed_configuration(), "customers": EXAMPLE_CUSTOMERS})
    app.add_url_rule("/", "index", _index)
    return app


def serve(app: flask.Flask, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` with waitress until interrupted."""
    import waitress

    waitress.serve(app, host=host, port=port)


_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>supportkit</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; }}
code, pre {{ background: #f4f4f4; padding: .1rem .3rem; border-radius: 3px; }}
pre {{ padding: .75rem; overflow-x: auto; }}
</style>
</head>
<body>
<h1>supportkit</h1>
<p>This is supportkit's example app: an embeddable support-ticket engine (tickets with
a lifecycle, SLA clocks in business hours, routing, escalation, comments and
attachments) serving its REST API.</p>
<ul>
<li>The API: <a href="{api}/"><code>{api}/</code></a>
  (for example <code>GET {api}/tickets</code>)</li>
<li>Its OpenAPI document: <a href="{api}/openapi.json"><code>{api}/openapi.json</code></a></li>
<li>Categories to file tickets in: <code>GET {api}/categories</code></li>
</ul>
<h2>Getting an API key</h2>
<p>Every request but the OpenAPI document needs a key. Create one on the server, against
the same database:</p>
<pre>supportkit keys create --role admin</pre>
<p>(add <code>--database URL</code> unless <code>SUPPORTKIT_DATABASE_URL</code> is set;
roles are <code>admin</code>, <code>agent</code> and <code>customer</code> with
<code>--customer-id</code>). The key is printed on the last line; send it as a bearer
token:</p>
<pre>curl -H "Authorization: Bearer sk_…" {api}/tickets</pre>
</body>
</html>
"""


def _index() -> flask.Response:
    state = state_of(flask.current_app)
    api = flask.request.host_url.rstrip("/") + flask.request.script_root + state.api.prefix
    return flask.Response(_PAGE.format(api=html.escape(api)), mimetype="text/html")
