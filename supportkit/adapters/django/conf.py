"""The ``SUPPORTKIT`` setting, and the one desk and API per process it describes.

``settings.SUPPORTKIT`` is a dict; every key is optional:

``DATABASE_URL``
    supportkit's database (default: the ``SUPPORTKIT_DATABASE_URL`` environment
    variable, else ``sqlite:///supportkit.db``). This is not one of Django's
    ``DATABASES``: supportkit manages its own tables.
``PORTAL_URL``
    a template for the tickets' ``urls.customer_portal`` with ``{number}`` and ``{id}``
    (default ``None``: no portal link).
``MAX_BODY_BYTES``
    larger request bodies get the API's ``413`` problem (default: the API's limit,
    16 MiB). Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not apply to the API.
``DESK_OPTIONS``
    keyword arguments for :meth:`supportkit.Desk.open`: ``clock`` (a callable or the
    dotted path of one), ``config`` (a :class:`~supportkit.config.DeskConfig` mapping),
    ``plugins``, ``load_entrypoints``, ``storage_options``.

The desk is opened on first use, once per process, under a lock; changing the setting
(``override_settings``) closes it and the next request opens a new one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ...api import SupportApi
from ...desk import DEFAULT_DATABASE_URL, Desk

__all__ = ["KEYS", "get_api", "get_desk", "options", "reset", "setting_changed"]

#: The keys ``settings.SUPPORTKIT`` may hold.
KEYS: Final = ("DATABASE_URL", "PORTAL_URL", "MAX_BODY_BYTES", "DESK_OPTIONS")
_DESK_OPTIONS: Final = ("clock", "config", "plugins", "load_entrypoints", "storage_options")

_lock = threading.Lock()
_api: SupportApi | None = None


def options() -> dict[str, Any]:
    """``settings.SUPPORTKIT`` checked, with the defaults filled in.

    :raises ImproperlyConfigured: the setting is not a dict, has an unknown key or a
        bad value.
    """
    raw = getattr(settings, "SUPPORTKIT", None)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured("SUPPORTKIT must be a dict")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ImproperlyConfigured(
            f"unknown SUPPORTKIT key(s) {', '.join(unknown)}; expected {', '.join(KEYS)}"
        )
    url = raw.get("DATABASE_URL") or os.environ.get("SUPPORTKIT_DATABASE_URL")
    max_body = raw.get("MAX_BODY_BYTES")
    if max_body is not None and (
        isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1
    ):
        raise ImproperlyConfigured(
            f"SUPPORTKIT['MAX_BODY_BYTES'] must be a positive integer, not {max_body!r}"
        )
    desk_options = raw.get("DESK_OPTIONS")
    if desk_options is None:
        desk_options = {}
    if not isinstance(desk_options, Mapping) or set(desk_options) - set(_DESK_OPTIONS):
        raise ImproperlyConfigured(
            f"SUPPORTKIT['DESK_OPTIONS'] must be a dict with keys among {', '.join(_DESK_OPTIONS)}"
        )
    return {
        "DATABASE_URL": url or DEFAULT_DATABASE_URL,
        "PORTAL_URL": raw.get("PORTAL_URL"),
        "MAX_BODY_BYTES": max_body,
        "DESK_OPTIONS": dict(desk_options),
    }


def _open() -> SupportApi:
    found = options()
    desk_options = found["DESK_OPTIONS"]
    clock = desk_options.get("clock")
    if isinstance(clock, str):
        desk_options["clock"] = import_string(clock)
    desk = Desk.open(found["DATABASE_URL"], **desk_options)
    if found["MAX_BODY_BYTES"] is None:
        return SupportApi(desk, portal_url=found["PORTAL_URL"])
    return SupportApi(desk, portal_url=found["PORTAL_URL"], max_body_bytes=found["MAX_BODY_BYTES"])


def get_api() -> SupportApi:
    """The process's :class:`SupportApi`, opening its desk on first use (thread-safe).

    :raises ImproperlyConfigured: ``settings.SUPPORTKIT`` is wrong.
    :raises supportkit.errors.SupportkitError: the database cannot be opened.
    """
    global _api
    api = _api
    if api is None:
        with _lock:
            if _api is None:
                _api = _open()
            api = _api
    return api


def get_desk() -> Desk:
    """The process's :class:`~supportkit.Desk` (the one the API serves)."""
    return get_api().desk


def reset() -> None:
    """Close the desk; the next :func:`get_api` opens a new one from the settings."""
    global _api
    with _lock:
        api, _api = _api, None
    if api is not None:
        api.desk.close()


def setting_changed(*, setting: str, **kwargs: Any) -> None:
    """Receiver of Django's ``setting_changed``: a new ``SUPPORTKIT`` means a new desk."""
    if setting == "SUPPORTKIT":
        reset()
