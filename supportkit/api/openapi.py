"""The OpenAPI 3.1 document of the Support API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import SupportApi
    from .http import Request

__all__ = ["document"]


def document(api: SupportApi, request: Request) -> dict[str, Any]:
    """The OpenAPI document, with the server URL taken from the request."""
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        operation = {"responses": {"200": {"description": "OK"}}}
        paths.setdefault(route.pattern, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "supportkit Support API", "version": "1"},
        "servers": [{"url": request.base_url.rstrip("/")}],
        "paths": paths,
    }
