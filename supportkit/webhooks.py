"""Webhook subscriptions, their delivery attempts, and signatures for receivers.

Subscriptions (``POST /v1/support/webhooks``, the seed's body)::

    hook = desk.webhooks.create({
        "url": "https://your-app.com/webhooks/support",
        "events": ["ticket.created", "ticket.escalated", "comment.added"],
        "filters": {"customer_ids": ["cust_1234567890"], "priorities": ["high", "critical"]},
        "secret": "a secret of at least 16 characters",
        "active": True,
    })
    hook["id"]           # "wh_…"
    hook["secret_set"]   # True: the secret itself is never shown again

A subscription is configuration: it is stored with the desk's other configuration
resources. Its ``secret`` is kept (it signs every delivery) but no view ever contains
it. ``filters`` narrow the events delivered to tickets of those customers,
priorities and categories (each list, when given, must hold the ticket's value).

Delivery is the dispatcher's job (``desk.dispatch()``, a later piece of work): it will
post each matching event from the outbox, signed, with retries, and record every
attempt with :meth:`Webhooks.record_attempt`; :meth:`Webhooks.deliveries` lists them.
Nothing in this module sends anything.

Signatures (DESIGN §7): each delivery carries
``X-Supportkit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
keyed with the subscription's secret. A receiver checks it with :func:`verify`::

    from supportkit.webhooks import verify

    if not verify(SECRET, request.body, request.headers["X-Supportkit-Signature"],
                  now=time.time()):
        return 400

:func:`sign` and :func:`verify` are pure: they take the time as an argument.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from .desk import _retrying
from .errors import FieldError, NotFound, ValidationError
from .ids import new_id
from .models import PRIORITIES, format_instant
from .storage import Document

if TYPE_CHECKING:
    from .desk import Desk

__all__ = [
    "DEFAULT_TOLERANCE",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "Webhooks",
    "parse_events",
    "parse_filters",
    "parse_target_url",
    "parse_webhook",
    "sign",
    "verify",
    "webhook_view",
]

#: The event types a subscription (or an integration) may ask for: every event the
#: desk writes to its outbox.
EVENT_TYPES: Final = (
    "ticket.created",
    "ticket.updated",
    "ticket.assigned",
    "ticket.priority_changed",
    "ticket.status_changed",
    "ticket.escalated",
    "ticket.resolved",
    "ticket.closed",
    "ticket.reopened",
    "ticket.merged",
    "ticket.update_due",
    "comment.added",
    "sla.at_risk",
    "sla.breached",
    "notification.requested",
)
SIGNATURE_HEADER: Final = "X-Supportkit-Signature"
EVENT_HEADER: Final = "X-Supportkit-Event"
DELIVERY_HEADER: Final = "X-Supportkit-Delivery"
#: How far (seconds) a signature's timestamp may be from the receiver's clock.
DEFAULT_TOLERANCE: Final = 300
#: The resource kind of subscriptions, and the document kind of delivery attempts.
KIND: Final = "webhook"
DELIVERY_KIND: Final = "webhook_delivery"
MIN_SECRET: Final = 16
MAX_SECRET: Final = 512

_FIELDS: Final = ("url", "events", "filters", "secret", "active")
_FILTERS: Final = ("customer_ids", "priorities", "categories")
_MAX_URL: Final = 2048
_MAX_HEADER: Final = 4096
_CONTROL: Final = re.compile(r"[\x00-\x20\x7f]")
_TIMESTAMP: Final = re.compile(r"^[0-9]{1,12}$")


# -- signatures --------------------------------------------------------------------------------


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("the secret must not be empty")
    return key


def _mac(key: bytes, body: bytes, timestamp: str) -> str:
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Supportkit-Signature`` value for ``body`` sent at ``timestamp``.

    :param secret: the subscription's secret (text is UTF-8 encoded).
    :param body: the raw request body, exactly as sent.
    :param timestamp: Unix seconds of the sending.
    :returns: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"timestamp must be non-negative Unix seconds, got {timestamp!r}")
    stamp = str(timestamp)
    return f"t={stamp},v1={_mac(_key(secret), bytes(body), stamp)}"


def verify(
    secret: str | bytes,
    body: bytes,
    header: str | None,
    *,
    now: float | datetime,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made with ``secret``.

    True only when the header is well formed, its timestamp is within ``tolerance``
    seconds of ``now`` (either side: a replayed old delivery fails), and one of its
    ``v1`` signatures (several may be sent while a secret is rotated) matches —
    compared in constant time. A malformed or missing header is ``False``, never an
    exception; unknown schemes (``v0=…``) are ignored.

    :param now: the receiver's time, Unix seconds or an aware datetime.
    :raises ValueError: an empty secret, a negative tolerance or a naive ``now``.
    """
    key = _key(secret)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise ValueError(f"tolerance must be non-negative seconds, got {tolerance!r}")
    if isinstance(now, datetime):
        if now.utcoffset() is None:
            raise ValueError("now must be an aware datetime")
        current = now.timestamp()
    else:
        current = float(now)
    if not isinstance(header, str) or len(header) > _MAX_HEADER:
        return False
    stamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if stamp is not None or not _TIMESTAMP.match(value):
                return False
            stamp = value
        elif name == "v1":
            signatures.append(value)
    if stamp is None or not signatures:
        return False
    if abs(current - int(stamp)) > tolerance:
        return False
    expected = _mac(key, bytes(body), stamp).encode()
    matched = False
    for candidate in signatures:
        # Every candidate is compared, in constant time, whatever matched before.
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched


# -- validation ------------------------------------------------------------------------------


def parse_target_url(
    value: object, field: str, *, schemes: Sequence[str] = ("http", "https")
) -> str:
    """A delivery URL: absolute, of one of ``schemes``, with a host, no credentials,
    no whitespace, at most 2048 characters.

    Whether the host may be reached (private, loopback and link-local addresses are
    refused unless the host application allows them) is checked when delivering.

    :raises ValidationError: naming ``field``.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError.for_field(field, "expected a URL")
    if len(value) > _MAX_URL:
        raise ValidationError.for_field(field, f"at most {_MAX_URL} characters")
    if _CONTROL.search(value):
        raise ValidationError.for_field(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValidationError.for_field(field, f"not a URL: {value!r}") from None
    if parts.scheme.lower() not in schemes:
        raise ValidationError.for_field(field, f"must be a {' or '.join(schemes)} URL")
    if not parts.hostname:
        raise ValidationError.for_field(field, "must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValidationError.for_field(field, "must not contain credentials")
    return value


def _strings(
    value: object, field: str, errors: list[FieldError], *, choices: Sequence[str] | None = None
) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        errors.append(FieldError(field, "expected a list of strings"))
        return []
    if len(value) > 100:
        errors.append(FieldError(field, "at most 100 values"))
        return []
    found: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > 200:
            errors.append(FieldError(f"{field}[{i}]", "expected a non-empty string"))
        elif choices is not None and item not in choices:
            errors.append(
                FieldError(f"{field}[{i}]", f"{item!r} is not one of: {', '.join(choices)}")
            )
        else:
            found.append(item)
    return list(dict.fromkeys(found))


def parse_events(value: object, field: str, errors: list[FieldError]) -> list[str]:
    """A non-empty list of :data:`EVENT_TYPES` (problems are appended to ``errors``)."""
    if value is None:
        errors.append(FieldError(field, "required"))
        return []
    events = _strings(value, field, errors, choices=EVENT_TYPES)
    if not events and not any(e.field.startswith(field) for e in errors):
        errors.append(FieldError(field, "name at least one event type"))
    return events


def parse_filters(
    value: object, field: str, errors: list[FieldError], allowed: Sequence[str] = _FILTERS
) -> dict[str, list[str]]:
    """Event filters: lists of ``customer_ids``, ``priorities``, ``categories``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.append(FieldError(field, "expected an object"))
        return {}
    filters: dict[str, list[str]] = {}
    for key in value:
        if key not in allowed:
            errors.append(FieldError(f"{field}.{key}", "unknown field"))
    for key in allowed:
        choices = PRIORITIES if key == "priorities" else None
        found = _strings(value.get(key), f"{field}.{key}", errors, choices=choices)
        if found:
            filters[key] = found
    return filters


def parse_webhook(body: object) -> dict[str, Any]:
    """Validate the seed's webhook body; returns the record to store (with the secret).

    :raises ValidationError: listing every bad field.
    """
    if not isinstance(body, Mapping):
        raise ValidationError.for_field("", "the webhook must be a JSON object")
    errors: list[FieldError] = [
        FieldError(str(key), "unknown field") for key in body if key not in _FIELDS
    ]
    url = None
    if body.get("url") is None:
        errors.append(FieldError("url", "required"))
    else:
        try:
            url = parse_target_url(body["url"], "url")
        except ValidationError as exc:
            errors.extend(exc.errors)
    events = parse_events(body.get("events"), "events", errors)
    filters = parse_filters(body.get("filters"), "filters", errors)
    secret = body.get("secret")
    if secret is None:
        errors.append(FieldError("secret", "required"))
    elif not isinstance(secret, str):
        errors.append(FieldError("secret", "expected a string"))
    elif not MIN_SECRET <= len(secret) <= MAX_SECRET:
        errors.append(FieldError("secret", f"{MIN_SECRET} to {MAX_SECRET} characters"))
    active = body.get("active", True)
    if not isinstance(active, bool):
        errors.append(FieldError("active", "expected true or false"))
    if errors:
        raise ValidationError.from_errors(errors)
    return {"url": url, "events": events, "filters": filters, "secret": secret, "active": active}


def webhook_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored subscription as callers see it: never its secret."""
    view = {key: value for key, value in record.items() if key != "secret"}
    view["secret_set"] = bool(record.get("secret"))
    return view


# -- the service -------------------------------------------------------------------------------


class Webhooks:
    """``desk.webhooks``: subscriptions and their recorded delivery attempts."""

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    @_retrying
    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Subscribe a URL to event types (the seed's ``POST /webhooks`` body).

        ``url`` is http(s) with a host; ``events`` a non-empty list of
        :data:`EVENT_TYPES`; ``filters`` optional lists of ``customer_ids``,
        ``priorities``, ``categories``; ``secret`` 16–512 characters; ``active``
        true by default. Returns the subscription's view (``id`` ``wh_…``,
        ``secret_set: true``, never the secret).

        :raises ValidationError: listing every bad field; nothing is stored.
        """
        record = parse_webhook(body)
        now = self._desk.now()
        webhook_id = new_id("wh")
        record = {"id": webhook_id, **record, "created_at": format_instant(now)}
        with self._desk.storage.write() as tx:
            tx.put_resource(KIND, webhook_id, record)
        return webhook_view(record)

    def get(self, webhook_id: str) -> dict[str, Any]:
        """A subscription's view (without its secret).

        :raises NotFound: there is none.
        """
        return webhook_view(self._record(webhook_id))

    def list(self) -> list[dict[str, Any]]:
        """Every subscription's view, oldest first."""
        with self._desk.storage.read() as tx:
            return [webhook_view(record) for record in tx.list_resources(KIND)]

    @_retrying
    def delete(self, webhook_id: str) -> None:
        """Delete a subscription and its recorded delivery attempts.

        :raises NotFound: there is none.
        """
        with self._desk.storage.write() as tx:
            if not isinstance(webhook_id, str) or not tx.delete_resource(KIND, webhook_id):
                raise NotFound(KIND, str(webhook_id))
            tx.delete_documents(DELIVERY_KIND, parent=webhook_id)

    @_retrying
    def record_attempt(
        self,
        webhook_id: str,
        *,
        delivery_id: str,
        event_id: str,
        event_type: str,
        attempt: int,
        succeeded: bool,
        status_code: int | None = None,
        error: str | None = None,
        duration_ms: int | None = None,
        next_attempt_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Record one attempt to deliver an event to a subscription (the dispatcher
        calls this for every attempt, successful or not). Returns the record.

        :param delivery_id: the delivery (``X-Supportkit-Delivery``), the same for
            every attempt of one event to one subscription.
        :param attempt: 1 for the first attempt, then 2, 3, …
        :param error: what went wrong (kept to 1000 characters).
        :param next_attempt_at: when it will be retried, if it will.
        :raises NotFound: no such subscription.
        :raises AlreadyExists: this attempt of this delivery was already recorded.
        :raises ValidationError: a bad argument.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValidationError.for_field("attempt", "expected a positive integer")
        for name, text in (("delivery_id", delivery_id), ("event_id", event_id)):
            if not isinstance(text, str) or not text or len(text) > 200:
                raise ValidationError.for_field(name, "expected an id")
        if status_code is not None and (
            isinstance(status_code, bool)
            or not isinstance(status_code, int)
            or not 100 <= status_code <= 599
        ):
            raise ValidationError.for_field("status_code", "expected an HTTP status code")
        now = self._desk.now()
        record = {
            "id": f"{delivery_id}.{attempt}",
            "webhook_id": webhook_id,
            "delivery_id": delivery_id,
            "event_id": event_id,
            "event_type": event_type,
            "attempt": attempt,
            "status": "succeeded" if succeeded else "failed",
            "status_code": status_code,
            "error": error[:1000] if error else None,
            "duration_ms": duration_ms,
            "attempted_at": format_instant(now),
            "next_attempt_at": format_instant(next_attempt_at) if next_attempt_at else None,
        }
        with self._desk.storage.write() as tx:
            if tx.get_resource(KIND, webhook_id) is None:
                raise NotFound(KIND, webhook_id)
            tx.insert_document(
                Document(
                    kind=DELIVERY_KIND,
                    id=str(record["id"]),
                    data=record,
                    created_at=now,
                    status=str(record["status"]),
                    parent=webhook_id,
                )
            )
        return record

    def deliveries(self, webhook_id: str, *, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The recorded delivery attempts of a subscription, oldest first (at most
        ``limit``, 1–1000).

        :raises NotFound: no such subscription.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError.for_field("limit", "expected an integer from 1 to 1000")
        with self._desk.storage.read() as tx:
            if not isinstance(webhook_id, str) or tx.get_resource(KIND, webhook_id) is None:
                raise NotFound(KIND, str(webhook_id))
            found = tx.list_documents(DELIVERY_KIND, parent=webhook_id, limit=limit)
        return [dict(document.data) for document in found]

    def _record(self, webhook_id: str) -> dict[str, Any]:
        with self._desk.storage.read() as tx:
            record = tx.get_resource(KIND, webhook_id) if isinstance(webhook_id, str) else None
        if record is None:
            raise NotFound(KIND, str(webhook_id))
        return record
