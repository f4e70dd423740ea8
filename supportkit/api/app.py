"""The Support API, framework-agnostic: a :class:`Request` in, a :class:`Response` out.

:class:`SupportApi` holds the route table, authenticates and authorises each request,
reads and validates JSON bodies, calls the :class:`~supportkit.desk.Desk`, shapes the
responses as the seed does, and turns every error into an RFC 9457
``application/problem+json`` response. It never lets an exception escape as a 500 with
a stack trace: anything unexpected is logged and answered with a plain 500 problem.

Adapters (:mod:`supportkit.adapters.flask`, :mod:`supportkit.adapters.django`) only
translate their framework's request and response.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

import attrs

from .. import plugins as plugin_api
from .. import signals
from ..desk import Desk
from ..errors import (
    AlreadyExists,
    FieldError,
    InvalidTransition,
    NotFound,
    RetryableStorageError,
    StorageError,
    SupportkitError,
    TicketNotFound,
    ValidationError,
    VersionConflict,
)
from ..models import Comment, Ticket, format_instant, to_dict
from ..plugins import Principal
from ..storage import Event
from ..validation import json_problem, text_problem
from .http import PROBLEM_JSON, Request, Response, json_response, problem

__all__ = ["ApiError", "SupportApi"]

log = logging.getLogger("supportkit.api")

PREFIX: Final = "/v1/support"
_DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024
_IDEMPOTENCY_TTL: Final = timedelta(hours=24)
#: Event data a customer's feed leaves out.
_STAFF_EVENT_DATA: Final = frozenset({"routing", "notify", "metadata", "notification"})


class ApiError(Exception):
    """An HTTP-level refusal that is not a Desk error (bad JSON, forbidden, …)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = tuple(errors)
        self.headers = tuple(headers)


@attrs.frozen
class Context:
    """What a handler gets: the request, who makes it, path parameters, the body."""

    request: Request
    principal: Principal
    params: Mapping[str, str]
    api: SupportApi

    @property
    def desk(self) -> Desk:
        return self.api.desk

    def json(self) -> Any:
        return self.api._json_body(self.request)

    def query(self, name: str) -> str | None:
        values = self.request.query.get(name)
        return values[-1] if values else None

    @property
    def customer(self) -> str | None:
        """The customer a customer key is bound to; ``None`` for staff."""
        return self.principal.customer_id if self.principal.role == "customer" else None

    def require(self, *roles: str) -> None:
        if self.principal.role not in roles:
            article = "an" if self.principal.role[0] in "aeiou" else "a"
            raise ApiError(
                403, f"{article} {self.principal.role} key may not do this", kind="forbidden"
            )


Handler = Callable[[Context], Response]


@attrs.frozen
class Route:
    method: str
    pattern: str
    handler: Handler
    regex: re.Pattern[str]
    public: bool = False


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(f"^{regex}\\Z")  # \Z: "$" would also match before a final newline


class SupportApi:
    """The Support API over one :class:`~supportkit.desk.Desk`.

    :param desk: the desk to serve.
    :param prefix: where the API is mounted (``/v1/support``).
    :param max_body_bytes: larger bodies get a 413.
    :param portal_url: a template for the seed's ``urls.customer_portal``, with
        ``{number}`` and ``{id}`` (e.g. ``"https://support.example.com/tickets/{number}"``);
        left out of responses when ``None``.
    """

    def __init__(
        self,
        desk: Desk,
        *,
        prefix: str = PREFIX,
        max_body_bytes: int = _DEFAULT_MAX_BODY,
        portal_url: str | None = None,
    ) -> None:
        self.desk = desk
        self.prefix = prefix.rstrip("/")
        self.max_body_bytes = max_body_bytes
        self.portal_url = portal_url
        self.authenticators = plugin_api.authenticators(desk.plugin_manager)
        self.routes: list[Route] = []
        # The Desk shapes a new ticket (``to_dict``) for its ``ticket.created`` event; the
        # create handler reuses that shape for its response instead of making it again.
        self._created = threading.local()
        signals.ticket_created.connect(self._on_ticket_created, sender=desk, weak=True)
        from . import handlers, operations

        handlers.register(self)
        operations.register(self)

    # -- routing -------------------------------------------------------------------------

    def route(
        self, method: str, pattern: str, *, public: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register a handler for ``method`` and ``pattern`` (below the prefix)."""

        def decorate(handler: Handler) -> Handler:
            full = self.prefix + pattern
            self.routes.append(Route(method, full, handler, _compile(full), public))
            return handler

        return decorate

    def _match(self, request: Request) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route in self.routes:
            found = route.regex.match(request.path)
            if found is None:
                continue
            if route.method == request.method:
                return route, found.groupdict()
            allowed.append(route.method)
        if allowed:
            raise ApiError(
                405,
                f"{request.method} is not allowed here; use {', '.join(sorted(set(allowed)))}",
                headers=(("Allow", ", ".join(sorted(set(allowed)))),),
            )
        raise ApiError(404, f"no such endpoint: {request.path}", kind="not-found")

    # -- handling ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request. Never raises."""
        try:
            _check_text(request)
            route, params = self._match(request)
            principal = Principal(role="admin") if route.public else self._authenticate(request)
            ctx = Context(request, principal, params, self)
            if request.method == "POST" and request.header("idempotency-key") is not None:
                return self._idempotent(ctx, route)
            return route.handler(ctx)
        except ApiError as exc:
            return problem(
                exc.status,
                exc.detail,
                kind=exc.kind,
                errors=[{"field": e.field, "message": e.message} for e in exc.errors],
                headers=exc.headers,
            )
        except SupportkitError as exc:
            return self._desk_problem(exc, request)
        except Exception:  # the safety net: log it, answer without leaking internals
            log.exception("unexpected error answering %s %s", request.method, request.path)
            return problem(500, "an unexpected error occurred; it has been logged")

    def _desk_problem(self, exc: SupportkitError, request: Request) -> Response:
        if isinstance(exc, ValidationError):
            errors = [{"field": e.field, "message": e.message} for e in exc.errors]
            return problem(422, str(exc), kind="validation", errors=errors)
        if isinstance(exc, InvalidTransition):
            return problem(
                409,
                str(exc),
                kind="invalid-transition",
                extra={"current": exc.current, "requested": exc.requested,
                       "allowed": list(exc.allowed)},
            )  # fmt: skip
        if isinstance(exc, VersionConflict):
            status = 412 if request.header("if-match") else 409
            return problem(
                status, str(exc), kind="version-conflict", extra={"current_version": exc.actual}
            )
        if isinstance(exc, NotFound):
            return problem(404, str(exc), kind="not-found")
        if isinstance(exc, AlreadyExists):
            return problem(409, str(exc), kind="already-exists")
        if isinstance(exc, RetryableStorageError | StorageError):
            log.error("storage error answering %s %s: %s", request.method, request.path, exc)
            return problem(
                503, "the database is unavailable; try again", headers=(("Retry-After", "1"),)
            )
        return problem(400, str(exc))

    def _authenticate(self, request: Request) -> Principal:
        header = request.header("authorization")
        challenge = (("WWW-Authenticate", 'Bearer realm="supportkit"'),)
        if not header:
            raise ApiError(401, "an API key is required: Authorization: Bearer <key>",
                           kind="unauthorized", headers=challenge)  # fmt: skip
        now = self.desk.now()
        for authenticator in self.authenticators:
            principal = authenticator.authenticate(header, desk=self.desk, now=now)
            if principal is not None:
                return principal
        raise ApiError(401, "the API key is not valid", kind="unauthorized", headers=challenge)

    # -- bodies ----------------------------------------------------------------------------

    def _json_body(self, request: Request) -> Any:
        if len(request.body) > self.max_body_bytes:
            raise ApiError(413, f"the body is larger than {self.max_body_bytes} bytes")
        kind = (request.header("content-type") or "").split(";")[0].strip().lower()
        if not request.body:
            raise ApiError(400, "a JSON body is required", kind="bad-json")
        if kind not in ("application/json", "") and not kind.endswith("+json"):
            raise ApiError(415, f"send JSON (Content-Type: application/json), not {kind}")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "the body is not valid UTF-8", kind="bad-json") from exc
        try:
            data = json.loads(
                text,
                object_pairs_hook=_no_duplicates,
                parse_constant=_no_constant,
                parse_float=_number,
            )
        except ValueError as exc:
            raise ApiError(400, f"the body is not valid JSON: {exc}", kind="bad-json") from exc
        except RecursionError as exc:
            raise ApiError(400, "the body is nested too deeply", kind="bad-json") from exc
        problem_text = json_problem(data, 64)
        if problem_text:
            raise ApiError(400, f"the body is not acceptable JSON: {problem_text}", kind="bad-json")
        return data

    # -- idempotency ---------------------------------------------------------------------------

    def _idempotent(self, ctx: Context, route: Route) -> Response:
        request = ctx.request
        key = request.header("idempotency-key") or ""
        if not 1 <= len(key) <= 200 or not key.isprintable():
            raise ApiError(400, "Idempotency-Key must be 1–200 printable characters")
        who = ctx.principal.key_id or ctx.principal.role
        state_key = "idempotency:" + hashlib.sha256(f"{who}\n{key}".encode()).hexdigest()
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n" + request.body
        ).hexdigest()
        now = self.desk.now()
        with self.desk.storage.write() as tx:
            stored = tx.get_state(state_key)
            record = json.loads(stored) if stored else None
            expired = record is not None and (now - _instant(record["at"]) > _IDEMPOTENCY_TTL)
            if record is None or expired:
                tx.set_state(
                    state_key,
                    json.dumps({"fingerprint": fingerprint, "at": format_instant(now),
                                "status": "pending"}),
                )  # fmt: skip
        if record is not None and not expired:
            if record["fingerprint"] != fingerprint:
                raise ApiError(
                    422,
                    "this Idempotency-Key was used with a different request",
                    kind="idempotency-mismatch",
                )
            if record["status"] == "pending":
                raise ApiError(409, "a request with this Idempotency-Key is still in progress",
                               kind="idempotency-in-progress")  # fmt: skip
            return Response(
                int(record["status"]),
                (*tuple((k, v) for k, v in record["headers"]), ("Idempotent-Replayed", "true")),
                base64.b64decode(record["body"]),
            )
        try:
            response = route.handler(ctx)
        except BaseException:
            with self.desk.storage.write() as tx:
                tx.set_state(state_key, json.dumps({"fingerprint": "", "at": "1970-01-01T00:00:00Z",
                                                    "status": "pending"}))  # fmt: skip
            raise
        if response.status < 500:
            with self.desk.storage.write() as tx:
                tx.set_state(
                    state_key,
                    json.dumps(
                        {
                            "fingerprint": fingerprint,
                            "at": format_instant(now),
                            "status": response.status,
                            "headers": [list(h) for h in response.headers],
                            "body": base64.b64encode(response.body).decode("ascii"),
                        }
                    ),
                )
        return response

    # -- views -----------------------------------------------------------------------------------

    def base(self, request: Request) -> str:
        return request.base_url.rstrip("/") + self.prefix

    def _on_ticket_created(self, sender: Any, *, ticket: Ticket, event: Event, **_: Any) -> None:
        # Sent in the creating thread, right after the commit, before create returns.
        self._created.last = (ticket, event.data.get("ticket"))

    def created_shape(self, ticket: Ticket) -> dict[str, Any] | None:
        """``to_dict(ticket)`` as the Desk made it for the ``ticket.created`` event of
        ``ticket`` (this very object, created in this thread), else ``None``. Not to be
        changed: it is the event's data."""
        last = self._created.__dict__.pop("last", None)
        if last is None or last[0] is not ticket or not isinstance(last[1], dict):
            return None
        shape: dict[str, Any] = last[1]
        return shape

    def ticket_view(
        self, ticket: Ticket, request: Request, shape: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The seed's ticket shape, with ``urls`` and attachment download links.

        :param shape: ``to_dict(ticket)`` if already made (it is copied, not changed).
        """
        data: dict[str, Any] = to_dict(ticket) if shape is None else dict(shape)
        base = self.base(request)
        urls = {"self": f"{base}/tickets/{ticket.id}"}
        if self.portal_url:
            urls["customer_portal"] = self.portal_url.format(number=ticket.number, id=ticket.id)
        data["urls"] = urls
        attachments = data.get("attachments")
        if attachments:
            data["attachments"] = attachments = [dict(a) for a in attachments]
            for attachment in attachments:
                attachment["download_url"] = f"{base}/attachments/{attachment['id']}"
        return data

    def comment_view(self, comment: Comment, request: Request) -> dict[str, Any]:
        data: dict[str, Any] = to_dict(comment)
        base = self.base(request)
        for attachment in data.get("attachments") or []:
            attachment["download_url"] = f"{base}/attachments/{attachment['id']}"
        return data

    def event_view(self, event: Event, *, for_customer: bool = False) -> dict[str, Any]:
        """An event as the feed shows it; a customer's view leaves out staff details
        (routing decisions, who is notified, escalation metadata)."""
        data = event.data
        if for_customer:
            data = {k: v for k, v in data.items() if k not in _STAFF_EVENT_DATA}
        return {
            "id": event.id,
            "event": event.type,
            "timestamp": format_instant(event.created_at),
            "sequence": event.seq,
            "ticket_id": event.ticket_id,
            "data": data,
        }

    def etag(self, ticket: Ticket) -> tuple[str, str]:
        return ("ETag", f'"{ticket.id}-v{ticket.version}"')


def _check_text(request: Request) -> None:
    """Refuse NUL characters and lone surrogates in the path and the query."""
    problem_text = text_problem(request.path)
    if problem_text:
        raise ApiError(400, f"the path {problem_text}", kind="bad-request")
    errors = []
    for name, values in request.query.items():
        for value in (name, *values):
            problem_text = text_problem(value)
            if problem_text:
                errors.append(FieldError(name, problem_text))
                break
    if errors:
        raise ApiError(400, "bad query parameters", kind="bad-request", errors=errors)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r}")
        found[key] = value
    return found


def _number(text: str) -> int | float:
    """A JSON number with a fraction or an exponent; a whole one (``2.0``, ``1e3``) is the
    same number as ``2`` or ``1000`` to JSON (and JSON Schema), so it is read as an int."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _instant(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


_ = (PROBLEM_JSON, TicketNotFound, json_response)
