"""OpenAI `/v1/embeddings` on Gemini API-key accounts, in batches of 100 texts."""

from __future__ import annotations

import orjson

from poolgate.gateway import RequestContext
from poolgate.hub.events import Usage
from poolgate.protocols import openai_embeddings as embeddings
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response
from poolgate.server.handlers.openai import read_body
from poolgate.services import Services


async def create(req: Request, ctx: RequestContext, svc: Services) -> Response:
    request = embeddings.parse(await read_body(req, ctx, svc))
    model = pipeline.route_model(ctx, svc, request.model)
    bodies = embeddings.batches(request, model)
    answers = await pipeline.all_or_nothing(
        [svc.gateway.embed(pipeline.upstream_call(ctx, svc, model, body), ctx) for body in bodies]
    )
    with pipeline.reading(ctx):
        vectors = [
            v
            for body, answer in zip(bodies, answers, strict=True)
            for v in embeddings.vectors_of(answer, len(body["requests"]))
        ]
    tokens = embeddings.estimate_tokens(request.texts)
    ctx.usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    raw = orjson.dumps(embeddings.response_json(request, vectors, tokens))
    # A log row keeps the request; the vectors (kilobytes per text) are not worth the space.
    ctx.response_body = f'{{"vectors": {len(vectors)}, "dimensions": {len(vectors[0])}}}'.encode()
    return Response(200, raw, pipeline.routing_headers(ctx, svc))
