"""Gemini-native routes under /v1beta and /v1: generate, stream, count tokens, list and get models."""

from __future__ import annotations

import contextlib
from typing import cast

from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import RequestContext
from poolgate.hub.events import Usage, usage_from
from poolgate.hub.types import JSON, GenerateContentRequest
from poolgate.pool.session import session_key
from poolgate.protocols.gemini import embed
from poolgate.protocols.gemini import models as gemini_models
from poolgate.protocols.gemini import request as gemini_request
from poolgate.protocols.gemini.stream import ArrayEncoder, SseEncoder
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response, StreamResponse, json_response
from poolgate.server.handlers import anthropic, openai
from poolgate.server.query import int_query
from poolgate.services import Services


def has_gemini_credentials(req: Request) -> bool:
    """Google's SDKs send `x-goog-api-key` (or `?key=`); OpenAI clients send a bearer token."""
    return "x-goog-api-key" in req.headers or "key" in req.query


def _model_tail(path: str) -> str:
    _, _, tail = path.partition("/models/")
    return tail


async def model_action(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    """POST models/{model}:{generateContent|streamGenerateContent|countTokens|embedContent|batchEmbedContents}."""
    action = gemini_request.parse_action(_model_tail(req.path))
    body = await openai.read_body(req, ctx, svc)
    if action.method in (embed.EMBED, embed.BATCH_EMBED):
        model = pipeline.route_model(ctx, svc, action.model)
        call = pipeline.upstream_call(ctx, svc, model, embed.batch_body(body, action.method, model))
        answer = await svc.gateway.embed(call, ctx)
        with pipeline.reading(ctx):
            raw = json_response(embed.answer_for(answer, action.method)).body
        ctx.response_body = raw[:2000]
        return Response(200, raw, pipeline.routing_headers(ctx, svc))
    gemini_request.validate(body)
    model = pipeline.route_model(ctx, svc, action.model)
    if action.method == gemini_request.COUNT:
        session = session_key(req.headers, "", cast(GenerateContentRequest, body))
        upstream = gemini_request.prepare_count(body, model, svc.signatures, session)
        call = pipeline.make_call(ctx, svc, req, cast(GenerateContentRequest, upstream), False, "")
        answer = await svc.gateway.count_tokens(call, ctx)
        raw = json_response(answer).body
        ctx.response_body = raw
        return Response(200, raw, pipeline.routing_headers(ctx, svc))
    # Signatures are restored into the request and recorded from the answer by the pipeline, as for every protocol.
    upstream = gemini_request.prepare(body)
    stream = action.method == gemini_request.STREAM
    call = pipeline.make_call(ctx, svc, req, cast(GenerateContentRequest, upstream), stream, "")
    if action.method == gemini_request.GENERATE:

        def from_hub(answer: JSON) -> tuple[JSON, Usage | None]:
            meta = answer.get("usageMetadata")
            return answer, usage_from(meta) if isinstance(meta, dict) else None

        return await pipeline.answer_json(ctx, svc, call, from_hub)
    sse = req.query.get("alt") == "sse"
    return await pipeline.answer_stream(ctx, svc, call, lambda: SseEncoder() if sse else ArrayEncoder())


def _resources(svc: Services) -> list[JSON]:
    resources = []
    for mid in openai.model_ids(svc):
        # A name a bad mapping sends nowhere valid is left out of the list, not a failed listing.
        with contextlib.suppress(GatewayError):
            resources.append(gemini_models.model_resource(mid, svc.router.resolve(mid).model))
    return resources


async def list_models(req: Request, ctx: RequestContext, svc: Services) -> Response:
    size = int_query(req, "pageSize", gemini_models.PAGE_SIZE, 0, 2**31 - 1)
    return json_response(gemini_models.model_list(_resources(svc), size, req.query.get("pageToken", "")))


async def get_model(req: Request, ctx: RequestContext, svc: Services) -> Response:
    model_id = _model_tail(req.path).removeprefix("models/")
    if not model_id or ":" in model_id or "/" in model_id:
        raise GatewayError(
            ErrorKind.METHOD_NOT_ALLOWED, f"Method GET is not allowed on {req.path}; use POST.", allow="OPTIONS, POST"
        )
    if not _known(svc, model_id):
        raise GatewayError(
            ErrorKind.NOT_FOUND, f"models/{model_id} is not found. Call ListModels to see the available models."
        )
    return json_response(gemini_models.model_resource(model_id, svc.router.resolve(model_id).model))


def _known(svc: Services, model_id: str) -> bool:
    """Listed, mapped by a rule, or a Gemini name that passes through as is."""
    if model_id.startswith("gemini") or svc.router.resolve(model_id).rule != "passthrough":
        return True
    return model_id in openai.model_ids(svc)


async def list_models_any(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """GET /v1/models: Gemini's shape for Gemini credentials, else Anthropic's or OpenAI's."""
    if has_gemini_credentials(req):
        return await list_models(req, ctx, svc)
    return await anthropic.list_models(req, ctx, svc)


async def get_model_any(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """GET /v1/models/{id}: Gemini's Model for Gemini credentials, else Anthropic's or OpenAI's object."""
    if has_gemini_credentials(req):
        return await get_model(req, ctx, svc)
    model_id = _model_tail(req.path)
    if not model_id or not _known(svc, model_id):
        raise GatewayError(ErrorKind.NOT_FOUND, f"The model '{model_id}' does not exist.")
    return await anthropic.get_model(req, ctx, svc)
