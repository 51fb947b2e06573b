"""How much code one chat request runs: Python calls and distinct functions, poolgate against the floor.

`python -m benchmarks.footprint` prints JSON. Both apps run in this process with the upstream call
replaced by the stub's canned answer, so neither count includes aiohttp or uvicorn, only each
proxy's own request path. Unlike the timings, these counts do not depend on the machine: in the real
server every distinct function a request touches is fetched into cold caches (the load generator and
the stub run on the same cores in between), so this is the figure that tracks poolgate's own cost.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import orjson

from benchmarks import stub, targets

App = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
MODEL = targets.MODEL
REQUESTS = 100
OPCODE_REQUESTS = 20  # tracing every instruction is slow; the count is the same for each request


async def count(app: App, own: str) -> dict[str, float]:
    """Calls per request (all Python / the app's own) and distinct functions (all / own)."""
    body = orjson.dumps(targets.chat_body(MODEL, False))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "query_string": b"",
        "client": ("127.0.0.1", 5555),
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    statuses: list[int] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(20):  # first requests import and cache things no later request repeats
        await app(dict(scope), receive, send)
    calls: dict[CodeType, int] = {}

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            calls[frame.f_code] = calls.get(frame.f_code, 0) + 1

    sys.setprofile(profile)
    try:
        for _ in range(REQUESTS):
            await app(dict(scope), receive, send)
    finally:
        sys.setprofile(None)
    # Bytecode instructions run: what the interpreter fetches and decodes for each request, the part
    # of the cost that grows with the code's length as well as with the number of calls.
    ops: dict[CodeType, int] = {}

    def opcode(frame: FrameType, event: str, arg: object) -> Any:
        if event == "opcode":
            ops[frame.f_code] = ops.get(frame.f_code, 0) + 1
        return opcode

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return opcode

    sys.settrace(trace)
    try:
        for _ in range(OPCODE_REQUESTS):
            await app(dict(scope), receive, send)
    finally:
        sys.settrace(None)
    if set(statuses) != {200}:
        raise RuntimeError(f"the chat requests did not all succeed: {sorted(set(statuses))}")
    mine = [code for code in calls if own in code.co_filename]
    return {
        "calls": sum(calls.values()) / REQUESTS,
        "own_calls": sum(calls[code] for code in mine) / REQUESTS,
        "functions": len(calls),
        "own_functions": len(mine),
        "opcodes": sum(ops.values()) / OPCODE_REQUESTS,
        "own_opcodes": sum(n for code, n in ops.items() if own in code.co_filename) / OPCODE_REQUESTS,
    }


async def floor_counts() -> dict[str, float]:
    from benchmarks import floor

    answer = stub.answer_json(MODEL)

    class Canned:
        async def generate(self, url: str, body: bytes) -> bytes:
            return answer

    floor.upstream = Canned()
    return await count(floor.app, "/benchmarks/floor.py")


async def poolgate_counts() -> dict[str, float]:
    from poolgate.config import load_config
    from poolgate.server.app import create_app
    from poolgate.services import build_services
    from poolgate.store.models import API_KEY, Account
    from poolgate.store.sql import SqlStore

    answer = stub.answer_json(MODEL)

    class Canned:
        async def generate(self, account: Account, call: Any) -> Any:
            return orjson.loads(answer)

    with tempfile.TemporaryDirectory(prefix="poolgate-footprint-") as tmp:
        data = Path(tmp)
        store = SqlStore.open(data, None)
        store.add_account(Account(id="", kind=API_KEY, label="bench", secret="AIzaBenchmarkKey0000000000000000000"))
        store.close()
        async with build_services(load_config("", {}), data) as svc:
            svc.gateway.transports[API_KEY] = Canned()
            return await count(create_app(svc), "/poolgate/")


async def main() -> None:
    result = {"floor": await floor_counts(), "poolgate": await poolgate_counts()}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    asyncio.run(main())
