"""OpenAI Images routes: `/v1/images/generations` (JSON) and `/v1/images/edits` (file upload or JSON)."""

from __future__ import annotations

import logging
import time

import orjson

from poolgate.errors import GatewayError
from poolgate.gateway import RequestContext
from poolgate.hub.types import JSON
from poolgate.protocols import openai_images as images
from poolgate.protocols import sse
from poolgate.server import pipeline
from poolgate.server.asgi import Request, Response, StreamResponse, replay
from poolgate.server.handlers.openai import read_body, read_form
from poolgate.services import Services
from poolgate.upstream import media
from poolgate.upstream.base import UpstreamCall

log = logging.getLogger("poolgate.images")


async def generations(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    request = images.parse_generation(await read_body(req, ctx, svc))
    return await _draw(req, ctx, svc, request, edit=False)


async def edits(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    if req.headers.get("content-type", "").lower().startswith("application/json"):
        return await _json_edit(req, ctx, svc)
    form = await read_form(req, svc)
    sources = [images.source_image(f) for f in form.files_named("image", "image[]")]
    masks = form.files_named("mask")
    request = images.parse_edit(form.fields, sources, images.source_image(masks[0]) if masks else None)
    # The log keeps the form's fields and a line per file, not the uploaded bytes.
    summary: JSON = dict(form.fields)
    summary["files"] = [f"{f.name}: {f.filename} ({f.content_type}, {len(f.data)} bytes)" for f in form.files]
    ctx.request_body = orjson.dumps(summary)
    return await _draw(req, ctx, svc, request, edit=True)


async def _json_edit(req: Request, ctx: RequestContext, svc: Services) -> Response | StreamResponse:
    body = await read_body(req, ctx, svc)
    request, refs, mask = images.parse_edit_json(body)
    policy = media.FetchPolicy.from_config(svc.config.upstream)
    wanted = [*refs, mask] if mask else refs
    loaded = await pipeline.all_or_nothing([_load(ref, policy) for ref in wanted])
    request.images = loaded[: len(refs)]
    request.mask = loaded[-1] if mask else None
    # As for uploads, the log keeps a line per image instead of its bytes.
    summary: JSON = {k: v for k, v in body.items() if k not in ("images", "mask")}
    summary["files"] = [
        f"{r.field}: {r.url or 'data URL'} ({i.mime_type}, {len(i.data)} bytes)"
        for r, i in zip(wanted, loaded, strict=True)
    ]
    ctx.request_body = orjson.dumps(summary)
    return await _draw(req, ctx, svc, request, edit=True)


async def _load(ref: images.ImageRef, policy: media.FetchPolicy) -> images.SourceImage:
    if ref.image is not None:
        return ref.image
    data, _ = await media.fetch_for_field(ref.url, policy, ref.field, "image/*")
    return images.typed_image(data, ref.field)


async def _draw(
    req: Request, ctx: RequestContext, svc: Services, request: images.ImageRequest, *, edit: bool
) -> Response | StreamResponse:
    upstream_model = pipeline.route_model(ctx, svc, request.model)
    call = pipeline.make_call(ctx, svc, req, images.to_hub(request, upstream_model), False, "")
    created = int(time.time())
    drawn = await pipeline.all_or_nothing([_picture(svc, call, ctx, upstream_model) for _ in range(request.n)])
    pictures = [picture for picture, _ in drawn]
    total = images.ImageUsage()
    for _, usage in drawn:
        total.merge(usage)
    ctx.usage = total.hub()
    headers = pipeline.routing_headers(ctx, svc)
    # The log keeps what was drawn, not the pictures (hundreds of kilobytes of base64 each).
    ctx.response_body = orjson.dumps({"images": [f"{p.output_format}, {len(p.data) * 3 // 4} bytes" for p in pictures]})
    if request.stream:
        # The pictures are all made before the stream starts (so retries stay invisible); no partial images.
        chunks: list[bytes] = []
        for picture, usage in drawn:
            event = images.completed_event(request, picture, usage, created, edit)
            chunks.append(sse.event(str(event["type"]), event))
        return StreamResponse(200, replay(chunks), headers)
    return Response(200, orjson.dumps(images.response_json(request, pictures, total, created)), headers)


async def _picture(
    svc: Services, call: UpstreamCall, ctx: RequestContext, model: str
) -> tuple[images.Picture, images.ImageUsage]:
    """One picture. Image models now and then answer with words alone; such an answer is asked again once
    (a safety block is not: the same prompt would be blocked again)."""
    usage = images.ImageUsage()
    answer = await svc.gateway.generate(call, ctx)
    try:
        with pipeline.reading(ctx):
            usage.add(answer)
            return images.picture_of(answer, model), usage
    except GatewayError as err:
        if err.code == images.POLICY_CODE:
            raise
        log.info("request %s: %s; asking once more", ctx.request_id, err.message)
    answer = await svc.gateway.generate(call, ctx)
    with pipeline.reading(ctx):
        usage.add(answer)
        return images.picture_of(answer, model), usage
