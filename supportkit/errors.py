"""Exceptions raised by supportkit.

Every exception supportkit raises on purpose derives from :class:`SupportkitError`,
and each also subclasses the closest builtin, so callers can catch either::

    SupportkitError
    ├── ValidationError (ValueError)      bad input; ``.errors`` names each field
    │   └── InvalidDuration               a duration string that cannot be read
    ├── InvalidTransition (ValueError)    a status move the lifecycle forbids
    ├── NotFound (LookupError)            an id that names nothing
    │   └── TicketNotFound
    ├── AlreadyExists (ValueError)        an id that is already taken
    ├── VersionConflict                   an update based on a stale version
    └── StorageError (RuntimeError)       the database failed or is unreachable
        ├── RetryableStorageError         a deadlock, serialization failure or lost
        │                                 connection: the Desk retries the command
        └── SchemaVersionError            the database was written by a newer supportkit

The API layer maps these to HTTP statuses in one place (422, 409, 404, 409, 412, 503).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "AlreadyExists",
    "FieldError",
    "InvalidDuration",
    "InvalidTransition",
    "NotFound",
    "RetryableStorageError",
    "SchemaVersionError",
    "StorageError",
    "SupportkitError",
    "TicketNotFound",
    "ValidationError",
    "VersionConflict",
]


class SupportkitError(Exception):
    """The root of every error supportkit raises on purpose."""


@attrs.frozen
class FieldError:
    """One problem with one field of an input.

    ``field`` is a dotted path into the input (``"contact.email"``,
    ``"hours.mon[1]"``); ``""`` means the input as a whole.
    """

    field: str
    message: str


class ValidationError(SupportkitError, ValueError):
    """Input that supportkit refuses; nothing was written.

    ``errors`` holds one :class:`FieldError` per problem found.
    """

    def __init__(self, message: str, errors: Iterable[FieldError] = ()) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        if not self.errors:
            self.errors = (FieldError("", message),)
        super().__init__(message)

    @classmethod
    def for_field(cls, field: str, message: str) -> ValidationError:
        """An error about a single field, with the field named in the message."""
        text = f"{field}: {message}" if field else message
        return cls(text, [FieldError(field, message)])

    @classmethod
    def from_errors(cls, errors: Sequence[FieldError]) -> ValidationError:
        """One error that carries several field errors."""
        text = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors)
        return cls(text, errors)

    def prefixed(self, prefix: str) -> ValidationError:
        """The same error with every field path put under ``prefix``."""
        if not prefix:
            return self
        moved = [FieldError(_join(prefix, e.field), e.message) for e in self.errors]
        return ValidationError.from_errors(moved)


def _join(prefix: str, field: str) -> str:
    if not field:
        return prefix
    if field.startswith("["):
        return prefix + field
    return f"{prefix}.{field}"


class InvalidDuration(ValidationError):
    """A duration that cannot be read (``"two hours"``, ``"PT"``, ``-5``)."""


class InvalidTransition(SupportkitError, ValueError):
    """A status change the lifecycle does not allow.

    ``allowed`` lists the statuses the ticket could move to instead.
    """

    def __init__(self, current: str, requested: str, allowed: Iterable[str]) -> None:
        self.current = current
        self.requested = requested
        self.allowed: tuple[str, ...] = tuple(allowed)
        if self.allowed:
            hint = "allowed: " + ", ".join(self.allowed)
        else:
            hint = f"no status change is allowed from {current!r}"
        super().__init__(f"cannot move a ticket from {current!r} to {requested!r} ({hint})")


class NotFound(SupportkitError, LookupError):
    """Nothing exists under the given id."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class TicketNotFound(NotFound):
    """No ticket has this id or number (or the caller may not see it)."""

    def __init__(self, key: str) -> None:
        super().__init__("ticket", key)


class VersionConflict(SupportkitError):
    """The ticket changed since the version the caller based its update on."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(f"{key!r} is at version {actual}, not {expected}; reload it and try again")


class AlreadyExists(SupportkitError, ValueError):
    """Something with this id already exists."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} already exists")


class StorageError(SupportkitError, RuntimeError):
    """The storage backend failed: unreachable, busy for too long, or broken.

    The backend's own exception is chained as ``__cause__``.
    """


class SchemaVersionError(StorageError):
    """The database's schema is newer than this version of supportkit understands."""


class RetryableStorageError(StorageError):
    """A transient failure (deadlock, serialization failure, dropped connection).

    The transaction was rolled back; running the same command again may succeed. The
    Desk does so a bounded number of times before letting this error through.
    """
