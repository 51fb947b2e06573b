"""OpenAI text to speech: `/v1/audio/speech` on Gemini's TTS models, answered as MP3, WAV or raw PCM, whole or as SSE."""

from __future__ import annotations

import asyncio

from poolgate.gateway import RequestContext
from poolgate.hub.events import usage_from
from poolgate.protocols import openai_speech as speech
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response, StreamResponse, replay
from poolgate.server.handlers.openai import read_body
from poolgate.services import Services


async def create(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    request = speech.parse(await read_body(req, ctx, svc))
    pipeline.route_model(ctx, svc, request.model)
    call = pipeline.make_call(ctx, svc, req, speech.to_hub(request), False, "")
    answer = await svc.gateway.generate(call, ctx)
    with pipeline.reading(ctx):
        pcm, rate = speech.pcm_of(answer)
        meta = answer.get("usageMetadata")
        ctx.usage = usage_from(meta) if isinstance(meta, dict) else None
    # MP3 takes LAME a few milliseconds a second of speech: off the event loop (it lets go of the GIL).
    audio = await asyncio.to_thread(speech.encoded, request, pcm, rate)
    # The log keeps a line for the audio, not the audio.
    ctx.response_body = f"{request.response_format} audio, {len(audio)} bytes, {len(pcm) / (2 * rate):.2f} s".encode()
    headers = pipeline.routing_headers(ctx, svc)
    if request.sse:
        # Gemini speaks the whole text in one answer, so the events follow it: the same audio, framed
        # for clients that ask for OpenAI's speech stream.
        return StreamResponse(200, replay(speech.sse_events(audio, ctx.usage)), headers)
    return Response(200, audio, headers, media_type=speech.FORMATS[request.response_format].encode())
