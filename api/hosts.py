"""Where links point: absolute URLs from a configured public address, never from a stranger's
Host header.

The rule (README, "Links and the Host header"):

- ``GISGRID_PUBLIC_URL`` set (``https://grid.example.org``, a path prefix allowed): every
  absolute link the API writes (TileJSON ``tiles``, OGC API ``links``, the map's config) is
  built from it. The Host header is then never used for a link; checking it is the reverse
  proxy's job.
- Unset: a request whose Host is not one of ``GISGRID_TRUSTED_HOSTS`` (default: the loopback
  names and ``GISGRID_HOST``) is refused with 400 naming the field ``Host`` before any route
  runs, so the Host that links are built from is one the operator named. ``*.example.org``
  matches the subdomains, ``*`` any host (the old behaviour: only behind a proxy that checks).

Forwarded headers (``X-Forwarded-Host``) are never read: behind a proxy, set
``GISGRID_PUBLIC_URL``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi import Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gisgrid.settings import Settings

LOOPBACK = ("localhost", "127.0.0.1", "::1")


def base_url(request: Request) -> str:
    """The address links start with: GISGRID_PUBLIC_URL, else the request's own (whose Host
    :class:`TrustedHosts` has already checked), without a trailing slash."""
    settings: Settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url
    return str(request.base_url).rstrip("/")


def self_url(request: Request) -> str:
    """The request's own URL (path and query) under :func:`base_url`."""
    query = request.url.query
    return f"{base_url(request)}{request.url.path}" + (f"?{query}" if query else "")


def host_name(host: str) -> str:
    """The name in a Host header, without its port (``[::1]:8000`` -> ``::1``).

    Examples
    --------
    >>> host_name("Example.org:8000"), host_name("[::1]:8000"), host_name("127.0.0.1")
    ('example.org', '::1', '127.0.0.1')
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed(host: str, patterns: Iterable[str]) -> bool:
    """True when ``host`` (a name, no port) matches a pattern: a name, ``*.domain`` or ``*``.

    Examples
    --------
    >>> allowed("a.example.org", ["*.example.org"]), allowed("evil.example", ["localhost"])
    (True, False)
    """
    for p in patterns:
        p = host_name(p)
        if p == "*" or host == p or (p.startswith("*.") and host.endswith(p[1:])):
            return True
    return False


def trusted_hosts(settings: Settings) -> tuple[str, ...]:
    """The hosts a request may name when GISGRID_PUBLIC_URL is unset."""
    extra = () if settings.host in ("0.0.0.0", "::", "") else (settings.host,)
    return (*LOOPBACK, *extra, *settings.trusted_hosts)


class TrustedHosts:
    """Pure ASGI middleware: 400 for a Host not in :func:`trusted_hosts` (only when
    GISGRID_PUBLIC_URL is unset; with it, no link is made from the Host)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.patterns = trusted_hosts(settings)
        self.off = bool(settings.public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.off or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = host_name(Headers(scope=scope).get("host", ""))
        if allowed(host, self.patterns):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": "InvalidInput",
                "field": "Host",
                "reason": f"host {host[:100]!r} is not served here; the operator lists the"
                " names this server answers to in GISGRID_TRUSTED_HOSTS (or sets"
                " GISGRID_PUBLIC_URL)",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
