"""Endpoints for analytics, reports, webhooks and integrations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import FieldError, ValidationError
from .http import Response, json_response

if TYPE_CHECKING:
    from .app import Context, SupportApi

__all__ = ["register"]

_STAFF = ("admin", "agent")
_DASHBOARD_PARAMS = ("customer_id", "date_range", "timezone")


def _body(ctx: Context) -> dict[str, Any]:
    from .app import ApiError

    data = ctx.json()
    if not isinstance(data, dict):
        raise ApiError(422, "the body must be a JSON object", kind="validation")
    return data


def _absolute(ctx: Context, report: dict[str, Any]) -> dict[str, Any]:
    url = report.get("download_url")
    if isinstance(url, str) and url.startswith("/"):
        report = {**report, "download_url": ctx.request.base_url.rstrip("/") + url}
    return report


def register(api: SupportApi) -> None:
    """Add the analytics, reports, webhooks and integrations endpoints to ``api``."""

    @api.route("GET", "/analytics/dashboard")
    def dashboard(ctx: Context) -> Response:
        unknown = [name for name in ctx.request.query if name not in _DASHBOARD_PARAMS]
        if unknown:
            raise ValidationError.from_errors([FieldError(n, "unknown parameter") for n in unknown])
        customer = ctx.query("customer_id")
        if ctx.customer is not None:
            if customer not in (None, ctx.customer):
                raise ValidationError.for_field("customer_id", "a customer sees its own tickets")
            customer = ctx.customer
        result = ctx.desk.analytics.dashboard(
            customer_id=customer,
            date_range=ctx.query("date_range") or "30d",
            timezone=ctx.query("timezone") or "UTC",
        )
        return json_response(200, result)

    @api.route("POST", "/reports/generate")
    def generate(ctx: Context) -> Response:
        result = ctx.desk.reports.generate(_body(ctx), customer_id=ctx.customer)
        report = _absolute(ctx, result["report"])
        location = f"{api.base(ctx.request)}/reports/{report['id']}"
        return json_response(202, {"report": report}, (("Location", location),))

    @api.route("GET", "/reports/{report_id}")
    def get_report(ctx: Context) -> Response:
        result = ctx.desk.reports.get(ctx.params["report_id"], customer_id=ctx.customer)
        return json_response(200, {"report": _absolute(ctx, result["report"])})

    @api.route("GET", "/reports/{report_id}/download")
    def download_report(ctx: Context) -> Response:
        unknown = [name for name in ctx.request.query if name != "format"]
        if unknown:
            raise ValidationError.from_errors([FieldError(n, "unknown parameter") for n in unknown])
        content_type, data, filename = ctx.desk.reports.download(
            ctx.params["report_id"], format=ctx.query("format"), customer_id=ctx.customer
        )
        return Response(
            200,
            (
                ("Content-Type", content_type),
                ("Content-Disposition", f'attachment; filename="{filename}"'),
                ("X-Content-Type-Options", "nosniff"),
            ),
            data,
        )

    @api.route("POST", "/webhooks")
    def create_webhook(ctx: Context) -> Response:
        ctx.require("admin")
        webhook = ctx.desk.webhooks.create(_body(ctx))
        location = f"{api.base(ctx.request)}/webhooks/{webhook['id']}"
        return json_response(201, {"webhook": webhook}, (("Location", location),))

    @api.route("GET", "/webhooks")
    def list_webhooks(ctx: Context) -> Response:
        ctx.require("admin")
        return json_response(200, {"webhooks": ctx.desk.webhooks.list()})

    @api.route("GET", "/webhooks/{webhook_id}")
    def get_webhook(ctx: Context) -> Response:
        ctx.require("admin")
        return json_response(200, {"webhook": ctx.desk.webhooks.get(ctx.params["webhook_id"])})

    @api.route("DELETE", "/webhooks/{webhook_id}")
    def delete_webhook(ctx: Context) -> Response:
        ctx.require("admin")
        ctx.desk.webhooks.delete(ctx.params["webhook_id"])
        return Response(204)

    @api.route("GET", "/webhooks/{webhook_id}/deliveries")
    def deliveries(ctx: Context) -> Response:
        ctx.require("admin")
        found = ctx.desk.webhooks.deliveries(ctx.params["webhook_id"])
        return json_response(200, {"deliveries": found})

    @api.route("GET", "/integrations")
    def list_integrations(ctx: Context) -> Response:
        ctx.require(*_STAFF)
        return json_response(200, {"integrations": ctx.desk.integrations.list()})

    for name in ("slack", "jira"):

        def configure(ctx: Context, name: str = name) -> Response:
            ctx.require("admin")
            result = ctx.desk.integrations.configure(name, _body(ctx))
            return json_response(200, {"integration": result})

        api.route("POST", f"/integrations/{name}")(configure)

    @api.route("GET", "/integrations/{name}")
    def get_integration(ctx: Context) -> Response:
        ctx.require(*_STAFF)
        return json_response(200, {"integration": ctx.desk.integrations.get(ctx.params["name"])})

    @api.route("DELETE", "/integrations/{name}")
    def delete_integration(ctx: Context) -> Response:
        ctx.require("admin")
        ctx.desk.integrations.delete(ctx.params["name"])
        return Response(204)
