"""gisgrid.access.signin: failed sign-ins counted per username and per client, the window,
and the cap on concurrent password hashing (no database: the throttle alone)."""

from __future__ import annotations

import threading

import pytest

from gisgrid.access.signin import SignInThrottle
from gisgrid.errors import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_username_is_refused_after_its_failures_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    t = SignInThrottle(max_per_user=3, max_per_client=100, window_s=60, clock=clock)
    for i in range(3):
        t.check("ann", f"10.0.0.{i}")
        t.failed("ann", f"10.0.0.{i}")
        clock.now += 10
    with pytest.raises(TooManyRequests) as err:
        t.check("ann", "10.9.9.9")  # from anywhere
    assert err.value.field == "username" and err.value.retry_after_s == 30
    clock.now += 30  # the first failure (at 1000) leaves the window at 1060
    t.check("ann", "10.9.9.9")


def test_a_client_is_refused_after_failures_for_many_usernames() -> None:
    t = SignInThrottle(max_per_user=100, max_per_client=4, window_s=60, clock=Clock())
    for i in range(4):
        t.failed(f"user{i}", "10.0.0.1")
    with pytest.raises(TooManyRequests) as err:
        t.check("someone_else", "10.0.0.1")
    assert err.value.field == "client"
    t.check("someone_else", "10.0.0.2")


def test_a_success_clears_the_usernames_failures_not_the_clients() -> None:
    t = SignInThrottle(max_per_user=2, max_per_client=3, window_s=60, clock=Clock())
    t.failed("ann", "c")
    t.succeeded("ann")
    t.failed("ann", "c")
    t.check("ann", "c")  # one failure since the success
    t.failed("bob", "c")
    t.failed("bob", "d")
    with pytest.raises(TooManyRequests, match="client"):
        t.check("carl", "c")


def test_at_most_max_hashing_checks_run_at_once() -> None:
    t = SignInThrottle(max_hashing=2, hash_wait_s=0.2)
    inside = threading.Barrier(3)
    release = threading.Event()

    def hold() -> None:
        with t.hashing():
            inside.wait()
            release.wait(5)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for h in holders:
        h.start()
    inside.wait(5)  # both slots taken
    with pytest.raises(TooManyRequests) as err, t.hashing():
        pass
    assert err.value.retry_after_s == 1
    release.set()
    for h in holders:
        h.join(5)
    with t.hashing():  # free again
        pass
