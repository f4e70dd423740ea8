"""The Flask extension and the Django app: how they fit in their frameworks.

What the API answers is tested once, over both adapters, in ``test_api.py``; here is
what is each adapter's own: configuration, where state lives, mounting under a script
prefix, body limits, and that neither framework answers below the prefix with its own
HTML error pages.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import flask
import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client as WerkzeugClient
from werkzeug.test import create_environ

from supportkit.adapters.flask import Supportkit, SupportkitState, current_api, current_desk
from supportkit.api import SupportApi, create_key
from supportkit.desk import Desk

from .desk_fixtures import T0, Clock, seed, seed_ticket

if TYPE_CHECKING:
    from .api_fixtures import Api

pytest_plugins = ["tests.api_fixtures"]

PREFIX = "/v1/support"
PROBLEM = "application/problem+json"


def fixed_clock() -> datetime:
    """A clock for ``DESK_OPTIONS`` given as a dotted path."""
    return T0


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with seed(
        Desk.open(f"sqlite:///{tmp_path / 'desk.db'}", clock=Clock(), load_entrypoints=False)
    ) as opened:
        yield opened


def bearer(desk: Desk, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(desk, role=role).token}"}


# -- Flask -------------------------------------------------------------------------------------


def test_flask_extension_follows_the_init_app_pattern(tmp_path: Path) -> None:
    support = Supportkit()
    apps = []
    for name in ("one", "two"):
        app = flask.Flask(name)
        app.config["SUPPORTKIT_DATABASE_URL"] = f"sqlite:///{tmp_path / name}.db"
        state = support.init_app(app)
        assert app.extensions["supportkit"] is state
        assert isinstance(state, SupportkitState)
        assert isinstance(state.api, SupportApi)
        assert state.owns_desk
        apps.append(app)
    assert not hasattr(support, "app")
    one, two = (a.extensions["supportkit"] for a in apps)
    assert one.desk is not two.desk  # each app opened its own database
    with apps[0].app_context():
        assert current_desk() is one.desk
        assert current_api() is one.api
    for state in (one, two):
        state.close()


def test_flask_extension_with_a_desk_serves_it_in_every_app(desk: Desk) -> None:
    support = Supportkit(desk=desk)
    first, second = flask.Flask("first"), flask.Flask("second")
    support.init_app(first)
    Supportkit(second, desk=desk)
    assert first.extensions["supportkit"].desk is desk
    assert second.extensions["supportkit"].desk is desk
    assert not first.extensions["supportkit"].owns_desk
    first.extensions["supportkit"].close()  # leaves a desk it did not open alone
    assert desk.categories.get("network").id == "network"


def test_flask_config_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPORTKIT_DATABASE_URL", raising=False)
    app = flask.Flask("defaults")
    Supportkit(app)
    assert app.config["SUPPORTKIT_DATABASE_URL"] == "sqlite:///supportkit.db"
    assert app.config["SUPPORTKIT_PORTAL_URL"] is None
    assert app.config["SUPPORTKIT_MAX_BODY_BYTES"] is None
    assert (tmp_path / "supportkit.db").exists()
    app.extensions["supportkit"].close()

    monkeypatch.setenv("SUPPORTKIT_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    app = flask.Flask("from_env")
    Supportkit(app)
    assert app.config["SUPPORTKIT_DATABASE_URL"] == f"sqlite:///{tmp_path / 'env.db'}"
    assert (tmp_path / "env.db").exists()
    app.extensions["supportkit"].close()


def test_flask_config_is_applied(desk: Desk) -> None:
    app = flask.Flask("configured")
    app.config.update(
        SUPPORTKIT_PORTAL_URL="https://help.example.test/t/{number}?id={id}",
        SUPPORTKIT_MAX_BODY_BYTES=4096,
    )
    Supportkit(app, desk=desk)
    client = app.test_client()
    headers = bearer(desk)
    body = seed_ticket(attachments=[])
    ticket = client.post(f"{PREFIX}/tickets", json=body, headers=headers).get_json()["ticket"]
    assert ticket["urls"]["customer_portal"] == (
        f"https://help.example.test/t/{ticket['number']}?id={ticket['id']}"
    )
    response = client.post(
        f"{PREFIX}/tickets", json=seed_ticket(description="x" * 5000), headers=headers
    )
    assert response.status_code == 413
    assert response.content_type == PROBLEM
    assert "4096" in response.get_json()["detail"]


@pytest.mark.parametrize("value", [0, -1, "big", True, 1.5])
def test_flask_refuses_a_bad_max_body_setting(desk: Desk, value: object) -> None:
    app = flask.Flask("bad")
    app.config["SUPPORTKIT_MAX_BODY_BYTES"] = value
    with pytest.raises(ValueError, match="SUPPORTKIT_MAX_BODY_BYTES"):
        Supportkit(app, desk=desk)
    assert "supportkit" not in app.extensions


def test_flask_extension_is_set_up_once_per_app(desk: Desk) -> None:
    app = flask.Flask("twice")
    Supportkit(app, desk=desk)
    with pytest.raises(RuntimeError, match="already"):
        Supportkit(app, desk=desk)


def test_current_desk_needs_an_app_with_the_extension(desk: Desk) -> None:
    with pytest.raises(RuntimeError):
        current_desk()  # no app context
    with flask.Flask("plain").app_context(), pytest.raises(RuntimeError, match="init_app"):
        current_desk()


def test_flask_leaves_the_host_apps_routes_alone(desk: Desk) -> None:
    app = flask.Flask("host")

    @app.get("/")
    def home() -> str:
        return "the host's home page"

    @app.get("/v1/other")
    def other() -> str:
        return "the host's"

    Supportkit(app, desk=desk)
    client = app.test_client()
    assert client.get("/").get_data(as_text=True) == "the host's home page"
    assert client.get("/v1/other").get_data(as_text=True) == "the host's"
    missing = client.get("/v1/supportx")  # not below the prefix: the host's own 404
    assert missing.status_code == 404
    assert missing.content_type.startswith("text/html")


@pytest.mark.parametrize("direct", [False, True])
def test_flask_answers_an_unknown_method_below_the_prefix_with_a_problem(
    desk: Desk, direct: bool
) -> None:
    app = flask.Flask("host")

    @app.route("/dav", methods=["PROPFIND"])
    def dav() -> str:
        return "the host's"

    Supportkit(app, desk=desk, direct=direct)
    client = app.test_client()
    for method in ("BREW", "PROPFIND"):
        response = client.open(f"{PREFIX}/tickets", method=method, headers=bearer(desk))
        assert response.status_code == 405
        assert response.content_type == PROBLEM
        assert json.loads(response.get_data())["status"] == 405
    # Elsewhere such methods stay the host's business.
    assert client.open("/dav", method="PROPFIND").get_data(as_text=True) == "the host's"
    assert client.open("/elsewhere", method="BREW").content_type.startswith("text/html")


def test_flask_max_content_length_does_not_answer_below_the_prefix(desk: Desk) -> None:
    """The host's MAX_CONTENT_LENGTH would make Werkzeug answer an HTML 413; below the
    prefix the API's own limit applies, and refuses in problem+json."""
    app = flask.Flask("limited")
    app.config.update(MAX_CONTENT_LENGTH=100, SUPPORTKIT_MAX_BODY_BYTES=8192)
    Supportkit(app, desk=desk)
    client = app.test_client()
    headers = bearer(desk)
    created = client.post(f"{PREFIX}/tickets", json=seed_ticket(), headers=headers)
    assert created.status_code == 201
    huge = client.post(
        f"{PREFIX}/tickets", json=seed_ticket(description="y" * 10_000), headers=headers
    )
    assert huge.status_code == 413
    assert huge.content_type == PROBLEM


def test_flask_head_and_bodiless_responses(desk: Desk) -> None:
    app = flask.Flask("head")
    Supportkit(app, desk=desk)
    client = app.test_client()
    head = client.head(f"{PREFIX}/openapi.json")
    assert head.status_code == 200
    assert head.content_type == "application/json"
    assert head.data == b""
    assert int(head.headers["Content-Length"]) == len(client.get(f"{PREFIX}/openapi.json").data)
    deleted = client.delete(f"{PREFIX}/customers/cust_small", headers=bearer(desk))
    assert deleted.status_code == 204
    assert "Content-Type" not in deleted.headers


def test_flask_under_a_script_prefix(desk: Desk) -> None:
    """Mounted below ``/helpdesk``: routes see paths after it, URLs include it."""
    app = flask.Flask("mounted")
    Supportkit(app, desk=desk)
    outer = DispatcherMiddleware(flask.Flask("outer"), {"/helpdesk": app})
    client = WerkzeugClient(outer)
    response = client.post(
        f"/helpdesk{PREFIX}/tickets",
        data=json.dumps(seed_ticket()),
        headers={**bearer(desk), "Content-Type": "application/json"},
        base_url="http://desk.example.test",
    )
    assert response.status_code == 201
    ticket = response.get_json()["ticket"]
    assert ticket["urls"]["self"] == (
        f"http://desk.example.test/helpdesk{PREFIX}/tickets/{ticket['id']}"
    )
    assert response.headers["Location"] == ticket["urls"]["self"]


def test_flask_unreadable_body_is_a_problem(desk: Desk) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise OSError("the client went away")

    app = flask.Flask("broken")
    Supportkit(app, desk=desk)
    environ = create_environ(
        f"{PREFIX}/tickets",
        method="POST",
        headers={**bearer(desk), "Content-Type": "application/json", "Content-Length": "10"},
    )
    environ["wsgi.input"] = io.BufferedReader(Broken())
    status: list[str] = []
    headers: list[tuple[str, str]] = []

    def start_response(line: str, sent: list[tuple[str, str]], *args: Any) -> None:
        status.append(line)
        headers.extend(sent)

    body = b"".join(app(environ, start_response))
    assert status == ["400 BAD REQUEST"]
    assert ("Content-Type", PROBLEM) in headers
    assert json.loads(body)["status"] == 400


# -- Django ------------------------------------------------------------------------------------


@pytest.fixture
def django_ready() -> None:
    from .api_fixtures import django_settings

    django_settings()


def test_django_app_config_and_urls(django_ready: None) -> None:
    from django.apps import apps
    from django.urls import resolve, reverse

    from supportkit.adapters.django import apps as app_module
    from supportkit.adapters.django import urls

    config = apps.get_app_config("supportkit")
    assert isinstance(config, app_module.SupportkitConfig)
    assert config.name == "supportkit.adapters.django"
    assert urls.app_name == "supportkit"
    assert reverse("supportkit:api", kwargs={"subpath": "tickets"}) == f"{PREFIX}/tickets"
    match = resolve(f"{PREFIX}/tickets/ticket_1/comments")
    assert (match.namespace, match.url_name) == ("supportkit", "api")


def test_django_ready_opens_no_desk(django_ready: None) -> None:
    from django.apps import apps

    from supportkit.adapters.django import conf

    conf.reset()
    apps.get_app_config("supportkit").ready()
    assert conf._api is None


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"DATABASE": "sqlite://"}, "unknown SUPPORTKIT key"),
        ({"MAX_BODY_BYTES": 0}, "MAX_BODY_BYTES"),
        ({"MAX_BODY_BYTES": "1MB"}, "MAX_BODY_BYTES"),
        ({"DESK_OPTIONS": {"colour": "red"}}, "DESK_OPTIONS"),
        ({"DESK_OPTIONS": []}, "DESK_OPTIONS"),
        (["DATABASE_URL"], "must be a dict"),
    ],
)
def test_django_refuses_a_bad_setting(django_ready: None, setting: Any, message: str) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    from supportkit.adapters.django import conf

    with override_settings(SUPPORTKIT=setting), pytest.raises(ImproperlyConfigured, match=message):
        conf.options()


def test_django_setting_defaults(
    django_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import override_settings

    from supportkit.adapters.django import conf

    monkeypatch.delenv("SUPPORTKIT_DATABASE_URL", raising=False)
    with override_settings(SUPPORTKIT={}):
        assert conf.options() == {
            "DATABASE_URL": "sqlite:///supportkit.db",
            "PORTAL_URL": None,
            "MAX_BODY_BYTES": None,
            "DESK_OPTIONS": {},
        }
    monkeypatch.setenv("SUPPORTKIT_DATABASE_URL", "sqlite:///elsewhere.db")
    with override_settings(SUPPORTKIT={}):
        assert conf.options()["DATABASE_URL"] == "sqlite:///elsewhere.db"
    with override_settings(SUPPORTKIT={"DATABASE_URL": f"sqlite:///{tmp_path}/s.db"}):
        assert conf.options()["DATABASE_URL"] == f"sqlite:///{tmp_path}/s.db"


def test_django_opens_one_desk_per_process_lazily_and_thread_safely(
    django_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import override_settings

    from supportkit.adapters.django import conf

    opened: list[str] = []
    real_open = Desk.open

    def counting_open(url: str | None = None, **kwargs: Any) -> Desk:
        opened.append(str(url))
        return real_open(url, **kwargs)

    monkeypatch.setattr(conf.Desk, "open", counting_open)
    setting = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/lazy.db",
        "MAX_BODY_BYTES": 1234,
        "DESK_OPTIONS": {"clock": "tests.test_adapters.fixed_clock", "load_entrypoints": False},
    }
    with override_settings(SUPPORTKIT=setting):
        assert opened == []  # nothing until the first request
        barrier = threading.Barrier(8)
        found: list[SupportApi] = []

        def get() -> None:
            barrier.wait()
            found.append(conf.get_api())

        threads = [threading.Thread(target=get) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(api) for api in found}) == 1
        assert opened == [setting["DATABASE_URL"]]
        api = found[0]
        assert api.max_body_bytes == 1234
        assert conf.get_desk() is api.desk
        assert api.desk.now() == T0  # the clock named by its dotted path
    # Leaving override_settings changed the setting: the desk was closed and forgotten.
    assert conf._api is None


def test_django_never_answers_with_html(django_api: Api) -> None:
    client = django_api
    # An encoded newline in the path: "." in a URL pattern would not match it.
    response = client.get("/tick%0Aets")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    # A Host that ALLOWED_HOSTS refuses. (With CommonMiddleware installed, Django itself
    # refuses it before any view runs; without, the view answers in problem+json.)
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    with override_settings(MIDDLEWARE=[]):
        bare = WerkzeugClient(WSGIHandler())
    response = bare.get(f"{PREFIX}/openapi.json", base_url="http://evil.example.test")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == PROBLEM
    assert "Host" in json.loads(response.get_data())["detail"]


def test_django_bodies_above_data_upload_max_memory_size_reach_the_api(django_api: Api) -> None:
    client = django_api
    from django.conf import settings

    body = seed_ticket(description="z" * 10_000)
    assert len(json.dumps(body)) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert client.post("/tickets", body).status_code == 201  # no CSRF token needed either


def test_django_answers_503_when_the_desk_cannot_be_opened(django_api: Api) -> None:
    client = django_api
    from django.test import override_settings

    with override_settings(SUPPORTKIT={"DATABASE_URL": "nosuchdb://nowhere"}):
        response = client.get("/tickets")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert client.get("/tickets").status_code == 200  # the test's own setting is back


def test_django_under_a_script_prefix(django_api: Api) -> None:
    client = django_api
    from django.core.wsgi import get_wsgi_application

    wsgi = WerkzeugClient(get_wsgi_application())
    response = wsgi.post(
        f"{PREFIX}/tickets",
        data=json.dumps(seed_ticket()),
        headers={"Authorization": f"Bearer {client.tokens['admin']}",
                 "Content-Type": "application/json"},
        base_url="http://localhost/helpdesk",
    )  # fmt: skip
    assert response.status_code == 201, response.get_data(as_text=True)
    ticket = json.loads(response.get_data())["ticket"]
    assert ticket["urls"]["self"] == f"http://localhost/helpdesk{PREFIX}/tickets/{ticket['id']}"


def test_head_and_bodiless_responses_over_http(client: Api) -> None:
    head = client.request("HEAD", "/openapi.json")
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/json"
    assert head.content == b""
    deleted = client.delete("/customers/cust_small")
    assert deleted.status_code == 204
    assert "content-type" not in deleted.headers


def test_django_management_commands(django_ready: None, tmp_path: Path) -> None:
    from django.core.management import call_command
    from django.test import override_settings

    from supportkit.api.auth import list_keys

    url = f"sqlite:///{tmp_path}/managed.db"
    with override_settings(SUPPORTKIT={"DATABASE_URL": url}):
        out = io.StringIO()
        call_command("supportkit_init", stdout=out)
        assert "added categories: network, voice" in out.getvalue()
        out = io.StringIO()
        call_command("supportkit_init", stdout=out)
        assert "kept categories (already there): network, voice" in out.getvalue()
        out = io.StringIO()
        call_command("supportkit_key", role="customer", customer_id="cust_1", stdout=out)
        token = out.getvalue().strip().splitlines()[-1]
        assert token.startswith("sk_")
    with Desk.open(url, load_entrypoints=False) as desk:
        assert [k["customer_id"] for k in list_keys(desk)] == ["cust_1"]
        assert {c.id for c in desk.categories.list()} == {"network", "voice"}


# -- both, over real HTTP ----------------------------------------------------------------------


def test_chunked_bodies_are_read_and_limited(client: Api) -> None:
    """A body without Content-Length (chunked) is read up to the API's limit."""
    headers = {"Authorization": f"Bearer {client.tokens['admin']}",
               "Content-Type": "application/json"}  # fmt: skip

    def chunks(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    fine = json.dumps(seed_ticket()).encode()
    response = client.http.post(f"{PREFIX}/tickets", content=chunks(fine), headers=headers)
    assert response.status_code == 201
    big = json.dumps(seed_ticket(description="b" * client.max_body_bytes)).encode()
    response = client.http.post(f"{PREFIX}/tickets", content=chunks(big), headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert client.ticket_count() == 1


def test_a_huge_declared_body_is_refused_without_an_html_page(client: Api) -> None:
    big = b'{"title": "' + b"x" * (client.max_body_bytes * 4) + b'"}'
    response = client.request("POST", "/tickets", content=big)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


# -- Flask, direct=True: the API in front of Flask -------------------------------------------


def _wsgi_call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """The raw WSGI answer: status line, header list, body."""
    seen: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen[:] = [status, list(headers)]
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return seen[0], seen[1], body


def _environs(desk: Desk, ticket_id: str) -> list[dict[str, Any]]:
    admin, customer = bearer(desk), bearer_customer(desk)
    json_type = {"Content-Type": "application/json"}
    cases: list[dict[str, Any]] = [
        {"path": f"{PREFIX}/openapi.json"},
        {"path": f"{PREFIX}/openapi.json", "method": "HEAD"},
        {"path": f"{PREFIX}", "headers": admin},
        {"path": f"{PREFIX}/", "headers": admin},
        {"path": f"{PREFIX}//tickets", "headers": admin},
        {"path": f"//{PREFIX.lstrip('/')}/tickets/{ticket_id}", "headers": admin},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "headers": admin},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "method": "HEAD", "headers": admin},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "headers": customer},
        {"path": f"{PREFIX}/tickets/{ticket_id}"},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "headers": {"Authorization": "Bearer nope"}},
        {"path": f"{PREFIX}/tickets/tkt_missing", "headers": admin},
        {"path": f"{PREFIX}/no/such/thing", "headers": admin},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "method": "POST", "headers": admin},
        {"path": f"{PREFIX}/tickets", "method": "BREW", "headers": admin},
        {"path": f"{PREFIX}/tickets/ünïcode", "headers": admin},
        {"path": f"{PREFIX}/tickets", "headers": admin,
         "query_string": "customer_id=cust_1234567890&status=open,in_progress&limit=5&x=%FF&é=1"},
        {"path": f"{PREFIX}/tickets", "headers": admin, "query_string": "a&b=&b=2&c=%00"},
        {"path": f"{PREFIX}/tickets", "method": "POST", "headers": {**admin, **json_type},
         "data": b"{not json"},
        {"path": f"{PREFIX}/tickets", "method": "POST", "headers": {**admin, **json_type},
         "data": b"x" * (2 * 1024 * 1024)},
        {"path": f"{PREFIX}/tickets", "method": "POST",
         "headers": {**admin, "Content-Type": "text/plain"}, "data": b"{}"},
        {"path": f"{PREFIX}/tickets", "method": "POST", "headers": {**admin, **json_type},
         "data": json.dumps({"title": ""}).encode()},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "method": "PATCH",
         "headers": {**admin, **json_type, "If-Match": '"nope"'}, "data": b"{}"},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "headers": admin,
         "base_url": "https://Desk.Example.TEST:8443/",
         "environ_overrides": {"SCRIPT_NAME": "/hd/"}},
        {"path": f"{PREFIX}/tickets/{ticket_id}", "headers": {**admin, "Host": "bücher.test"}},
    ]  # fmt: skip
    return [create_environ(**case) for case in cases]


def bearer_customer(desk: Desk) -> dict[str, str]:
    key = create_key(desk, role="customer", customer_id="cust_1234567890")
    return {"Authorization": f"Bearer {key.token}"}


def test_flask_direct_answers_as_the_blueprint_does(desk: Desk) -> None:
    """Byte for byte: status line, headers in order, body; for each request the two
    apps (same desk, same clock) answer in turn."""
    via_flask, direct = flask.Flask("via_flask"), flask.Flask("direct")
    via_flask.config["SUPPORTKIT_MAX_BODY_BYTES"] = direct.config["SUPPORTKIT_MAX_BODY_BYTES"] = (
        1024 * 1024
    )
    Supportkit(via_flask, desk=desk)
    Supportkit(direct, desk=desk, direct=True)
    ticket_id = desk.tickets.create(seed_ticket()).id
    environs = _environs(desk, ticket_id)
    for environ in environs:
        second = {**environ, "wsgi.input": io.BytesIO(environ["wsgi.input"].getvalue())}
        expected = _wsgi_call(via_flask, environ)
        got = _wsgi_call(direct, second)
        assert got == expected, (environ["REQUEST_METHOD"], environ["PATH_INFO"])
    # A 204 (a delete: one customer each).
    for name in ("cust_gone_1", "cust_gone_2"):
        desk.customers.put({"id": name, "name": "Gone", "tier": "standard"})
    deleted = [
        _wsgi_call(
            app, create_environ(f"{PREFIX}/customers/{name}", method="DELETE", headers=bearer(desk))
        )
        for app, name in ((via_flask, "cust_gone_1"), (direct, "cust_gone_2"))
    ]
    assert deleted[0] == deleted[1] == ("204 NO CONTENT", [], b"")
    # A create: the same status line and header names; the same body but for ids and
    # numbers (every create makes a new ticket).
    headers = {**bearer(desk), "Content-Type": "application/json"}
    body = json.dumps(seed_ticket(attachments=[])).encode()
    answers = [
        _wsgi_call(
            app, create_environ(f"{PREFIX}/tickets", method="POST", headers=headers, data=body)
        )
        for app in (via_flask, direct)
    ]
    assert answers[0][0] == answers[1][0] == "201 CREATED"
    assert [k for k, _ in answers[0][1]] == [k for k, _ in answers[1][1]]
    created = [json.loads(answer[2])["ticket"] for answer in answers]
    assert created[1]["urls"]["self"].endswith(created[1]["id"])
    assert set(created[0]) == set(created[1])


def test_flask_direct_leaves_other_paths_to_flask(desk: Desk) -> None:
    app = flask.Flask("direct_others")
    Supportkit(app, desk=desk, direct=True)
    app.add_url_rule("/hello", "hello", lambda: "hi")
    client = app.test_client()
    assert client.get("/hello").data == b"hi"
    missing = client.get("/v1/supportx")
    assert missing.status_code == 404
    assert missing.content_type.startswith("text/html")
    assert client.get(f"{PREFIX}/nowhere").content_type == PROBLEM


def test_flask_direct_keeps_the_app_context_and_defers_to_trusted_hosts(desk: Desk) -> None:
    seen: list[Any] = []
    app = flask.Flask("direct_context")
    Supportkit(app, desk=desk, direct=True)
    api = app.extensions["supportkit"].api
    original = api.handle

    def handle(request: Any) -> Any:
        seen.append((current_desk() is desk, flask.has_request_context()))
        return original(request)

    api.handle = handle
    client = app.test_client()
    assert client.get(f"{PREFIX}/openapi.json").status_code == 200
    assert seen == [(True, False)]  # in front of Flask: an app context, no request
    app.config["TRUSTED_HOSTS"] = ["trusted.test"]
    assert client.get(f"{PREFIX}/openapi.json", base_url="http://trusted.test").status_code == 200
    assert seen[-1] == (True, True)  # through Flask, which checks the host
    assert client.get(f"{PREFIX}/openapi.json", base_url="http://evil.test").status_code == 400
