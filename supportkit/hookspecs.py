"""Hook specifications: how plugins extend supportkit.

A plugin is a module or object with functions marked ``@hookimpl`` whose names are
those below. supportkit finds plugins through the ``supportkit`` entry-point group::

    # pyproject.toml of a plugin distribution
    [project.entry-points.supportkit]
    my_backend = "my_package.plugin"

or takes them directly: ``Desk.open(url, plugins=[my_plugin])``. supportkit's own
SQLite backend registers through these same hooks.

Hooks are called with keyword arguments. New arguments may be added to a hook in later
versions; existing ones are never removed or renamed, so an implementation may accept
only the arguments it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .plugins import Authenticator, Integration, Notifier
    from .storage import Storage

__all__ = [
    "PROJECT",
    "StorageFactory",
    "hookimpl",
    "hookspec",
    "supportkit_authenticators",
    "supportkit_integrations",
    "supportkit_notifiers",
    "supportkit_storage_backends",
]

#: The pluggy project name, and the entry-point group plugins register under.
PROJECT = "supportkit"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a plugin's hook implementations with this.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Opens a storage backend: called with the database URL and the desk's options.
StorageFactory = Callable[[str, Mapping[str, Any]], "Storage"]


@hookspec
def supportkit_storage_backends() -> Mapping[str, StorageFactory]:
    """Storage backends this plugin provides, by URL scheme.

    ``Desk.open(url)`` calls the factory registered for the scheme of ``url``
    (``"sqlite"`` for ``sqlite:///support.db``) with the URL and the desk's storage
    options, and expects a :class:`supportkit.storage.Storage`. A backend should pass
    the conformance suite in ``supportkit.testing``.

    :return: a mapping of URL scheme to factory; ``None`` or an empty mapping if the
        plugin provides no backend. When two plugins claim one scheme, the one
        registered last wins (plugins loaded from entry points come after the
        built-in ones, so a plugin can replace a built-in backend).
    """
    raise NotImplementedError


@hookspec
def supportkit_notifiers() -> Mapping[str, Notifier]:
    """Notification channels this plugin provides, by channel name (``"email"``,
    ``"sms"``, …).

    A channel delivers a rendered :class:`supportkit.plugins.Notification`; see
    :class:`supportkit.plugins.Notifier`.

    :return: a mapping of channel name to notifier, or ``None``.
    """
    raise NotImplementedError


@hookspec
def supportkit_integrations() -> Mapping[str, Integration]:
    """Integrations this plugin provides, by name (``"slack"``, ``"jira"``, …).

    An integration reacts to events (``ticket.created``, ``comment.added``, …) after
    they are committed; see :class:`supportkit.plugins.Integration`.

    :return: a mapping of integration name to integration, or ``None``.
    """
    raise NotImplementedError


@hookspec
def supportkit_authenticators() -> Sequence[Authenticator]:
    """Authenticators for the HTTP API, tried in order until one accepts a request.

    See :class:`supportkit.plugins.Authenticator`.

    :return: a sequence of authenticators, or ``None``.
    """
    raise NotImplementedError
