"""The app's configuration."""

from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed

__all__ = ["SupportkitConfig"]


class SupportkitConfig(AppConfig):
    """``supportkit.adapters.django``, labelled ``supportkit``.

    :meth:`ready` opens nothing: the desk is opened on the first request (see
    :func:`supportkit.adapters.django.conf.get_api`), so management commands and
    imports never touch a database.
    """

    name = "supportkit.adapters.django"
    label = "supportkit"
    verbose_name = "supportkit"

    def ready(self) -> None:
        from . import conf

        # ``override_settings(SUPPORTKIT=...)`` in a project's tests gets a fresh desk.
        setting_changed.connect(conf.setting_changed, dispatch_uid="supportkit.conf")
