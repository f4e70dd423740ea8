"""The Support API, framework-agnostic; adapters live in :mod:`supportkit.adapters`."""

from .app import ApiError, SupportApi
from .auth import ApiKey, create_key, revoke_key
from .http import Request, Response

__all__ = ["ApiError", "ApiKey", "Request", "Response", "SupportApi", "create_key", "revoke_key"]
