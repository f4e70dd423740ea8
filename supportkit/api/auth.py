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

A verified key is remembered for :data:`VERIFIED_KEY_SECONDS` (5 s) by the process
that verified it, so a busy client costs one key lookup per five seconds rather than a
read transaction per request. :func:`revoke_key` forgets the key at once in its own
process; a key revoked by another process (``supportkit keys revoke`` against the
database of a running server) stops working there within those five seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import weakref
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
#: How long a process trusts a key it has verified (see the module's doc).
VERIFIED_KEY_SECONDS: Final = 5.0
_CACHE_SIZE: Final = 1024  # keys remembered per desk at most


class _Verified:
    """Keys verified against one desk: ``(key id, hash of the secret)`` → (principal,
    monotonic time of expiry). Plain dict operations, safe across threads."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], tuple[Principal, float]] = {}

    def get(self, key: tuple[str, str]) -> Principal | None:
        found = self.keys.get(key)
        if found is None:
            return None
        if found[1] < time.monotonic():
            self.keys.pop(key, None)
            return None
        return found[0]

    def put(self, key: tuple[str, str], principal: Principal) -> None:
        if len(self.keys) >= _CACHE_SIZE:
            self.keys.clear()
        self.keys[key] = (principal, time.monotonic() + VERIFIED_KEY_SECONDS)

    def forget(self, key_id: str) -> None:
        for key in [k for k in list(self.keys) if k[0] == key_id]:
            self.keys.pop(key, None)


_verified: weakref.WeakKeyDictionary[Any, _Verified] = weakref.WeakKeyDictionary()
_verified_lock = threading.Lock()


def _verified_for(desk: Any) -> _Verified:
    try:
        return _verified[desk]
    except KeyError:
        with _verified_lock:
            return _verified.setdefault(desk, _Verified())


def forget_verified_keys() -> None:
    """Forget every verified key of this process (each is looked up again on its next
    request)."""
    with _verified_lock:
        for verified in list(_verified.values()):
            verified.keys.clear()


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
    """Delete a key; whether it existed. This process stops accepting it at once;
    others within :data:`VERIFIED_KEY_SECONDS`."""
    with desk.storage.write() as tx:
        found = tx.delete_resource(_KIND, key_id)
    with _verified_lock:
        for verified in list(_verified.values()):
            verified.forget(key_id)
    return found


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
        hashed = _hash(secret)
        verified = _verified_for(desk)
        principal = verified.get((key_id, hashed))
        if principal is not None:
            return principal
        with desk.storage.read() as tx:
            record = tx.get_resource(_KIND, key_id)
        if record is None or not hmac.compare_digest(record["hash"], hashed):
            return None
        principal = Principal(
            role=record["role"],
            customer_id=record.get("customer_id"),
            agent_id=record.get("agent_id"),
            key_id=key_id,
        )
        verified.put((key_id, hashed), principal)
        return principal


@hookimpl
def supportkit_authenticators() -> Sequence[Authenticator]:
    """The built-in API-key authenticator."""
    return [ApiKeyAuthenticator()]
