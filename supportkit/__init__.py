"""supportkit: an embeddable support-ticket engine.

:class:`Desk` is the service: ``Desk.open("sqlite:///support.db")``.

The pure core — :mod:`~supportkit.lifecycle`, :mod:`~supportkit.calendar`,
:mod:`~supportkit.sla`, :mod:`~supportkit.routing`, :mod:`~supportkit.escalation`,
:mod:`~supportkit.durations` and :mod:`~supportkit.workflow` — takes values and an
explicit ``now`` and returns values or decisions; it never reads a clock, a database
or the network.
"""

from .calendar import BusinessCalendar
from .config import DeskConfig
from .desk import Desk
from .durations import format_compact, format_duration, parse_duration
from .errors import (
    AlreadyExists,
    FieldError,
    InvalidDuration,
    InvalidTransition,
    NotFound,
    StorageError,
    SupportkitError,
    TicketNotFound,
    ValidationError,
    VersionConflict,
)
from .lifecycle import DEFAULT_LIFECYCLE, Lifecycle
from .models import structure, to_dict

__version__ = "0.1.0.dev0"

__all__ = [
    "DEFAULT_LIFECYCLE",
    "AlreadyExists",
    "BusinessCalendar",
    "Desk",
    "DeskConfig",
    "FieldError",
    "InvalidDuration",
    "InvalidTransition",
    "Lifecycle",
    "NotFound",
    "StorageError",
    "SupportkitError",
    "TicketNotFound",
    "ValidationError",
    "VersionConflict",
    "__version__",
    "format_compact",
    "format_duration",
    "parse_duration",
    "structure",
    "to_dict",
]
