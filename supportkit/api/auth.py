"""API keys: how the HTTP API knows who is calling.

A key looks like ``sk_<key id>_<secret>``. Only a SHA-256 hash of the secret is stored
(as an ``api_key`` resource under the key id), so a leaked database does not leak keys;
the full key is shown once, when it is created. Requests carry it as
``Authorization: Bearer sk_…``.

Each key has a role: ``admin`` (everything), ``agent`` (tickets, comments, reports;
reads configuration) or ``customer`` (bound to one ``customer_id``: sees only that
customer's tickets and never an internal note). :class:`ApiKeyAuthenticator` is the
built-in authenticator, registered through the ``supportkit_authenticators`` hook like
any plugin's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from ..desk import Desk
from ..errors import ValidationError
from ..hookspecs import hookimpl
from ..models import format_instant
from ..plugins import Authenticator, Principal

__all__ = ["ApiKey", "ApiKeyAuthenticator", "create_key", "revoke_key"]

ROLES: Final = ("admin", "agent", "customer")
_KEY: Final = re.compile(r"^sk_([a-z0-9]{12})_([A-Za-z0-9_-]{20,100})$")
_KIND: Final = "api_key"


@attrs.frozen
class ApiKey:
    """A newly created key; ``token`` is the full key, shown only now."""

    id: str
    token: str
    role: str
    customer_id: str | None
    agent_id: str | None
    name: str | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_key(
    desk: Desk,
    *,
    role: str,
    customer_id: str | None = None,
    agent_id: str | None = None,
    name: str | None = None,
) -> ApiKey:
    """Create and store an API key; returns it with its one-time full token.

    :raises ValidationError: an unknown role, a customer key without a
        ``customer_id``, or a ``customer_id`` on a non-customer key.
    """
    if role not in ROLES:
        raise ValidationError.for_field("role", f"expected one of {', '.join(ROLES)}")
    if role == "customer" and not customer_id:
        raise ValidationError.for_field("customer_id", "a customer key needs a customer id")
    if role != "customer" and customer_id:
        raise ValidationError.for_field("customer_id", "only customer keys are bound to one")
    key_id = base64.b32encode(secrets.token_bytes(15)).decode().lower()[:12]
    secret = secrets.token_urlsafe(32)
    record = {
        "id": key_id,
        "hash": _hash(secret),
        "role": role,
        "customer_id": customer_id,
        "agent_id": agent_id,
        "name": name,
        "created_at": format_instant(desk.now()),
    }

    def store() -> None:
        with desk.storage.write() as tx:
            tx.put_resource(_KIND, key_id, record)

    store()
    return ApiKey(key_id, f"sk_{key_id}_{secret}", role, customer_id, agent_id, name)


def revoke_key(desk: Desk, key_id: str) -> bool:
    """Delete a key; whether it existed."""
    with desk.storage.write() as tx:
        return tx.delete_resource(_KIND, key_id)


def list_keys(desk: Desk) -> list[dict[str, Any]]:
    """Every key's record, without its hash."""
    with desk.storage.read() as tx:
        rows = tx.list_resources(_KIND)
    return [{k: v for k, v in row.items() if k != "hash"} for row in rows]


class ApiKeyAuthenticator(Authenticator):
    """``Authorization: Bearer sk_<id>_<secret>`` against the stored key hashes."""

    def authenticate(self, authorization: str, *, desk: Any, now: datetime) -> Principal | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        match = _KEY.match(token.strip())
        if match is None:
            return None
        key_id, secret = match.groups()
        with desk.storage.read() as tx:
            record = tx.get_resource(_KIND, key_id)
        if record is None or not hmac.compare_digest(record["hash"], _hash(secret)):
            return None
        return Principal(
            role=record["role"],
            customer_id=record.get("customer_id"),
            agent_id=record.get("agent_id"),
            key_id=key_id,
        )


@hookimpl
def supportkit_authenticators() -> Sequence[Authenticator]:
    """The built-in API-key authenticator."""
    return [ApiKeyAuthenticator()]
