"""The admin lockout's window: failures age out, a success forgets them, memory stays bounded."""

from __future__ import annotations

import pytest

from poolgate.errors import GatewayError
from poolgate.server import auth
from poolgate.server.auth import AdminLockout


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_age_out_of_the_window() -> None:
    clock = Clock()
    lock = AdminLockout(limit=3, window=60.0, clock=clock)
    for _ in range(3):
        lock.failed("a")
        clock.now += 10
    with pytest.raises(GatewayError) as err:
        lock.check("a")
    assert err.value.kind.status == 429 and err.value.retry_after == pytest.approx(30.0)
    clock.now += 31  # the first failure is now older than the window
    lock.check("a")
    lock.failed("a")
    with pytest.raises(GatewayError):
        lock.check("a")


def test_a_right_password_forgets_earlier_failures() -> None:
    lock = AdminLockout(limit=2, window=60.0, clock=Clock())
    lock.failed("a")
    lock.succeeded("a")
    lock.failed("a")
    lock.check("a")


def test_tracked_addresses_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "MAX_TRACKED_ADDRESSES", 3)
    clock = Clock()
    lock = AdminLockout(limit=1, window=60.0, clock=clock)
    for address in ("a", "b", "c", "d"):
        lock.failed(address)
        clock.now += 1
    lock.check("a")  # the oldest was forgotten to make room
    with pytest.raises(GatewayError):
        lock.check("d")
