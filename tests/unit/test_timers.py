"""The request path's coarse timers: attempt timeouts and delayed starts without a loop timer each."""

from __future__ import annotations

import asyncio
import time

import pytest

from poolgate.timers import Sweeper


async def test_a_timeout_that_expires_raises_timeout_error_in_time() -> None:
    timers = Sweeper()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        with timers.timeout(0.05):
            await asyncio.sleep(5)
    assert 0.05 <= time.monotonic() - started < 0.5
    assert len(timers) == 0


async def test_work_that_finishes_in_time_is_not_touched() -> None:
    timers = Sweeper()
    with timers.timeout(0.2) as t:
        await asyncio.sleep(0.01)
    assert not t.expired and len(timers) == 0
    await asyncio.sleep(0.3)  # the cancelled entry never fires into a later await
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    timers = Sweeper()
    entered = asyncio.Event()

    async def work() -> None:
        with timers.timeout(10):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(work())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(timers) == 0


async def test_callbacks_fire_once_when_due_and_cancelled_ones_never() -> None:
    timers = Sweeper()
    fired: list[str] = []
    timers.call_later(0.03, lambda: fired.append("soon"))
    late = timers.call_later(0.03, lambda: fired.append("cancelled"))
    timers.call_later(0.12, lambda: fired.append("later"))
    timers.cancel(late)
    await asyncio.sleep(0.08)
    assert fired == ["soon"]
    await asyncio.sleep(0.15)
    assert fired == ["soon", "later"] and len(timers) == 0


async def test_an_earlier_entry_is_not_held_up_by_a_long_one() -> None:
    timers = Sweeper()
    fired = asyncio.Event()
    timers.call_later(300, lambda: None)  # arms the single timer far away
    timers.call_later(0.02, fired.set)  # must re-arm it sooner
    await asyncio.wait_for(fired.wait(), 1.0)


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    timers = Sweeper()
    fired = asyncio.Event()

    def broken() -> None:
        raise RuntimeError("boom")

    timers.call_later(0.01, broken)
    timers.call_later(0.01, fired.set)
    await asyncio.wait_for(fired.wait(), 1.0)
