"""OpenAI-compatible routes: chat completions, legacy completions, responses, models."""

from __future__ import annotations

import asyncio
import time

from poolgate.gateway import RequestContext
from poolgate.hub.events import Usage
from poolgate.hub.types import JSON
from poolgate.protocols import fields, multipart, openai_completions
from poolgate.protocols.openai_chat import request as chat_request
from poolgate.protocols.openai_chat import response as chat_response
from poolgate.protocols.openai_chat.stream import ChatEncoder
from poolgate.routing.table import BUILTIN_EXACT, BUILTIN_MODELS
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response, StreamResponse, json_response
from poolgate.services import Services

MODELS_CREATED = 1_735_689_600


async def read_body(req: Request, ctx: RequestContext, svc: Services) -> dict[str, object]:
    raw = await req.body(svc.config.proxy.max_body_mb * 1024 * 1024)
    ctx.request_body = raw
    return fields.parse_json_object(raw)


async def read_form(req: Request, svc: Services) -> multipart.Form:
    """A file-upload body. The MIME parser is synchronous and a file can be megabytes: it runs beside the loop."""
    raw = await req.body(svc.config.proxy.max_body_mb * 1024 * 1024)
    return await asyncio.to_thread(multipart.parse_form, req.headers.get("content-type", ""), raw)


async def chat_completions(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    body = await read_body(req, ctx, svc)
    chat = chat_request.to_hub(body, resolve=lambda model: svc.router.resolve(model).model)
    created = int(time.time())
    return await pipeline.run(
        ctx,
        svc,
        req,
        client_model=chat.model,
        hub=chat.hub,
        stream=chat.stream,
        hint=chat.session_hint,
        from_hub=lambda answer: chat_response.from_hub(
            answer,
            request_id=ctx.request_id,
            model=chat.model,
            created=created,
            n=chat.n,
            logprobs=chat.logprobs,
            legacy_functions=chat.legacy_functions,
            customs=chat.customs,
            web_search=chat.web_search,
        ),
        make_encoder=lambda: ChatEncoder(
            request_id=ctx.request_id,
            model=chat.model,
            created=created,
            include_usage=chat.include_usage,
            n=chat.n,
            logprobs=chat.logprobs,
            legacy_functions=chat.legacy_functions,
            customs=chat.customs,
            web_search=chat.web_search,
        ),
        media_fields=chat.media_fields,
    )


async def completions(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    body = await read_body(req, ctx, svc)
    comp = openai_completions.to_hub(body)
    created = int(time.time())

    def from_hub(answer: JSON) -> tuple[JSON, Usage | None]:
        return openai_completions.from_hub(
            openai_completions.best_choices(answer, comp),
            request_id=ctx.request_id,
            model=comp.model,
            created=created,
            echo=comp.echoed(),
            per_prompt=comp.n,
            choices=comp.choices,
            logprobs=comp.logprobs is not None,
        )

    def make_encoder() -> openai_completions.CompletionEncoder:
        return openai_completions.CompletionEncoder(
            request_id=ctx.request_id,
            model=comp.model,
            created=created,
            include_usage=comp.include_usage,
            echo=comp.echoed(),
            per_prompt=comp.n,
            choices=comp.choices,
            logprobs=comp.logprobs is not None,
        )

    if len(comp.hubs) > 1:
        return await pipeline.run_each(
            ctx,
            svc,
            req,
            client_model=comp.model,
            hubs=comp.hubs,
            per=comp.best_of,
            stream=comp.stream,
            hint="",  # no conversation to keep on one account: the prompt is the whole request
            from_hub=from_hub,
            make_encoder=make_encoder,
        )
    return await pipeline.run(
        ctx,
        svc,
        req,
        client_model=comp.model,
        hub=comp.hubs[0],
        stream=comp.stream,
        hint="",  # no conversation to keep on one account: the prompt is the whole request
        from_hub=from_hub,
        make_encoder=make_encoder,
    )


def model_ids(svc: Services) -> list[str]:
    ids: set[str] = set(BUILTIN_MODELS) | set(BUILTIN_EXACT)
    ids.update(p for p in svc.router.custom if "*" not in p)
    for account in svc.scheduler.accounts:
        ids.update(account.quota.keys())
    return sorted(ids)


async def list_models(req: Request, ctx: RequestContext, svc: Services) -> Response:
    data = [{"id": mid, "object": "model", "created": MODELS_CREATED, "owned_by": "poolgate"} for mid in model_ids(svc)]
    return json_response({"object": "list", "data": data})
