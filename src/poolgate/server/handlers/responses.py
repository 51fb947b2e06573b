"""Responses API routes: create (JSON or SSE), count input tokens, compact, and the stored responses."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import RequestContext
from poolgate.protocols import fields
from poolgate.protocols.openai_responses import compaction
from poolgate.protocols.openai_responses import request as responses_request
from poolgate.protocols.openai_responses import response as responses_response
from poolgate.protocols.openai_responses.input_items import input_item_page
from poolgate.protocols.openai_responses.stream import ResponsesEncoder
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response, StreamResponse, json_response
from poolgate.services import Services
from poolgate.store.responses import BrokenChain, ResponseStore, StoredResponse

PREFIX = "/v1/responses/"

log = logging.getLogger("poolgate.responses")


def _store(svc: Services) -> ResponseStore:
    return ResponseStore(svc.store.engine)


async def _load(svc: Services, response_id: str, history: bool) -> StoredResponse | None:
    # A database that cannot be reached here is server/app.py's 503 store_unavailable, as on every route.
    try:
        return await asyncio.to_thread(functools.partial(_store(svc).get, response_id, history=history))
    except BrokenChain as exc:
        raise GatewayError(ErrorKind.NOT_FOUND, str(exc), param="previous_response_id") from None


def _not_found(response_id: str) -> GatewayError:
    return GatewayError(ErrorKind.NOT_FOUND, f"Response with id '{response_id}' not found.", param="response_id")


def _response_id(req: Request) -> str:
    rest = req.path[len(PREFIX) :]
    if not rest or "/" in rest:
        raise GatewayError(ErrorKind.NOT_FOUND, f"Unknown route {req.method} {req.path}.")
    return rest


async def _parse(
    req: Request, ctx: RequestContext, svc: Services, default_model: str = ""
) -> responses_request.ResponsesRequest:
    """The parsed request, continuing the stored conversation its previous_response_id names."""
    raw = await req.body(svc.config.proxy.max_body_mb * 1024 * 1024)
    ctx.request_body = raw
    body = fields.parse_json_object(raw)
    if default_model and body.get("model") is None:
        body["model"] = default_model
    history: list[Any] = []
    previous = fields.opt_str(body, "previous_response_id")
    if previous:
        stored = await _load(svc, previous, history=True)
        if stored is None:
            raise GatewayError(
                ErrorKind.INVALID_REQUEST,
                f"Previous response with id '{previous}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        history = stored.conversation()
    return responses_request.to_hub(body, history, resolve=lambda m: svc.router.resolve(m).model)


async def create(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    parsed = await _parse(req, ctx, svc)
    created = time.time()
    skeleton = dict(parsed.echo, created_at=int(created))
    encoder = ResponsesEncoder(
        response_id=f"resp_{ctx.request_id}",
        skeleton=skeleton,
        namespaces=parsed.namespaces,
        customs=parsed.customs,
        search_sources=parsed.search_sources,
        logprobs=parsed.logprobs,
    )

    async def save() -> None:
        if not (parsed.store and encoder.finished):
            return
        try:
            # A continuation stores only what it added; its conversation is read back through the chain.
            chained = parsed.previous_response_id is not None
            items = parsed.new_items if chained else parsed.input_items
            await asyncio.to_thread(_store(svc).save, encoder.response, items, created, chained=chained)
        except SQLAlchemyError:
            # The answer itself is good; losing it from the store must not break the client's stream.
            log.exception("request %s: could not store response", ctx.request_id)

    result = await pipeline.run(
        ctx,
        svc,
        req,
        client_model=parsed.model,
        hub=parsed.hub,
        stream=parsed.stream,
        hint=parsed.session_hint,
        from_hub=lambda answer: responses_response.from_hub(answer, encoder),
        make_encoder=lambda: encoder,
        media_fields=parsed.media_fields,
    )
    if isinstance(result, StreamResponse):
        result.chunks = _saving_last(result.chunks, save)
    else:
        await save()
    return result


# input_tokens takes the model as optional; a request without one is counted as for this one.
COUNT_MODEL = "gemini-2.5-flash"


async def input_tokens(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """POST /v1/responses/input_tokens: what the request would send, counted (stored history included)."""
    parsed = await _parse(req, ctx, svc, default_model=COUNT_MODEL)
    count, headers = await pipeline.count_input_tokens(ctx, svc, req, parsed.model, parsed.hub, parsed.session_hint)
    return json_response({"object": "response.input_tokens", "input_tokens": count}, headers=headers)


async def compact(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    """POST /v1/responses/compact: the user messages and a summary of the rest (see compaction.py)."""
    parsed = await _parse(req, ctx, svc)
    items = parsed.input_items  # the stored conversation's items, then the request's
    response_id, created = f"resp_{ctx.request_id}", int(time.time())
    return await pipeline.run(
        ctx,
        svc,
        req,
        client_model=parsed.model,
        hub=compaction.summary_request(parsed.hub),
        stream=False,
        hint=parsed.session_hint,
        from_hub=lambda answer: compaction.compacted(answer, response_id=response_id, created_at=created, items=items),
        media_fields=parsed.media_fields,
    )


async def _saving_last(chunks: AsyncIterator[bytes], save: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
    """Hold back the terminal event until the response is stored, so a follow-up can chain at once."""
    held: bytes | None = None
    async for item in chunks:
        if held is not None:
            yield held
        held = item
    await save()
    if held is not None:
        yield held


async def _stored(svc: Services, response_id: str, history: bool = False) -> StoredResponse:
    """The stored response (with its input history if asked), or the 404 that names it."""
    stored = await _load(svc, response_id, history) if response_id else None
    if stored is None:
        raise _not_found(response_id)
    return stored


def _id_before(req: Request, suffix: str) -> str | None:
    """The response id in `/v1/responses/{id}{suffix}`, or None when the path is not of that form."""
    rest = req.path[len(PREFIX) :]
    if rest.endswith(suffix) and "/" not in rest[: -len(suffix)]:
        return rest[: -len(suffix)]
    return None


async def retrieve(req: Request, ctx: RequestContext, svc: Services) -> Response:
    listed = _id_before(req, INPUT_ITEMS)
    if listed is not None:
        return await _input_items(req, svc, listed)
    return json_response((await _stored(svc, _response_id(req))).response)


INPUT_ITEMS = "/input_items"


async def _input_items(req: Request, svc: Services, response_id: str) -> Response:
    """GET /v1/responses/{id}/input_items: the items the response was made from, a page at a time."""
    query = req.query
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise GatewayError(ErrorKind.INVALID_REQUEST, "'limit' must be an integer from 1 to 100.", param="limit")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise GatewayError(ErrorKind.INVALID_REQUEST, "'order' must be 'asc' or 'desc'.", param="order")
    stored = await _stored(svc, response_id, history=True)
    page = input_item_page(stored.id, stored.history, order, limit, query.get("after"))
    return json_response(page)


CANCEL = "/cancel"


async def cancel(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """POST /v1/responses/{id}/cancel: a background response, which here is already done, as it stands."""
    response_id = _id_before(req, CANCEL)
    if not response_id:
        raise GatewayError(ErrorKind.METHOD_NOT_ALLOWED, f"Method POST is not allowed on {req.path}.")
    stored = await _stored(svc, response_id)
    if not stored.response.get("background"):
        raise GatewayError(
            ErrorKind.INVALID_REQUEST,
            "Only responses created with background=true can be cancelled.",
            param="response_id",
        )
    return json_response(stored.response)


async def delete(req: Request, ctx: RequestContext, svc: Services) -> Response:
    response_id = _response_id(req)
    if not await asyncio.to_thread(_store(svc).delete, response_id):
        raise _not_found(response_id)
    return json_response({"id": response_id, "object": "response.deleted", "deleted": True})


async def refuse_websocket(req: Request, ctx: RequestContext, svc: Services) -> Response:
    if req.headers.get("upgrade", "").lower() != "websocket":
        raise GatewayError(
            ErrorKind.METHOD_NOT_ALLOWED,
            "Method GET is not allowed on /v1/responses; use POST.",
            allow="OPTIONS, POST",
        )
    # Codex's OpenAI provider first tries a WebSocket here. It retries other refusals with backoff
    # (about six seconds) but falls back to HTTP at once on 426 Upgrade Required.
    raise GatewayError(
        ErrorKind.METHOD_NOT_ALLOWED,
        "WebSocket mode is not supported on /v1/responses; send POST /v1/responses (stream: true for events).",
        code="websocket_not_supported",
        status=426,
    )
