"""The plugin manager, and the small interfaces plugins implement.

:func:`get_plugin_manager` builds a fresh :class:`pluggy.PluginManager` for each
:class:`~supportkit.desk.Desk` — there is no global manager — with supportkit's
built-in plugins registered first, then those found in the ``supportkit`` entry-point
group, then any passed in. :mod:`supportkit.hookspecs` documents the hooks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs
import pluggy

from . import hookspecs
from .errors import ValidationError
from .hookspecs import StorageFactory

__all__ = [
    "BUILTIN_PLUGINS",
    "Authenticator",
    "Integration",
    "Notification",
    "Notifier",
    "Principal",
    "get_plugin_manager",
    "storage_factories",
]

#: Modules registered in every plugin manager, before entry-point plugins.
BUILTIN_PLUGINS: Final = (
    "supportkit.backends.sqlite",
    "supportkit.backends.postgresql_plugin",
    "supportkit.api.auth",
)


def get_plugin_manager(
    *, load_entrypoints: bool = True, plugins: Iterable[object] = ()
) -> pluggy.PluginManager:
    """A new plugin manager with the built-in, entry-point and given plugins."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    import importlib

    for name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(name), name=name)
    if load_entrypoints:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in plugins:
        manager.register(plugin)
    return manager


def _merged(results: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    # pluggy calls the most recently registered implementation first; apply in
    # registration order so later plugins override earlier ones.
    for result in reversed(results):
        if result:
            merged.update(result)
    return merged


def storage_factories(manager: pluggy.PluginManager) -> dict[str, StorageFactory]:
    """Storage factories by URL scheme, from every plugin."""
    return _merged(manager.hook.supportkit_storage_backends())


def notifiers(manager: pluggy.PluginManager) -> dict[str, Notifier]:
    """Notifiers by channel name, from every plugin."""
    return _merged(manager.hook.supportkit_notifiers())


def integrations(manager: pluggy.PluginManager) -> dict[str, Integration]:
    """Integrations by name, from every plugin."""
    return _merged(manager.hook.supportkit_integrations())


def authenticators(manager: pluggy.PluginManager) -> list[Authenticator]:
    """Authenticators in the order they are tried (earlier plugins first)."""
    found: list[Authenticator] = []
    for result in reversed(manager.hook.supportkit_authenticators()):
        if result:
            found.extend(result)
    return found


# -- interfaces ---------------------------------------------------------------------------


@attrs.frozen
class Notification:
    """A rendered message for one channel, ready to deliver."""

    channel: str
    recipients: tuple[Mapping[str, Any], ...]
    body: str
    subject: str | None = None
    ticket_id: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


class Notifier(ABC):
    """Delivers notifications over one channel (e-mail, SMS, …)."""

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver ``notification``; raise an exception for the delivery to be retried."""

    def validate(self, recipients: Sequence[Mapping[str, Any]]) -> None:  # noqa: B027
        """Refuse recipients this channel cannot reach (e.g. an SMS without a phone).

        :raises ValidationError: naming the bad recipient.
        """


class Integration(ABC):
    """Reacts to committed events (post to Slack, create a Jira issue, …)."""

    #: Event types this integration wants; empty means all.
    events: tuple[str, ...] = ()

    @abstractmethod
    def handle(self, event_type: str, payload: Mapping[str, Any], *, config: Any) -> None:
        """Act on one event; raise an exception for the delivery to be retried."""


@attrs.frozen
class Principal:
    """Who a request acts as: a role, and for customers the customer it is bound to."""

    role: str
    customer_id: str | None = None
    agent_id: str | None = None
    key_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.role not in ("admin", "agent", "customer"):
            raise ValidationError.for_field("role", f"unknown role {self.role!r}")
        if self.role == "customer" and not self.customer_id:
            raise ValidationError.for_field("customer_id", "a customer key needs a customer_id")


class Authenticator(ABC):
    """Turns an HTTP ``Authorization`` header into a :class:`Principal`."""

    @abstractmethod
    def authenticate(self, authorization: str, *, desk: Any, now: datetime) -> Principal | None:
        """The principal for this header value, or ``None`` if this authenticator does
        not recognise it (the next one is tried)."""
