"""The one view: a Django request in, the API's answer out."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ...api import Request, Response
from ...api.http import problem
from . import conf

__all__ = ["api"]

log = logging.getLogger("supportkit.adapters.django")


@csrf_exempt  # API clients authenticate with a bearer key, not a session cookie
def api(request: HttpRequest, subpath: str = "", **kwargs: Any) -> HttpResponse:
    """Hand ``request`` to :meth:`supportkit.api.SupportApi.handle`."""
    head = request.method == "HEAD"
    try:
        support = conf.get_api()
    except Exception:  # no database, a bad SUPPORTKIT setting: logged, answered as JSON
        log.exception("the supportkit desk could not be opened")
        return _response(problem(503, "the support desk is not available; try again"), head)
    try:
        translated = _request(request, support.max_body_bytes)
    except DisallowedHost:
        return _response(
            problem(400, "the Host header names a host this site does not serve"), head
        )
    except Exception:  # a client that went away, a broken body
        return _response(problem(400, "the request could not be read"), head)
    return _response(support.handle(translated), head)


def _request(request: HttpRequest, max_body_bytes: int) -> Request:
    method = request.method or "GET"
    # ``request.path`` is the script prefix plus ``path_info``; URLs the API builds
    # start at the prefix, the paths it routes after it.
    script = request.path[: len(request.path) - len(request.path_info)]
    return Request(
        method="GET" if method == "HEAD" else method,
        path=request.path_info,
        query={name: request.GET.getlist(name) for name in request.GET},
        headers=dict(request.headers.items()),
        # Read the stream, not ``request.body``: that one enforces Django's
        # DATA_UPLOAD_MAX_MEMORY_SIZE with an HTML 400. One byte over the API's limit
        # is enough for it to answer 413.
        body=_read(request, max_body_bytes + 1),
        base_url=request.build_absolute_uri(script + "/"),
    )


def _read(request: HttpRequest, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = request.read(min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _response(response: Response, head: bool) -> HttpResponse:
    content_type = response.header("content-type")
    answer = HttpResponse(
        b"" if head else response.body, status=response.status, content_type=content_type
    )
    for name, value in response.headers:
        if name.lower() != "content-type":
            answer[name] = value
    if content_type is None:
        del answer["Content-Type"]  # not Django's default text/html on a 204
    if head and not answer.has_header("Content-Length"):
        answer["Content-Length"] = str(len(response.body))
    return answer
