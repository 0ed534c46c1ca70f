"""What a request may cost before anyone knows who sent it.

Body size (:func:`body_limit`): GISGRID_MAX_BODY_BYTES (1 MB) for a request, a photo upload
GISGRID_MAX_PHOTO_BYTES plus :data:`FORM_SLACK_BYTES` for the multipart envelope, a
``/query/within`` polygon :data:`WITHIN_MAX_BODY_BYTES` (its 20,000 vertices as JSON). Two
guards apply it, both a 413 in the ``{error, field, reason}`` shape
(:func:`api.errors.too_large`):

- :class:`DeclaredSize` refuses a Content-Length over the limit before anything else runs
  (no body read, no token checked, no database touched);
- FastAPI's own ``max_body_size`` (set per router by ``create_app``) counts what is read, so
  a body streamed without a Content-Length stops at the limit. (Its answer to an oversized
  Content-Length would be plain text, so that case never reaches it.)

The token first: FastAPI reads a body before it resolves dependencies, so a 401 for a missing
token would come only after the body was read. :class:`TokenFirst` refuses a request that
sends a body to a route that needs a bearer token (:data:`TOKEN_FIRST`) without a token whose
signature and expiry hold, before the body is read. The routes still resolve the caller
(the account may have been deactivated): this only refuses early what they would refuse.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import too_large
from gisgrid.access.auth import decode_token
from gisgrid.errors import NotAuthenticated
from gisgrid.numbers import as_int
from gisgrid.query.within import MAX_VERTICES
from gisgrid.settings import Settings

FORM_SLACK_BYTES = 64 * 1024
"""Room for the multipart envelope around a photo (boundaries, part headers)."""

WITHIN_MAX_BODY_BYTES = max(4 * 1024 * 1024, MAX_VERTICES * 200)
"""A polygon of MAX_VERTICES vertices, written out with full precision and some indentation."""

PLAN_FILE_MAX_BYTES = 64 * 1024 * 1024
"""A plan file (GeoPackage) uploaded to POST /plans/import: a district's thousands of grids."""

TOKEN_FIRST = (
    re.compile(r"/incidents"),
    re.compile(r"/incidents/[^/]+/[^/]+"),  # an action, or a photo
    re.compile(r"/query/within"),
    re.compile(r"/photos"),  # a photo stored to be named in a report
    re.compile(r"/visit-logs"),
    re.compile(r"/(households|residents)/[^/]+"),  # a tag edit (PATCH)
    re.compile(r"/plans/import"),  # a plan file
)
"""Routes that need a bearer token and take a body (POST, PATCH)."""


PHOTO_PATH = re.compile(r"(/incidents/[^/]+)?/photos")
WITHIN_PATH = re.compile(r"/query/within")
PLAN_FILE_PATH = re.compile(r"/plans/import")


def photo_body_limit(settings: Settings) -> int:
    return settings.max_photo_bytes + FORM_SLACK_BYTES


def plan_file_body_limit(settings: Settings) -> int:
    return max(settings.max_body_bytes, PLAN_FILE_MAX_BYTES + FORM_SLACK_BYTES)


def within_body_limit(settings: Settings) -> int:
    return max(settings.max_body_bytes, WITHIN_MAX_BODY_BYTES)


def body_limit(path: str, settings: Settings) -> int:
    """The largest body a request to ``path`` may send, in bytes.

    Examples
    --------
    >>> s = Settings(secret_key="k" * 32, _env_file=None)
    >>> body_limit("/incidents", s), body_limit("/incidents/7/photos", s) > 10 * 1024**2
    (1048576, True)
    """
    if PHOTO_PATH.fullmatch(path):
        return photo_body_limit(settings)
    if WITHIN_PATH.fullmatch(path):
        return within_body_limit(settings)
    if PLAN_FILE_PATH.fullmatch(path):
        return plan_file_body_limit(settings)
    return settings.max_body_bytes


async def _refuse(send: Send, status: int, error: dict[str, Any], extra: list[Any]) -> None:
    body = json.dumps(error).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # the body was not read: the connection cannot carry another request
        (b"connection", b"close"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class DeclaredSize:
    """Pure ASGI middleware: 413 for a Content-Length over the path's :func:`body_limit`."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = as_int(Headers(scope=scope).get("content-length"))
            limit = body_limit(scope["path"], self.settings)
            if declared is not None and declared > limit:
                await _refuse(send, 413, too_large(limit).to_dict(), [])
                return
        await self.app(scope, receive, send)


class TokenFirst:
    """Pure ASGI middleware: 401 for a body sent to a :data:`TOKEN_FIRST` route without a
    valid bearer token, before a byte of the body is read."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PATCH")
            or not any(p.fullmatch(scope["path"]) for p in TOKEN_FIRST)
        ):
            await self.app(scope, receive, send)
            return
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("not authenticated: send Authorization: Bearer <token>")
            decode_token(token.strip(), self.settings)
        except NotAuthenticated as exc:
            await _refuse(send, 401, exc.to_dict(), [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)
