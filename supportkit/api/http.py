"""Plain HTTP values: what an adapter hands the API layer and gets back.

No framework here: a Flask or Django adapter turns its request into a :class:`Request`
and a :class:`Response` back into its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

__all__ = ["PROBLEM_JSON", "Request", "Response", "json_response", "problem"]

PROBLEM_JSON: Final = "application/problem+json"


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


@attrs.frozen
class Request:
    """One HTTP request.

    :ivar method: upper-case method.
    :ivar path: the path below the host, e.g. ``/v1/support/tickets``.
    :ivar query: query parameters, each name with all its values.
    :ivar headers: headers with lower-case names.
    :ivar body: the raw body.
    :ivar base_url: ``scheme://host[:port]`` plus any prefix the app is mounted under,
        used to build absolute URLs in responses.
    """

    method: str
    path: str
    query: Mapping[str, Sequence[str]] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower)
    body: bytes = b""
    base_url: str = "http://localhost"

    def header(self, name: str) -> str | None:
        """A header's value, or ``None``."""
        return self.headers.get(name.lower())


@attrs.frozen
class Response:
    """One HTTP response."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value, or ``None``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body, decoded as JSON."""
        return json.loads(self.body)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON response."""
    return Response(
        status,
        (("Content-Type", "application/json"), *headers),
        _dumps(data),
    )


_TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: Sequence[Mapping[str, str]] = (),
    headers: Iterable[tuple[str, str]] = (),
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """An RFC 9457 ``application/problem+json`` response.

    ``kind`` names the problem (it becomes the ``type`` URI's last part);
    ``errors`` lists ``{"field", "message"}`` details.
    """
    body: dict[str, Any] = {
        "type": f"https://supportkit.dev/problems/{kind or _slug(status)}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [dict(e) for e in errors]
    body.update(extra or {})
    return Response(status, (("Content-Type", PROBLEM_JSON), *headers), _dumps(body))


def _slug(status: int) -> str:
    return _TITLES.get(status, "error").lower().replace(" ", "-")
