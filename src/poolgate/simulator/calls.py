"""Reading and logging one upstream call the same way on every simulated Google surface."""

from __future__ import annotations

from typing import Any

import orjson

from poolgate.simulator.asgi import Request
from poolgate.simulator.state import CallRecord, SimulatorState


async def json_body(request: Request) -> Any:
    """The parsed body (an empty body reads as `{}`), or None when it is not JSON, which Google answers with 400."""
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return None


def log_call(
    request: Request, state: SimulatorState, *, key: str, model: str, method: str, stream: bool, body: Any
) -> CallRecord:
    """Record the call before any check runs, so tests also see the calls the simulator refused."""
    record = CallRecord(
        key=key,
        model=model,
        method=method,
        stream=stream,
        body=body,
        t=state.clock(),
        path=request.path,
        headers=request.headers(),
    )
    state.record(record)
    return record
