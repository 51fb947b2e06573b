"""The Gemini API surface under /v1beta and /v1: generate, stream, count tokens, list and get models."""

from __future__ import annotations

from typing import Any, Final

import orjson

from poolgate.simulator import embeddings
from poolgate.simulator.asgi import JSON_HEADERS, SSE_HEADERS, ConnectionCut, Headers, Request
from poolgate.simulator.behaviour import missing_signature, prompt_tokens, reply_for
from poolgate.simulator.calls import json_body, log_call
from poolgate.simulator.google_errors import GoogleError, error_body
from poolgate.simulator.modalities import unsupported_modalities
from poolgate.simulator.routing import Route
from poolgate.simulator.script import Step
from poolgate.simulator.state import CallRecord, ModelInfo, SimulatorState
from poolgate.simulator.wire import DEFAULT_STREAM_CHUNKS, response_body, stream_chunks

_VERSION: Final = r"/(?P<version>v1beta|v1)"
_MODEL: Final = r"/models/(?P<model>[^/:]+)"

_NO_KEY_MESSAGE: Final = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def api_key(request: Request) -> str | None:
    """Google's order: the x-goog-api-key header, then the `key` query parameter."""
    return request.header(b"x-goog-api-key") or request.query("key") or None


async def _read_call(
    request: Request, state: SimulatorState, method: str, *, stream: bool = False, check: bool = True
) -> tuple[str, Any]:
    key, body, _ = await _read_logged_call(request, state, method, stream=stream, check=check)
    return key, body


async def _read_logged_call(
    request: Request, state: SimulatorState, method: str, *, stream: bool = False, check: bool = True
) -> tuple[str, Any, CallRecord]:
    """Read and log one upstream call, then apply the checks Google makes before any script runs."""
    key = api_key(request)
    model = request.params.get("model", "")
    body = await json_body(request)
    record = log_call(request, state, key=key or "", model=model, method=method, stream=stream, body=body)
    if key is None:
        raise GoogleError(403, _NO_KEY_MESSAGE)
    if not isinstance(body, dict):
        raise GoogleError(400, "Invalid JSON payload received. Expected an object.")
    if check:
        check_model(model, request.params.get("version", "v1beta"), method)
        unsigned = missing_signature(model, body) if method != "countTokens" else None
        if unsigned:
            raise GoogleError(400, unsigned)
        refused = unsupported_modalities(model, body)
        if refused:
            raise GoogleError(400, refused)
    return key, body, record


def check_model(model: str, version: str, method: str) -> None:
    embeds = method in ("embedContent", "batchEmbedContents")
    if not model.startswith("gemini") or embeds != ("embedding" in model):
        raise GoogleError(
            404,
            f"models/{model} is not found for API version {version}, or is not supported for {method}. "
            "Call ListModels to see the list of available models and their supported methods.",
        )


async def _apply_step_prelude(
    request: Request, step: Step | None, stream: bool, state: SimulatorState, record: CallRecord
) -> bool:
    """Sleep, then send a scripted HTTP error or raw body; True when the step already answered."""
    if step is None:
        return False
    if step.delay and await request.sleep_unless_disconnected(step.delay):
        state.disconnects.append(record)
        return True
    if step.is_http_error or (not stream and step.error_after is not None):
        await send_step_error(request, step)
        return True
    if step.has_raw and not stream:
        await request.respond_json(step.status or 200, step.raw)
        return True
    return False


async def send_step_error(request: Request, step: Step) -> None:
    body = step.raw if step.has_raw else _step_error_body(step)
    extra: Headers = []
    if step.retry_after_header is not None:
        extra.append((b"retry-after", step.retry_after_header.encode("latin-1")))
    await request.respond_json(step.status or 500, body, extra)


def _step_error_body(step: Step) -> dict[str, Any]:
    return error_body(
        step.status or 500,
        step.message,
        reason=step.reason,
        retry_delay=step.retry_delay,
        quota_reset_delay=step.quota_reset_delay,
        validation_url=step.validation_url,
    )


async def generate_content(request: Request, state: SimulatorState) -> None:
    key, body, record = await _read_logged_call(request, state, "generateContent")
    step = state.next_step(key)
    if await _apply_step_prelude(request, step, False, state, record):
        return
    model = request.params["model"]
    if step is not None and step.empty:
        payload = orjson.dumps({"candidates": []})
    else:
        payload = orjson.dumps(response_body(reply_for(model, body, step), model, state.next_id()))
    if step is not None and step.cut_after is not None:
        # A non-streaming body broken half-way: the declared length is never reached.
        headers = [*JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await request.start(200, headers)
        await request.write(payload[: len(payload) // 2])
        raise ConnectionCut("scripted cut_after")
    await request.respond(200, payload)


async def stream_generate_content(request: Request, state: SimulatorState) -> None:
    key, body, record = await _read_logged_call(request, state, "streamGenerateContent", stream=True)
    step = state.next_step(key)
    if await _apply_step_prelude(request, step, True, state, record):
        return
    model = request.params["model"]
    sse = request.query("alt") == "sse"
    chunks: list[Any]
    limit: int | None = None
    if step is not None and step.has_raw:
        chunks = [step.raw]
    elif step is not None and step.empty:
        chunks = []
    else:
        limit = None if step is None else (step.cut_after if step.cut_after is not None else step.error_after)
        text_chunks = DEFAULT_STREAM_CHUNKS
        if step is not None and step.chunks is not None:
            text_chunks = step.chunks
        elif limit is not None:
            # Enough chunks that the cut or error lands before the one carrying finishReason.
            text_chunks = max(DEFAULT_STREAM_CHUNKS, limit + 1)
        chunks = stream_chunks(reply_for(model, body, step), model, state.next_id(), text_chunks)
        if limit is not None:
            chunks = chunks[:limit]
    framer = _SseFramer() if sse else _ArrayFramer()
    await request.start(200, SSE_HEADERS if sse else JSON_HEADERS)
    chunk_delay = step.chunk_delay if step is not None else 0.0
    for n, chunk in enumerate(chunks):
        if chunk_delay and n and await request.sleep_unless_disconnected(chunk_delay):
            state.disconnects.append(record)
            return
        await request.write(framer.frame(orjson.dumps(chunk)))
    if step is not None and step.cut_after is not None:
        raise ConnectionCut("scripted cut_after")
    if step is not None and step.error_after is not None:
        await request.write(framer.frame(orjson.dumps(_step_error_body(step))))
    await request.write(framer.end(), more=False)


class _SseFramer:
    """Google's SSE framing: `data: <json>` and a CRLF blank line, no event names, no [DONE]."""

    def frame(self, data: bytes) -> bytes:
        return b"data: " + data + b"\r\n\r\n"

    def end(self) -> bytes:
        return b""


class _ArrayFramer:
    """Without alt=sse Google streams one JSON array, elements separated by `,\\r\\n`."""

    def __init__(self) -> None:
        self._first = True

    def frame(self, data: bytes) -> bytes:
        if self._first:
            self._first = False
            return b"[" + data
        return b",\r\n" + data

    def end(self) -> bytes:
        return b"[]" if self._first else b"]"


async def count_tokens(request: Request, state: SimulatorState) -> None:
    key, body, record = await _read_logged_call(request, state, "countTokens")
    step = state.next_step(key)
    if await _apply_step_prelude(request, step, False, state, record):
        return
    inner = body.get("generateContentRequest")
    await request.respond_json(200, {"totalTokens": prompt_tokens(inner if isinstance(inner, dict) else body)})


async def embed_content(request: Request, state: SimulatorState) -> None:
    key, body, record = await _read_logged_call(request, state, "embedContent")
    if await _apply_step_prelude(request, state.next_step(key), False, state, record):
        return
    await request.respond_json(200, {"embedding": embeddings.embedding_for(body)})


async def batch_embed_contents(request: Request, state: SimulatorState) -> None:
    key, body, record = await _read_logged_call(request, state, "batchEmbedContents")
    if await _apply_step_prelude(request, state.next_step(key), False, state, record):
        return
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise GoogleError(400, "* BatchEmbedContentsRequest.requests: contents is not specified")
    if len(requests) > 100:
        raise GoogleError(400, "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
    await request.respond_json(200, {"embeddings": [embeddings.embedding_for(r) for r in requests]})


async def list_models(request: Request, state: SimulatorState) -> None:
    await _read_call(request, state, "listModels", check=False)
    await request.respond_json(200, {"models": [m.to_json() for m in state.models]})


async def get_model(request: Request, state: SimulatorState) -> None:
    await _read_call(request, state, "getModel")
    name = request.params["model"]
    info = state.find_model(name) or ModelInfo(name, name)
    await request.respond_json(200, info.to_json())


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", _VERSION + _MODEL + r":generateContent", generate_content),
    Route("POST", _VERSION + _MODEL + r":streamGenerateContent", stream_generate_content),
    Route("POST", _VERSION + _MODEL + r":countTokens", count_tokens),
    Route("POST", _VERSION + _MODEL + r":embedContent", embed_content),
    Route("POST", _VERSION + _MODEL + r":batchEmbedContents", batch_embed_contents),
    Route("GET", _VERSION + r"/models", list_models),
    Route("GET", _VERSION + _MODEL, get_model),
)
