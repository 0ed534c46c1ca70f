"""Signing in without being a password oracle or a memory bomb.

:func:`sign_in` is :func:`~gisgrid.access.auth.authenticate` behind a :class:`SignInThrottle`:

- Failed sign-ins are counted per username and per client (an address) over a sliding window
  (GISGRID_SIGNIN_WINDOW_S, 300 s). A username with GISGRID_SIGNIN_MAX_FAILURES_PER_USER (5)
  failures in the window, or a client with GISGRID_SIGNIN_MAX_FAILURES_PER_CLIENT (30), is
  refused with TooManyRequests (429 with Retry-After: when the oldest failure leaves the
  window) before any password is checked, the right one too. A success clears the
  username's failures (not the client's).
- At most GISGRID_SIGNIN_MAX_HASHING (2) argon2 checks run at once: each holds 64 MiB, and a
  burst of sign-ins must not take the server's memory. A check that waits longer than
  :data:`HASH_WAIT_S` for a slot is TooManyRequests too.

The counts live in the process (one API process: one throttle). Behind a reverse proxy every
client has the proxy's address; the web layer must pass the real client's address.

Examples
--------
>>> t = SignInThrottle(max_per_user=2, max_per_client=10, window_s=60, clock=lambda: 0.0)
>>> t.failed("ann", "10.0.0.1"); t.failed("ann", "10.0.0.2")
>>> t.check("ann", "10.0.0.3")
Traceback (most recent call last):
...
gisgrid.errors.TooManyRequests: username: too many failed sign-ins for this username; \
try again in 60 s
>>> t.check("bob", "10.0.0.1")  # another username from the same client is still let in
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from gisgrid.access.auth import AccountRow, authenticate
from gisgrid.errors import NotAuthenticated, TooManyRequests
from gisgrid.settings import Settings

T = TypeVar("T")

HASH_WAIT_S = 10.0
MAX_KEYS = 100_000  # past this many usernames and clients, the idle ones are dropped


class SignInThrottle:
    """Failure counts per username and per client, and the cap on concurrent hashing."""

    def __init__(
        self,
        *,
        max_per_user: int = 5,
        max_per_client: int = 30,
        window_s: float = 300.0,
        max_hashing: int = 2,
        hash_wait_s: float = HASH_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_per_user = max_per_user
        self.max_per_client = max_per_client
        self.window_s = window_s
        self.clock = clock
        self.hash_wait_s = hash_wait_s
        self._hashing = threading.BoundedSemaphore(max_hashing)
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInThrottle:
        return cls(
            max_per_user=settings.signin_max_failures_per_user,
            max_per_client=settings.signin_max_failures_per_client,
            window_s=settings.signin_window_s,
            max_hashing=settings.signin_max_hashing,
        )

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, username: str, client: str | None) -> None:
        """TooManyRequests when the username or the client has too many recent failures."""
        now = self.clock()
        limits = [("username", username, self.max_per_user)]
        if client:
            limits.append(("client", client, self.max_per_client))
        with self._lock:
            for kind, value, limit in limits:
                times = self._recent((kind, value), now)
                if len(times) >= limit:
                    wait = max(1, math.ceil(times[0] + self.window_s - now))
                    raise TooManyRequests(
                        f"too many failed sign-ins for this {kind}; try again in {wait} s",
                        retry_after_s=wait,
                        field=kind,
                    )

    def failed(self, username: str, client: str | None) -> None:
        """Count one failed sign-in against the username and the client."""
        now = self.clock()
        with self._lock:
            if len(self._failures) > MAX_KEYS:
                for key in list(self._failures):
                    self._recent(key, now)
            self._failures.setdefault(("username", username), deque()).append(now)
            if client:
                self._failures.setdefault(("client", client), deque()).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("username", username), None)

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """One of the few slots in which a password hash may be checked."""
        if not self._hashing.acquire(timeout=self.hash_wait_s):
            raise TooManyRequests(
                "too many sign-ins at once; try again shortly", retry_after_s=1, field=None
            )
        try:
            yield
        finally:
            self._hashing.release()


def throttled(
    throttle: SignInThrottle, username: str, client: str | None, check: Callable[[], T]
) -> T:
    """Run ``check`` (a password or an activation code checked for ``username``) unless the
    username or the ``client`` has failed too often lately, in one of the hashing slots; a
    NotAuthenticated from it counts as a failure, a success clears the username's count.

    Raises TooManyRequests (throttled, nothing checked) or what ``check`` raises.
    """
    throttle.check(username, client)
    try:
        with throttle.hashing():
            result = check()
    except NotAuthenticated:
        throttle.failed(username, client)
        raise
    throttle.succeeded(username)
    return result


def sign_in(
    conn: Connection | Session,
    username: str,
    password: str,
    throttle: SignInThrottle,
    client: str | None = None,
) -> AccountRow:
    """The account for a username and password, as :func:`authenticate` finds it, unless the
    username or the ``client`` (its address) has failed too often lately.

    Raises TooManyRequests (throttled, nothing checked) or NotAuthenticated (and counts it).
    """
    return throttled(throttle, username, client, lambda: authenticate(conn, username, password))
