"""The admin lockout's window: failures age out, a success forgets them, memory stays bounded."""

from __future__ import annotations

import asyncio

import pytest

from poolgate.errors import GatewayError
from poolgate.pool import state
from poolgate.pool.state import MemoryState
from poolgate.server.auth import AdminLockout


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_age_out_of_the_window() -> None:
    async def run() -> None:
        clock = Clock()
        lock = AdminLockout(MemoryState(), limit=3, window=60.0, clock=clock)
        for _ in range(3):
            await lock.failed("a")
            clock.now += 10
        with pytest.raises(GatewayError) as err:
            await lock.check("a")
        assert err.value.kind.status == 429 and err.value.retry_after == pytest.approx(30.0)
        clock.now += 31  # the first failure is now older than the window
        await lock.check("a")
        await lock.failed("a")
        with pytest.raises(GatewayError):
            await lock.check("a")

    asyncio.run(run())


def test_a_right_password_forgets_earlier_failures() -> None:
    async def run() -> None:
        lock = AdminLockout(MemoryState(), limit=2, window=60.0, clock=Clock())
        await lock.failed("a")
        await lock.succeeded("a")
        await lock.failed("a")
        await lock.check("a")

    asyncio.run(run())


def test_tracked_addresses_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MAX_TRACKED_ADDRESSES", 3)

    async def run() -> None:
        clock = Clock()
        lock = AdminLockout(MemoryState(), limit=1, window=60.0, clock=clock)
        for address in ("a", "b", "c", "d"):
            await lock.failed(address)
            clock.now += 1
        await lock.check("a")  # the oldest was forgotten to make room
        with pytest.raises(GatewayError):
            await lock.check("d")

    asyncio.run(run())
