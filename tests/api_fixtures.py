"""Real HTTP servers for the API tests: the Flask and the Django adapter under waitress.

Each adapter runs once per test session in a waitress server on 127.0.0.1 (a free
port, several worker threads), and each test gets its own seeded desk behind it:

- Flask: a fresh ``Flask`` app per test with ``Supportkit(app, desk=desk)``; the
  session's server hands every request to the current test's app.
- Django: the project's real WSGI handler (settings configured once per process); each
  test points ``settings.SUPPORTKIT`` at its own database with ``override_settings``,
  which makes :mod:`supportkit.adapters.django.conf` open a new desk.

Tests talk to the servers with httpx, as admin, agent, customer, another customer or
anonymously (:class:`ApiClient`), and look behind the API with the test's own desk.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest
import waitress
from django.urls import include, path
from waitress import wasyncore

from supportkit.adapters.flask import Supportkit
from supportkit.api import create_key
from supportkit.desk import Desk

from .desk_fixtures import Clock, seed

PREFIX = "/v1/support"
#: Small limits, so that the size tests stay fast.
MAX_BODY_BYTES = 256 * 1024
ATTACHMENT_BYTES = 64 * 1024
DESK_CONFIG: dict[str, Any] = {"limits": {"attachment_bytes": ATTACHMENT_BYTES}}
PORTAL_URL = "https://support.example.test/tickets/{number}"
CUSTOMER = "cust_1234567890"
OTHER_CUSTOMER = "cust_small"
AGENT = "agent_tech_001"
#: "flask-direct" is the Flask extension with ``direct=True`` (the API in front of Flask).
ADAPTERS = ("flask", "flask-direct", "django")

WSGIApp = Callable[..., Any]


# -- servers ---------------------------------------------------------------------------------


class LiveServer:
    """A WSGI app served by waitress in a background thread, and an httpx client for it."""

    def __init__(self, app: WSGIApp, *, threads: int = 8) -> None:
        self.server: Any = waitress.create_server(
            app, host="127.0.0.1", port=0, threads=threads, ident="supportkit-tests"
        )
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, name=self.url, daemon=True)
        self.thread.start()
        self.http = self.client()

    def client(self) -> httpx.Client:
        """A new httpx client for this server (plain HTTP: no TLS context to build)."""
        return httpx.Client(base_url=self.url, timeout=30, verify=False)

    def close(self) -> None:
        self.http.close()
        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(self.server._map)
        self.thread.join(timeout=0.2)  # a daemon: its loop notices within a second


class Dispatch:
    """A WSGI app that forwards to whichever app the current test set."""

    def __init__(self) -> None:
        self.app: WSGIApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None, "no test app is set"
        return self.app(environ, start_response)


def django_settings() -> None:
    """Configure Django for the tests, once per process."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="supportkit-tests",
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "support.example.test"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["supportkit.adapters.django"],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        DATABASES={},
        USE_TZ=True,
        # The API's own limit applies, not Django's (which would answer with HTML).
        DATA_UPLOAD_MAX_MEMORY_SIZE=1024,
        SUPPORTKIT={},
    )
    django.setup()


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, tuple[LiveServer, Dispatch | None]]]:
    """One live server per adapter for the whole session."""
    django_settings()
    from django.core.wsgi import get_wsgi_application

    flask_dispatch = Dispatch()
    running = {
        "flask": (LiveServer(flask_dispatch), flask_dispatch),
        "django": (LiveServer(get_wsgi_application()), None),
    }
    yield running
    for server, _ in running.values():
        server.close()


# The test project's root URLconf (ROOT_URLCONF is this module): the one line a
# project adds to mount the API.
urlpatterns = [path("v1/support/", include("supportkit.adapters.django.urls"))]


# -- clients --------------------------------------------------------------------------------


class ApiClient:
    """httpx against one live server, below the prefix, with one API key (or none)."""

    def __init__(self, http: httpx.Client, token: str | None) -> None:
        self.http = http
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent: dict[str, str] = {}
        if self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        if json is not None:
            content = _dumps(json)
            sent["Content-Type"] = "application/json"
        elif content is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        return self.http.request(
            method, PREFIX + path, content=content, params=params, headers=sent
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


class Api:
    """What an API test gets: clients for each role, the desk behind them, the clock.

    ``api.get(...)`` and friends act as the admin.
    """

    def __init__(
        self,
        adapter: str,
        backend: str,
        url: str,
        desk: Desk,
        clock: Clock,
        server: LiveServer,
        tokens: Mapping[str, str],
    ) -> None:
        self.adapter = adapter
        self.backend = backend
        self.max_body_bytes = MAX_BODY_BYTES
        self.attachment_bytes = ATTACHMENT_BYTES
        self.url = url
        self.desk = desk
        self.clock = clock
        self.base_url = server.url
        self.server = server
        self.http = server.http
        self.tokens = dict(tokens)
        self.admin = self.as_("admin")
        self.agent = self.as_("agent")
        self.customer = self.as_("customer")
        self.other = self.as_("other")
        self.anonymous = ApiClient(self.http, None)

    def __repr__(self) -> str:
        return f"<Api {self.adapter} on {self.backend}>"

    def as_(self, role: str, *, http: httpx.Client | None = None) -> ApiClient:
        """A client with ``role``'s key (a separate connection when ``http`` is given)."""
        return ApiClient(http or self.http, self.tokens[role])

    def new_http(self) -> httpx.Client:
        """A client with connections of its own (the shared one is ``http``)."""
        return self.server.client()

    def __getattr__(self, name: str) -> Any:
        if name in ("get", "post", "put", "delete", "request"):
            return getattr(self.admin, name)
        raise AttributeError(name)

    # -- looking behind the API ------------------------------------------------------------

    def last_event_id(self) -> str | None:
        events = self.desk.events.list(limit=1000)
        return events[-1].id if events else None

    def events_after(self, after: str | None) -> list[Any]:
        return self.desk.events.list(after=after, limit=1000)

    def ticket_count(self) -> int:
        return self.desk.tickets.search({}, limit=1).total


# -- the fixtures ---------------------------------------------------------------------------


def _keys(desk: Desk) -> dict[str, str]:
    return {
        "admin": create_key(desk, role="admin").token,
        "agent": create_key(desk, role="agent", agent_id=AGENT).token,
        "customer": create_key(desk, role="customer", customer_id=CUSTOMER).token,
        "other": create_key(desk, role="customer", customer_id=OTHER_CUSTOMER).token,
    }


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A seeded SQLite database with the keys, made once and copied for each test
    (seeding a new file each time would be most of a test's run time)."""
    template = tmp_path_factory.mktemp("template") / "support.db"
    desk = seed(Desk.open(f"sqlite:///{template}", clock=Clock(), load_entrypoints=False))
    try:
        tokens = _keys(desk)
    finally:
        desk.close()
    return template, tokens


def _database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: Clock
) -> tuple[str, Desk, dict[str, str]]:
    """A seeded database for one test: its URL, a desk on it, the API keys."""
    if backend == "sqlite":
        template, tokens = request.getfixturevalue("sqlite_template")
        copy = tmp_path / "support.db"
        shutil.copyfile(template, copy)
        url = f"sqlite:///{copy}"
        return url, Desk.open(url, clock=clock, config=DESK_CONFIG, load_entrypoints=False), tokens
    url = request.getfixturevalue("postgres_schema_url")
    desk = seed(Desk.open(url, clock=clock, config=DESK_CONFIG, load_entrypoints=False))
    return url, desk, _keys(desk)


@contextlib.contextmanager
def running_api(
    adapter: str,
    backend: str,
    servers: dict[str, tuple[LiveServer, Dispatch | None]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Api]:
    clock = Clock()
    url, desk, tokens = _database(backend, tmp_path, request, clock)
    server, dispatch = servers["flask" if adapter == "flask-direct" else adapter]
    try:
        if adapter in ("flask", "flask-direct"):
            assert dispatch is not None
            app = flask.Flask(f"supportkit_tests_{tmp_path.name}")
            app.config["SUPPORTKIT_MAX_BODY_BYTES"] = MAX_BODY_BYTES
            app.config["SUPPORTKIT_PORTAL_URL"] = PORTAL_URL
            Supportkit(app, desk=desk, direct=adapter == "flask-direct")
            dispatch.app = app
            yield Api(adapter, backend, url, desk, clock, server, tokens)
            dispatch.app = None
        else:
            from django.test import override_settings

            supportkit = {
                "DATABASE_URL": url,
                "PORTAL_URL": PORTAL_URL,
                "MAX_BODY_BYTES": MAX_BODY_BYTES,
                "DESK_OPTIONS": {"clock": clock, "config": DESK_CONFIG, "load_entrypoints": False},
            }
            with override_settings(SUPPORTKIT=supportkit):
                yield Api(adapter, backend, url, desk, clock, server, tokens)
    finally:
        desk.close()


@pytest.fixture(params=ADAPTERS)
def client(
    request: pytest.FixtureRequest,
    servers: dict[str, tuple[LiveServer, Dispatch | None]],
    tmp_path: Path,
) -> Iterator[Api]:
    """The API over real HTTP, through the Flask and then the Django adapter (SQLite)."""
    with running_api(request.param, "sqlite", servers, tmp_path, request) as api:
        yield api


@pytest.fixture
def django_api(
    request: pytest.FixtureRequest,
    servers: dict[str, tuple[LiveServer, Dispatch | None]],
    tmp_path: Path,
) -> Iterator[Api]:
    """The API through the Django adapter only, for what is Django's own."""
    with running_api("django", "sqlite", servers, tmp_path, request) as api:
        yield api


@pytest.fixture(
    params=[
        pytest.param(("flask", "sqlite"), id="flask-sqlite"),
        pytest.param(("django", "sqlite"), id="django-sqlite"),
        pytest.param(("flask", "postgresql"), id="flask-postgresql"),
        pytest.param(("django", "postgresql"), id="django-postgresql"),
    ]
)
def any_client(
    request: pytest.FixtureRequest,
    servers: dict[str, tuple[LiveServer, Dispatch | None]],
    tmp_path: Path,
) -> Iterator[Api]:
    """Like ``client``, on SQLite and on PostgreSQL (skipped without a server)."""
    adapter, backend = request.param
    with running_api(adapter, backend, servers, tmp_path, request) as api:
        yield api
