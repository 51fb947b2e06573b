"""The test-facing control API under /_sim: queue script steps, reset, read the call log."""

from __future__ import annotations

from typing import Any, Final

import orjson

from poolgate.simulator.asgi import Request
from poolgate.simulator.routing import Route
from poolgate.simulator.script import ScriptError, parse_steps
from poolgate.simulator.state import SimulatorState


async def _json_object(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def post_script(request: Request, state: SimulatorState) -> None:
    body = await _json_object(request)
    if body is None:
        await request.respond_json(400, {"error": "body must be a JSON object"})
        return
    key = body.get("key")
    if not isinstance(key, str) or not key:
        await request.respond_json(400, {"error": "key: expected a non-empty string"})
        return
    try:
        steps = parse_steps(body.get("steps"))
    except ScriptError as err:
        await request.respond_json(400, {"error": str(err)})
        return
    queued = state.script(key, steps)
    await request.respond_json(200, {"ok": True, "key": key, "queued": queued})


async def get_script(request: Request, state: SimulatorState) -> None:
    await request.respond_json(200, {"pending": state.pending()})


async def post_reset(request: Request, state: SimulatorState) -> None:
    await request.body()
    state.reset()
    await request.respond_json(200, {"ok": True})


async def get_calls(request: Request, state: SimulatorState) -> None:
    calls = state.calls_for(request.query("key"))
    await request.respond_json(200, {"calls": [c.to_json() for c in calls]})


async def get_disconnects(request: Request, state: SimulatorState) -> None:
    await request.respond_json(200, {"disconnects": [c.to_json() for c in state.disconnects]})


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", r"/_sim/script", post_script),
    Route("GET", r"/_sim/script", get_script),
    Route("POST", r"/_sim/reset", post_reset),
    Route("GET", r"/_sim/calls", get_calls),
    Route("GET", r"/_sim/disconnects", get_disconnects),
)
