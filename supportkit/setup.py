"""Installing configuration: the seed defaults, or a TOML file (``SUPPORTKIT_CONFIG``).

A configuration file lists resources in arrays of tables, in the API's shapes::

    [[calendars]]
    id = "us_pacific"
    timezone = "America/Los_Angeles"
    holiday_country = "US"
    hours = { mon = [["09:00", "17:00"]], tue = [["09:00", "17:00"]] }

    [[categories]]
    id = "network"
    name = "Network & Connectivity"
    sla = { response_time = "2 hours", resolution_time = "8 hours", calendar = "us_pacific" }

    [[teams]]
    id = "network_team"
    name = "Network"
    strategy = "least_loaded"
    members = ["agent_tech_001"]

Sections: ``calendars``, ``agents``, ``teams``, ``customers``, ``categories``,
``sla_policies``, ``routing_rules`` — installed in that order, so references resolve —
and an optional ``[desk]`` table of :class:`~supportkit.config.DeskConfig` settings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from .desk import Desk, Resources
from .errors import ValidationError
from .seed import SEED_AGENTS, SEED_CALENDARS, SEED_CATEGORIES, SEED_ROUTING_RULES, SEED_TEAMS

__all__ = ["SECTIONS", "InstallReport", "install", "load_config_file", "seed_configuration"]

#: The sections of a configuration, in the order they are installed.
SECTIONS: Final = (
    "calendars",
    "agents",
    "teams",
    "customers",
    "categories",
    "sla_policies",
    "routing_rules",
)


@attrs.frozen
class InstallReport:
    """What :func:`install` did, per section: ids added and ids left as they were."""

    added: dict[str, list[str]]
    kept: dict[str, list[str]]


def seed_configuration() -> dict[str, list[dict[str, Any]]]:
    """The seed's example configuration: the network and voice categories and the
    teams, agents, calendar and routing rule they refer to."""
    return {
        "calendars": [dict(c) for c in SEED_CALENDARS],
        "agents": [dict(a) for a in SEED_AGENTS],
        "teams": [dict(t) for t in SEED_TEAMS],
        "categories": [dict(c) for c in SEED_CATEGORIES],
        "routing_rules": [dict(r) for r in SEED_ROUTING_RULES],
    }


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a configuration file.

    :raises ValidationError: the file cannot be read, is not TOML, or has an unknown
        section or a section that is not an array of tables.
    """
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ValidationError.for_field("config", f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError.for_field("config", f"{path} is not valid TOML: {exc}") from exc
    for key, value in data.items():
        if key == "desk":
            if not isinstance(value, Mapping):
                raise ValidationError.for_field("desk", "expected a table of settings")
            continue
        if key not in SECTIONS:
            raise ValidationError.for_field(
                key, "unknown section; expected one of " + ", ".join(("desk", *SECTIONS))
            )
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise ValidationError.for_field(key, f"expected [[{key}]] tables")
    return data


def install(desk: Desk, data: Mapping[str, Any], *, replace: bool = False) -> InstallReport:
    """Install the resources in ``data`` (sections as in a configuration file).

    Resources that already exist are kept as they are unless ``replace`` is true, so
    running ``supportkit init`` twice changes nothing and never undoes an edit.

    :raises ValidationError: a resource is invalid; the error names its section and
        index. Resources installed before it stay installed.
    """
    collections: dict[str, Resources[Any]] = {
        "calendars": desk.calendars,
        "agents": desk.agents,
        "teams": desk.teams,
        "customers": desk.customers,
        "categories": desk.categories,
        "sla_policies": desk.sla_policies,
        "routing_rules": desk.routing_rules,
    }
    added: dict[str, list[str]] = {}
    kept: dict[str, list[str]] = {}
    for section in SECTIONS:
        existing = {_id_of(item) for item in collections[section].list()}
        for index, item in enumerate(data.get(section, ())):
            resource_id = item.get("id") if isinstance(item, Mapping) else None
            if resource_id in existing and not replace:
                kept.setdefault(section, []).append(str(resource_id))
                continue
            try:
                if resource_id is None and collections[section].ordered:
                    value = collections[section].create(item)
                else:
                    value = collections[section].put(item)
            except ValidationError as exc:
                raise exc.prefixed(f"{section}[{index}]") from None
            added.setdefault(section, []).append(_id_of(value))
    return InstallReport(added=added, kept=kept)


def _id_of(value: Any) -> str:
    return str(value.id)
