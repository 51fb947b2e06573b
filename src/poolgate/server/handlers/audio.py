"""OpenAI speech-to-text routes: `/v1/audio/transcriptions` and `/v1/audio/translations` (file upload)."""

from __future__ import annotations

import orjson

from poolgate.gateway import RequestContext
from poolgate.hub.events import Usage
from poolgate.hub.types import JSON
from poolgate.protocols import openai_audio as audio
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response, StreamResponse
from poolgate.server.handlers.openai import read_form
from poolgate.services import Services


async def transcriptions(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    return await _speech(req, ctx, svc, translate=False)


async def translations(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    return await _speech(req, ctx, svc, translate=True)


async def _speech(req: Request, ctx: RequestContext, svc: Services, *, translate: bool) -> Response | StreamResponse:
    form = await read_form(req, svc)
    request = audio.parse(form, translate=translate)
    summary: JSON = dict(form.fields)
    summary["file"] = f"{request.audio.mime_type}, {len(request.audio.data)} bytes"
    ctx.request_body = orjson.dumps(summary)
    upstream_model = svc.router.resolve(request.model).model
    transcript: list[str] = []

    def from_hub(answer: JSON) -> tuple[JSON, Usage | None]:
        text, usage = audio.transcript_of(answer)
        transcript.append(text)
        return audio.body_json(request, text, answer), usage

    response = await pipeline.run(
        ctx,
        svc,
        req,
        client_model=request.model,
        hub=audio.to_hub(request, upstream_model),
        stream=request.stream,
        hint="",
        from_hub=from_hub,
        make_encoder=audio.TranscriptEncoder,
    )
    if request.response_format == "text" and isinstance(response, Response) and response.status == 200:
        text = transcript[0].encode()
        ctx.response_body = text
        return Response(200, text, response.headers, media_type=b"text/plain; charset=utf-8")
    return response
