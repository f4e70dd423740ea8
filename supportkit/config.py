"""A desk's settings: ticket numbers, lifecycle, escalation policy, limits, fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .errors import ValidationError
from .escalation import DEFAULT_POLICY, EscalationPolicy
from .lifecycle import DEFAULT_LIFECYCLE, Lifecycle
from .models import SEVERITIES, structure
from .validation import ALLOWED_CONTENT_TYPES, CustomField, Limits

__all__ = ["DeskConfig"]


def _prefix(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not (isinstance(value, str) and value.isalnum() and value.isupper() and len(value) <= 10):
        raise ValidationError.for_field(
            attribute.name, "expected 1–10 upper-case letters or digits, such as 'SK'"
        )


@attrs.frozen
class DeskConfig:
    """How a :class:`~supportkit.desk.Desk` behaves. Every setting has a default.

    :ivar number_prefix: ticket numbers read ``{prefix}-{YYYY}-{NNNNNN}``.
    :ivar lifecycle: the status transition table.
    :ivar escalation: when tickets escalate by themselves.
    :ivar limits: sizes of input.
    :ivar severities: the accepted severities.
    :ivar custom_fields: definitions of custom ticket fields, by name.
    :ivar allowed_content_types: attachment content types accepted.
    :ivar tick_batch: tickets one ``tick()`` transaction handles.
    """

    number_prefix: str = attrs.field(default="SK", validator=_prefix)
    lifecycle: Lifecycle = DEFAULT_LIFECYCLE
    escalation: EscalationPolicy = DEFAULT_POLICY
    limits: Limits = attrs.field(factory=Limits)
    severities: tuple[str, ...] = SEVERITIES
    custom_fields: Mapping[str, CustomField] = attrs.field(factory=dict)
    allowed_content_types: tuple[str, ...] = ALLOWED_CONTENT_TYPES
    tick_batch: int = 100

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeskConfig:
        """Settings from a mapping (e.g. the ``[desk]`` table of a TOML file).

        ``lifecycle`` takes :meth:`Lifecycle.from_dict`'s shape, ``escalation`` the
        fields of :class:`EscalationPolicy`, ``limits`` those of :class:`Limits`, and
        ``custom_fields`` a mapping of name to ``{"type", "required", "choices"}``.
        """
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError.for_field(unknown[0], "unknown desk setting")
        kwargs: dict[str, Any] = {}
        if "number_prefix" in data:
            kwargs["number_prefix"] = data["number_prefix"]
        if "lifecycle" in data:
            kwargs["lifecycle"] = Lifecycle.from_dict(data["lifecycle"])
        if "escalation" in data:
            kwargs["escalation"] = structure(
                data["escalation"], EscalationPolicy, field="escalation"
            )
        if "limits" in data:
            kwargs["limits"] = structure(data["limits"], Limits, field="limits")
        if "severities" in data:
            kwargs["severities"] = tuple(data["severities"])
        if "custom_fields" in data:
            raw = data["custom_fields"]
            if not isinstance(raw, Mapping):
                raise ValidationError.for_field("custom_fields", "expected a mapping")
            kwargs["custom_fields"] = {
                name: structure({"name": name, **spec}, CustomField, field=f"custom_fields.{name}")
                for name, spec in raw.items()
            }
        if "allowed_content_types" in data:
            kwargs["allowed_content_types"] = tuple(data["allowed_content_types"])
        if "tick_batch" in data:
            kwargs["tick_batch"] = data["tick_batch"]
        return cls(**kwargs)
