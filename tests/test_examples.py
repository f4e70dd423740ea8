"""The example apps boot from the repository as a user would start them, and serve.

Each runs in a subprocess on a free port of 127.0.0.1 — the Flask example with
``python examples/flask_app/app.py`` (waitress), the Django project with
``manage.py runserver --noreload`` — against a SQLite file of the test's; the test
creates an API key in that database with the Python API, then creates and reads a
ticket over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import flask
import httpx
import pytest

from supportkit.api import create_key
from supportkit.desk import Desk
from supportkit.server import create_app

from .desk_fixtures import seed_ticket

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PREFIX = "/v1/support"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(args: list[str], *, cwd: Path, env: Mapping[str, str], port: int) -> Iterator[str]:
    """Start a server process and wait until it answers; stop it afterwards."""
    environ = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        args, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"{args} exited with {process.returncode}:\n{output}")
            try:
                httpx.get(f"{url}{PREFIX}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{args} did not answer on {url}")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def create_and_get_a_ticket(url: str, database_url: str) -> dict[str, object]:
    with Desk.open(database_url, load_entrypoints=False) as desk:
        token = create_key(desk, role="admin").token
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        created = http.post(f"{PREFIX}/tickets", json=seed_ticket())
        assert created.status_code == 201, created.text
        ticket = created.json()["ticket"]
        assert ticket["urls"]["self"] == f"{url}{PREFIX}/tickets/{ticket['id']}"
        assert ticket["sla"]["response_time"] == "2 hours"  # the seed's configuration
        fetched = http.get(f"{PREFIX}/tickets/{ticket['id']}")
        assert fetched.status_code == 200
        assert fetched.json()["ticket"] == ticket
        assert http.get(f"{PREFIX}/tickets").json()["pagination"]["total"] == 1
        anonymous = httpx.get(f"{url}{PREFIX}/tickets")
        assert anonymous.status_code == 401
    result: dict[str, object] = ticket
    return result


def test_the_flask_example_serves_the_api(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'flask-example.db'}"
    port = free_port()
    env = {"SUPPORTKIT_DATABASE_URL": database_url, "PORT": str(port)}
    app = str(EXAMPLES / "flask_app" / "app.py")
    with running([sys.executable, app], cwd=tmp_path, env=env, port=port) as url:
        create_and_get_a_ticket(url, database_url)
        home = httpx.get(f"{url}/").json()
        assert home["categories"] == ["network", "voice"]
        assert home["open_tickets"] == 1


def test_the_django_example_serves_the_api(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'django-example.db'}"
    project = EXAMPLES / "django_project"
    env = {"SUPPORTKIT_DATABASE_URL": database_url}
    manage = [sys.executable, str(project / "manage.py")]
    init = subprocess.run(
        [*manage, "supportkit_init"],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    assert "added categories: network, voice" in init.stdout
    port = free_port()
    server = [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"]
    with running(server, cwd=project, env=env, port=port) as url:
        create_and_get_a_ticket(url, database_url)
        assert httpx.get(f"{url}/").json()["support_api"] == "/v1/support/"


# -- supportkit.server: the app behind ``supportkit serve`` -------------------------------------


def test_server_app_seeds_once_and_explains_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    app = create_app(url)
    assert isinstance(app, flask.Flask)
    desk = app.extensions["supportkit"].desk
    assert {c.id for c in desk.categories.list()} == {"network", "voice"}
    assert desk.customers.get("cust_1234567890").tier == "enterprise"
    edited = {"id": "voice", "name": "Voice (edited)",
              "sla": {"response_time": "1 hour", "resolution_time": "4 hours"}}  # fmt: skip
    desk.categories.put(edited)
    app.extensions["supportkit"].close()

    again = create_app(url)  # a restart keeps the edit
    desk = again.extensions["supportkit"].desk
    assert desk.categories.get("voice").name == "Voice (edited)"
    page = again.test_client().get("/", base_url="http://support.example.test")
    assert page.status_code == 200
    assert page.content_type == "text/html; charset=utf-8"
    text = page.get_data(as_text=True)
    assert "http://support.example.test/v1/support/openapi.json" in text
    assert "supportkit keys create --role admin" in text
    assert "<script" not in text
    again.extensions["supportkit"].close()

    bare = create_app(f"sqlite:///{tmp_path / 'bare.db'}", seed=False)
    assert bare.extensions["supportkit"].desk.categories.list() == []
    bare.extensions["supportkit"].close()


def test_serve_runs_the_app_under_waitress(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'serve.db'}"
    port = free_port()
    code = (
        "import sys; from supportkit.server import create_app, serve;"
        " serve(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]))"
    )
    args = [sys.executable, "-c", code, database_url, str(port)]
    with running(args, cwd=tmp_path, env={}, port=port) as url:
        response = httpx.get(f"{url}{PREFIX}/openapi.json")
        assert response.headers["server"] == "waitress"
        create_and_get_a_ticket(url, database_url)
        assert "supportkit" in httpx.get(f"{url}/").text
