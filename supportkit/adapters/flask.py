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

``Supportkit(app, direct=True)`` serves the API below the prefix as a plain WSGI app
in front of Flask (``app.wsgi_app`` is wrapped): the same requests reach the API and
the same bytes go back, without Flask's request context, URL matching and response
object — about 0.15 ms less per request. The price: the app's ``before_request`` /
``after_request`` / ``teardown_request`` functions, error handlers and
request-hooking extensions (Flask-CORS, Flask-Login, …) do not see requests below the
prefix, and ``flask.request`` is not set while the API handles them (an app context
is pushed, so :func:`current_desk` and ``flask.g`` work in plugins). The blueprint is
registered either way. With ``TRUSTED_HOSTS`` set or host matching on, requests go
through Flask as usual. :func:`supportkit.server.create_app` (``supportkit serve``)
uses it.

The adapter is thin: it turns ``flask.request`` into a :class:`supportkit.api.Request`,
hands it to :meth:`supportkit.api.SupportApi.handle` and turns the answer into a Flask
response. Routing, authentication, validation and error shapes live in
:mod:`supportkit.api`, so every request under the prefix — an unknown path, a method
the API does not allow, a body that is too large — gets the API's JSON answer, never
one of Flask's HTML error pages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import IO, Any, Final
from urllib.parse import parse_qsl

import attrs
import flask
from flask.blueprints import BlueprintSetupState
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import PathConverter
from werkzeug.sansio.utils import get_current_url
from werkzeug.urls import iri_to_uri
from werkzeug.wsgi import get_host, get_input_stream

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
    :param direct: answer requests below the prefix in front of Flask, as a plain WSGI
        app (faster; the app's request hooks do not see them: see the module's doc).
    """

    def __init__(
        self, app: flask.Flask | None = None, *, desk: Desk | None = None, direct: bool = False
    ) -> None:
        self.desk = desk
        self.direct = direct
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
        # Without direct=True, only requests with a method Flask's routing cannot take
        # (WebDAV's, made-up ones) are answered in front of Flask: the API's problem+json
        # 405 rather than Flask's HTML page.
        mount = DirectMount(app, app.wsgi_app, api, only_unknown_methods=not self.direct)
        app.wsgi_app = mount  # type: ignore[method-assign]
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
    base_url = request.host_url.rstrip("/") + request.script_root
    return _environ_request(request.environ, base_url, max_body_bytes)


def _environ_request(environ: dict[str, Any], base_url: str, max_body_bytes: int) -> Request:
    """The API's request, read from the WSGI environ as Werkzeug reads it (method, path,
    query, headers), with the body read up to one byte past the limit."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    # Werkzeug's "WSGI decoding dance": PATH_INFO is latin-1 text of the raw bytes.
    path = "/" + _wsgi_text(environ.get("PATH_INFO") or "").lstrip("/")
    query: dict[str, list[str]] = {}
    text = environ.get("QUERY_STRING", "").encode("latin1").decode()
    if text:
        for name, value in parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"):
            query.setdefault(name, []).append(value)
    # Read the raw WSGI input, not ``request.stream``: that one enforces Flask's own
    # MAX_CONTENT_LENGTH with an HTML 413, and the API answers that in its own shape.
    # One byte over the limit is enough for the API to refuse the body.
    stream = get_input_stream(environ, max_content_length=None)
    return Request(
        method="GET" if method == "HEAD" else method,
        path=path,
        query=query,
        headers=_headers(environ),
        body=_read(stream, max_body_bytes + 1),
        base_url=base_url,
    )


def _wsgi_text(value: str) -> str:
    return value.encode("latin1").decode(errors="replace")


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request headers with lower-case names, in the order (and with the values)
    Werkzeug's ``EnvironHeaders`` yields them."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key != "HTTP_CONTENT_TYPE" and key != "HTTP_CONTENT_LENGTH":
                headers[key[5:].replace("_", "-").lower()] = value
        elif (key == "CONTENT_TYPE" or key == "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").lower()] = value
    return headers


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


StartResponse = Callable[..., Any]
_METHODS: Final = frozenset(METHODS)  # the methods the blueprint's view takes
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class DirectMount:
    """The API below its prefix as a plain WSGI app in front of a Flask app's
    ``wsgi_app``; every other request goes to Flask.

    It answers with the same status line, headers and body as the blueprint's view does
    through Flask (a test runs the API suite through both), without Flask's request
    context, routing and response object. An app context is pushed around the API call.
    With ``only_unknown_methods`` (the extension's default), it answers only requests
    whose method the blueprint's view does not take, which Flask would answer with an
    HTML 405; the API answers them with its problem+json 405.
    """

    def __init__(
        self, app: flask.Flask, wsgi_app: WsgiApp, api: SupportApi, *, only_unknown_methods: bool
    ) -> None:
        self.only_unknown_methods = only_unknown_methods
        self.app = app
        self.wsgi_app = wsgi_app
        self.api = api
        self.prefix = api.prefix
        self._prefix_slash = api.prefix + "/"
        self._bases: dict[tuple[Any, ...], str] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raw = environ.get("PATH_INFO") or ""
        path = "/" + raw.lstrip("/") if raw.isascii() else "/" + _wsgi_text(raw).lstrip("/")
        if not (path == self.prefix or path.startswith(self._prefix_slash)):
            return self.wsgi_app(environ, start_response)
        known = environ.get("REQUEST_METHOD", "GET").upper() in _METHODS
        if known and (self.only_unknown_methods or self._via_flask()):
            return self.wsgi_app(environ, start_response)
        api = self.api
        with self.app.app_context():
            try:
                request = _environ_request(environ, self._base_url(environ), api.max_body_bytes)
            except Exception:  # a client that went away, a broken chunked body
                response = problem(400, "the request body could not be read")
            else:
                response = api.handle(request)
        return self._answer(environ, response, start_response)

    def _via_flask(self) -> bool:
        """Whether Flask must see the request: it validates the host, or matches it."""
        return bool(self.app.config.get("TRUSTED_HOSTS")) or self.app.url_map.host_matching

    def _base_url(self, environ: dict[str, Any]) -> str:
        """``request.host_url.rstrip("/") + request.script_root``, remembered per host."""
        key = (
            environ.get("wsgi.url_scheme", "http"),
            environ.get("HTTP_HOST"),
            environ.get("SERVER_NAME"),
            environ.get("SERVER_PORT"),
            environ.get("SCRIPT_NAME"),
        )
        base = self._bases.get(key)
        if base is None:
            scheme = key[0]
            root = _wsgi_text(environ.get("SCRIPT_NAME") or "").rstrip("/")
            base = get_current_url(scheme, get_host(environ)).rstrip("/") + root
            if len(self._bases) >= 64:  # a bound against Host headers made up per request
                self._bases.clear()
            self._bases[key] = base
        return base

    def _answer(
        self, environ: dict[str, Any], response: Response, start_response: StartResponse
    ) -> Iterable[bytes]:
        status = response.status
        if status == 304 or status < 200:  # rare: let Werkzeug apply its rules
            return _response(response)(environ, start_response)
        body = response.body
        headers: list[tuple[str, str]] = []
        length = str(len(body))
        for name, value in response.headers:
            lower = name.lower()
            if lower == "location" or lower == "content-location":
                value = iri_to_uri(value)
            elif lower == "content-length":
                name, value, length = "Content-Length", length, ""
            headers.append((name, value))
        if status == 204:
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        elif length:
            headers.append(("Content-Length", length))
        reason = HTTP_STATUS_CODES.get(status)
        start_response(f"{status} {reason.upper() if reason else 'UNKNOWN'}", headers)
        if status == 204 or environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [body]


def _response(response: Response) -> flask.Response:
    # Werkzeug leaves the body of a response to HEAD out by itself.
    answer = flask.Response(response.body, status=response.status, headers=list(response.headers))
    if response.header("content-type") is None:
        del answer.headers["Content-Type"]  # not Flask's default text/html on a 204
    return answer
