"""Third-party integrations: Slack and Jira (``POST /v1/support/integrations/{name}``).

::

    desk.integrations.configure("slack", {
        "webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX",
        "channel": "#support-alerts",
        "events": ["ticket.created", "ticket.escalated"],
        "filters": {"priorities": ["high", "critical"]},
        "message_format": {"template": "New ticket: {{ticket.title}} ({{ticket.priority}})"
                                       " - {{customer.name}}"},
    })
    desk.integrations.configure("jira", {
        "jira_url": "https://your-company.atlassian.net",
        "username": "api-user@example.com",
        "api_token": "…",
        "project_key": "SUPPORT",
        "sync_settings": {"create_jira_issues": True, "sync_comments": True,
                          "priority_mapping": {"critical": "Highest", "high": "High",
                                               "medium": "Medium", "low": "Low"}},
    })
    desk.integrations.get("jira")   # {"api_token_set": true, …}: never the token

A configuration is validated field by field and stored with the desk's other
configuration resources. Secrets are kept but never shown: a view has
``"api_token_set": true`` instead of Jira's token, and Slack's ``webhook_url`` (whose
path is the credential) only as its scheme and host (``https://hooks.slack.com/***``)
with ``"webhook_url_set": true``. Configuring again replaces the configuration; a
secret left out of the new body keeps the stored one, so a client that only ever saw
the masked view can still change the other settings.

Slack's ``message_format.template`` is a Jinja2 template for a
:class:`~jinja2.sandbox.SandboxedEnvironment`: it must compile, and may use only the
``ticket`` and ``customer`` variables (no attribute starting with ``_``).

Sending is not done here: posting to Slack and creating or syncing Jira issues is the
dispatcher's work (a later piece), which will read these configurations and react to
the outbox's events. Nothing in this module makes a network call.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from .desk import _retrying
from .errors import FieldError, NotFound, ValidationError
from .models import PRIORITIES, format_instant
from .webhooks import parse_events, parse_filters, parse_target_url

if TYPE_CHECKING:
    from .desk import Desk

__all__ = [
    "DEFAULT_PRIORITY_MAPPING",
    "DEFAULT_SLACK_TEMPLATE",
    "INTEGRATIONS",
    "Integrations",
    "check_template",
    "integration_view",
    "parse_integration",
]

#: The integrations supportkit configures.
INTEGRATIONS: Final = ("slack", "jira")
#: The resource kind integration configurations are stored as (the id is the name).
KIND: Final = "integration"
#: The variables a Slack message template may use.
TEMPLATE_VARIABLES: Final = frozenset({"ticket", "customer"})
DEFAULT_SLACK_TEMPLATE: Final = (
    "{{ ticket.number }}: {{ ticket.title }} (priority {{ ticket.priority }})"
)
DEFAULT_PRIORITY_MAPPING: Final = {
    "critical": "Highest",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
}
MAX_TEMPLATE: Final = 4000

_SECRETS: Final = {"slack": "webhook_url", "jira": "api_token"}
_CHANNEL: Final = re.compile(r"^[#@]?[a-z0-9][a-z0-9._-]{0,79}$", re.IGNORECASE)
_PROJECT_KEY: Final = re.compile(r"^[A-Z][A-Z0-9_]{1,9}$")
_SANDBOX: Final = SandboxedEnvironment()


def check_template(template: object, field: str) -> str:
    """A message template that compiles in a Jinja2 sandbox and uses only the
    ``ticket`` and ``customer`` variables.

    :raises ValidationError: naming ``field``, with the line of a syntax error.
    """
    if not isinstance(template, str) or not template.strip():
        raise ValidationError.for_field(field, "expected a non-empty template")
    if len(template) > MAX_TEMPLATE:
        raise ValidationError.for_field(field, f"at most {MAX_TEMPLATE} characters")
    try:
        tree = _SANDBOX.parse(template)
        _SANDBOX.compile(tree)  # unknown filters and tests fail here
    except TemplateSyntaxError as exc:
        raise ValidationError.for_field(field, f"line {exc.lineno}: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - TEMPLATE_VARIABLES)
    if unknown:
        raise ValidationError.for_field(
            field, f"unknown variable {unknown[0]!r}: use ticket.* and customer.* only"
        )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        if isinstance(name, str) and name.startswith("_"):
            raise ValidationError.for_field(field, f"no attribute starting with _: {name!r}")
    return template


def _text(
    body: Mapping[str, Any],
    name: str,
    errors: list[FieldError],
    *,
    required: bool = False,
    max_length: int = 200,
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            errors.append(FieldError(name, "required"))
        return None
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(name, "expected a non-empty string"))
        return None
    if len(value) > max_length:
        errors.append(FieldError(name, f"at most {max_length} characters"))
        return None
    return value.strip()


def _url(
    body: Mapping[str, Any],
    name: str,
    errors: list[FieldError],
    *,
    stored: Mapping[str, Any] | None = None,
) -> str | None:
    if name in body and body[name] is None:
        errors.append(FieldError(name, "must not be null (leave it out to keep it)"))
        return None
    if body.get(name) is None:
        if stored is not None and stored.get(name):
            return str(stored[name])
        errors.append(FieldError(name, "required"))
        return None
    try:
        return parse_target_url(body[name], name, schemes=("https",))
    except ValidationError as exc:
        errors.extend(exc.errors)
        return None


def _flag(value: object, field: str, default: bool, errors: list[FieldError]) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.append(FieldError(field, "expected true or false"))
        return default
    return value


def _unknown(
    value: Mapping[str, Any], allowed: Sequence[str], prefix: str, errors: list[FieldError]
) -> None:
    for key in value:
        if key not in allowed:
            errors.append(FieldError(f"{prefix}{key}", "unknown field"))


def _object(value: object, field: str, errors: list[FieldError]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.append(FieldError(field, "expected an object"))
        return {}
    return value


def _slack(
    body: Mapping[str, Any], stored: Mapping[str, Any] | None, errors: list[FieldError]
) -> dict[str, Any]:
    _unknown(
        body,
        ("webhook_url", "channel", "events", "filters", "message_format", "active"),
        "",
        errors,
    )
    channel = _text(body, "channel", errors, max_length=81)
    if channel is not None and not _CHANNEL.match(channel):
        errors.append(FieldError("channel", "expected a channel like #support-alerts"))
    message_format = _object(body.get("message_format"), "message_format", errors)
    _unknown(message_format, ("template",), "message_format.", errors)
    template = DEFAULT_SLACK_TEMPLATE
    if message_format.get("template") is not None:
        try:
            template = check_template(message_format["template"], "message_format.template")
        except ValidationError as exc:
            errors.extend(exc.errors)
    return {
        "webhook_url": _url(body, "webhook_url", errors, stored=stored),
        "channel": channel,
        "events": parse_events(body.get("events"), "events", errors),
        "filters": parse_filters(body.get("filters"), "filters", errors, ("priorities",)),
        "message_format": {"template": template},
        "active": _flag(body.get("active"), "active", True, errors),
    }


def _jira(
    body: Mapping[str, Any], stored: Mapping[str, Any] | None, errors: list[FieldError]
) -> dict[str, Any]:
    _unknown(
        body,
        ("jira_url", "username", "api_token", "project_key", "sync_settings", "active"),
        "",
        errors,
    )
    token = body.get("api_token")
    if "api_token" in body and token is None:
        errors.append(FieldError("api_token", "must not be null (leave it out to keep it)"))
    elif token is None and stored is not None and stored.get("api_token"):
        token = stored["api_token"]
    elif token is None:
        errors.append(FieldError("api_token", "required"))
    elif not isinstance(token, str) or not 8 <= len(token) <= 1024:
        errors.append(FieldError("api_token", "8 to 1024 characters"))
        token = None
    project_key = _text(body, "project_key", errors, required=True, max_length=10)
    if project_key is not None and not _PROJECT_KEY.match(project_key):
        errors.append(
            FieldError("project_key", "2–10 characters: an upper-case letter, then A–Z, 0–9 or _")
        )
    sync = _object(body.get("sync_settings"), "sync_settings", errors)
    _unknown(
        sync,
        ("create_jira_issues", "sync_comments", "priority_mapping"),
        "sync_settings.",
        errors,
    )
    mapping: dict[str, str] = dict(DEFAULT_PRIORITY_MAPPING)
    given = sync.get("priority_mapping")
    if given is not None:
        field = "sync_settings.priority_mapping"
        if not isinstance(given, Mapping):
            errors.append(FieldError(field, "expected an object"))
        else:
            _unknown(given, PRIORITIES, f"{field}.", errors)
            for priority in PRIORITIES:
                name = given.get(priority)
                if name is None:
                    errors.append(FieldError(f"{field}.{priority}", "required: map every priority"))
                elif not isinstance(name, str) or not name.strip() or len(name) > 64:
                    errors.append(
                        FieldError(f"{field}.{priority}", "expected a Jira priority name")
                    )
                else:
                    mapping[priority] = name.strip()
    return {
        "jira_url": _url(body, "jira_url", errors),
        "username": _text(body, "username", errors, required=True, max_length=200),
        "api_token": token,
        "project_key": project_key,
        "sync_settings": {
            "create_jira_issues": _flag(
                sync.get("create_jira_issues"), "sync_settings.create_jira_issues", True, errors
            ),
            "sync_comments": _flag(
                sync.get("sync_comments"), "sync_settings.sync_comments", False, errors
            ),
            "priority_mapping": mapping,
        },
        "active": _flag(body.get("active"), "active", True, errors),
    }


def parse_integration(
    name: str, body: object, *, stored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Validate an integration's configuration body; returns the record to store
    (secrets included). ``stored`` is the current configuration, whose secret is kept
    when ``body`` leaves it out.

    :raises NotFound: ``name`` is not one of :data:`INTEGRATIONS`.
    :raises ValidationError: listing every bad field.
    """
    if name not in INTEGRATIONS:
        raise NotFound(KIND, str(name))
    if not isinstance(body, Mapping):
        raise ValidationError.for_field("", "the configuration must be a JSON object")
    errors: list[FieldError] = []
    record = _slack(body, stored, errors) if name == "slack" else _jira(body, stored, errors)
    if errors:
        raise ValidationError.from_errors(errors)
    return {"name": name, **record}


def _mask(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/***"


def integration_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored configuration as callers see it: secrets replaced by ``…_set`` flags
    (and Slack's webhook URL by its scheme and host)."""
    view = dict(record)
    secret = _SECRETS[str(record["name"])]
    value = view.pop(secret, None)
    view[f"{secret}_set"] = bool(value)
    if secret == "webhook_url" and value:
        view["webhook_url"] = _mask(str(value))
    return view


class Integrations:
    """``desk.integrations``: configure Slack and Jira. See the module docstring."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @_retrying
    def configure(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace the configuration of integration ``name`` (``slack`` or
        ``jira``) from the seed's body; returns its view, without secrets.

        :raises NotFound: an unknown integration name.
        :raises ValidationError: listing every bad field; nothing is stored.
        """
        if name not in INTEGRATIONS:
            raise NotFound(KIND, str(name))
        with self._desk.storage.write() as tx:
            stored = tx.get_resource(KIND, name)
            record = parse_integration(name, body, stored=stored)
            record["updated_at"] = format_instant(self._desk.now())
            tx.put_resource(KIND, name, record)
        return integration_view(record)

    def get(self, name: str) -> dict[str, Any]:
        """The configuration of integration ``name``, without secrets.

        :raises NotFound: an unknown name, or an integration not configured.
        """
        if name not in INTEGRATIONS:
            raise NotFound(KIND, str(name))
        with self._desk.storage.read() as tx:
            record = tx.get_resource(KIND, name)
        if record is None:
            raise NotFound(KIND, name)
        return integration_view(record)

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every configured integration, without secrets."""
        with self._desk.storage.read() as tx:
            return [integration_view(record) for record in tx.list_resources(KIND)]

    @_retrying
    def delete(self, name: str) -> None:
        """Remove an integration's configuration.

        :raises NotFound: an unknown name, or an integration not configured.
        """
        with self._desk.storage.write() as tx:
            if name not in INTEGRATIONS or not tx.delete_resource(KIND, name):
                raise NotFound(KIND, str(name))
