"""A pool harness for scheduling tests: the real services (Gateway, Scheduler, store) against an in-process
simulator, with a FakeClock so cooldowns expire when a test says so."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from poolgate.config import load_config
from poolgate.errors import GatewayError
from poolgate.gateway import RequestContext
from poolgate.hub.types import JSON
from poolgate.pool.clock import FakeClock
from poolgate.services import Services, build_services
from poolgate.simulator import RunningSimulator, parse_steps, start_simulator
from poolgate.store.models import API_KEY, Account
from poolgate.store.sql import SqlStore
from poolgate.upstream.base import UpstreamCall

FLASH = "gemini-2.5-flash"
PRO = "gemini-2.5-pro"
KEYS = ("key-one-000000", "key-two-000000", "key-three-0000")


@dataclass
class Pool:
    svc: Services
    sim: RunningSimulator
    clock: FakeClock
    ids: dict[str, str]  # label -> account id

    def script(self, key: str, *steps: dict[str, Any]) -> None:
        self.sim.state.script(key, parse_steps(list(steps)))

    def calls(self, key: str | None = None) -> list[str]:
        return [
            c.key for c in self.sim.state.calls_for(key) if c.method in ("generateContent", "streamGenerateContent")
        ]

    async def ask(
        self, model: str = FLASH, session: str = "", stream: bool = False, deadline: float = 0.0
    ) -> tuple[JSON | GatewayError, RequestContext]:
        self.clock.advance(0.001)  # distinct last-use times, so least-recently-used order is well defined
        ctx = RequestContext(request_id="t", route="/test", protocol="openai")
        body: JSON = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
        call = UpstreamCall(model=model, body=body, stream=stream, session_key=session, deadline=deadline)
        try:
            if stream:
                opened = await self.svc.gateway.open_stream(call, ctx)
                chunks = [c async for c in opened.chunks()]
                return {"chunks": chunks}, ctx
            return await self.svc.gateway.generate(call, ctx), ctx
        except GatewayError as err:
            return err, ctx

    async def cooling(self) -> dict[str, tuple[str, float, str]]:
        """key -> (kind, seconds left, reason) for every active cooldown."""
        now = self.clock.now()
        return {c.key: (c.kind, round(c.until - now, 3), c.reason) for c in await self.svc.scheduler.cooldowns()}

    def label(self, ctx: RequestContext) -> str:
        assert ctx.account is not None
        return ctx.account.label


MakePool = Callable[..., Any]


@pytest.fixture
async def make_pool(tmp_path: Path) -> AsyncIterator[MakePool]:
    stack = contextlib.AsyncExitStack()
    sim = await start_simulator()
    stack.push_async_callback(sim.stop)

    async def factory(
        toml: str = "", accounts: list[Account] | None = None, extra_transports: dict[str, Any] | None = None
    ) -> Pool:
        cfg = load_config(toml, {"POOLGATE_UPSTREAM__GEMINI_API_BASE": sim.url})
        store = SqlStore.open(tmp_path)
        ids: dict[str, str] = {}
        for acc in (
            accounts if accounts is not None else [Account("", API_KEY, f"k{i + 1}", k) for i, k in enumerate(KEYS)]
        ):
            ids[acc.label] = store.add_account(acc).id
        store.close()
        clock = FakeClock(start=time.time())
        svc = await stack.enter_async_context(
            build_services(cfg, tmp_path, clock=clock, extra_transports=extra_transports)
        )
        return Pool(svc, sim, clock, ids)

    yield factory
    await stack.aclose()


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
