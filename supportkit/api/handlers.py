"""The Support API's endpoints: the seed's, plus what running it needs.

Each handler reads its input, checks the caller's role, calls the Desk and shapes the
response. Roles: ``admin`` may do everything; ``agent`` everything but change the
configuration; ``customer`` works only on its own customer's tickets, never sees
internal comments or internal events, and may not set internal fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from ..errors import FieldError, TicketNotFound, ValidationError
from ..models import Ticket, format_instant, to_dict
from .http import Response, json_response

if TYPE_CHECKING:
    from .app import Context, SupportApi

__all__ = ["register"]

STAFF: Final = ("admin", "agent")
#: Update fields a customer may send, and the statuses it may move its ticket to.
CUSTOMER_UPDATE_FIELDS: Final = ("status",)
CUSTOMER_STATUSES: Final = ("closed", "open")
#: Create fields only staff may set.
STAFF_CREATE_FIELDS: Final = ()
#: Flat query parameters of GET …/tickets and GET …/tickets/search.
SEARCH_PARAMS: Final = (
    "customer_id", "status", "priority", "category", "subcategory", "assigned_to", "team",
    "tags", "escalation_level", "escalated", "sla_status", "response_sla_status",
    "created_after", "created_before", "updated_after", "updated_before", "q",
)  # fmt: skip


def _ok(data: Any, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> Response:
    return json_response(status, data, headers)


def _object(ctx: Context) -> dict[str, Any]:
    from .app import ApiError

    body = ctx.json()
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", kind="validation")
    return body


def _int(ctx: Context, name: str, default: int) -> int:
    value = ctx.query(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValidationError.for_field(f"pagination.{name}", "expected an integer") from None


def _given(value: str | None, default: str) -> str:
    """A query parameter's value; an empty one is kept (and refused), not defaulted."""
    return default if value is None else value


def _visible_ticket(ctx: Context, ticket_id: str) -> Ticket:
    """The ticket, if the caller may see it; a customer gets a 404 for another's."""
    ticket = ctx.desk.tickets.get(ticket_id)
    if ctx.customer is not None and ticket.customer_id != ctx.customer:
        raise TicketNotFound(ticket_id)
    return ticket


def _ticket_response(
    ctx: Context, ticket: Ticket, status: int = 200, shape: Mapping[str, Any] | None = None
) -> Response:
    api = ctx.api
    view = api.ticket_view(ticket, ctx.request, shape)
    return _ok({"ticket": view}, status, (api.etag(ticket),))


def _summary(ctx: Context, ticket: Ticket) -> dict[str, Any]:
    """A search result: the seed's compact ticket with its ``sla_status``."""
    desk = ctx.desk
    assigned = ticket.assigned_to
    item = {
        "id": ticket.id,
        "number": ticket.number,
        "title": ticket.title,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "customer_id": ticket.customer_id,
        "created_at": format_instant(ticket.created_at),
        "updated_at": format_instant(ticket.updated_at),
        "assigned_to": (
            {"agent_id": assigned.agent_id, "name": assigned.name, "email": assigned.email}
            if assigned is not None
            else None
        ),
        "escalation_level": ticket.escalation.level,
        "urls": {"self": f"{ctx.api.base(ctx.request)}/tickets/{ticket.id}"},
    }
    if ticket.sla is not None:
        # The desk's cached calendars: no database read per result.
        item["sla_status"] = desk.tickets.search_view(ticket)
    return item


def _search_response(ctx: Context, page: Any) -> Response:
    return _ok(
        {
            "tickets": [_summary(ctx, t) for t in page.items],
            "pagination": {
                "total": page.total,
                "page": page.page,
                "limit": page.limit,
                "pages": page.pages,
            },
        }
    )


def register(api: SupportApi) -> None:
    """Add every endpoint to ``api``."""

    # -- tickets ----------------------------------------------------------------------------

    @api.route("POST", "/tickets")
    def create_ticket(ctx: Context) -> Response:
        body = _object(ctx)
        if ctx.customer is not None:
            given = body.get("customer_id", ctx.customer)
            if given != ctx.customer:
                raise ValidationError.for_field(
                    "customer_id", "a customer key creates tickets for its own customer only"
                )
            body = {**body, "customer_id": ctx.customer}
        ticket = ctx.desk.tickets.create(body)
        headers = (("Location", f"{api.base(ctx.request)}/tickets/{ticket.id}"),)
        response = _ticket_response(ctx, ticket, 201, api.created_shape(ticket))
        return Response(response.status, response.headers + headers, response.body)

    @api.route("POST", "/tickets/preview")
    def preview_ticket(ctx: Context) -> Response:
        ctx.require(*STAFF)
        return _ok({"preview": ctx.desk.tickets.preview(_object(ctx))})

    def flat_search(ctx: Context) -> Response:
        query = ctx.request.query
        unknown = [
            name for name in query
            if name not in SEARCH_PARAMS and name not in ("sort", "order", "page", "limit")
        ]  # fmt: skip
        if unknown:
            raise ValidationError.from_errors([FieldError(n, "unknown parameter") for n in unknown])
        filters = {
            name: ",".join(values) for name, values in query.items() if name in SEARCH_PARAMS
        }
        page = ctx.desk.tickets.search(
            filters,
            sort=_given(ctx.query("sort"), "created_at"),
            order=_given(ctx.query("order"), "desc"),
            page=_int(ctx, "page", 1),
            limit=_int(ctx, "limit", 25),
            customer_id=ctx.customer,
            include_internal=ctx.customer is None,
        )
        return _search_response(ctx, page)

    api.route("GET", "/tickets")(flat_search)
    api.route("GET", "/tickets/search")(flat_search)

    @api.route("POST", "/tickets/search")
    def body_search(ctx: Context) -> Response:
        body = _object(ctx)
        unknown = [k for k in body if k not in ("filters", "sort", "pagination", "q")]
        if unknown:
            raise ValidationError.from_errors([FieldError(k, "unknown field") for k in unknown])
        pagination = body.get("pagination")
        pagination = {} if pagination is None else pagination
        if not isinstance(pagination, Mapping):
            raise ValidationError.for_field("pagination", "expected an object")
        for key in pagination:
            if key not in ("page", "limit"):
                raise ValidationError.for_field(f"pagination.{key}", "unknown field")
        sort = body.get("sort")
        if sort is not None and not isinstance(sort, Mapping):
            raise ValidationError.for_field("sort", "expected an object")
        filters = body.get("filters")
        filters = {} if filters is None else filters
        if not isinstance(filters, Mapping):
            raise ValidationError.for_field("filters", "expected an object")
        page = ctx.desk.tickets.search(
            filters,
            sort=sort,
            page=pagination.get("page", 1),
            limit=pagination.get("limit", 25),
            q=body.get("q"),
            customer_id=ctx.customer,
            include_internal=ctx.customer is None,
        )
        return _search_response(ctx, page)

    @api.route("POST", "/tickets/bulk-update")
    def bulk_update(ctx: Context) -> Response:
        ctx.require(*STAFF)
        body = _object(ctx)
        if set(body) != {"updates"} or not isinstance(body["updates"], list):
            raise ValidationError.for_field("updates", 'expected {"updates": [...]}')
        results = ctx.desk.tickets.bulk_update(body["updates"])
        shaped = [
            {**r, "ticket": api.ticket_view(r["ticket"], ctx.request)} if r["ok"] else r
            for r in results
        ]
        return _ok({"results": shaped})

    @api.route("GET", "/tickets/{ticket_id}")
    def get_ticket(ctx: Context) -> Response:
        return _ticket_response(ctx, _visible_ticket(ctx, ctx.params["ticket_id"]))

    @api.route("PUT", "/tickets/{ticket_id}")
    def update_ticket(ctx: Context) -> Response:
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        body = _object(ctx)
        if ctx.customer is not None:
            refused = [k for k in body if k not in CUSTOMER_UPDATE_FIELDS]
            if "status" in body and body["status"] not in CUSTOMER_STATUSES:
                refused.append("status")
            if refused:
                raise ValidationError.from_errors(
                    [FieldError(k, "a customer may not set this field") for k in refused]
                )
        version = _if_match(ctx, ticket)
        author = {"type": "agent", "id": ctx.principal.agent_id} if ctx.principal.agent_id else None
        updated = ctx.desk.tickets.update(ticket.id, body, if_version=version, author=author)
        return _ticket_response(ctx, updated)

    @api.route("GET", "/tickets/{ticket_id}/sla")
    def ticket_sla(ctx: Context) -> Response:
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        return _ok({"sla_status": ctx.desk.tickets.sla(ticket.id)})

    @api.route("POST", "/tickets/{ticket_id}/escalate")
    def escalate(ctx: Context) -> Response:
        ctx.require(*STAFF)
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        return _ticket_response(ctx, ctx.desk.tickets.escalate(ticket.id, _object(ctx)))

    @api.route("POST", "/tickets/{ticket_id}/merge")
    def merge(ctx: Context) -> Response:
        ctx.require(*STAFF)
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        body = _object(ctx)
        if set(body) != {"into"} or not isinstance(body["into"], str):
            raise ValidationError.for_field("into", 'expected {"into": "ticket_…"}')
        joined = ctx.desk.tickets.merge(ticket.id, into=body["into"])
        return _ticket_response(ctx, joined)

    @api.route("POST", "/tickets/{ticket_id}/notify")
    def notify(ctx: Context) -> Response:
        ctx.require(*STAFF)
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        queued = ctx.desk.tickets.notify(ticket.id, _object(ctx))
        return _ok({"notification": queued}, 202)

    @api.route("GET", "/tickets/{ticket_id}/events")
    def ticket_events(ctx: Context) -> Response:
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        events = ctx.desk.tickets.history(ticket.id, include_internal=ctx.customer is None)
        customer = ctx.customer is not None
        return _ok({"events": [api.event_view(e, for_customer=customer) for e in events]})

    # -- comments and attachments ---------------------------------------------------------

    @api.route("POST", "/tickets/{ticket_id}/comments")
    def add_comment(ctx: Context) -> Response:
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        body = _object(ctx)
        if ctx.customer is not None:
            if (
                body.get("visibility", "customer") != "customer"
                or body.get("type") == "internal_note"
            ):
                raise ValidationError.for_field(
                    "visibility", "a customer's comment is always visible"
                )
            author = body.get("author")
            if author is not None and (
                not isinstance(author, Mapping) or author.get("type") != "customer"
            ):
                raise ValidationError.for_field(
                    "author.type", "a customer key writes as the customer"
                )
            body = {**body, "author": {**(author or {}), "type": "customer"}}
        elif "author" not in body and ctx.principal.agent_id:
            body = {**body, "author": {"type": "agent", "id": ctx.principal.agent_id}}
        comment = ctx.desk.comments.add(ticket.id, body)
        return _ok({"comment": api.comment_view(comment, ctx.request)}, 201)

    @api.route("GET", "/tickets/{ticket_id}/comments")
    def list_comments(ctx: Context) -> Response:
        ticket = _visible_ticket(ctx, ctx.params["ticket_id"])
        visibility = ctx.query("visibility")
        if ctx.customer is not None:
            if visibility not in (None, "customer"):
                raise ValidationError.for_field("visibility", "customers see customer comments")
            visibility = "customer"
        comments = ctx.desk.comments.list(ticket.id, visibility=visibility)
        return _ok({"comments": [api.comment_view(c, ctx.request) for c in comments]})

    @api.route("GET", "/attachments/{attachment_id}")
    def download(ctx: Context) -> Response:
        stored = ctx.desk.attachments.get(ctx.params["attachment_id"])
        if ctx.customer is not None:
            ticket = _visible_ticket(ctx, stored.ticket_id)
            if stored.comment_id is not None:
                visible = {c.id for c in ctx.desk.comments.list(ticket.id, visibility="customer")}
                if stored.comment_id not in visible:
                    raise TicketNotFound(stored.attachment.id)
        name = stored.attachment.filename.replace('"', "").replace("\\", "")
        return Response(
            200,
            (
                ("Content-Type", stored.attachment.content_type),
                ("Content-Disposition", f'attachment; filename="{name}"'),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Length", str(len(stored.data))),
            ),
            stored.data,
        )

    # -- events -------------------------------------------------------------------------------

    @api.route("GET", "/events")
    def events(ctx: Context) -> Response:
        limit = _int(ctx, "limit", 100)
        found = ctx.desk.events.list(
            after=ctx.query("after"),
            limit=limit,
            include_internal=ctx.customer is None,
            customer_id=ctx.customer,
        )
        next_after = found[-1].id if found else ctx.query("after")
        customer = ctx.customer is not None
        views = [api.event_view(e, for_customer=customer) for e in found]
        return _ok({"events": views, "next_after": next_after})

    # -- configuration ----------------------------------------------------------------------------

    def collection(name: str, path: str, plural: str, *, keyed: bool, staff_read: bool) -> None:
        def resources(ctx: Context) -> Any:
            return getattr(ctx.desk, name)

        @api.route("GET", f"/{path}")
        def list_all(ctx: Context) -> Response:
            if staff_read:
                ctx.require(*STAFF)
            return _ok({plural: [to_dict(r) if not hasattr(r, "to_dict") else r.to_dict()
                                 for r in resources(ctx).list()]})  # fmt: skip

        @api.route("GET", f"/{path}/{{resource_id}}")
        def get_one(ctx: Context) -> Response:
            if staff_read:
                ctx.require(*STAFF)
            value = resources(ctx).get(ctx.params["resource_id"])
            return _ok(value.to_dict() if hasattr(value, "to_dict") else to_dict(value))

        @api.route("DELETE", f"/{path}/{{resource_id}}")
        def delete_one(ctx: Context) -> Response:
            ctx.require("admin")
            resources(ctx).delete(ctx.params["resource_id"])
            return Response(204)

        if keyed:

            @api.route("PUT", f"/{path}/{{resource_id}}")
            def put_one(ctx: Context) -> Response:
                ctx.require("admin")
                body = _object(ctx)
                resource_id = ctx.params["resource_id"]
                if body.get("id", resource_id) != resource_id:
                    raise ValidationError.for_field("id", "does not match the URL")
                value = resources(ctx).put({**body, "id": resource_id})
                return _ok(value.to_dict() if hasattr(value, "to_dict") else to_dict(value))

        else:

            @api.route("POST", f"/{path}")
            def create_one(ctx: Context) -> Response:
                ctx.require("admin")
                value = resources(ctx).create(_object(ctx))
                data = value.to_dict() if hasattr(value, "to_dict") else to_dict(value)
                location = f"{api.base(ctx.request)}/{path}/{quote(str(data['id']), safe='')}"
                return _ok(data, 201, (("Location", location),))

    collection("categories", "categories", "categories", keyed=True, staff_read=False)
    collection("calendars", "calendars", "calendars", keyed=True, staff_read=False)
    collection("teams", "teams", "teams", keyed=True, staff_read=True)
    collection("agents", "agents", "agents", keyed=True, staff_read=True)
    collection("customers", "customers", "customers", keyed=True, staff_read=True)
    collection("sla_policies", "sla-policies", "sla_policies", keyed=False, staff_read=True)
    collection("routing_rules", "routing-rules", "routing_rules", keyed=False, staff_read=True)

    # -- the OpenAPI document ---------------------------------------------------------------------

    @api.route("GET", "/openapi.json", public=True)
    def openapi(ctx: Context) -> Response:
        from .openapi import document

        return _ok(document(api, ctx.request))


def _if_match(ctx: Context, ticket: Ticket) -> int | None:
    """The version an ``If-Match`` header names (412 if it names another)."""
    from .app import ApiError

    header = ctx.request.header("if-match")
    if header is None:
        return None
    tags = [t.strip() for t in header.split(",")]
    if "*" in tags:
        return None
    for tag in tags:
        tag = tag.removeprefix("W/").strip('"')
        identifier, _, version = tag.rpartition("-v")
        if identifier == ticket.id and version.isdigit() and int(version) == ticket.version:
            return ticket.version
    raise ApiError(
        412,
        f"the ticket changed: it is at version {ticket.version}; fetch it and try again",
        kind="version-conflict",
    )
