"""Anthropic-compatible routes: messages, count_tokens, and the Anthropic view of the model list."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.gateway import RequestContext
from poolgate.pool.session import session_key
from poolgate.protocols.anthropic import request as messages_request
from poolgate.protocols.anthropic import response as messages_response
from poolgate.protocols.anthropic.blocks import BlockAssembler
from poolgate.protocols.anthropic.stream import MessagesEncoder
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response, StreamResponse, json_response
from poolgate.server.handlers import openai
from poolgate.server.query import int_query
from poolgate.services import Services

log = logging.getLogger("poolgate.anthropic")

MODELS_CREATED_AT = datetime.fromtimestamp(openai.MODELS_CREATED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def messages(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    body = await openai.read_body(req, ctx, svc)
    parsed = messages_request.to_hub(body, resolve=lambda model: svc.router.resolve(model).model)
    session = session_key(req.headers, parsed.session_hint, parsed.hub)
    signatures = svc.signatures

    def recall(call_id: str, name: str, args: dict[str, Any]) -> str | None:
        return signatures.recall_call(session, call_id or None, name, args)

    def record(tool_id: str, name: str, args: dict[str, Any], signature: str) -> None:
        signatures.remember_call(session, tool_id, name, args, signature)

    messages_request.restore_signatures(parsed.hub, recall)

    def assembler() -> BlockAssembler:
        return BlockAssembler(
            request_id=ctx.request_id,
            thinking=parsed.thinking,
            stop_sequences=parsed.stop_sequences,
            record_call=record,
            web_search=parsed.web_search,
        )

    return await pipeline.run(
        ctx,
        svc,
        req,
        client_model=parsed.model,
        hub=parsed.hub,
        stream=parsed.stream,
        hint=parsed.session_hint,
        from_hub=lambda answer: messages_response.from_hub(answer, assembler=assembler(), model=parsed.model),
        make_encoder=lambda: MessagesEncoder(assembler=assembler(), model=parsed.model),
        media_fields=parsed.media_fields,
    )


async def count_tokens(req: Request, ctx: RequestContext, svc: Services) -> Response:
    body = await openai.read_body(req, ctx, svc)
    parsed = messages_request.to_hub(body, for_count=True)
    count, headers = await pipeline.count_input_tokens(ctx, svc, req, parsed.model, parsed.hub, parsed.session_hint)
    return json_response({"input_tokens": count}, headers=headers)


# Anthropic's default page of models.
MODELS_PAGE = 20


def _anthropic_model(model_id: str) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": MODELS_CREATED_AT}


def wants_anthropic(req: Request) -> bool:
    return "anthropic-version" in req.headers


async def list_models(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """/v1/models: Anthropic's page shape when the client sends `anthropic-version`, else OpenAI's list."""
    if not wants_anthropic(req):
        return await openai.list_models(req, ctx, svc)
    ids = openai.model_ids(svc)
    limit = int_query(req, "limit", MODELS_PAGE, 1, 1000)
    after, before = req.query.get("after_id"), req.query.get("before_id")
    start, end = 0, min(limit, len(ids))
    if after is not None and before is not None:
        raise invalid("Pass either after_id or before_id, not both.", "before_id")
    if after is not None:
        start = _position(ids, after, "after_id") + 1
        end = min(start + limit, len(ids))
    elif before is not None:
        end = _position(ids, before, "before_id")
        start = max(0, end - limit)
    page = ids[start:end]
    # Anthropic's has_more looks in the direction asked for: older pages for before_id, newer otherwise.
    has_more = start > 0 if before is not None else end < len(ids)
    return json_response(
        {
            "data": [_anthropic_model(mid) for mid in page],
            "has_more": has_more,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
    )


def _position(ids: list[str], cursor: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise invalid(f"{param} names no model in this list: {cursor[:200]!r}.", param) from None


async def get_model(req: Request, ctx: RequestContext, svc: Services) -> Response:
    model_id = req.path.removeprefix("/v1/models/")
    if not model_id or "/" in model_id:
        raise GatewayError(ErrorKind.NOT_FOUND, f"Unknown route {req.method} {req.path}.")
    if model_id not in openai.model_ids(svc) and svc.router.resolve(model_id).rule == "passthrough":
        raise GatewayError(ErrorKind.NOT_FOUND, f"Model '{model_id}' is not known to this gateway.")
    if wants_anthropic(req):
        return json_response(_anthropic_model(model_id))
    return json_response({"id": model_id, "object": "model", "created": openai.MODELS_CREATED, "owned_by": "poolgate"})
