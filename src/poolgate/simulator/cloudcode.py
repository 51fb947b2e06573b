"""Cloud Code's `v1internal` surface: loadCodeAssist, onboardUser (+ operations), generate, stream, count, quota.

Any path prefix is accepted before `/v1internal`, so tests can list several "base URLs" on one
simulator (`{sim}/a`, `{sim}/b`) and make one of them fail through the control API.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson

from poolgate.simulator.asgi import SSE_HEADERS, ConnectionCut, Request
from poolgate.simulator.behaviour import prompt_tokens, reply_for
from poolgate.simulator.calls import json_body, log_call
from poolgate.simulator.gemini import check_model, send_step_error
from poolgate.simulator.google_accounts import TIER_NAMES, Operation, SimUser
from poolgate.simulator.google_errors import GoogleError, error_body
from poolgate.simulator.routing import Route
from poolgate.simulator.script import Step
from poolgate.simulator.state import SimulatorState
from poolgate.simulator.wire import DEFAULT_STREAM_CHUNKS, response_body, stream_chunks

_PREFIX: Final = r"(?P<prefix>(?:/[A-Za-z0-9_.-]+)*)/v1internal"
DEFAULT_RESET: Final = "2030-01-01T00:00:00Z"


async def _read(request: Request, state: SimulatorState, method: str, *, stream: bool = False) -> tuple[SimUser, Any]:
    """Log the call, apply a scripted base-URL fault, then authenticate the bearer token."""
    body = await json_body(request)
    world = state.google
    auth = request.header(b"authorization") or ""
    email = world.email_for_access(auth.removeprefix("Bearer ").strip())
    model = body.get("model", "") if isinstance(body, dict) and isinstance(body.get("model"), str) else ""
    log_call(request, state, key=email or "", model=model, method=method, stream=stream, body=body)
    forced = world.base_status.get(request.params.get("prefix", ""))
    if forced:
        raise GoogleError(forced)
    if email is None:
        raise GoogleError(401)
    if not isinstance(body, dict):
        raise GoogleError(400, "Invalid JSON payload received. Expected an object.")
    return world.user(email), body


def _tier(tier_id: str, *, default: bool = False) -> dict[str, Any]:
    tier: dict[str, Any] = {"id": tier_id, "name": TIER_NAMES.get(tier_id, tier_id), "description": ""}
    if default:
        tier["isDefault"] = True
    return tier


async def load_code_assist(request: Request, state: SimulatorState) -> None:
    user, _ = await _read(request, state, "loadCodeAssist")
    body: dict[str, Any] = {"allowedTiers": [_tier("free-tier", default=True), _tier("standard-tier")]}
    if user.project:
        body["currentTier"] = _tier(user.tier)
        body["cloudaicompanionProject"] = user.project
    await request.respond_json(200, body)


async def onboard_user(request: Request, state: SimulatorState) -> None:
    user, body = await _read(request, state, "onboardUser")
    if not isinstance(body.get("tierId"), str) or not body["tierId"]:
        raise GoogleError(400, "tierId is required")
    user.tier = body["tierId"]
    world = state.google
    name = f"operations/onboard-{world.serial()}"
    world.operations[name] = Operation(name, user.email, user.onboard_polls)
    await request.respond_json(200, _operation(world.operations[name], user))


def _operation(op: Operation, user: SimUser) -> dict[str, Any]:
    if op.polls_left > 0:
        return {"name": op.name, "done": False}
    user.project = user.project or user.onboard_project
    return {
        "name": op.name,
        "done": True,
        "response": {
            "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
            "cloudaicompanionProject": {"id": user.project, "name": user.project},
        },
    }


async def get_operation(request: Request, state: SimulatorState) -> None:
    user, _ = await _read(request, state, "getOperation")
    op = state.google.operations.get(request.params["op"])
    if op is None or op.email != user.email:
        raise GoogleError(404)
    op.polls_left -= 1
    await request.respond_json(200, _operation(op, user))


def _envelope(user: SimUser, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    model, inner = body.get("model"), body.get("request")
    if not isinstance(model, str) or not model:
        raise GoogleError(400, "model is required")
    if not isinstance(inner, dict):
        raise GoogleError(400, "request is required")
    if not user.project or body.get("project") != user.project:
        raise GoogleError(403, f"Permission denied on resource project {body.get('project')!s}.")
    check_model(model, "v1internal", "generateContent")
    return model, inner


async def _prelude(request: Request, step: Step | None, stream: bool) -> bool:
    if step is None:
        return False
    if step.delay:
        await asyncio.sleep(step.delay)
    if step.is_http_error or (not stream and step.error_after is not None):
        await send_step_error(request, step)
        return True
    if step.has_raw and not stream:
        await request.respond_json(step.status or 200, {"response": step.raw})
        return True
    return False


async def generate_content(request: Request, state: SimulatorState) -> None:
    user, body = await _read(request, state, "generateContent")
    model, inner = _envelope(user, body)
    step = state.next_step(user.email)
    if await _prelude(request, step, stream=False):
        return
    answer: dict[str, Any] = {"candidates": []}
    if step is None or not step.empty:
        answer = response_body(reply_for(model, inner, step), model, state.next_id())
    await request.respond_json(200, {"response": answer, "traceId": state.next_id()})


async def stream_generate_content(request: Request, state: SimulatorState) -> None:
    user, body = await _read(request, state, "streamGenerateContent", stream=True)
    model, inner = _envelope(user, body)
    if request.query("alt") != "sse":
        raise GoogleError(400, "v1internal streaming requires alt=sse")
    step = state.next_step(user.email)
    if await _prelude(request, step, stream=True):
        return
    chunks: list[Any] = []
    limit = None if step is None else (step.cut_after if step.cut_after is not None else step.error_after)
    if step is not None and step.has_raw:
        chunks = [step.raw]
    elif step is None or not step.empty:
        count = step.chunks if step is not None and step.chunks else DEFAULT_STREAM_CHUNKS
        if limit is not None:
            count = max(count, limit + 1)
        chunks = stream_chunks(reply_for(model, inner, step), model, state.next_id(), count)
        chunks = chunks if limit is None else chunks[:limit]
    trace = state.next_id()
    await request.start(200, SSE_HEADERS)
    for n, chunk in enumerate(chunks):
        if step is not None and step.chunk_delay and n:
            await asyncio.sleep(step.chunk_delay)
        await request.write(b"data: " + orjson.dumps({"response": chunk, "traceId": trace}) + b"\r\n\r\n")
    if step is not None and step.cut_after is not None:
        raise ConnectionCut("scripted cut_after")
    if step is not None and step.error_after is not None:
        err = error_body(step.status or 503, step.message, reason=step.reason, retry_delay=step.retry_delay)
        await request.write(b"data: " + orjson.dumps(err) + b"\r\n\r\n")
    await request.write(b"", more=False)


async def count_tokens(request: Request, state: SimulatorState) -> None:
    _, body = await _read(request, state, "countTokens")
    inner = body.get("request")
    if not isinstance(inner, dict) or set(body) != {"request"}:
        raise GoogleError(400, "countTokens takes only {request: ...}")
    await request.respond_json(200, {"totalTokens": prompt_tokens(inner)})


async def fetch_available_models(request: Request, state: SimulatorState) -> None:
    user, _ = await _read(request, state, "fetchAvailableModels")
    models: dict[str, Any] = {}
    for info in state.models:
        quota = user.quota.get(info.name, {"remainingFraction": 1.0, "resetTime": DEFAULT_RESET})
        models[info.name] = {"displayName": info.display_name, "maxTokens": info.input_token_limit, "quotaInfo": quota}
    await request.respond_json(200, {"models": models})


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", _PREFIX + r":loadCodeAssist", load_code_assist),
    Route("POST", _PREFIX + r":onboardUser", onboard_user),
    Route("GET", _PREFIX + r"/(?P<op>operations/[A-Za-z0-9_-]+)", get_operation),
    Route("POST", _PREFIX + r":generateContent", generate_content),
    Route("POST", _PREFIX + r":streamGenerateContent", stream_generate_content),
    Route("POST", _PREFIX + r":countTokens", count_tokens),
    Route("POST", _PREFIX + r":fetchAvailableModels", fetch_available_models),
)
