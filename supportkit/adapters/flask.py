"""Mount the Support API in a Flask app.

A Flask extension in the usual shape (``Supportkit(app)`` or ``ext = Supportkit()`` then
``ext.init_app(app)`` in an app factory)::

    from flask import Flask
    from supportkit.adapters.flask import Supportkit

    app = Flask(__name__)
    app.config["SUPPORTKIT_DATABASE_URL"] = "sqlite:///support.db"
    Supportkit(app)            # the API now answers under /v1/support/

Configuration keys, read by :meth:`Supportkit.init_app`:

``SUPPORTKIT_DATABASE_URL``
    the database (default: the ``SUPPORTKIT_DATABASE_URL`` environment variable, else
    ``sqlite:///supportkit.db``). Ignored when the extension was given a ``desk``.
``SUPPORTKIT_PORTAL_URL``
    a template for the tickets' ``urls.customer_portal`` with ``{number}`` and ``{id}``
    (default ``None``: no portal link).
``SUPPORTKIT_MAX_BODY_BYTES``
    larger request bodies get the API's ``413`` problem (default ``None``: the API's
    own limit, 16 MiB).

The adapter is thin: it turns ``flask.request`` into a :class:`supportkit.api.Request`,
hands it to :meth:`supportkit.api.SupportApi.handle` and turns the answer into a Flask
response. Routing, authentication, validation and error shapes live in
:mod:`supportkit.api`, so every request under the prefix — an unknown path, a method
the API does not allow, a body that is too large — gets the API's JSON answer, never
one of Flask's HTML error pages.
"""

from __future__ import annotations

import os
from typing import IO, Final

import attrs
import flask
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter
from werkzeug.wsgi import get_input_stream

from ..api import Request, Response, SupportApi
from ..api.http import problem
from ..desk import DEFAULT_DATABASE_URL, Desk

__all__ = [
    "METHODS",
    "Supportkit",
    "SupportkitState",
    "current_api",
    "current_desk",
    "state_of",
]

EXTENSION: Final = "supportkit"
_CONVERTER: Final = "supportkit_rest"
#: The methods the blueprint hands to the API (which answers 405 for those it has no
#: route for). Werkzeug needs a list; these are all that HTTP clients send in practice.
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


@attrs.frozen
class SupportkitState:
    """What the extension keeps for one app, in ``app.extensions["supportkit"]``.

    :ivar desk: the desk the API serves.
    :ivar api: the framework-agnostic API.
    :ivar owns_desk: whether the extension opened the desk (and :meth:`close` closes it).
    """

    desk: Desk
    api: SupportApi
    owns_desk: bool = False

    def close(self) -> None:
        """Close the desk if the extension opened it (a desk passed in is the caller's)."""
        if self.owns_desk:
            self.desk.close()


class Supportkit:
    """The Flask extension: serves the Support API under ``/v1/support``.

    :param app: the app to set up now; leave it out and call :meth:`init_app` later
        (the app-factory pattern).
    :param desk: a desk to serve in every app this extension is set up on; by default
        each app opens its own from ``SUPPORTKIT_DATABASE_URL``.
    """

    def __init__(self, app: flask.Flask | None = None, *, desk: Desk | None = None) -> None:
        self.desk = desk
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> SupportkitState:
        """Open the desk, build the API and register the blueprint on ``app``.

        :raises RuntimeError: the extension is already set up on ``app``.
        :raises ValueError: ``SUPPORTKIT_MAX_BODY_BYTES`` is not a positive integer.
        """
        if EXTENSION in app.extensions:
            raise RuntimeError("supportkit is already set up on this app")
        app.config.setdefault(
            "SUPPORTKIT_DATABASE_URL",
            os.environ.get("SUPPORTKIT_DATABASE_URL") or DEFAULT_DATABASE_URL,
        )
        app.config.setdefault("SUPPORTKIT_PORTAL_URL", None)
        app.config.setdefault("SUPPORTKIT_MAX_BODY_BYTES", None)
        max_body = app.config["SUPPORTKIT_MAX_BODY_BYTES"]
        if max_body is not None and (
            isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1
        ):
            raise ValueError(f"SUPPORTKIT_MAX_BODY_BYTES must be a positive integer: {max_body!r}")
        owns = self.desk is None
        desk = Desk.open(app.config["SUPPORTKIT_DATABASE_URL"]) if owns else self.desk
        assert desk is not None
        portal_url = app.config["SUPPORTKIT_PORTAL_URL"]
        api = (
            SupportApi(desk, portal_url=portal_url)
            if max_body is None
            else SupportApi(desk, portal_url=portal_url, max_body_bytes=max_body)
        )
        state = SupportkitState(desk=desk, api=api, owns_desk=owns)
        app.extensions[EXTENSION] = state
        app.register_blueprint(_blueprint(api.prefix))
        return state


class _Rest(PathConverter):
    """The rest of the path, whatever it is (Werkzeug's ``path`` refuses a leading
    ``/``, so ``/v1/support//tickets`` would miss the blueprint)."""

    regex = r"[\s\S]*"  # any character, newlines included
    part_isolating = False


def _add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault(_CONVERTER, _Rest)


def _blueprint(prefix: str) -> flask.Blueprint:
    blueprint = flask.Blueprint(EXTENSION, __name__)
    blueprint.record_once(_add_converter)
    # No automatic OPTIONS, no slash merging or redirects: every request below the
    # prefix reaches the API exactly as it was sent.
    for rule, endpoint in ((prefix, "api_root"), (f"{prefix}/<{_CONVERTER}:subpath>", "api")):
        blueprint.add_url_rule(
            rule,
            endpoint=endpoint,
            view_func=_view,
            methods=METHODS,
            provide_automatic_options=False,
            strict_slashes=False,
            merge_slashes=False,
        )
    return blueprint


def state_of(app: flask.Flask) -> SupportkitState:
    """The extension's state for ``app``.

    :raises RuntimeError: the extension is not set up on ``app``.
    """
    try:
        found = app.extensions[EXTENSION]
    except KeyError:
        raise RuntimeError("supportkit is not set up on this app: call init_app") from None
    assert isinstance(found, SupportkitState)
    return found


def current_desk() -> Desk:
    """The desk of the current Flask app (inside an app or request context)."""
    return state_of(flask.current_app).desk


def current_api() -> SupportApi:
    """The :class:`SupportApi` of the current Flask app."""
    return state_of(flask.current_app).api


def _view(subpath: str = "") -> flask.Response:
    api = state_of(flask.current_app).api
    try:
        request = _request(flask.request, api.max_body_bytes)
    except Exception:  # a client that went away, a broken chunked body
        return _response(problem(400, "the request body could not be read"))
    return _response(api.handle(request))


def _request(request: flask.Request, max_body_bytes: int) -> Request:
    # Read the raw WSGI input, not ``request.stream``: that one enforces Flask's own
    # MAX_CONTENT_LENGTH with an HTML 413, and the API answers that in its own shape.
    # One byte over the limit is enough for the API to refuse the body.
    stream = get_input_stream(request.environ, max_content_length=None)
    method = "GET" if request.method == "HEAD" else request.method
    return Request(
        method=method,
        path=request.path,
        query=request.args.to_dict(flat=False),
        headers=dict(request.headers.items()),
        body=_read(stream, max_body_bytes + 1),
        base_url=request.host_url.rstrip("/") + request.script_root,
    )


def _read(stream: IO[bytes], limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _response(response: Response) -> flask.Response:
    # Werkzeug leaves the body of a response to HEAD out by itself.
    answer = flask.Response(response.body, status=response.status, headers=list(response.headers))
    if response.header("content-type") is None:
        del answer.headers["Content-Type"]  # not Flask's default text/html on a 204
    return answer
