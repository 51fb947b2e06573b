"""An in-process simulator with an httpx client on it, for the simulator's own unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from poolgate.simulator import start_simulator


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    sim = await start_simulator()
    try:
        async with httpx.AsyncClient(base_url=sim.url, trust_env=False, timeout=10) as http:
            yield http
    finally:
        await sim.stop()
