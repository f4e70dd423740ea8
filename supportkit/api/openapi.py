"""The OpenAPI 3.1 document of the Support API, served at ``/v1/support/openapi.json``.

The document is built from the API itself: its route table (every route is described,
and only routes that exist), and its desk's configuration (the statuses of the
lifecycle, the severities, the size limits, the custom fields, the accepted attachment
types). It is built once per :class:`~supportkit.api.SupportApi` and cached; only
``servers`` depends on the request.

Request bodies are JSON Schema 2020-12 and match :mod:`supportkit.validation`: the
same required fields, enums, length limits and ``additionalProperties: false`` where
unknown fields are refused. What a schema cannot say (a category that must exist, an
attachment whose bytes must be of its declared type, text that is trimmed before its
length is checked) is said in the descriptions. The test suite fuzzes the API against
this document with schemathesis.

Schemas are data, written with a few small builders (:func:`obj`, :func:`text`,
:func:`array`, …) rather than spelled out as nested literals.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from ..analytics import MAX_PERIOD, PRESETS
from ..calendar import WEEKDAYS
from ..desk import _SLA_STATUSES
from ..integrations import INTEGRATIONS, MAX_TEMPLATE
from ..models import CONDITION_FIELDS, PRIORITIES, TEAM_STRATEGIES
from ..reports import FORMATS, GROUPINGS, METRICS, REPORT_TYPES
from ..storage import SORT_FIELDS
from ..validation import COMMENT_TYPES, CustomField
from ..webhooks import EVENT_TYPES, MAX_SECRET, MIN_SECRET
from .http import PROBLEM_JSON

if TYPE_CHECKING:
    from ..config import DeskConfig
    from .app import SupportApi
    from .http import Request

__all__ = ["document"]

Schema = dict[str, Any]

#: What :func:`document` built for each API, with the route table it was built from.
_CACHE: weakref.WeakKeyDictionary[SupportApi, tuple[tuple[tuple[str, str], ...], Schema]] = (
    weakref.WeakKeyDictionary()
)


def document(api: SupportApi, request: Request) -> dict[str, Any]:
    """The OpenAPI document, with the server URL taken from the request.

    The document is built on first use and cached for ``api``; the dict returned is a
    shallow copy with this request's ``servers``: do not mutate what it shares.
    """
    signature = tuple((route.method, route.pattern) for route in api.routes)
    cached = _CACHE.get(api)
    if cached is None or cached[0] != signature:
        cached = (signature, _build(api))
        _CACHE[api] = cached
    return {**cached[1], "servers": [{"url": request.base_url.rstrip("/")}]}


# -- schema builders ---------------------------------------------------------------------

#: Patterns are written to mean the same to Python's ``re`` (which the API and the
#: generators use) and to ECMA 262 (which JSON Schema validators use): no ``\s``,
#: ``\w`` or ``\d``, whose meanings differ, but explicit classes.
#: Whitespace as ``str.isspace()`` (and so ``str.strip()``) sees it:
_SPACES: Final = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WS: Final = f"[{_SPACES}]"
_NOT_WS: Final = f"[^{_SPACES}\\x00]"
#: A letter, digit or underscore, as Python's ``\w`` reads one.
_WORD: Final = r"(?:\p{L}|\p{N}|_)"
_DIGIT: Final = r"\p{Nd}"
#: Text without NUL characters; with at least one character that is not whitespace.
_NO_NUL: Final = r"^[^\x00]*$"
_NOT_BLANK: Final = rf"^{_WS}*{_NOT_WS}[^\x00]*$"
#: Search words: at least one letter or digit.
_BODY_WORDS: Final = rf"^[^\x00]*{_WORD}[^\x00]*$"
_EMAIL_PART: Final = f"[^@{_SPACES}]"
_EMAIL: Final = rf"^{_WS}*{_EMAIL_PART}{{1,64}}@{_EMAIL_PART}+\.{_EMAIL_PART}{{2,}}{_WS}*$"
#: Trimmed, a phone number cannot end with a space.
_PHONE: Final = rf"^{_WS}*\+?[0-9][0-9 ().-]{{3,29}}[0-9().-]{_WS}*$"
_TAG: Final = rf"^{_WS}*{_WORD}(?:{_WORD}|[ .:/-]){{0,49}}{_WS}*$"
_BASE64: Final = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_NUMBER: Final = rf"(?:{_DIGIT}+(?:\.{_DIGIT}+)?|\.{_DIGIT}+)"
_UNITS: Final = (
    "weeks",
    "week",
    "wks",
    "wk",
    "w",
    "days",
    "day",
    "d",
    "hours",
    "hour",
    "hrs",
    "hr",
    "h",
    "minutes",
    "minute",
    "mins",
    "min",
    "m",
    "seconds",
    "second",
    "secs",
    "sec",
    "s",
)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


def _iso_duration() -> str:
    def part(*units: str) -> str:
        return "".join(f"(?:{_NUMBER}{_any_case(u)})?" for u in units)

    # At least one part, weeks before days, hours before minutes before seconds.
    time = rf"{_any_case('t')}(?={_DIGIT}|\.){part('h', 'm', 's')}"
    return rf"{_any_case('p')}(?={_DIGIT}|[.tT]){part('w', 'd')}(?:{time})?"


#: Durations as :func:`supportkit.durations.parse_duration` reads them (any case):
#: seconds, ISO 8601 (``PT2H30M``) or words (``2 hours``, ``1h 30m``, ``1 hour and 5 min``).
_DURATION: Final = (
    rf"^{_WS}*(?:(?:{_NUMBER}|{_iso_duration()}){_WS}*|"
    rf"(?:{_NUMBER}{_WS}*(?:{'|'.join(_any_case(u) for u in _UNITS)})(?![A-Za-z]){_WS}*"
    rf"(?:(?:,|{_any_case('and')}(?!{_WORD})){_WS}*)?)+)$"
)
_MAX_DURATION: Final = 100 * 365 * 86400


def ref(name: str) -> Schema:
    """A reference to ``#/components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def string(
    *,
    max_length: int | None = None,
    min_length: int | None = None,
    pattern: str | None = None,
    format: str | None = None,  # the JSON Schema keyword
    description: str | None = None,
) -> Schema:
    """A string schema; only the keywords given appear."""
    out: Schema = {"type": "string"}
    for key, value in (
        ("minLength", min_length),
        ("maxLength", max_length),
        ("pattern", pattern),
        ("format", format),
        ("description", description),
    ):
        if value is not None:
            out[key] = value
    return out


def text(max_length: int, *, required: bool = False, description: str | None = None) -> Schema:
    """Text as :mod:`supportkit.validation` reads it: no NUL characters, trimmed of
    surrounding whitespace, at most ``max_length`` characters; a ``required`` text must
    not be blank. An optional text may be ``null`` (the same as leaving it out)."""
    schema = string(
        max_length=max_length,
        pattern=_NOT_BLANK if required else _NO_NUL,
        description=description,
    )
    return schema if required else nullable(schema)


def enum(values: Iterable[str], *, description: str | None = None) -> Schema:
    out: Schema = {"type": "string", "enum": list(values)}
    if description:
        out["description"] = description
    return out


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Schema:
    out: Schema = {"type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def array(items: Schema, *, max_items: int | None = None, min_items: int | None = None) -> Schema:
    out: Schema = {"type": "array", "items": items}
    if min_items is not None:
        out["minItems"] = min_items
    if max_items is not None:
        out["maxItems"] = max_items
    return out


def obj(
    properties: Mapping[str, Schema],
    *,
    required: Sequence[str] = (),
    closed: bool = True,
    description: str | None = None,
    **extra: Any,
) -> Schema:
    """An object; ``closed`` ones refuse unknown properties (request bodies do)."""
    out: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    out.update(extra)
    return out


def json_object(description: str) -> Schema:
    """Free-form JSON data (``metadata``, ``variables``): an object or ``null``."""
    return nullable({"type": "object", "description": description})


def one_or_many(item: Schema, *, max_items: int | None = None) -> Schema:
    """One value or a list of them (configuration conditions, lists of names)."""
    return {"anyOf": [item, array(item, max_items=max_items)]}


def csv_of(values: Sequence[str]) -> Schema:
    """A comma-separated list of ``values`` (in a query, or a filter's string form)."""
    choice = "|".join(values)
    part = rf"{_WS}*(?:(?:{choice}){_WS}*)?"
    return string(pattern=rf"^{part}(?:,{part})*$")


# -- parameters, headers and responses -----------------------------------------------------------


def path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": string(min_length=1, pattern=rf"^[^/\x00]*{_NOT_WS}[^/\x00]*$"),
    }


def query_param(name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {"name": name, "in": "query", "description": description, "schema": schema, **extra}


def header_param(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def header_ref(name: str) -> Schema:
    return {"$ref": f"#/components/headers/{name}"}


#: The problems each kind of operation may answer, besides its own.
_ERROR_TEXT: Final = {
    400: "The body is not valid JSON (or not UTF-8, or nested too deeply), the path or the "
    "query holds a NUL character, or the Idempotency-Key is malformed.",
    401: "No API key, or an invalid one.",
    403: "The key's role may not do this.",
    404: "No such resource (or, for a customer key, another customer's ticket).",
    405: "The path exists but not with this method; `Allow` lists the methods it has.",
    409: "A conflict: a status change the lifecycle does not allow, a version conflict, "
    "an id that exists, or an Idempotency-Key whose first request is still in progress.",
    412: "`If-Match` names another version of the ticket.",
    413: "The body is larger than the API accepts.",
    415: "The body is not JSON (`Content-Type` must be `application/json` or `…+json`).",
    422: "The body or a parameter is invalid (`errors` lists each field), or an "
    "Idempotency-Key was used before with a different request.",
    503: "The database is unavailable; retry after `Retry-After` seconds.",
}
_ERROR_NAMES: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "ContentTooLarge",
    415: "UnsupportedMediaType",
    422: "UnprocessableContent",
    503: "ServiceUnavailable",
}


def _error_responses() -> Schema:
    responses: Schema = {}
    for status, name in _ERROR_NAMES.items():
        response: Schema = {
            "description": _ERROR_TEXT[status],
            "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": header_ref("WWW-Authenticate")}
        elif status == 405:
            response["headers"] = {"Allow": header_ref("Allow")}
        elif status == 503:
            response["headers"] = {"Retry-After": header_ref("Retry-After")}
        responses[name] = response
    return responses


# -- the operations ------------------------------------------------------------------------------


@attrs.frozen
class Operation:
    """How one route is documented (its method and path come from the route table)."""

    operation_id: str
    tag: str
    summary: str
    description: str
    #: Success status and the schema of its body (``None``: no body).
    status: int
    response: Schema | None
    body: Schema | None = None
    parameters: tuple[Schema, ...] = ()
    #: Response headers of the success response, by name (components/headers refs).
    headers: tuple[str, ...] = ()
    #: Extra error statuses besides the ones every operation of its kind has.
    errors: tuple[int, ...] = ()
    links: Mapping[str, Schema] = attrs.field(factory=dict)
    public: bool = False
    media_types: tuple[str, ...] = ("application/json",)


_TICKET_ID: Final = path_param("ticket_id", "The ticket's id (`ticket_…`).")
_RESOURCE_ID: Final = path_param("resource_id", "The resource's id.")
_IF_MATCH: Final = header_param(
    "If-Match",
    {"type": "string"},
    "An `ETag` of the ticket (or `*`); the update is refused with 412 unless the "
    "ticket is still at that version.",
)
_IDEMPOTENCY_KEY: Final = header_param(
    "Idempotency-Key",
    string(min_length=1, max_length=200, pattern=r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"),
    "Makes a retry safe: the same key with the same request returns the first response "
    "(with `Idempotent-Replayed: true`) for 24 hours; with a different request it is "
    "refused (422); while the first is still running, 409.",
)

_TICKET_LINKS: Final = {
    "GetTicket": ("getTicket", "The ticket just created."),
    "UpdateTicket": ("updateTicket", "Update the ticket just created."),
    "AddComment": ("addComment", "Comment on the ticket just created."),
    "ListComments": ("listComments", "The comments of the ticket just created."),
    "GetTicketSla": ("getTicketSla", "The SLA status of the ticket just created."),
    "ListTicketEvents": ("listTicketEvents", "The audit log of the ticket just created."),
}


def _ticket_links() -> dict[str, Schema]:
    return {
        name: {
            "operationId": operation_id,
            "parameters": {"ticket_id": "$response.body#/ticket/id"},
            "description": description,
        }
        for name, (operation_id, description) in _TICKET_LINKS.items()
    }


def _search_parameters(facts: _Facts) -> tuple[Schema, ...]:
    def listed(name: str, values: Sequence[str], what: str) -> Schema:
        return query_param(name, csv_of(values), f"{what}, comma-separated (any of them matches).")

    def names(name: str, what: str) -> Schema:
        return query_param(name, string(pattern=_NO_NUL), f"{what}, comma-separated.")

    def instant(name: str, what: str) -> Schema:
        return query_param(name, string(format="date-time"), what)

    return (
        names("customer_id", "Customer ids"),
        listed("status", facts.statuses, "Statuses"),
        listed("priority", PRIORITIES, "Priorities"),
        names("category", "Categories"),
        names("subcategory", "Subcategories"),
        names("assigned_to", "Agent ids"),
        names("team", "Team ids"),
        names("tags", "Tags (a ticket with any of them matches)"),
        query_param(
            "escalation_level", string(pattern=_LEVELS), "Escalation levels, comma-separated."
        ),
        query_param(
            "escalated",
            enum(["true", "false", "1", "0"]),
            "Only escalated tickets (`true`) or only tickets never escalated (`false`).",
        ),
        listed("sla_status", _SLA_STATUSES, "Resolution SLA statuses"),
        listed("response_sla_status", _SLA_STATUSES, "Response SLA statuses"),
        instant("created_after", "Created at or after this instant."),
        instant("created_before", "Created before this instant."),
        instant("updated_after", "Updated at or after this instant."),
        instant("updated_before", "Updated before this instant."),
        query_param(
            "q",
            string(max_length=500, pattern=_BODY_WORDS),
            "Words that must all occur in the title, the description or a comment "
            "(a customer's search never looks in internal notes).",
        ),
        query_param("sort", enum(SORT_FIELDS), "The field to sort by (default `created_at`)."),
        query_param("order", enum(["asc", "desc"]), "The sort order (default `desc`)."),
        query_param("page", integer(minimum=1, maximum=10**6), "The page, from 1 (default 1)."),
        query_param("limit", integer(minimum=1, maximum=100), "Tickets per page (default 25)."),
    )


def _operations(facts: _Facts) -> dict[tuple[str, str], Operation]:
    ticket_response = ref("TicketEnvelope")
    search = _search_parameters(facts)
    staff = "Staff only (admin and agent keys)."
    admin = "Admin keys only."
    ops: dict[tuple[str, str], Operation] = {
        ("POST", "/tickets"): Operation(
            "createTicket",
            "Tickets",
            "Create a ticket",
            "Validates the body, routes the ticket (rule, team, assignee), starts its SLA "
            "clocks and records `ticket.created`. A customer key creates tickets for its "
            "own customer only.",
            201,
            ticket_response,
            body=ref("TicketCreate"),
            headers=("ETag", "Location"),
            links=_ticket_links(),
        ),
        ("POST", "/tickets/preview"): Operation(
            "previewTicket",
            "Tickets",
            "Preview routing and SLA",
            "What creating this ticket would do — the routing rule, team and assignee, the "
            "SLA policy and due dates — without writing anything. " + staff,
            200,
            ref("PreviewEnvelope"),
            body=ref("TicketCreate"),
            errors=(403,),
        ),
        ("GET", "/tickets"): Operation(
            "listTickets",
            "Tickets",
            "List tickets",
            "Tickets matching flat filters, a page at a time. A customer key sees only its "
            "customer's tickets. Unknown parameters are refused.",
            200,
            ref("TicketList"),
            parameters=search,
        ),
        ("GET", "/tickets/search"): Operation(
            "searchTickets",
            "Tickets",
            "Search tickets (query parameters)",
            "The same search as `GET /tickets`.",
            200,
            ref("TicketList"),
            parameters=search,
        ),
        ("POST", "/tickets/search"): Operation(
            "searchTicketsByBody",
            "Tickets",
            "Search tickets (JSON body)",
            "The seed's search body: `filters`, `sort`, `pagination`.",
            200,
            ref("TicketList"),
            body=ref("SearchBody"),
        ),
        ("POST", "/tickets/bulk-update"): Operation(
            "bulkUpdateTickets",
            "Tickets",
            "Update several tickets",
            "Each item is applied in its own transaction; the answer has one result per "
            "item, in order, so one bad item does not undo the others. " + staff,
            200,
            ref("BulkUpdateResults"),
            body=ref("BulkUpdate"),
            errors=(403,),
        ),
        ("GET", "/tickets/{ticket_id}"): Operation(
            "getTicket",
            "Tickets",
            "Get a ticket",
            "The ticket, with its `ETag`.",
            200,
            ticket_response,
            parameters=(_TICKET_ID,),
            headers=("ETag",),
        ),
        ("PUT", "/tickets/{ticket_id}"): Operation(
            "updateTicket",
            "Tickets",
            "Update a ticket",
            "Sets the fields given. A status change must be allowed by the lifecycle "
            "(409 otherwise). With `If-Match`, the update applies only to that version "
            "(412 otherwise). A customer key may only close or reopen its ticket.",
            200,
            ticket_response,
            body=ref("TicketUpdate"),
            parameters=(_TICKET_ID, _IF_MATCH),
            headers=("ETag",),
            errors=(409, 412),
        ),
        ("GET", "/tickets/{ticket_id}/sla"): Operation(
            "getTicketSla",
            "SLA",
            "Get a ticket's SLA status",
            "Response and resolution targets, how far their clocks ran, pauses, and the "
            "escalation state.",
            200,
            ref("SlaStatusEnvelope"),
            parameters=(_TICKET_ID,),
        ),
        ("POST", "/tickets/{ticket_id}/escalate"): Operation(
            "escalateTicket",
            "SLA",
            "Escalate a ticket",
            "Raises the escalation level (to `escalation_level`, or by one). A resolved or "
            "closed ticket cannot be escalated (409). " + staff,
            200,
            ticket_response,
            body=ref("Escalation"),
            parameters=(_TICKET_ID,),
            headers=("ETag",),
            errors=(403, 409),
        ),
        ("POST", "/tickets/{ticket_id}/merge"): Operation(
            "mergeTicket",
            "Tickets",
            "Merge a ticket into another",
            "Closes this ticket as merged, links both and moves its comments to the target "
            "(their visibility unchanged). Answers with the target. " + staff,
            200,
            ticket_response,
            body=ref("Merge"),
            parameters=(_TICKET_ID,),
            headers=("ETag",),
            errors=(403, 409),
        ),
        ("POST", "/tickets/{ticket_id}/notify"): Operation(
            "notifyAboutTicket",
            "Tickets",
            "Send a notification",
            "Queues an e-mail or SMS notification about the ticket; a notifier delivers it "
            "from the event outbox. " + staff,
            202,
            ref("NotificationEnvelope"),
            body=ref("Notify"),
            parameters=(_TICKET_ID,),
            errors=(403,),
        ),
        ("GET", "/tickets/{ticket_id}/events"): Operation(
            "listTicketEvents",
            "Events",
            "A ticket's audit log",
            "Every event of the ticket, oldest first (a customer key sees no internal ones).",
            200,
            ref("EventList"),
            parameters=(_TICKET_ID,),
        ),
        ("POST", "/tickets/{ticket_id}/comments"): Operation(
            "addComment",
            "Comments",
            "Add a comment",
            "An agent's customer-visible comment is the first response if none was made. A "
            "customer key always writes a customer-visible comment as the customer; on a "
            "closed ticket that opens a linked follow-up ticket, which gets the comment.",
            201,
            ref("CommentEnvelope"),
            body=ref("CommentCreate"),
            parameters=(_TICKET_ID,),
        ),
        ("GET", "/tickets/{ticket_id}/comments"): Operation(
            "listComments",
            "Comments",
            "List comments",
            "The ticket's comments, oldest first. A customer key never sees internal ones.",
            200,
            ref("CommentList"),
            parameters=(
                _TICKET_ID,
                query_param(
                    "visibility",
                    enum(["customer", "internal"]),
                    "Only comments of this visibility.",
                ),
            ),
        ),
        ("GET", "/attachments/{attachment_id}"): Operation(
            "downloadAttachment",
            "Comments",
            "Download an attachment",
            "The attachment's bytes, with its content type. A customer key may download "
            "only attachments of its tickets and of customer-visible comments.",
            200,
            string(format="binary"),
            parameters=(path_param("attachment_id", "The attachment's id (`att_…`)."),),
            media_types=("*/*",),
        ),
        ("GET", "/events"): Operation(
            "listEvents",
            "Events",
            "The events feed",
            "Events in order, for pull-based consumers: pass the last id you saw as "
            "`after` (an unknown id is refused with 422).",
            200,
            ref("EventFeed"),
            parameters=(
                query_param("after", string(min_length=1), "The id of the last event seen."),
                query_param(
                    "limit",
                    integer(minimum=1, maximum=1000),
                    "At most this many events (default 100).",
                ),
            ),
        ),
        ("GET", "/openapi.json"): Operation(
            "getOpenApi",
            "Meta",
            "This document",
            "The OpenAPI document of the API. Public.",
            200,
            {"type": "object"},
            public=True,
        ),
    }
    resources = (
        ("categories", "categories", "Category", "Categories", "category", True, False),
        ("calendars", "calendars", "Calendar", "Calendars", "calendar", True, False),
        ("teams", "teams", "Team", "Teams", "team", True, True),
        ("agents", "agents", "Agent", "Agents", "agent", True, True),
        ("customers", "customers", "Customer", "Customers", "customer", True, True),
        ("sla-policies", "sla_policies", "SlaPolicy", "SlaPolicies", "SLA policy", False, True),
        (
            "routing-rules",
            "routing_rules",
            "RoutingRule",
            "RoutingRules",
            "routing rule",
            False,
            True,
        ),
    )
    ops.update(_service_operations())
    for path, plural, name, names, label, keyed, staff_read in resources:
        reads = staff if staff_read else "Any key."
        read_errors = (403,) if staff_read else ()
        ops[("GET", f"/{path}")] = Operation(
            f"list{names}",
            "Configuration",
            f"List {plural.replace('_', ' ')}",
            reads,
            200,
            obj({plural: array(ref(name))}, required=(plural,), closed=False),
            errors=read_errors,
        )
        ops[("GET", f"/{path}/{{resource_id}}")] = Operation(
            f"get{name}",
            "Configuration",
            f"Get a {label}",
            reads,
            200,
            ref(name),
            parameters=(_RESOURCE_ID,),
            errors=read_errors,
        )
        ops[("DELETE", f"/{path}/{{resource_id}}")] = Operation(
            f"delete{name}",
            "Configuration",
            f"Delete a {label}",
            admin,
            204,
            None,
            parameters=(_RESOURCE_ID,),
            errors=(403,) + ((422,) if keyed else ()),
        )
        if keyed:
            ops[("PUT", f"/{path}/{{resource_id}}")] = Operation(
                f"put{name}",
                "Configuration",
                f"Create or replace a {label}",
                f"{admin} An `id` in the body must match the URL.",
                200,
                ref(name),
                body=ref(f"{name}Input"),
                parameters=(_RESOURCE_ID,),
                errors=(403,),
            )
        else:
            ops[("POST", f"/{path}")] = Operation(
                f"create{name}",
                "Configuration",
                f"Add a {label}",
                f"{admin} Appended to the ordered list, with a new id unless the body "
                "names one (409 if it exists).",
                201,
                ref(name),
                body=ref(f"{name}Input"),
                headers=("Location",),
                errors=(403, 409),
            )
    return ops


def _service_operations() -> dict[tuple[str, str], Operation]:
    """Analytics, reports, webhooks and integrations."""
    staff = "Staff only (admin and agent keys)."
    admin = "Admin keys only."
    report_id = path_param("report_id", "The report's id (`report_…`).")
    webhook_id = path_param("webhook_id", "The subscription's id (`wh_…`).")
    integration = path_param("name", "`slack` or `jira` (another name is a 404).")
    return {
        ("GET", "/analytics/dashboard"): Operation(
            "getDashboard",
            "Analytics",
            "The support dashboard",
            "Totals, resolution times, SLA compliance, per-category figures and trends over "
            "a period, in a timezone. A customer key sees its own tickets. Unknown "
            "parameters are refused.",
            200,
            ref("DashboardEnvelope"),
            parameters=(
                query_param(
                    "customer_id",
                    string(max_length=200, pattern=_NOT_BLANK),
                    "Only this customer's tickets.",
                ),
                query_param(
                    "date_range",
                    string(pattern=rf"^(?:{_WS}*(?:{'|'.join(PRESETS)}){_WS}*)?$"),
                    f"The period, ending now: {', '.join(PRESETS)} (empty: the default, `30d`).",
                ),
                query_param(
                    "timezone",
                    {"anyOf": [ref("TimeZone"), {"const": ""}]},
                    "The timezone of the daily and weekly trends (empty: the default, `UTC`).",
                ),
            ),
        ),
        ("POST", "/reports/generate"): Operation(
            "generateReport",
            "Analytics",
            "Generate a report",
            "Stores the request; a worker computes it. Poll `GET /reports/{report_id}`. A "
            "customer key reports on its own tickets.",
            202,
            ref("ReportEnvelope"),
            body=ref("ReportRequest"),
            headers=("Location",),
        ),
        ("GET", "/reports/{report_id}"): Operation(
            "getReport",
            "Analytics",
            "Get a report",
            "Where the report stands: `generating`, `completed` (with its `download_url`) or "
            "`failed` (with its `error`).",
            200,
            ref("ReportEnvelope"),
            parameters=(report_id,),
        ),
        ("GET", "/reports/{report_id}/download"): Operation(
            "downloadReport",
            "Analytics",
            "Download a report",
            "A completed report, as JSON or CSV (404 while it is generating, or if it "
            "failed). Unknown parameters are refused.",
            200,
            {},
            parameters=(
                report_id,
                query_param("format", enum(FORMATS), "Overrides the report's own format."),
            ),
            media_types=("application/json", "text/csv"),
        ),
        ("POST", "/webhooks"): Operation(
            "createWebhook",
            "Webhooks",
            "Subscribe a webhook",
            "Events are posted to `url`, signed with `secret` "
            "(`X-Supportkit-Signature`). The secret is never shown again. " + admin,
            201,
            ref("WebhookEnvelope"),
            body=ref("WebhookInput"),
            headers=("Location",),
            errors=(403,),
        ),
        ("GET", "/webhooks"): Operation(
            "listWebhooks",
            "Webhooks",
            "List webhook subscriptions",
            admin,
            200,
            obj({"webhooks": array(ref("Webhook"))}, required=("webhooks",), closed=False),
            errors=(403,),
        ),
        ("GET", "/webhooks/{webhook_id}"): Operation(
            "getWebhook",
            "Webhooks",
            "Get a webhook subscription",
            admin,
            200,
            ref("WebhookEnvelope"),
            parameters=(webhook_id,),
            errors=(403,),
        ),
        ("DELETE", "/webhooks/{webhook_id}"): Operation(
            "deleteWebhook",
            "Webhooks",
            "Delete a webhook subscription",
            admin,
            204,
            None,
            parameters=(webhook_id,),
            errors=(403,),
        ),
        ("GET", "/webhooks/{webhook_id}/deliveries"): Operation(
            "listWebhookDeliveries",
            "Webhooks",
            "A subscription's delivery attempts",
            "Every attempt, oldest first. " + admin,
            200,
            obj({"deliveries": array({"type": "object"})}, required=("deliveries",), closed=False),
            parameters=(webhook_id,),
            errors=(403,),
        ),
        ("GET", "/integrations"): Operation(
            "listIntegrations",
            "Integrations",
            "List integrations",
            staff,
            200,
            obj(
                {"integrations": array(ref("Integration"))},
                required=("integrations",),
                closed=False,
            ),
            errors=(403,),
        ),
        ("POST", "/integrations/slack"): Operation(
            "configureSlack",
            "Integrations",
            "Configure Slack",
            "Posts messages about the events asked for to a Slack webhook. The webhook URL "
            "may be left out to keep the one configured. " + admin,
            200,
            ref("IntegrationEnvelope"),
            body=ref("SlackInput"),
            errors=(403,),
        ),
        ("POST", "/integrations/jira"): Operation(
            "configureJira",
            "Integrations",
            "Configure Jira",
            "Creates Jira issues for tickets and syncs comments. The API token may be left "
            "out to keep the one configured. " + admin,
            200,
            ref("IntegrationEnvelope"),
            body=ref("JiraInput"),
            errors=(403,),
        ),
        ("GET", "/integrations/{name}"): Operation(
            "getIntegration",
            "Integrations",
            "Get an integration",
            staff,
            200,
            ref("IntegrationEnvelope"),
            parameters=(integration,),
            errors=(403,),
        ),
        ("DELETE", "/integrations/{name}"): Operation(
            "deleteIntegration",
            "Integrations",
            "Remove an integration",
            admin,
            204,
            None,
            parameters=(integration,),
            errors=(403,),
        ),
    }


def _operation_object(method: str, op: Operation) -> Schema:
    parameters = list(op.parameters)
    if method == "POST":
        parameters.append(_IDEMPOTENCY_KEY)
    success: Schema = {"description": op.summary}
    if op.response is not None:
        success["content"] = {kind: {"schema": op.response} for kind in op.media_types}
    headers = {name: header_ref(name) for name in op.headers}
    if method == "POST":
        headers["Idempotent-Replayed"] = header_ref("Idempotent-Replayed")
    if headers:
        success["headers"] = headers
    if op.links:
        success["links"] = dict(op.links)
    # Any request may be malformed (a NUL character in its path or query: 400) or use a
    # method its path does not have (405).
    errors = {400, 405, *op.errors}
    if not op.public:
        errors |= {401, 503}
    if any(p["in"] == "path" for p in op.parameters):
        errors.add(404)
    if op.body is not None:
        errors |= {413, 415, 422}
    if method == "POST":  # Idempotency-Key: in progress (409), reused (422)
        errors |= {409, 422}
    if any(p["in"] == "query" for p in op.parameters):
        errors.add(422)
    responses: Schema = {str(op.status): success}
    for status in sorted(errors):
        responses[str(status)] = {"$ref": f"#/components/responses/{_ERROR_NAMES[status]}"}
    out: Schema = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
    }
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": json_content(op.body)}
    out["responses"] = responses
    out["security"] = [] if op.public else [{"apiKey": []}]
    return out


# -- the schemas ---------------------------------------------------------------------------------


@attrs.frozen
class _Facts:
    """What the document takes from the desk's configuration."""

    statuses: tuple[str, ...]
    severities: tuple[str, ...]
    custom_fields: Mapping[str, CustomField]
    content_types: tuple[str, ...]
    max_level: int
    title: int
    description: int
    comment: int
    metadata_bytes: int
    metadata_depth: int
    attachment_bytes: int
    attachments: int
    tags: int
    recipients: int

    @classmethod
    def of(cls, config: DeskConfig) -> _Facts:
        limits = config.limits
        return cls(
            statuses=tuple(config.lifecycle.statuses),
            severities=tuple(config.severities),
            custom_fields=dict(config.custom_fields),
            content_types=tuple(config.allowed_content_types),
            max_level=config.escalation.max_level,
            title=limits.title,
            description=limits.description,
            comment=limits.comment,
            metadata_bytes=limits.metadata_bytes,
            metadata_depth=limits.metadata_depth,
            attachment_bytes=limits.attachment_bytes,
            attachments=limits.attachments_per_request,
            tags=limits.tags,
            recipients=limits.recipients,
        )


def _metadata(facts: _Facts) -> Schema:
    return json_object(
        f"Free-form JSON: at most {facts.metadata_bytes} bytes, nested at most "
        f"{facts.metadata_depth} levels."
    )


def _custom_fields(facts: _Facts, *, create: bool) -> Schema:
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for name, field in facts.custom_fields.items():
        kind: Schema
        if field.type == "enum":
            kind = enum(field.choices)
        elif field.type == "string":
            kind = string(max_length=field.max_length, pattern=_NO_NUL)
        else:
            kind = {"type": field.type}
        if create and field.required:
            required.append(name)
            properties[name] = kind
        else:
            properties[name] = nullable(kind)
    schema = obj(
        properties,
        required=required,
        description="The desk's custom fields; `null` clears one.",
    )
    return schema if required else nullable(schema)


def _tags(facts: _Facts) -> Schema:
    tag = string(max_length=320, pattern=_TAG)
    return nullable(
        {
            "anyOf": [tag, array(tag, max_items=facts.tags)],
            "description": "Tags: letters, digits, `_ . : / -` and spaces, up to 50 "
            "characters each (one tag may be given as a plain string).",
        }
    )


def _email(*, nullable_: bool = True) -> Schema:
    schema = string(max_length=320, pattern=_EMAIL, format="email")
    return nullable(schema) if nullable_ else schema


def _request_schemas(facts: _Facts) -> dict[str, Schema]:
    attachment_chars = 4 * math.ceil(facts.attachment_bytes / 3)
    new_attachment = obj(
        {
            "filename": text(1000, required=True, description="Directories are dropped."),
            "content_type": enum(facts.content_types),
            "size": nullable(integer(minimum=0, maximum=facts.attachment_bytes)),
            "data": string(
                min_length=1,
                max_length=attachment_chars,
                pattern=_BASE64,
                description="The file's bytes, base64-encoded.",
            ),
        },
        required=("filename", "content_type", "data"),
        description=f"A file of at most {facts.attachment_bytes} bytes. Its bytes must be of "
        "the declared type (a PDF must start with `%PDF-`, a text type must be UTF-8, …); "
        "`size`, when given, must be the decoded length.",
    )
    attachments = nullable(array(ref("NewAttachment"), max_items=facts.attachments))
    contact = obj(
        {
            "name": text(200),
            "email": _email(),
            "phone": nullable(string(max_length=40, pattern=_PHONE)),
            "role": text(200),
        },
        description="Needs at least a name, an e-mail address or a phone number.",
        anyOf=[
            {"required": ["name"], "properties": {"name": string(pattern=_NOT_BLANK)}},
            {"required": ["email"], "properties": {"email": {"type": "string"}}},
            {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
        ],
    )
    location = obj(
        {
            "site_id": text(200),
            "address": text(1000),
            "timezone": nullable(ref("TimeZone")),
        }
    )
    create = obj(
        {
            "title": text(facts.title, required=True),
            "description": text(facts.description, required=True),
            "category": text(100, required=True, description="The id of a configured category."),
            "subcategory": text(100, description="A subcategory of the category."),
            "priority": enum(PRIORITIES, description="Default `medium`."),
            "severity": nullable(enum(facts.severities)),
            "customer_id": text(100, description="Set by the API for a customer key."),
            "contact": nullable(ref("Contact")),
            "location": nullable(ref("Location")),
            "service_affected": text(200),
            "metadata": _metadata(facts),
            "custom_fields": _custom_fields(facts, create=True),
            "tags": _tags(facts),
            "attachments": attachments,
        },
        required=("title", "description", "category"),
    )
    update = obj(
        {
            "status": enum(facts.statuses, description="Must be allowed by the lifecycle."),
            "priority": enum(PRIORITIES, description="Re-applies the SLA targets."),
            "severity": nullable(enum(facts.severities)),
            "assigned_to": text(100, description="An active agent's id; `null` unassigns."),
            "estimated_resolution": nullable(string(format="date-time")),
            "internal_notes": text(
                facts.comment, required=True, description="Added as an internal note."
            ),
            "customer_update": text(
                facts.comment,
                required=True,
                description="Added as a customer-visible comment; it counts as the first response.",
            ),
            "metadata": json_object("Merged into the ticket's; a key set to `null` is removed."),
            "tags": _tags(facts),
            "title": text(facts.title, required=True),
            "description": text(facts.description, required=True),
            "custom_fields": _custom_fields(facts, create=False),
        },
        minProperties=1,
        description="Only the fields given change; an empty update is refused.",
    )
    author = obj(
        {
            "type": enum(["agent", "customer", "system"]),
            "id": text(100),
            "name": text(200),
            "email": _email(),
        },
        required=("type",),
    )
    comment = obj(
        {
            "content": text(facts.comment, required=True),
            "type": nullable(enum(COMMENT_TYPES, description="Default `comment`.")),
            "visibility": enum(
                ["customer", "internal"],
                description="Default `internal` for an `internal_note`, else `customer`.",
            ),
            "author": nullable(ref("Author")),
            "attachments": attachments,
            "metadata": _metadata(facts),
        },
        required=("content",),
        allOf=[
            {  # an internal note is never customer-visible …
                "if": {"required": ["type"], "properties": {"type": {"const": "internal_note"}}},
                "then": {"properties": {"visibility": {"const": "internal"}}},
            },
            {  # … and a customer's comment always is
                "if": {
                    "required": ["author"],
                    "properties": {
                        "author": {
                            "type": "object",
                            "required": ["type"],
                            "properties": {"type": {"const": "customer"}},
                        }
                    },
                },
                "then": {
                    "properties": {
                        "visibility": {"const": "customer"},
                        "type": {"not": {"const": "internal_note"}},
                    },
                },
            },
        ],
    )
    escalation = obj(
        {
            "escalation_level": nullable(
                integer(minimum=1, maximum=facts.max_level)
                | {"description": "Above the current level; default one above it."}
            ),
            "reason": text(1000, required=True),
            "notify": nullable(
                {
                    "anyOf": [
                        _email(nullable_=False),
                        array(_email(nullable_=False), max_items=facts.recipients),
                    ]
                }
            ),
            "metadata": _metadata(facts),
            "comments": text(facts.comment, description="Added as an internal note."),
        },
        required=("reason",),
    )
    recipient = obj(
        {key: text(320) for key in ("email", "phone", "name", "role")},
    )
    notify = obj(
        {
            "type": enum(["email", "sms"]),
            "recipients": array(recipient, min_items=1, max_items=facts.recipients),
            "template": text(100),
            "subject": text(500),
            "message": text(facts.comment),
            "variables": json_object("Template variables."),
            "include_comments": {"type": "boolean"},
            "comment_filter": nullable(enum(["customer_visible", "all"])),
        },
        required=("type", "recipients"),
        description="An e-mail needs recipients with a valid `email`, an SMS recipients "
        "with a valid `phone`; a notification needs a `template` or a `message`.",
        anyOf=[
            {"required": ["template"], "properties": {"template": {"type": "string"}}},
            {"required": ["message"], "properties": {"message": {"type": "string"}}},
        ],
        allOf=[
            {
                "if": {"properties": {"type": {"const": channel}}},
                "then": {
                    "properties": {
                        "recipients": {
                            "items": {
                                "required": [key],
                                "properties": {key: string(pattern=pattern)},
                            }
                        }
                    }
                },
            }
            for channel, key, pattern in (("email", "email", _EMAIL), ("sms", "phone", _PHONE))
        ],
    )
    merge = obj(
        {"into": string(description="The id of the ticket to merge into.")},
        required=("into",),
    )
    filters = obj(
        {
            "customer_id": _names(),
            "customer_ids": _names(),
            "status": _choices(facts.statuses),
            "priority": _choices(PRIORITIES),
            "category": _names(),
            "subcategory": _names(),
            "assigned_to": _names(),
            "team": _names(),
            "tags": _names(),
            "escalation_level": nullable(
                {
                    "anyOf": [
                        integer(minimum=0, maximum=1000),
                        string(pattern=_LEVELS),
                        array(
                            {
                                "anyOf": [
                                    integer(minimum=0, maximum=1000),
                                    {"type": "boolean"},
                                    string(pattern=_LEVEL_OR_BLANK),
                                ]
                            }
                        ),
                    ]
                }
            ),
            "escalated": {"enum": [True, False, "true", "false", "1", "0", 1, 0, None]},
            "sla_status": _choices(_SLA_STATUSES),
            "response_sla_status": _choices(_SLA_STATUSES),
            "created_after": nullable(string(format="date-time")),
            "created_before": nullable(string(format="date-time")),
            "updated_after": nullable(string(format="date-time")),
            "updated_before": nullable(string(format="date-time")),
            "q": nullable(string(max_length=500, pattern=_BODY_WORDS)),
        },
        description="Each filter takes one value, a list, or a comma-separated string; "
        "any of the values matches.",
    )
    search = obj(
        {
            "filters": nullable(ref("SearchFilters")),
            "sort": nullable(
                obj(
                    {
                        "field": enum(SORT_FIELDS, description="Default `created_at`."),
                        "order": nullable(enum(["asc", "desc"])),
                    }
                )
            ),
            "pagination": nullable(
                obj(
                    {
                        "page": integer(minimum=1, maximum=10**6),
                        "limit": integer(minimum=1, maximum=100),
                    }
                )
            ),
            "q": nullable(string(max_length=500, pattern=_BODY_WORDS)),
        },
    )
    bulk = obj(
        {
            "updates": array(
                {
                    "description": '`{"id": …, "if_version": …, <TicketUpdate fields>}`; an '
                    "item that is not valid fails alone, in its result.",
                },
                max_items=100,
            )
        },
        required=("updates",),
    )
    return {
        "NewAttachment": new_attachment,
        "Contact": contact,
        "Location": location,
        "Author": author,
        "TicketCreate": create,
        "TicketUpdate": update,
        "CommentCreate": comment,
        "Escalation": escalation,
        "Notify": notify,
        "Merge": merge,
        "SearchFilters": filters,
        "SearchBody": search,
        "BulkUpdate": bulk,
        **_configuration_inputs(),
    }


#: An escalation level (0–1000) as ``int()`` reads it, which strips whitespace other
#: than U+001C–U+001F; a comma-separated list of them, where empty items are skipped.
_INT_SPACE: Final = "[" + _SPACES.replace(r"\x1c-\x1f", "") + "]*"
_LEVEL: Final = rf"{_INT_SPACE}(?:\+?0*(?:{_DIGIT}{{1,3}}|1000)|-0+){_INT_SPACE}"
_LEVELS: Final = rf"^(?:{_LEVEL}|{_INT_SPACE})(?:,(?:{_LEVEL}|{_INT_SPACE}))*$"
_LEVEL_OR_BLANK: Final = rf"^(?:{_LEVEL}|{_INT_SPACE})$"


def _names() -> Schema:
    return nullable({"anyOf": [string(pattern=_NO_NUL), array(string(pattern=_NO_NUL))]})


def _choices(values: Sequence[str]) -> Schema:
    return nullable({"anyOf": [csv_of(values), array(enum(values))]})


def _duration() -> Schema:
    return {
        "anyOf": [
            {"type": "number", "minimum": 0, "maximum": _MAX_DURATION},
            string(pattern=_DURATION),
        ],
        "description": 'Seconds, or text: "2 hours", "90 minutes", "1h 30m", "PT2H".',
    }


def _configuration_inputs() -> dict[str, Schema]:
    duration = _duration()
    names = one_or_many({"type": "string"})
    identifier = string(pattern=_NOT_BLANK)
    optional = nullable({"type": "string"})

    def timed(
        properties: dict[str, Schema],
        durations: Mapping[str, bool],
        *,
        required: Sequence[str] = (),
        **extra: Any,
    ) -> Schema:
        """An object with duration fields (``name: required?``). What GET answers can be
        PUT back, so each also takes its ``…_seconds`` twin: read when the text is left
        out, ignored when it is given."""
        props, rules = dict(properties), []
        for name, needed in durations.items():
            schema = duration if needed else nullable(duration)
            twin = f"{name}_seconds"
            props[name] = schema
            props[twin] = {"description": f"`{name}` in seconds, used when `{name}` is left out."}
            rules.append(
                {
                    "if": {"required": [twin], "not": {"required": [name]}},
                    "then": {"properties": {twin: schema}},
                }
            )
            if needed:
                rules.append({"anyOf": [{"required": [name]}, {"required": [twin]}]})
        return obj(props, required=required, allOf=rules, **extra)

    conditions = obj(
        {
            **{
                key: names
                for key in (
                    "category",
                    "subcategory",
                    "severity",
                    "keywords",
                    "customer_tier",
                    "customer_id",
                    "service_affected",
                )
            },
            "priority": one_or_many(enum(PRIORITIES)),
            "custom_fields": {"type": "object"},
        },
        description="Every condition given must hold; one with several values holds when "
        "any of them does.",
    )
    routing = timed({"auto_assign": optional}, {"escalation_threshold": False})
    return {
        "RuleConditions": conditions,
        "CategoryInput": obj(
            {
                "id": identifier,
                "name": {"type": "string"},
                "description": optional,
                "default_team": optional,
                "sla": timed(
                    {"calendar": string(description="A configured calendar's id.")},
                    {"response_time": True, "resolution_time": True},
                ),
                "subcategories": array(
                    obj(
                        {
                            "id": identifier,
                            "name": {"type": "string"},
                            "routing_rules": nullable(routing),
                        },
                        required=("id", "name"),
                    )
                ),
            },
            required=("name", "sla"),
        ),
        "CalendarInput": obj(
            {
                "id": identifier,
                "name": optional,
                "timezone": ref("TimeZone"),
                "hours": obj(
                    {
                        day: array(
                            array(
                                string(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$"),
                                min_items=2,
                                max_items=2,
                            )
                        )
                        for day in WEEKDAYS
                    },
                    description='Opening intervals per weekday, `["09:00", "17:00"]`; a '
                    "day left out is closed. Intervals must not overlap; `24:00` may end one.",
                ),
                "holidays": nullable(array(string(format="date", min_length=10, max_length=10))),
                "holiday_country": nullable(string(description="A country code: `US`.")),
                "holiday_subdivision": nullable(string(description="Needs `holiday_country`.")),
            },
            required=("hours",),
        ),
        "TeamInput": obj(
            {
                "id": identifier,
                "name": {"type": "string"},
                "strategy": enum(TEAM_STRATEGIES),
                "members": names,
            },
            required=("name",),
        ),
        "AgentInput": obj(
            {
                "id": identifier,
                "name": {"type": "string"},
                "email": optional,
                "specialization": optional,
                "skills": names,
                "active": {"type": "boolean"},
            },
            required=("name",),
        ),
        "CustomerInput": obj(
            {
                "id": identifier,
                "name": {"type": "string"},
                "tier": optional,
                "timezone": optional,
                "language": {"type": "string"},
            },
            required=("name",),
        ),
        "SlaPolicyInput": timed(
            {
                "id": identifier,
                "name": optional,
                "conditions": ref("RuleConditions"),
                "calendar": optional,
                "warning_threshold": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 1,
                },
                "pause_statuses": nullable(names),
            },
            {"response_time": False, "resolution_time": False},
        ),
        "RoutingRuleInput": obj(
            {
                "id": identifier,
                "rule_name": {"type": "string"},
                "conditions": ref("RuleConditions"),
                "actions": timed(
                    {
                        "assign_to": optional,
                        "notify": names,
                        "set_priority": nullable(enum(PRIORITIES)),
                        "add_tags": names,
                    },
                    {"escalate_after": False, "auto_update_frequency": False},
                ),
                "active": {"type": "boolean"},
                "continue": {"type": "boolean"},
            },
            required=("rule_name",),
        ),
    }


def _response_schemas(facts: _Facts) -> dict[str, Schema]:
    instant = string(format="date-time")
    maybe_instant = nullable(instant)
    maybe = nullable({"type": "string"})
    duration_text = {"type": "string", "description": 'Like "2 hours 15 minutes".'}
    count = integer(minimum=0)
    attachment = obj(
        {
            "id": {"type": "string"},
            "filename": {"type": "string"},
            "content_type": {"type": "string"},
            "size": count,
            "sha256": maybe,
            "download_url": string(format="uri"),
        },
        required=("id", "filename", "content_type", "size"),
        closed=False,
    )
    person = {"name": maybe, "email": maybe}
    assignee = obj(
        {"agent_id": {"type": "string"}, **person, "specialization": maybe},
        required=("agent_id",),
        closed=False,
    )
    ticket_sla = obj(
        {
            "response_time": duration_text,
            "response_time_seconds": count,
            "resolution_time": duration_text,
            "resolution_time_seconds": count,
            "response_due": maybe_instant,
            "resolution_due": maybe_instant,
            "response_met": nullable({"type": "boolean"}),
            "policy_id": maybe,
            "calendar": {"type": "string"},
            "escalated": {"type": "boolean"},
            "escalation_reason": maybe,
        },
        required=("response_time", "resolution_time", "response_due", "resolution_due"),
        closed=False,
    )
    ticket = obj(
        {
            "id": {"type": "string"},
            "number": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "status": enum(facts.statuses),
            "priority": enum(PRIORITIES),
            "severity": maybe,
            "category": {"type": "string"},
            "subcategory": maybe,
            "created_at": instant,
            "updated_at": instant,
            "customer_id": maybe,
            "assigned_to": nullable(ref("Assignee")),
            "team": maybe,
            "contact": nullable(obj({**person, "phone": maybe, "role": maybe}, closed=False)),
            "location": nullable(
                obj({"site_id": maybe, "address": maybe, "timezone": maybe}, closed=False)
            ),
            "service_affected": maybe,
            "metadata": {"type": "object"},
            "custom_fields": {"type": "object"},
            "tags": array({"type": "string"}),
            "escalation_level": count,
            "escalation_reason": maybe,
            "estimated_resolution": maybe_instant,
            "resolved_at": maybe_instant,
            "closed_at": maybe_instant,
            "merged_into": maybe,
            "linked_tickets": array({"type": "string"}),
            "attachments": array(ref("Attachment")),
            "version": integer(minimum=1),
            "sla": nullable(ref("TicketSla")),
            "urls": obj(
                {"self": string(format="uri"), "customer_portal": {"type": "string"}},
                required=("self",),
                closed=False,
            ),
        },
        required=(
            "id",
            "number",
            "title",
            "status",
            "priority",
            "category",
            "created_at",
            "updated_at",
            "version",
            "urls",
        ),
        closed=False,
    )
    summary = obj(
        {
            "id": {"type": "string"},
            "number": {"type": "string"},
            "title": {"type": "string"},
            "status": enum(facts.statuses),
            "priority": enum(PRIORITIES),
            "category": {"type": "string"},
            "customer_id": maybe,
            "created_at": instant,
            "updated_at": instant,
            "assigned_to": nullable(obj({"agent_id": {"type": "string"}, **person}, closed=False)),
            "escalation_level": count,
            "urls": obj({"self": string(format="uri")}, required=("self",), closed=False),
            "sla_status": obj(
                {
                    "response_met": nullable({"type": "boolean"}),
                    "response_status": enum(_SLA_STATUSES),
                    "resolution_due": maybe_instant,
                    "resolution_status": enum(_SLA_STATUSES),
                    "time_remaining": {"type": "string", "description": 'Like "6h 45m".'},
                    "time_remaining_seconds": count,
                },
                closed=False,
            ),
        },
        required=("id", "number", "title", "status", "priority", "created_at", "updated_at"),
        closed=False,
    )
    clock = {
        "target": duration_text,
        "target_seconds": count,
        "status": enum(_SLA_STATUSES),
        "due_at": maybe_instant,
        "elapsed": duration_text,
        "elapsed_seconds": count,
        "met_at": maybe_instant,
        "breached_at": maybe_instant,
    }
    sla_status = obj(
        {
            "ticket_id": {"type": "string"},
            "priority": enum(PRIORITIES),
            "category": {"type": "string"},
            "sla_tier": maybe,
            "policy_id": maybe,
            "calendar": {"type": "string"},
            "warning_threshold": {"type": "number"},
            "response_time": obj(
                {
                    **clock,
                    "responded_at": maybe_instant,
                    "actual": duration_text,
                    "actual_seconds": count,
                },
                required=("target", "status", "due_at"),
                closed=False,
            ),
            "resolution_time": obj(
                {
                    **clock,
                    "time_remaining": duration_text,
                    "time_remaining_seconds": count,
                    "at_risk_at": maybe_instant,
                    "overdue": duration_text,
                    "overdue_seconds": count,
                    "pauses": array(
                        obj(
                            {
                                "status": {"type": "string"},
                                "started_at": instant,
                                "ended_at": maybe_instant,
                            },
                            closed=False,
                        )
                    ),
                },
                required=("target", "elapsed", "status", "due_at", "time_remaining"),
                closed=False,
            ),
            "escalation": obj(
                {
                    "current_level": count,
                    "escalated_at": maybe_instant,
                    "escalation_reason": maybe,
                    "next_escalation": maybe_instant,
                },
                required=("current_level",),
                closed=False,
            ),
        },
        required=(
            "ticket_id",
            "priority",
            "category",
            "response_time",
            "resolution_time",
            "escalation",
        ),
        closed=False,
    )
    comment = obj(
        {
            "id": {"type": "string"},
            "ticket_id": {"type": "string"},
            "content": {"type": "string"},
            "type": enum(COMMENT_TYPES),
            "visibility": enum(["customer", "internal"]),
            "created_at": instant,
            "author": obj(
                {"type": enum(["agent", "customer", "system"]), "id": maybe, **person},
                required=("type",),
                closed=False,
            ),
            "attachments": array(ref("Attachment")),
            "metadata": {"type": "object"},
        },
        required=("id", "ticket_id", "content", "type", "visibility", "created_at", "author"),
        closed=False,
    )
    event = obj(
        {
            "id": {"type": "string"},
            "event": {"type": "string", "description": "`ticket.created`, `comment.added`, …"},
            "timestamp": instant,
            "sequence": integer(minimum=1),
            "ticket_id": maybe,
            "data": {"type": "object"},
        },
        required=("id", "event", "timestamp", "data"),
        closed=False,
    )
    problem_fields = obj(
        {"field": {"type": "string"}, "message": {"type": "string"}},
        required=("field", "message"),
        closed=False,
    )
    envelope = {
        "TicketEnvelope": ("ticket", ref("Ticket")),
        "CommentEnvelope": ("comment", ref("Comment")),
        "SlaStatusEnvelope": ("sla_status", ref("SlaStatus")),
        "NotificationEnvelope": ("notification", ref("Notification")),
        "PreviewEnvelope": ("preview", ref("Preview")),
        "CommentList": ("comments", array(ref("Comment"))),
        "EventList": ("events", array(ref("Event"))),
    }
    schemas: dict[str, Schema] = {
        name: obj({key: value}, required=(key,), closed=False)
        for name, (key, value) in envelope.items()
    }
    return {
        **schemas,
        "Problem": obj(
            {
                "type": string(format="uri", description="Names the kind of problem."),
                "title": {"type": "string"},
                "status": integer(minimum=400, maximum=599),
                "detail": {"type": "string"},
                "instance": string(format="uri-reference"),
                "errors": array(ref("FieldError")),
            },
            required=("type", "title", "status", "detail"),
            closed=False,
            description="An RFC 9457 problem; `errors` lists field-level details.",
        ),
        "FieldError": problem_fields,
        "Attachment": attachment,
        "Assignee": assignee,
        "TicketSla": ticket_sla,
        "Ticket": ticket,
        "TicketSummary": summary,
        "TicketList": obj(
            {
                "tickets": array(ref("TicketSummary")),
                "pagination": obj(
                    {
                        "total": count,
                        "page": integer(minimum=1),
                        "limit": integer(minimum=1, maximum=100),
                        "pages": count,
                    },
                    required=("total", "page", "limit", "pages"),
                    closed=False,
                ),
            },
            required=("tickets", "pagination"),
            closed=False,
        ),
        "SlaStatus": sla_status,
        "Comment": comment,
        "Event": event,
        "EventFeed": obj(
            {"events": array(ref("Event")), "next_after": maybe},
            required=("events", "next_after"),
            closed=False,
        ),
        "Notification": obj(
            {
                "id": {"type": "string"},
                "status": enum(["queued"]),
                "type": enum(["email", "sms"]),
                "ticket_id": {"type": "string"},
                "created_at": instant,
                "recipients": array({"type": "object"}),
            },
            required=("id", "status", "type", "ticket_id", "recipients"),
            closed=False,
        ),
        "Preview": obj(
            {
                "priority": enum(PRIORITIES),
                "routing": {"type": "object"},
                "sla": obj(
                    {
                        "policy_id": maybe,
                        "calendar": {"type": "string"},
                        "response_time": duration_text,
                        "resolution_time": duration_text,
                        "response_due": maybe_instant,
                        "resolution_due": maybe_instant,
                    },
                    closed=False,
                ),
            },
            required=("priority", "routing", "sla"),
            closed=False,
        ),
        "BulkUpdateResults": obj(
            {
                "results": array(
                    {
                        "oneOf": [
                            obj(
                                {
                                    "id": {"type": "string"},
                                    "ok": {"const": True},
                                    "ticket": ref("Ticket"),
                                },
                                required=("id", "ok", "ticket"),
                                closed=False,
                            ),
                            obj(
                                {
                                    "id": maybe,
                                    "ok": {"const": False},
                                    "error": obj(
                                        {
                                            "type": {"type": "string"},
                                            "message": {"type": "string"},
                                            "errors": array(ref("FieldError")),
                                        },
                                        required=("type", "message"),
                                        closed=False,
                                    ),
                                },
                                required=("id", "ok", "error"),
                                closed=False,
                            ),
                        ]
                    }
                )
            },
            required=("results",),
            closed=False,
        ),
        **_configuration_outputs(),
    }


def _configuration_outputs() -> dict[str, Schema]:
    maybe = nullable({"type": "string"})
    texts = array({"type": "string"})
    seconds = integer(minimum=0)

    def durations(*names: str, optional: bool = False) -> dict[str, Schema]:
        text_schema: Schema = {"type": "string"}
        out: dict[str, Schema] = {}
        for name in names:
            out[name] = nullable(text_schema) if optional else text_schema
            out[f"{name}_seconds"] = nullable(seconds) if optional else seconds
        return out

    conditions = obj(
        {key: texts for key in CONDITION_FIELDS} | {"custom_fields": {"type": "object"}},
        closed=False,
    )
    return {
        "Category": obj(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "description": maybe,
                "default_team": maybe,
                "sla": obj(
                    {
                        **durations("response_time", "resolution_time"),
                        "calendar": {"type": "string"},
                    },
                    closed=False,
                ),
                "subcategories": array(
                    obj(
                        {
                            "id": {"type": "string"},
                            "name": {"type": "string"},
                            "routing_rules": nullable(
                                obj(
                                    {
                                        "auto_assign": maybe,
                                        **durations("escalation_threshold", optional=True),
                                    },
                                    closed=False,
                                )
                            ),
                        },
                        required=("id", "name"),
                        closed=False,
                    )
                ),
            },
            required=("id", "name", "sla", "subcategories"),
            closed=False,
        ),
        "Calendar": obj(
            {
                "id": {"type": "string"},
                "name": maybe,
                "timezone": {"type": "string"},
                "hours": obj(
                    {day: array(array({"type": "string"})) for day in WEEKDAYS}, closed=False
                ),
                "holidays": array(string(format="date")),
                "holiday_country": maybe,
                "holiday_subdivision": maybe,
            },
            required=("id", "timezone", "hours"),
            closed=False,
        ),
        "Team": obj(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "strategy": enum(TEAM_STRATEGIES),
                "members": texts,
            },
            required=("id", "name", "strategy", "members"),
            closed=False,
        ),
        "Agent": obj(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "email": maybe,
                "specialization": maybe,
                "skills": texts,
                "active": {"type": "boolean"},
            },
            required=("id", "name", "active"),
            closed=False,
        ),
        "Customer": obj(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "tier": maybe,
                "timezone": maybe,
                "language": {"type": "string"},
            },
            required=("id", "name"),
            closed=False,
        ),
        "SlaPolicy": obj(
            {
                "id": {"type": "string"},
                "name": maybe,
                "conditions": conditions,
                **durations("response_time", "resolution_time", optional=True),
                "calendar": maybe,
                "warning_threshold": {"type": "number"},
                "pause_statuses": nullable(texts),
            },
            required=("id", "conditions"),
            closed=False,
        ),
        "RoutingRule": obj(
            {
                "id": {"type": "string"},
                "rule_name": {"type": "string"},
                "conditions": conditions,
                "actions": obj(
                    {
                        "assign_to": maybe,
                        "notify": texts,
                        **durations("escalate_after", "auto_update_frequency", optional=True),
                        "set_priority": maybe,
                        "add_tags": texts,
                    },
                    closed=False,
                ),
                "active": {"type": "boolean"},
                "continue": {"type": "boolean"},
            },
            required=("id", "rule_name", "conditions", "actions", "active", "continue"),
            closed=False,
        ),
    }


_URL_TAIL: Final = r"[^\x00-\x20\x7f/?#@:\[\]]+(?::[0-9]{1,4})?(?:[/?#][^\x00-\x20\x7f]*)?$"
#: A delivery URL: absolute, with a host, no credentials, no spaces or control characters.
_HTTP_URL: Final = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_URL_TAIL}"
_HTTPS_URL: Final = rf"^[Hh][Tt][Tt][Pp][Ss]://{_URL_TAIL}"


def _service_schemas() -> dict[str, Schema]:
    def url(pattern: str, description: str) -> Schema:
        return string(max_length=2048, pattern=pattern, format="uri", description=description)

    def names(*, choices: Sequence[str] | None = None) -> Schema:
        item = enum(choices) if choices else string(max_length=200, pattern=_NOT_BLANK)
        return nullable(array(item, max_items=100))

    def envelope(key: str, schema: Schema) -> Schema:
        return obj({key: schema}, required=(key,), closed=False)

    events = array(enum(EVENT_TYPES), min_items=1, max_items=100)
    flag = nullable({"type": "boolean"})
    instant = string(format="date-time")
    maybe = nullable({"type": "string"})
    period = obj(
        {"start": instant, "end": instant},
        required=("start", "end"),
        description=f"The end after the start, at most {MAX_PERIOD.days} days later.",
    )
    report_parameters = obj(
        {
            "date_range": period,
            "timezone": ref("TimeZone"),
            "filters": nullable(
                obj(
                    {
                        "customer_ids": names(),
                        "categories": names(),
                        "priorities": names(choices=PRIORITIES),
                    }
                )
            ),
            "metrics": names(choices=METRICS),
            "grouping": names(choices=GROUPINGS),
            "format": enum(FORMATS),
        },
        required=("date_range",),
        description="Grouping by `day` and by `week` at once is refused.",
    )
    priority_names = {p: string(max_length=64, pattern=_NOT_BLANK) for p in PRIORITIES}
    return {
        "ReportRequest": obj(
            {
                "report_type": enum(REPORT_TYPES),
                "parameters": report_parameters,
                "delivery": nullable(
                    obj({"method": enum(["download"]), "notification_email": _email()})
                ),
            },
            required=("report_type", "parameters"),
        ),
        "Report": obj(
            {
                "id": {"type": "string"},
                "report_type": enum(REPORT_TYPES),
                "status": enum(["generating", "completed", "failed"]),
                "created_at": instant,
                "estimated_completion": nullable(instant),
                "completed_at": nullable(instant),
                "download_url": nullable(string(format="uri")),
                "error": maybe,
                "parameters": {"type": "object"},
                "delivery": {"type": "object"},
            },
            required=("id", "report_type", "status", "download_url", "parameters"),
            closed=False,
        ),
        "ReportEnvelope": envelope("report", ref("Report")),
        "DashboardEnvelope": envelope(
            "dashboard",
            obj(
                {
                    "period": obj(
                        {"start": instant, "end": instant, "timezone": {"type": "string"}},
                        closed=False,
                    ),
                    "overview": {"type": "object"},
                    "categories": array({"type": "object"}),
                    "trends": obj(
                        {
                            "tickets_per_day": array({"type": "object"}),
                            "resolution_time_trend": array({"type": "object"}),
                        },
                        closed=False,
                    ),
                },
                required=("period", "overview", "categories", "trends"),
                closed=False,
            ),
        ),
        "WebhookInput": obj(
            {
                "url": url(_HTTP_URL, "Where events are posted (http or https)."),
                "events": events,
                "filters": nullable(
                    obj(
                        {
                            "customer_ids": names(),
                            "categories": names(),
                            "priorities": names(choices=PRIORITIES),
                        }
                    )
                ),
                "secret": string(
                    min_length=MIN_SECRET,
                    max_length=MAX_SECRET,
                    description="Signs every delivery; never shown again.",
                ),
                "active": {"type": "boolean"},
            },
            required=("url", "events", "secret"),
        ),
        "Webhook": obj(
            {
                "id": {"type": "string"},
                "url": {"type": "string"},
                "events": array(enum(EVENT_TYPES)),
                "filters": {"type": "object"},
                "active": {"type": "boolean"},
                "secret_set": {"type": "boolean"},
                "created_at": instant,
            },
            required=("id", "url", "events", "active", "secret_set"),
            closed=False,
        ),
        "WebhookEnvelope": envelope("webhook", ref("Webhook")),
        "SlackInput": obj(
            {
                "webhook_url": url(_HTTPS_URL, "A Slack incoming-webhook URL (https)."),
                "channel": nullable(
                    string(
                        max_length=81,
                        pattern=rf"^{_WS}*[#@]?[a-zA-Z0-9][a-zA-Z0-9._-]{{0,79}}{_WS}*$",
                    )
                ),
                "events": events,
                "filters": nullable(obj({"priorities": names(choices=PRIORITIES)})),
                "message_format": nullable(
                    obj(
                        {
                            "template": nullable(
                                string(
                                    max_length=MAX_TEMPLATE,
                                    pattern=_NOT_BLANK,
                                    description="A Jinja2 template of `ticket.*` and `customer.*`: "
                                    "`New ticket: {{ticket.title}}`.",
                                )
                            )
                        }
                    )
                ),
                "active": flag,
            },
            required=("events",),
        ),
        "JiraInput": obj(
            {
                "jira_url": url(_HTTPS_URL, "The Jira site (https)."),
                "username": string(max_length=200, pattern=_NOT_BLANK),
                "api_token": string(
                    min_length=8, max_length=1024, description="Never shown again."
                ),
                "project_key": string(
                    max_length=10, pattern=rf"^{_WS}*[A-Z][A-Z0-9_]{{1,9}}{_WS}*$"
                ),
                "sync_settings": nullable(
                    obj(
                        {
                            "create_jira_issues": flag,
                            "sync_comments": flag,
                            "priority_mapping": nullable(
                                obj(priority_names, required=tuple(PRIORITIES))
                            ),
                        }
                    )
                ),
                "active": flag,
            },
            required=("jira_url", "username", "project_key"),
        ),
        "Integration": obj(
            {
                "name": enum(INTEGRATIONS),
                "active": {"type": "boolean"},
                "events": array({"type": "string"}),
            },
            required=("name",),
            closed=False,
        ),
        "IntegrationEnvelope": envelope("integration", ref("Integration")),
    }


# -- the document --------------------------------------------------------------------------------

_DESCRIPTION: Final = """\
The supportkit Support API: tickets with a lifecycle, business-hours SLA clocks,
routing, escalation, comments and attachments, and the configuration behind them.

Authenticate with an API key: `Authorization: Bearer sk_…`. A key has a role: `admin`
(everything), `agent` (tickets and comments; reads the configuration) or `customer`
(only its customer's tickets, never an internal note; another customer's ticket is a
404). Errors are RFC 9457 `application/problem+json`. Text is trimmed of surrounding
whitespace before its length is checked, and must not contain NUL characters.
"""


def _build(api: SupportApi) -> Schema:
    facts = _Facts.of(api.desk.config)
    specs = _operations(facts)
    paths: dict[str, Schema] = {}
    for route in api.routes:
        suffix = route.pattern.removeprefix(api.prefix)
        spec = specs.get((route.method, suffix))
        if spec is None:  # an undocumented route; the test suite refuses those
            continue
        paths.setdefault(route.pattern, {})[route.method.lower()] = _operation_object(
            route.method, spec
        )
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "supportkit Support API",
            "version": "1",
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [],
        "tags": [
            {"name": name}
            for name in (
                "Tickets",
                "Comments",
                "SLA",
                "Events",
                "Analytics",
                "Webhooks",
                "Integrations",
                "Configuration",
                "Meta",
            )
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "sk_<key id>_<secret>",
                    "description": "An API key made with `supportkit.api.create_key`.",
                }
            },
            "schemas": {
                "TimeZone": string(
                    max_length=64,
                    pattern=_NOT_BLANK,
                    description="An IANA time zone name: `America/Los_Angeles`.",
                ),
                **_request_schemas(facts),
                **_response_schemas(facts),
                **_service_schemas(),
            },
            "responses": _error_responses(),
            "headers": {
                "ETag": {
                    "description": "The ticket's version, for `If-Match`.",
                    "required": True,
                    "schema": string(pattern=r'^"[^"]+-v[0-9]+"$'),
                },
                "Location": {
                    "description": "The URL of the new resource.",
                    "required": True,
                    "schema": string(format="uri"),
                },
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored answer to an earlier "
                    "request with the same Idempotency-Key.",
                    "schema": enum(["true"]),
                },
                "WWW-Authenticate": {"schema": {"type": "string"}},
                "Allow": {"description": "The methods the path has.", "schema": {"type": "string"}},
                "Retry-After": {"schema": string(pattern=r"^[0-9]+$")},
            },
        },
    }
