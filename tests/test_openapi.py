"""The Support API against its own OpenAPI document, fuzzed with schemathesis.

Schemathesis reads ``/v1/support/openapi.json`` from the Flask adapter (in-process,
over WSGI), generates requests for every operation — valid ones and, in negative mode,
ones that break the document — and runs every check on the answers: no server errors,
documented status codes, content types, headers and bodies, invalid data refused, valid
data accepted, authentication enforced. A stateful run follows the document's links:
create a ticket, then get, update and comment on it.

A JSON Schema cannot say everything the API checks: that a category or an agent exists,
that an attachment's bytes are of its declared type, that an ``Idempotency-Key`` was not
used before for another request. Before a *valid* case is sent, :func:`satisfy` makes
it valid in that sense too, by replacing such values with ones the seeded desk knows (or
leaving them out where the document allows it); no check is turned off for it. Invalid
cases are sent as generated.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import attrs
import hypothesis
import pytest
import schemathesis
from flask import Flask
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from supportkit.adapters.flask import Supportkit
from supportkit.api import SupportApi, create_key
from supportkit.api.http import Request
from supportkit.api.openapi import document
from supportkit.desk import Desk
from supportkit.errors import TicketNotFound
from supportkit.seed import SEED_AGENTS, SEED_CALENDARS, SEED_CATEGORIES

from .desk_fixtures import PDF, PNG, Clock, seed, seed_ticket

PREFIX = "/v1/support"
SCHEMA_PATH = f"{PREFIX}/openapi.json"

#: Examples per operation (both generation modes together) and stateful runs; the
#: Hypothesis profile's ``max_examples`` caps them (``ci`` runs fewer).
MAX_EXAMPLES = 15
STATEFUL_RUNS = 8


def _examples(wanted: int) -> int:
    return min(wanted, hypothesis.settings.default.max_examples)


#: Schemathesis' configuration: both generation modes, every check.
CONFIG: dict[str, Any] = {
    "generation": {
        "mode": "all",
        # The API refuses NUL characters in any string of a body, free-form `metadata`
        # included, which a JSON Schema cannot constrain recursively. The document says
        # so, and its text fields carry a pattern, so NULs are still sent where invalid.
        "allow-x00": False,
    },
    "phases": {
        # The coverage phase is not bounded by `max_examples`: it sends every boundary
        # value of every schema (about 3,000 requests here, with 20,000-character
        # descriptions), far beyond this file's time budget. The fuzzing phase (valid
        # and invalid data) and the stateful run still run every check.
        "coverage": {"enabled": False},
    },
    "operations": [
        {
            # A calendar's intervals must not overlap and its holiday country must be one
            # the `holidays` package knows: rules a JSON Schema cannot express, so a
            # valid-looking calendar may be refused (422). Every other check still runs.
            "include-operation-id": "putCalendar",
            "checks": {"positive_data_acceptance": {"enabled": False}},
        },
    ],
}


# -- the app under test ----------------------------------------------------------------------------


@attrs.define
class Current:
    """What the current test serves: schemathesis' WSGI app and auth read it."""

    app: Flask | None = None
    token: str | None = None
    desk: Desk | None = None

    def serve(self, directory: Path) -> None:
        """Serve a fresh seeded desk (SQLite in ``directory``), closing the last one."""
        self.close()
        directory.mkdir(parents=True, exist_ok=True)
        desk = Desk.open(
            f"sqlite:///{directory / 'desk.db'}", clock=Clock(), load_entrypoints=False
        )
        self.desk = seed(desk)
        self.token = create_key(desk, role="admin", name="schemathesis").token
        self.app = _app(desk)

    def close(self) -> None:
        if self.desk is not None:
            self.desk.close()
        self.app = self.token = self.desk = None


CURRENT = Current()


def _app(desk: Desk) -> Flask:
    app = Flask(__name__)
    Supportkit(app, desk=desk)
    return app


def _wsgi(environ: Any, start_response: Any) -> Any:
    """The WSGI app schemathesis talks to: the current test's Flask app.

    Schemathesis collects one test per operation when this module is imported, so the
    document is loaded then, from the Flask adapter over a throwaway in-memory desk;
    each test then serves a fresh seeded desk of its own (see :func:`served`).
    """
    assert CURRENT.app is not None, "only a test using the `served` fixture may call the API"
    return CURRENT.app(environ, start_response)


def _load_schema() -> Any:
    with Desk.open("sqlite://", load_entrypoints=False) as desk:
        CURRENT.app = _app(desk)
        try:
            return schemathesis.openapi.from_wsgi(
                SCHEMA_PATH, _wsgi, config=SchemathesisConfig.from_dict(CONFIG)
            )
        finally:
            CURRENT.app = None


schema = _load_schema()


@schema.auth(refresh_interval=None)
class AdminKey:
    """The current test's admin key, as ``Authorization: Bearer sk_…``. Schemathesis
    leaves it out of the cases that test a missing or invalid key."""

    def get(self, case: Case, context: Any) -> str | None:
        return CURRENT.token

    def set(self, case: Case, data: str, context: Any) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Current]:
    """A seeded desk behind the Flask adapter, with an admin key."""
    CURRENT.serve(tmp_path)
    try:
        yield CURRENT
    finally:
        CURRENT.close()


# -- making valid cases valid against the desk's state ----------------------------------------

_SAMPLES: dict[str, bytes] = {
    "application/pdf": PDF,
    "image/png": PNG,
    "image/jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 16,
    "image/gif": b"GIF89a" + b"\x00" * 16,
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "application/gzip": b"\x1f\x8b\x08\x00" + b"\x00" * 16,
}
_ZIP = b"PK\x03\x04" + b"\x00" * 16
_DURATIONS = frozenset(
    {"response_time", "resolution_time", "escalation_threshold", "escalate_after",
     "auto_update_frequency"}
)  # fmt: skip


def _sample(content_type: str) -> bytes:
    if content_type in _SAMPLES:
        return _SAMPLES[content_type]
    if "zip" in content_type or "officedocument" in content_type:
        return _ZIP
    return b"plain text\n"  # text types and application/octet-stream


def _attachments(items: Any) -> None:
    """Give each attachment bytes of its declared type, and the matching size."""
    for item in items if isinstance(items, list) else ():
        data = _sample(item["content_type"])
        item["data"] = base64.b64encode(data).decode("ascii")
        if item.get("size") is not None:
            item["size"] = len(data)


def _durations(value: Any) -> None:
    """Short text durations: a pattern cannot bound "5 weeks 3 days" below the API's
    100 years."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.removesuffix("_seconds") in _DURATIONS and isinstance(item, str):
                value[key] = "2 hours"
            else:
                _durations(item)
    elif isinstance(value, list):
        for item in value:
            _durations(item)


def _restore(kind: str, resource_id: str) -> None:
    """Put a seeded resource back if the run deleted it (the stateful run follows the
    links from a listing to a delete)."""
    assert CURRENT.desk is not None
    resources = getattr(CURRENT.desk, kind)
    if all(found.id != resource_id for found in resources.list()):
        seeded = {
            "categories": SEED_CATEGORIES,
            "agents": SEED_AGENTS,
            "calendars": SEED_CALENDARS,
        }[kind]
        resources.put(next(item for item in seeded if item["id"] == resource_id))


def _is_positive(case: Case, location: ParameterLocation) -> bool:
    component = case.meta.components.get(location) if case.meta is not None else None
    return component is None or component.mode.is_positive


def _ticket(case: Case) -> Any:
    ticket_id = case.path_parameters.get("ticket_id")
    if not isinstance(ticket_id, str) or CURRENT.desk is None:
        return None
    try:
        return CURRENT.desk.tickets.get(unquote(ticket_id))
    except TicketNotFound:
        return None


def satisfy(case: Case) -> None:
    """Make a valid case valid against the seeded desk's state as well.

    Only values the document cannot constrain are replaced, and only with values it
    allows, so the case stays valid, and it is still checked that the API accepts it.
    """
    # The in-process WSGI transport takes the path as given: a "?" or "#" inside a
    # path parameter would start a query or fragment there (over real HTTP a client
    # percent-encodes them), so such values are replaced before the call.
    for name, value in list((case.path_parameters or {}).items()):
        if isinstance(value, str) and ("?" in value or "#" in value):
            case.path_parameters[name] = value.replace("?", "_").replace("#", "_")
    operation = case.operation.definition.raw["operationId"]
    if _is_positive(case, ParameterLocation.HEADER):
        if "Idempotency-Key" in case.headers:
            # A key is good for one request (replays are tested below): a fresh one.
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
        case.headers.pop("If-Match", None)  # any version but the current one is a 412
    builtin = unquote(str(case.path_parameters.get("resource_id"))) == "24x7"
    if operation == "deleteCalendar" and builtin and _is_positive(case, ParameterLocation.PATH):
        # The built-in calendar cannot be deleted (422): delete another one.
        _restore("calendars", "us_pacific")
        case.path_parameters["resource_id"] = "us_pacific"
    if _is_positive(case, ParameterLocation.QUERY):
        if operation == "listEvents":
            case.query.pop("after", None)  # an event id that does not exist is refused
        if case.query.get("timezone"):
            case.query["timezone"] = "America/Los_Angeles"
    body = case.body
    if not isinstance(body, dict) or not _is_positive(case, ParameterLocation.BODY):
        return
    if operation in ("createTicket", "previewTicket"):
        _restore("categories", "network")
        body["category"] = "network"
        if body.get("subcategory") is not None:
            body["subcategory"] = "connectivity"
        if isinstance(body.get("location"), dict) and body["location"].get("timezone"):
            body["location"]["timezone"] = "America/Los_Angeles"
        _attachments(body.get("attachments"))
    elif operation == "addComment":
        _attachments(body.get("attachments"))
    elif operation == "updateTicket":
        if body.get("assigned_to") is not None:
            _restore("agents", "agent_tech_001")
            body["assigned_to"] = "agent_tech_001"
    elif operation == "escalateTicket":
        ticket = _ticket(case)
        if ticket is not None and body.get("escalation_level") is not None:
            body["escalation_level"] = ticket.escalation.level + 1  # must rise
    elif operation == "mergeTicket":
        source = _ticket(case)
        if source is not None and CURRENT.desk is not None:
            # Into another open ticket of the same customer.
            _restore("categories", "network")
            target = seed_ticket(customer_id=source.customer_id, attachments=None)
            body["into"] = CURRENT.desk.tickets.create(target).id
    elif operation == "generateReport":
        parameters = body["parameters"]
        parameters["date_range"] = {"start": "2024-10-01T00:00:00Z", "end": "2024-11-01T00:00:00Z"}
        if "timezone" in parameters:
            parameters["timezone"] = "America/Los_Angeles"
        if {"day", "week"} <= set(parameters.get("grouping") or ()):
            parameters["grouping"] = [g for g in parameters["grouping"] if g != "day"]
    elif operation == "configureSlack":
        body.setdefault("webhook_url", "https://hooks.slack.example/services/T/B/X")
        if isinstance(body.get("message_format"), dict) and body["message_format"].get("template"):
            body["message_format"]["template"] = "New: {{ ticket.title }}"  # must compile
    elif operation == "configureJira":
        body.setdefault("api_token", "a-jira-api-token")
    elif operation.startswith(("put", "create")):
        # Configuration: an id in the body is the URL's; calendars must exist.
        resource_id = case.path_parameters.get("resource_id")
        if resource_id is not None and "id" in body:
            if isinstance(resource_id, str):
                body["id"] = unquote(resource_id)
            else:  # a value a link took from a response: the URL has its text
                del body["id"]
        if isinstance(body.get("sla"), dict) and "calendar" in body["sla"]:
            body["sla"]["calendar"] = "24x7"
        if body.get("calendar") is not None:
            body["calendar"] = "24x7"
        _durations(body)


# -- the document ------------------------------------------------------------------------------


def _api(served: Current) -> SupportApi:
    assert served.app is not None
    api = served.app.extensions["supportkit"].api
    assert isinstance(api, SupportApi)
    return api


def test_the_document_describes_every_route(served: Current) -> None:
    api = _api(served)
    doc = document(api, Request("GET", SCHEMA_PATH))
    described = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert described == {(route.method, route.pattern) for route in api.routes}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            public = (method, path) == ("get", SCHEMA_PATH)
            assert operation["security"] == ([] if public else [{"apiKey": []}]), (method, path)
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    assert response["$ref"].startswith("#/components/responses/")
    problem = doc["components"]["responses"]["UnprocessableContent"]["content"]
    assert problem == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    created = doc["paths"][f"{PREFIX}/tickets"]["post"]["responses"]["201"]
    assert set(created["links"]) >= {"GetTicket", "UpdateTicket", "AddComment"}
    assert "ETag" in created["headers"]


def test_the_document_is_built_once_per_api(served: Current) -> None:
    api = _api(served)
    first = document(api, Request("GET", SCHEMA_PATH, base_url="http://a.example"))
    second = document(api, Request("GET", SCHEMA_PATH, base_url="https://b.example/x/"))
    assert first["paths"] is second["paths"]
    assert first["servers"] == [{"url": "http://a.example"}]
    assert second["servers"] == [{"url": "https://b.example/x"}]


def test_the_document_is_served_publicly(served: Current) -> None:
    assert served.app is not None
    answer = served.app.test_client().get(SCHEMA_PATH)
    assert answer.status_code == 200
    assert answer.json is not None and answer.json["openapi"] == "3.1.0"


# -- what schemathesis found -------------------------------------------------------------------


def _call(served: Current, method: str, path: str, body: Any = None, **headers: str) -> Any:
    assert served.app is not None
    return served.app.test_client().open(
        PREFIX + path,
        method=method,
        headers={"Authorization": f"Bearer {served.token}", **headers},
        data=None if body is None else json.dumps(body),
        content_type="application/json",
    )


def test_a_whole_number_is_an_integer(served: Current) -> None:
    # Found by schemathesis: JSON Schema's `integer` admits `2.0`, which was refused.
    body = {"pagination": {"page": 1.0, "limit": 2e1}}
    answer = _call(served, "POST", "/tickets/search", body)
    assert answer.status_code == 200
    assert answer.json["pagination"]["limit"] == 20
    assert (
        _call(served, "POST", "/tickets/search", {"pagination": {"page": 1.5}}).status_code == 422
    )


def test_a_location_is_a_valid_url(served: Current) -> None:
    # Found by schemathesis: a routing rule whose id is not URL-safe got a raw `Location`.
    answer = _call(served, "POST", "/routing-rules", {"id": "règle 1/2", "rule_name": "x"})
    assert answer.status_code == 201
    assert answer.headers["Location"].endswith("/routing-rules/r%C3%A8gle%201%2F2")


def test_an_instant_before_the_year_1000_is_stored(served: Current) -> None:
    # Found by schemathesis: `PUT …/tickets/{id}` with "estimated_resolution":
    # "0760-02-15T10:04:06Z" answered 500 (supportkit.records writes "760-02-15T…").
    created = _call(served, "POST", "/tickets", seed_ticket(attachments=None))
    path = f"/tickets/{created.json['ticket']['id']}"
    answer = _call(served, "PUT", path, {"estimated_resolution": "0760-02-15T10:04:06Z"})
    assert answer.status_code == 200
    assert answer.json["ticket"]["estimated_resolution"] == "0760-02-15T10:04:06Z"


def test_a_bad_customer_filter_next_to_customer_ids_is_a_422(served: Current) -> None:
    # Found by schemathesis: `POST /tickets/search` with {"filters": {"customer_id":
    # [null], "customer_ids": null}} answered 500 (a KeyError in supportkit.desk).
    body = {"filters": {"customer_id": [None], "customer_ids": None}}
    assert _call(served, "POST", "/tickets/search", body).status_code == 422


def test_idempotency_keys(served: Current) -> None:
    key = {"Idempotency-Key": "create-1"}
    first = _call(served, "POST", "/tickets", seed_ticket(attachments=None), **key)
    again = _call(served, "POST", "/tickets", seed_ticket(attachments=None), **key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    other = _call(served, "POST", "/tickets", seed_ticket(title="Other", attachments=None), **key)
    assert other.status_code == 422
    assert other.content_type == "application/problem+json"


def test_if_match(served: Current) -> None:
    created = _call(served, "POST", "/tickets", seed_ticket(attachments=None))
    path, etag = f"/tickets/{created.json['ticket']['id']}", created.headers["ETag"]
    assert (
        _call(served, "PUT", path, {"priority": "critical"}, **{"If-Match": etag}).status_code
        == 200
    )
    stale = _call(served, "PUT", path, {"priority": "low"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["status"] == 412


# -- schemathesis ------------------------------------------------------------------------------


@schema.parametrize()
@hypothesis.settings(
    max_examples=_examples(MAX_EXAMPLES),
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_the_api_conforms_to_its_document(case: Case, served: Current) -> None:
    satisfy(case)
    case.call_and_validate()


def test_the_api_follows_its_links(served: Current, tmp_path: Path) -> None:
    scenarios = iter(range(10**6))

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario starts from the seeded desk: what a scenario may do depends
            # on the answers it gets, so they must not depend on earlier scenarios.
            CURRENT.serve(tmp_path / f"scenario-{next(scenarios)}")

        def before_call(self, case: Case) -> None:
            satisfy(case)

    Machine.run(
        settings=hypothesis.settings(
            max_examples=_examples(STATEFUL_RUNS),
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            # Schemathesis learns from earlier answers which links work, so a
            # scenario cannot be replayed exactly: report a failure as it was found.
            phases=(hypothesis.Phase.explicit, hypothesis.Phase.generate),
        )
    )
