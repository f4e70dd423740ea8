"""Reading request bodies: the seed's ticket, comment, escalation and notify shapes.

Each ``parse_*`` function takes the body as a mapping (decoded JSON, or the dict a
Python caller passes) and either returns a typed value or raises one
:class:`~supportkit.errors.ValidationError` listing every problem by field path.
Nothing here writes; the Desk calls these before it opens a transaction, so bad
input never leaves a partial write.

Rules that apply everywhere: unknown fields are refused; text must be valid Unicode
without NUL bytes or lone surrogates; sizes are bounded (see :class:`Limits`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .errors import FieldError, ValidationError
from .models import PRIORITIES, Attachment, Author, Category, Contact, Location
from .models import json_kind as _kind

__all__ = [
    "COMMENT_TYPES",
    "MISSING",
    "CommentInput",
    "CustomField",
    "EscalationInput",
    "Limits",
    "NewAttachment",
    "NotifyInput",
    "TicketInput",
    "TicketUpdate",
    "parse_comment",
    "parse_escalation",
    "parse_instant",
    "parse_notify",
    "parse_ticket",
    "parse_update",
    "sniff_content_type",
]


class _Missing:
    """The "not given" marker: tells a field left out from one set to ``null``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

#: Comment types; ``internal_note`` is always internal.
COMMENT_TYPES: Final = ("comment", "customer_update", "internal_note", "customer_reply", "system")
_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE: Final = re.compile(r"^\+?[0-9][0-9 ().-]{4,30}$")
_TAG: Final = re.compile(r"^[\w][\w .:/-]{0,49}$")
#: ``json.dumps(value, ensure_ascii=False)`` (how metadata's size is measured), without
#: making an encoder each time.
_json_text: Final = json.JSONEncoder(ensure_ascii=False).encode


@attrs.frozen
class Limits:
    """Size limits on input (a desk's configuration holds one)."""

    title: int = 200
    description: int = 20_000
    comment: int = 50_000
    metadata_bytes: int = 16_384
    metadata_depth: int = 8
    attachment_bytes: int = 10 * 1024 * 1024
    attachments_per_request: int = 10
    tags: int = 20
    recipients: int = 50


@attrs.frozen
class CustomField:
    """The definition of a custom ticket field.

    ``type`` is ``string``, ``integer``, ``number``, ``boolean`` or ``enum`` (with
    ``choices``); ``max_length`` bounds strings.
    """

    name: str
    type: str = "string"
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = 500

    def __attrs_post_init__(self) -> None:
        if self.type not in ("string", "integer", "number", "boolean", "enum"):
            raise ValidationError.for_field(
                f"custom_fields.{self.name}.type", f"unknown custom field type {self.type!r}"
            )
        if self.type == "enum" and not self.choices:
            raise ValidationError.for_field(
                f"custom_fields.{self.name}.choices", "an enum field needs choices"
            )


@attrs.frozen
class NewAttachment:
    """An attachment decoded from a request, with its bytes."""

    attachment: Attachment
    data: bytes


@attrs.frozen
class TicketInput:
    """A validated create body."""

    title: str
    description: str
    category: str
    priority: str
    subcategory: str | None = None
    severity: str | None = None
    customer_id: str | None = None
    contact: Contact | None = None
    location: Location | None = None
    service_affected: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    custom_fields: dict[str, Any] = attrs.field(factory=dict)
    tags: tuple[str, ...] = ()
    attachments: tuple[NewAttachment, ...] = ()


@attrs.frozen
class TicketUpdate:
    """A validated update body; a field left out is :data:`MISSING`."""

    status: Any = MISSING
    priority: Any = MISSING
    assigned_to: Any = MISSING
    estimated_resolution: Any = MISSING
    internal_notes: Any = MISSING
    customer_update: Any = MISSING
    metadata: Any = MISSING
    tags: Any = MISSING
    title: Any = MISSING
    description: Any = MISSING
    severity: Any = MISSING
    custom_fields: Any = MISSING

    def given(self) -> list[str]:
        """The names of the fields the body set."""
        return [f.name for f in attrs.fields(TicketUpdate) if getattr(self, f.name) is not MISSING]


@attrs.frozen
class CommentInput:
    content: str
    type: str
    visibility: str
    author: Author
    attachments: tuple[NewAttachment, ...] = ()
    metadata: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class EscalationInput:
    reason: str
    level: int | None = None
    notify: tuple[str, ...] = ()
    metadata: dict[str, Any] = attrs.field(factory=dict)
    comments: str | None = None


@attrs.frozen
class NotifyInput:
    type: str
    recipients: tuple[dict[str, str], ...]
    template: str | None = None
    subject: str | None = None
    message: str | None = None
    variables: dict[str, Any] = attrs.field(factory=dict)
    include_comments: bool = False
    comment_filter: str = "customer_visible"


# -- the reader --------------------------------------------------------------------------


class _Reader:
    """Collects field errors while reading one body."""

    def __init__(self, body: object, limits: Limits, *, what: str) -> None:
        self.errors: list[FieldError] = []
        self.limits = limits
        if not isinstance(body, Mapping):
            raise ValidationError.for_field("", f"the {what} must be a JSON object")
        self.body: Mapping[str, Any] = body

    def fail(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def done(self) -> None:
        if self.errors:
            raise ValidationError.from_errors(self.errors)

    def refuse_unknown(self, allowed: Sequence[str], prefix: str = "") -> None:
        for key in self.body:
            if key not in allowed:
                self.fail(_path(prefix, str(key)), "unknown field")

    def text(
        self,
        field: str,
        value: object,
        *,
        max_length: int,
        required: bool = False,
        strip: bool = True,
    ) -> str | None:
        if value is None:
            if required:
                self.fail(field, "required")
            return None
        if not isinstance(value, str):
            self.fail(field, f"expected a string, got {_kind(value)}")
            return None
        problem = text_problem(value)
        if problem:
            self.fail(field, problem)
            return None
        cleaned = value.strip() if strip else value
        if required and not cleaned:
            self.fail(field, "must not be empty")
            return None
        if len(cleaned) > max_length:
            self.fail(field, f"at most {max_length} characters, got {len(cleaned)}")
            return None
        return cleaned

    def choice(self, field: str, value: object, choices: Sequence[str]) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value not in choices:
            self.fail(field, f"{value!r} is not one of: " + ", ".join(choices))
            return None
        return value

    def json_object(self, field: str, value: object) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(field, f"expected an object, got {_kind(value)}")
            return {}
        problem = json_problem(value, self.limits.metadata_depth)
        if problem:
            self.fail(field, problem)
            return {}
        size = len(_json_text(value).encode())
        if size > self.limits.metadata_bytes:
            self.fail(field, f"at most {self.limits.metadata_bytes} bytes of JSON, got {size}")
            return {}
        return dict(value)

    def string_list(self, field: str, value: object, *, max_items: int) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            self.fail(field, f"expected a list of strings, got {_kind(value)}")
            return ()
        if len(value) > max_items:
            self.fail(field, f"at most {max_items} items, got {len(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            text = self.text(f"{field}[{i}]", item, max_length=320, required=True)
            if text is not None:
                out.append(text)
        return tuple(dict.fromkeys(out))


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def text_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable text (NUL bytes, lone surrogates), or ``None``."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if value.isascii():  # no surrogates: nothing more to check
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (found a lone surrogate)"
    return None


def json_problem(value: object, max_depth: int, depth: int = 0) -> str | None:
    """Why ``value`` is not plain, bounded JSON data, or ``None``."""
    if depth > max_depth:
        return f"nested deeper than {max_depth} levels"
    if isinstance(value, str):
        return text_problem(value)
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    if isinstance(value, list | tuple):
        for item in value:
            problem = json_problem(item, max_depth, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return "object keys must be strings"
            problem = text_problem(key) or json_problem(item, max_depth, depth + 1)
            if problem:
                return problem
        return None
    return f"not JSON data ({type(value).__name__})"


def parse_instant(value: object, field: str) -> datetime:
    """An ISO 8601 instant with a timezone (``2024-11-01T20:00:00Z``), as aware UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError.for_field(
                field, f"not an ISO 8601 date-time: {value!r}"
            ) from None
    else:
        raise ValidationError.for_field(
            field, f"expected an ISO 8601 date-time, got {_kind(value)}"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError.for_field(
            field, f"needs a timezone (e.g. {value!s}Z or +00:00): {value!r}"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError.for_field(field, f"out of range: {value!r}") from None


# -- attachments ------------------------------------------------------------------------

_SIGNATURES: Final[tuple[tuple[bytes, int, str], ...]] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x1f\x8b", 0, "application/gzip"),
)
#: Declared types that are containers of ZIP (office documents).
_ZIP_FAMILY: Final = (
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
_TEXT_TYPES: Final = ("text/plain", "text/csv", "application/json", "text/markdown", "text/x-log")
#: Content types accepted by default.
ALLOWED_CONTENT_TYPES: Final = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/gzip",
    "application/octet-stream",
    *_ZIP_FAMILY,
    *_TEXT_TYPES,
)


def sniff_content_type(data: bytes) -> str | None:
    """The content type the bytes themselves show, when they have a known signature."""
    for signature, offset, kind in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _content_type_problem(declared: str, data: bytes) -> str | None:
    sniffed = sniff_content_type(data)
    if declared in _TEXT_TYPES:
        if sniffed is not None:
            return f"declared {declared} but the data is {sniffed}"
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return f"declared {declared} but the data is not UTF-8 text"
        return None
    if declared == "application/octet-stream":
        return None
    if declared in _ZIP_FAMILY:
        return (
            None
            if sniffed == "application/zip"
            else f"declared {declared} but the data is not a ZIP container"
        )
    if sniffed != declared:
        return f"declared {declared} but the data is " + (sniffed or "not of that type")
    return None


def sanitize_filename(name: str) -> str:
    """A safe display name: no directories, control characters or leading dots."""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else name[:200]
    return name or "attachment"


def _attachments(
    reader: _Reader,
    value: object,
    field: str,
    new_id: Callable[[str], str],
    allowed_types: Sequence[str],
) -> tuple[NewAttachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        reader.fail(field, f"expected a list, got {_kind(value)}")
        return ()
    if len(value) > reader.limits.attachments_per_request:
        reader.fail(field, f"at most {reader.limits.attachments_per_request} attachments")
        return ()
    found: list[NewAttachment] = []
    for i, item in enumerate(value):
        here = f"{field}[{i}]"
        if not isinstance(item, Mapping):
            reader.fail(here, f"expected an object, got {_kind(item)}")
            continue
        for key in item:
            if key not in ("filename", "content_type", "size", "data"):
                reader.fail(f"{here}.{key}", "unknown field")
        filename = reader.text(
            f"{here}.filename", item.get("filename"), max_length=1000, required=True
        )
        declared = reader.text(
            f"{here}.content_type", item.get("content_type"), max_length=200, required=True
        )
        raw = item.get("data")
        if not isinstance(raw, str) or not raw:
            reader.fail(f"{here}.data", "required: the file's bytes, base64-encoded")
            continue
        limit = reader.limits.attachment_bytes
        if len(raw) > (limit * 4) // 3 + 8:
            reader.fail(f"{here}.data", f"the attachment is larger than the limit of {limit} bytes")
            continue
        try:
            data = base64.b64decode(raw.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            reader.fail(f"{here}.data", "not valid base64")
            continue
        if len(data) > limit:
            reader.fail(f"{here}.data", f"the attachment is larger than the limit of {limit} bytes")
            continue
        size = item.get("size")
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, int) or size != len(data)
        ):
            reader.fail(f"{here}.size", f"says {size!r} but the data has {len(data)} bytes")
            continue
        if declared is None or filename is None:
            continue
        declared = declared.lower().split(";")[0].strip()
        if declared not in allowed_types:
            reader.fail(f"{here}.content_type", f"{declared!r} is not an accepted content type")
            continue
        problem = _content_type_problem(declared, data)
        if problem:
            reader.fail(f"{here}.content_type", problem)
            continue
        attachment = Attachment(
            id=new_id("att"),
            filename=sanitize_filename(filename),
            content_type=declared,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        found.append(NewAttachment(attachment, data))
    return tuple(found)


# -- tickets ------------------------------------------------------------------------------

_CREATE_FIELDS: Final = (
    "title", "description", "customer_id", "contact", "category", "subcategory",
    "priority", "severity", "service_affected", "location", "metadata", "attachments",
    "custom_fields", "tags",
)  # fmt: skip
_UPDATE_FIELDS: Final = tuple(f.name for f in attrs.fields(TicketUpdate))


def _contact(reader: _Reader, value: object) -> Contact | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        reader.fail("contact", f"expected an object, got {_kind(value)}")
        return None
    for key in value:
        if key not in ("name", "email", "phone", "role"):
            reader.fail(f"contact.{key}", "unknown field")
    name = reader.text("contact.name", value.get("name"), max_length=200)
    email = reader.text("contact.email", value.get("email"), max_length=320)
    if email is not None and not _EMAIL.match(email):
        reader.fail("contact.email", f"not an e-mail address: {email!r}")
    phone = reader.text("contact.phone", value.get("phone"), max_length=40)
    if phone is not None and not _PHONE.match(phone):
        reader.fail("contact.phone", f"not a phone number: {phone!r}")
    role = reader.text("contact.role", value.get("role"), max_length=200)
    if not (name or email or phone):
        reader.fail("contact", "needs at least a name, an e-mail address or a phone number")
    return Contact(name=name, email=email, phone=phone, role=role)


def _location(reader: _Reader, value: object) -> Location | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        reader.fail("location", f"expected an object, got {_kind(value)}")
        return None
    for key in value:
        if key not in ("site_id", "address", "timezone"):
            reader.fail(f"location.{key}", "unknown field")
    timezone = reader.text("location.timezone", value.get("timezone"), max_length=64)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            reader.fail("location.timezone", f"unknown IANA timezone {timezone!r}")
    return Location(
        site_id=reader.text("location.site_id", value.get("site_id"), max_length=200),
        address=reader.text("location.address", value.get("address"), max_length=1000),
        timezone=timezone,
    )


def _custom_fields(
    reader: _Reader,
    value: object,
    definitions: Mapping[str, CustomField],
    *,
    require: bool,
) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        reader.fail("custom_fields", f"expected an object, got {_kind(value)}")
        return {}
    out: dict[str, Any] = {}
    for name, item in value.items():
        here = f"custom_fields.{name}"
        definition = definitions.get(str(name))
        if definition is None:
            known = ", ".join(definitions) or "none are defined"
            reader.fail(here, f"unknown custom field (known: {known})")
            continue
        if item is None:
            out[name] = None
            continue
        kind = definition.type
        if kind in ("string", "enum"):
            text = reader.text(here, item, max_length=definition.max_length)
            if text is not None and kind == "enum" and text not in definition.choices:
                reader.fail(here, f"{text!r} is not one of: " + ", ".join(definition.choices))
                continue
            out[name] = text
        elif kind == "integer":
            if isinstance(item, bool) or not isinstance(item, int):
                reader.fail(here, f"expected an integer, got {_kind(item)}")
                continue
            out[name] = item
        elif kind == "number":
            ok = isinstance(item, int | float) and not isinstance(item, bool)
            if not ok or not math.isfinite(item):
                reader.fail(here, f"expected a number, got {_kind(item)}")
                continue
            out[name] = item
        else:
            if not isinstance(item, bool):
                reader.fail(here, f"expected true or false, got {_kind(item)}")
                continue
            out[name] = item
    if require:
        for name, definition in definitions.items():
            if definition.required and out.get(name) is None:
                reader.fail(f"custom_fields.{name}", "required")
    return out


def _tags(reader: _Reader, value: object) -> tuple[str, ...]:
    tags = reader.string_list("tags", value, max_items=reader.limits.tags)
    for i, tag in enumerate(tags):
        if not _TAG.match(tag):
            reader.fail(f"tags[{i}]", f"not a tag (letters, digits, _ . : / -; up to 50): {tag!r}")
    return tags


def parse_ticket(
    body: object,
    *,
    categories: Mapping[str, Category],
    severities: Sequence[str],
    custom_fields: Mapping[str, CustomField],
    limits: Limits,
    new_id: Callable[[str], str],
    allowed_content_types: Sequence[str] = ALLOWED_CONTENT_TYPES,
) -> TicketInput:
    """Validate a create body (the seed's ``POST /tickets``).

    :raises ValidationError: listing every problem by field.
    """
    reader = _Reader(body, limits, what="ticket")
    data = reader.body
    reader.refuse_unknown(_CREATE_FIELDS)
    title = reader.text("title", data.get("title"), max_length=limits.title, required=True)
    description = reader.text(
        "description", data.get("description"), max_length=limits.description, required=True
    )
    category_id = reader.text("category", data.get("category"), max_length=100, required=True)
    category = None
    if category_id is not None:
        category = categories.get(category_id)
        if category is None:
            known = ", ".join(sorted(categories)) or "none are configured"
            reader.fail("category", f"unknown category {category_id!r} (known: {known})")
    subcategory = reader.text("subcategory", data.get("subcategory"), max_length=100)
    if (
        subcategory is not None
        and category is not None
        and category.subcategory(subcategory) is None
    ):
        known = ", ".join(s.id for s in category.subcategories) or "none"
        reader.fail(
            "subcategory", f"{subcategory!r} is not a subcategory of {category.id} (known: {known})"
        )
    priority = reader.choice("priority", data.get("priority", "medium"), PRIORITIES)
    if data.get("priority", "medium") is None:
        reader.fail("priority", "must not be null")
    severity = reader.choice("severity", data.get("severity"), severities)
    customer_id = reader.text("customer_id", data.get("customer_id"), max_length=100)
    contact = _contact(reader, data.get("contact"))
    location = _location(reader, data.get("location"))
    service = reader.text("service_affected", data.get("service_affected"), max_length=200)
    metadata = reader.json_object("metadata", data.get("metadata"))
    fields = _custom_fields(reader, data.get("custom_fields"), custom_fields, require=True)
    tags = _tags(reader, data.get("tags"))
    attachments = _attachments(
        reader, data.get("attachments"), "attachments", new_id, allowed_content_types
    )
    reader.done()
    assert title is not None and description is not None and category_id is not None
    assert priority is not None
    return TicketInput(
        title=title,
        description=description,
        category=category_id,
        priority=priority,
        subcategory=subcategory,
        severity=severity,
        customer_id=customer_id,
        contact=contact,
        location=location,
        service_affected=service,
        metadata=metadata,
        custom_fields=fields,
        tags=tags,
        attachments=attachments,
    )


def parse_update(
    body: object,
    *,
    statuses: Sequence[str],
    severities: Sequence[str],
    custom_fields: Mapping[str, CustomField],
    limits: Limits,
) -> TicketUpdate:
    """Validate an update body (the seed's ``PUT /tickets/{id}``).

    ``assigned_to`` is an agent id (or ``null`` to unassign); ``metadata`` is merged
    into the ticket's (a key set to ``null`` is removed); ``tags`` replaces the tags.
    """
    reader = _Reader(body, limits, what="update")
    data = reader.body
    reader.refuse_unknown(_UPDATE_FIELDS)
    values: dict[str, Any] = {}
    if "status" in data:
        values["status"] = reader.choice("status", data["status"], statuses)
        if data["status"] is None:
            reader.fail("status", "must not be null")
    if "priority" in data:
        values["priority"] = reader.choice("priority", data["priority"], PRIORITIES)
        if data["priority"] is None:
            reader.fail("priority", "must not be null")
    if "severity" in data:
        values["severity"] = reader.choice("severity", data["severity"], severities)
    if "assigned_to" in data:
        values["assigned_to"] = reader.text("assigned_to", data["assigned_to"], max_length=100)
    if "estimated_resolution" in data:
        value = data["estimated_resolution"]
        if value is None:
            values["estimated_resolution"] = None
        else:
            try:
                values["estimated_resolution"] = parse_instant(value, "estimated_resolution")
            except ValidationError as exc:
                reader.errors.extend(exc.errors)
    for field in ("internal_notes", "customer_update"):
        if field in data:
            values[field] = reader.text(
                field, data[field], max_length=limits.comment, required=True
            )
    if "title" in data:
        values["title"] = reader.text(
            "title", data["title"], max_length=limits.title, required=True
        )
    if "description" in data:
        values["description"] = reader.text(
            "description", data["description"], max_length=limits.description, required=True
        )
    if "metadata" in data:
        values["metadata"] = reader.json_object("metadata", data["metadata"])
    if "tags" in data:
        values["tags"] = _tags(reader, data["tags"])
    if "custom_fields" in data:
        values["custom_fields"] = _custom_fields(
            reader, data["custom_fields"], custom_fields, require=False
        )
    reader.done()
    if not values:
        raise ValidationError.for_field("", "the update changes nothing: it sets no field")
    return TicketUpdate(**values)


# -- comments, escalations, notifications -------------------------------------------------------


def parse_comment(
    body: object,
    *,
    limits: Limits,
    new_id: Callable[[str], str],
    allowed_content_types: Sequence[str] = ALLOWED_CONTENT_TYPES,
) -> CommentInput:
    """Validate a comment body (the seed's ``POST /tickets/{id}/comments``).

    ``type`` defaults to ``comment``; ``visibility`` to ``internal`` for an
    ``internal_note`` and ``customer`` otherwise. An ``internal_note`` cannot be
    customer-visible. ``author`` defaults to the system.
    """
    reader = _Reader(body, limits, what="comment")
    data = reader.body
    reader.refuse_unknown(("content", "type", "visibility", "author", "attachments", "metadata"))
    content = reader.text("content", data.get("content"), max_length=limits.comment, required=True)
    kind = reader.choice("type", data.get("type", "comment"), COMMENT_TYPES) or "comment"
    default_visibility = "internal" if kind == "internal_note" else "customer"
    visibility = reader.choice(
        "visibility", data.get("visibility", default_visibility), ("customer", "internal")
    )
    if kind == "internal_note" and visibility == "customer":
        reader.fail("visibility", "an internal_note cannot be customer-visible")
    author = Author(type="system")
    raw_author = data.get("author")
    if raw_author is not None:
        if not isinstance(raw_author, Mapping):
            reader.fail("author", f"expected an object, got {_kind(raw_author)}")
        else:
            for key in raw_author:
                if key not in ("type", "id", "name", "email"):
                    reader.fail(f"author.{key}", "unknown field")
            author_type = reader.choice(
                "author.type", raw_author.get("type"), ("agent", "customer", "system")
            )
            if raw_author.get("type") is None:
                reader.fail("author.type", "required: agent, customer or system")
            email = reader.text("author.email", raw_author.get("email"), max_length=320)
            if email is not None and not _EMAIL.match(email):
                reader.fail("author.email", f"not an e-mail address: {email!r}")
            if author_type is not None:
                author = Author(
                    type=author_type,
                    id=reader.text("author.id", raw_author.get("id"), max_length=100),
                    name=reader.text("author.name", raw_author.get("name"), max_length=200),
                    email=email,
                )
    if author.type == "customer" and visibility == "internal":
        reader.fail("visibility", "a customer's comment is always customer-visible")
    metadata = reader.json_object("metadata", data.get("metadata"))
    attachments = _attachments(
        reader, data.get("attachments"), "attachments", new_id, allowed_content_types
    )
    reader.done()
    assert content is not None and visibility is not None
    return CommentInput(
        content=content,
        type=kind,
        visibility=visibility,
        author=author,
        attachments=attachments,
        metadata=metadata,
    )


def parse_escalation(body: object, *, limits: Limits) -> EscalationInput:
    """Validate an escalation body (the seed's ``POST /tickets/{id}/escalate``)."""
    reader = _Reader(body, limits, what="escalation")
    data = reader.body
    reader.refuse_unknown(("escalation_level", "reason", "notify", "metadata", "comments"))
    reason = reader.text("reason", data.get("reason"), max_length=1000, required=True)
    level = data.get("escalation_level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
        reader.fail("escalation_level", f"expected an integer, got {_kind(level)}")
        level = None
    notify = reader.string_list("notify", data.get("notify"), max_items=limits.recipients)
    for i, address in enumerate(notify):
        if not _EMAIL.match(address):
            reader.fail(f"notify[{i}]", f"not an e-mail address: {address!r}")
    metadata = reader.json_object("metadata", data.get("metadata"))
    comments = reader.text("comments", data.get("comments"), max_length=limits.comment)
    reader.done()
    assert reason is not None
    return EscalationInput(
        reason=reason, level=level, notify=notify, metadata=metadata, comments=comments or None
    )


def parse_notify(body: object, *, limits: Limits) -> NotifyInput:
    """Validate a notification request (the seed's ``POST /tickets/{id}/notify``)."""
    reader = _Reader(body, limits, what="notification")
    data = reader.body
    reader.refuse_unknown(
        ("type", "recipients", "template", "subject", "message", "variables",
         "include_comments", "comment_filter")
    )  # fmt: skip
    channel = reader.choice("type", data.get("type"), ("email", "sms"))
    if data.get("type") is None:
        reader.fail("type", "required: email or sms")
    raw = data.get("recipients")
    recipients: list[dict[str, str]] = []
    if not isinstance(raw, list | tuple) or not raw:
        reader.fail("recipients", "required: a non-empty list of recipients")
    elif len(raw) > limits.recipients:
        reader.fail("recipients", f"at most {limits.recipients} recipients")
    else:
        for i, item in enumerate(raw):
            here = f"recipients[{i}]"
            if not isinstance(item, Mapping):
                reader.fail(here, f"expected an object, got {_kind(item)}")
                continue
            entry: dict[str, str] = {}
            for key, value in item.items():
                if key not in ("email", "phone", "name", "role"):
                    reader.fail(f"{here}.{key}", "unknown field")
                    continue
                text = reader.text(f"{here}.{key}", value, max_length=320)
                if text is not None:
                    entry[str(key)] = text
            if channel == "email" and not _EMAIL.match(entry.get("email", "")):
                reader.fail(f"{here}.email", "an e-mail recipient needs a valid email")
            if channel == "sms" and not _PHONE.match(entry.get("phone", "")):
                reader.fail(f"{here}.phone", "an SMS recipient needs a valid phone number")
            recipients.append(entry)
    template = reader.text("template", data.get("template"), max_length=100)
    subject = reader.text("subject", data.get("subject"), max_length=500)
    message = reader.text("message", data.get("message"), max_length=limits.comment)
    if template is None and message is None:
        reader.fail("message", "a notification needs a template or a message")
    variables = reader.json_object("variables", data.get("variables"))
    include = data.get("include_comments", False)
    if not isinstance(include, bool):
        reader.fail("include_comments", "expected true or false")
        include = False
    comment_filter = reader.choice(
        "comment_filter",
        data.get("comment_filter", "customer_visible"),
        ("customer_visible", "all"),
    )
    reader.done()
    assert channel is not None
    return NotifyInput(
        type=channel,
        recipients=tuple(recipients),
        template=template,
        subject=subject,
        message=message,
        variables=variables,
        include_comments=include,
        comment_filter=comment_filter or "customer_visible",
    )
