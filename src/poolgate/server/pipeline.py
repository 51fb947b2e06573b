"""The shared request path after parsing: route the model, run the gateway, encode the answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import orjson

from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import OpenStream, RequestContext
from poolgate.hub import candidates, tokens
from poolgate.hub.events import Usage
from poolgate.hub.signatures import CallIdAssigner, SignatureRecorder, restore_into_request
from poolgate.hub.types import JSON, GenerateContentRequest
from poolgate.pool.session import session_key
from poolgate.protocols.encoder import StreamEncoder
from poolgate.server.asgi import Headers, Request, Response, StreamResponse
from poolgate.services import Services
from poolgate.upstream import media
from poolgate.upstream.base import UpstreamCall, UpstreamFailure

log = logging.getLogger("poolgate.pipeline")

T = TypeVar("T")

FromHub = Callable[[JSON], tuple[JSON, Usage | None]]
MakeEncoder = Callable[[], StreamEncoder]

# Google errors met mid-stream keep their status, so each protocol can name them properly
# (Gemini UNAVAILABLE, Anthropic overloaded_error, …); any other status stays a plain 502.
_MID_STREAM_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.INVALID_REQUEST,
    404: ErrorKind.NOT_FOUND,
    429: ErrorKind.UPSTREAM_RATE_LIMITED,
    500: ErrorKind.UPSTREAM_ERROR,
    503: ErrorKind.OVERLOADED,
    504: ErrorKind.TIMEOUT,
    529: ErrorKind.OVERLOADED,
}


def mid_stream_error(failure: UpstreamFailure) -> GatewayError:
    message = f"Upstream failed mid-stream: {failure}"
    google = isinstance(failure.body, dict) and isinstance(failure.body.get("error"), dict)
    kind = _MID_STREAM_KINDS.get(failure.status) if google else None
    if kind is None:
        return GatewayError(ErrorKind.UPSTREAM_ERROR, message)
    return GatewayError(kind, message, status=failure.status)


def unconvertible(ctx: RequestContext, exc: Exception) -> GatewayError:
    """A 502 for an answer the converters could not read; the traceback goes to the log (call inside `except`)."""
    log.exception("request %s: the upstream answer could not be converted", ctx.request_id)
    return GatewayError(
        ErrorKind.UPSTREAM_ERROR,
        f"The upstream answer could not be converted ({type(exc).__name__}); the gateway log has request "
        f"{ctx.request_id}.",
    )


@contextlib.contextmanager
def reading(ctx: RequestContext) -> Iterator[None]:
    """Around a handler's own reading of an upstream answer: a shape it cannot read is a 502 (`unconvertible`)."""
    try:
        yield
    except GatewayError:
        raise
    except Exception as exc:
        raise unconvertible(ctx, exc) from None


def header_text(text: str) -> bytes:
    """Text for a header value: UTF-8, without the control characters HTTP forbids there (a label stored
    before labels were checked must not turn every answer of its account into a dropped connection)."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text.encode("utf-8", "replace")


def routing_headers(ctx: RequestContext, svc: Services) -> Headers:
    headers: Headers = []
    if ctx.mapped_model:
        headers.append((b"x-mapped-model", ctx.mapped_model.encode()))
    if ctx.account is not None and svc.config.proxy.expose_account_header:
        headers.append((b"x-account-email", header_text(ctx.account.display_name)))
    headers.append((b"x-poolgate-overhead-ms", f"{ctx.overhead_ms():.3f}".encode()))
    return headers


def route_model(ctx: RequestContext, svc: Services, client_model: str) -> str:
    resolution = svc.router.resolve(client_model)
    ctx.client_model = client_model
    ctx.mapped_model = resolution.model
    return resolution.model


def make_call(
    ctx: RequestContext, svc: Services, req: Request, hub: GenerateContentRequest, stream: bool, hint: str
) -> UpstreamCall:
    ctx.stream = stream
    ctx.session_key = session_key(req.headers, hint, hub)
    # Every protocol replays calls without the signatures clients never saw; put them back here, once.
    restore_into_request(hub, ctx.session_key, svc.signatures, ctx.mapped_model)
    return upstream_call(ctx, svc, ctx.mapped_model, dict(hub), stream=stream, session_key=ctx.session_key)


async def answer_json(ctx: RequestContext, svc: Services, call: UpstreamCall, from_hub: FromHub) -> Response:
    return encode_answer(ctx, svc, await svc.gateway.generate(call, ctx), from_hub)


def encode_answer(ctx: RequestContext, svc: Services, answer: JSON, from_hub: FromHub) -> Response:
    try:  # `reading` inline: its generator costs a microsecond on every chat request
        CallIdAssigner(ctx.request_id).apply(answer)
        recorder = SignatureRecorder(ctx.session_key, svc.signatures)
        recorder.feed(answer)
        recorder.close()
        body, usage = from_hub(answer)
    except GatewayError:
        raise
    except Exception as exc:  # a Google answer of a shape nobody expected: a 502, not a 500
        raise unconvertible(ctx, exc) from None
    ctx.usage = usage
    raw = orjson.dumps(body)
    ctx.response_body = raw
    return Response(200, raw, routing_headers(ctx, svc))


async def answer_stream(
    ctx: RequestContext, svc: Services, call: UpstreamCall, make_encoder: MakeEncoder
) -> StreamResponse:
    """Hold the stream until real output; if that takes longer than a keep-alive interval, commit to 200.

    Committing early lets keep-alives flow while a thinking model is silent (reverse proxies cut idle
    responses); retries still happen invisibly, and only a final failure becomes an in-stream error.
    """
    return await commit_stream(ctx, svc, svc.gateway.open_stream(call, ctx), make_encoder)


async def commit_stream(
    ctx: RequestContext, svc: Services, open_stream: Awaitable[OpenStream], make_encoder: MakeEncoder
) -> StreamResponse:
    """`answer_stream` for a stream being opened by `open_stream`."""
    interval = svc.config.proxy.keepalive_seconds
    opening = asyncio.ensure_future(open_stream)
    try:
        await asyncio.wait({opening}, timeout=interval if interval > 0 else None)
    except BaseException:
        opening.cancel()
        with contextlib.suppress(BaseException):
            await opening
        raise
    source: OpenStream | asyncio.Future[OpenStream] = opening.result() if opening.done() else opening
    encoder = make_encoder()
    return StreamResponse(
        200,
        relay(source, encoder, ctx, SignatureRecorder(ctx.session_key, svc.signatures)),
        routing_headers(ctx, svc),
        media_type=encoder.media_type.encode(),
        keepalive=encoder.keepalive,
        keepalive_interval=interval,
        abort=encoder.fail,
    )


async def relay(
    source: OpenStream | asyncio.Future[OpenStream],
    encoder: StreamEncoder,
    ctx: RequestContext,
    recorder: SignatureRecorder | None = None,
) -> AsyncIterator[bytes]:
    """Encode chunks; after the first byte, failures become the protocol's in-stream error."""
    captured: list[bytes] = []
    ids = CallIdAssigner(ctx.request_id)
    tail: list[bytes]
    opened: OpenStream | None = source if isinstance(source, OpenStream) else None
    try:
        for item in encoder.start():
            captured.append(item)
            yield item
        if opened is None:
            if encoder.keepalive:
                yield encoder.keepalive  # committed after a silent interval: show life at once
            opened = await source  # type: ignore[misc]
        async for chunk in opened.chunks():
            ids.apply(chunk)
            if recorder is not None:
                recorder.feed(chunk)
            for item in encoder.feed(chunk):
                if len(captured) < 2000:
                    captured.append(item)
                yield item
            if getattr(encoder, "done", False):
                await opened.aclose()  # the encoder has its whole answer (a stop sequence matched)
                break
        tail = encoder.finish()
    except UpstreamFailure as failure:
        err = mid_stream_error(failure)
        ctx.error = err.message
        log.warning("request %s: %s", ctx.request_id, err.message)
        if opened is not None:
            await opened.failed(failure)
        tail = encoder.fail(err)
    except GatewayError as err:
        # Only reachable when the response was committed before any account produced output.
        ctx.error = err.message
        log.warning("request %s failed after the stream was committed: %s", ctx.request_id, err.message)
        tail = encoder.fail(err)
    except Exception as exc:  # a chunk the encoder could not read: end with the protocol's error, not a cut
        unreadable = unconvertible(ctx, exc)
        ctx.error = unreadable.message
        tail = encoder.fail(unreadable)
    finally:
        ctx.usage = encoder.usage
        if isinstance(source, asyncio.Future) and not source.done():
            source.cancel()
        if recorder is not None:
            recorder.close()
    for item in tail:
        captured.append(item)
        yield item
    ctx.response_body = b"".join(captured)


# Counting answers from the estimate instead of failing when no account can count right now; errors that
# are the client's fault still come back as errors.
_CLIENT_KINDS = frozenset({ErrorKind.INVALID_REQUEST, ErrorKind.NOT_FOUND, ErrorKind.TOO_LARGE})


async def count_input_tokens(
    ctx: RequestContext, svc: Services, req: Request, client_model: str, hub: GenerateContentRequest, hint: str
) -> tuple[int, Headers]:
    """A request's input tokens from an account's countTokens, else the estimate; and the answer's headers.

    `x-poolgate-token-count` says which (`upstream` or `estimate`).
    """
    model = route_model(ctx, svc, client_model)
    counted: int | None = None
    if hub.get("contents"):
        session = session_key(req.headers, hint, hub)
        call = upstream_call(ctx, svc, model, tokens.count_body(hub, model), session_key=session)
        try:
            answer = await svc.gateway.count_tokens(call, ctx)
        except NotImplementedError:
            pass  # the account kind has no countTokens; the estimate stands
        except GatewayError as err:
            if err.kind in _CLIENT_KINDS:
                raise
            log.info("request %s: token count falls back to the estimate: %s", ctx.request_id, err.message)
        else:
            total = answer.get("totalTokens")
            if isinstance(total, int) and not isinstance(total, bool):
                counted = total
    # The estimate only when no account counted: it decodes every PDF to count its pages.
    count, source = (counted, b"upstream") if counted is not None else (tokens.estimate(hub), b"estimate")
    headers = routing_headers(ctx, svc)
    headers.append((b"x-poolgate-token-count", source))
    return count, headers


async def all_or_nothing(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Upstream calls at once, answers in order; the first failure fails the request and cancels the rest."""
    if len(calls) == 1:
        return [await calls[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


def upstream_call(
    ctx: RequestContext, svc: Services, model: str, body: JSON, *, stream: bool = False, session_key: str = ""
) -> UpstreamCall:
    """A call for this request, bounded by the request timeout (`make_call` adds the session and signatures)."""
    return UpstreamCall(
        model=model,
        body=body,
        stream=stream,
        request_id=ctx.request_id,
        session_key=session_key,
        deadline=time.time() + svc.config.proxy.request_timeout,
    )


async def run(
    ctx: RequestContext,
    svc: Services,
    req: Request,
    *,
    client_model: str,
    hub: GenerateContentRequest,
    stream: bool,
    hint: str,
    from_hub: FromHub,
    make_encoder: MakeEncoder | None = None,
    media_fields: dict[str, str] | None = None,
) -> Response | StreamResponse:
    """`media_fields` maps a media URL to the client field it came from, for error messages.

    `make_encoder` is needed only for a stream (an endpoint that never streams passes none).
    """
    route_model(ctx, svc, client_model)
    await media.inline_remote_media(hub, svc.config.upstream, media_fields or {})
    call = make_call(ctx, svc, req, hub, stream, hint)
    if stream and make_encoder is not None:
        return await answer_stream(ctx, svc, call, make_encoder)
    return await answer_json(ctx, svc, call, from_hub)


async def run_each(
    ctx: RequestContext,
    svc: Services,
    req: Request,
    *,
    client_model: str,
    hubs: list[GenerateContentRequest],
    per: int,
    stream: bool,
    hint: str,
    from_hub: FromHub,
    make_encoder: MakeEncoder,
) -> Response | StreamResponse:
    """One client request answered by several upstream calls made at once (text only: no media to fetch).

    Their candidates come back as one answer, call i's at indices i*per …; a stream relays the calls'
    streams one after the other, each already running. Any call that fails fails the request.
    """
    route_model(ctx, svc, client_model)
    calls = [make_call(ctx, svc, req, hub, stream, hint) for hub in hubs]
    if stream:
        return await commit_stream(ctx, svc, open_all(svc, ctx, calls, per), make_encoder)
    started = time.perf_counter()
    answers = await all_or_nothing([svc.gateway.generate(call, ctx) for call in calls])
    # The calls ran side by side: the time spent upstream is the span, not the sum of their times.
    ctx.upstream_seconds = min(ctx.upstream_seconds, time.perf_counter() - started)
    return encode_answer(ctx, svc, candidates.merged(answers, per), from_hub)


async def open_all(svc: Services, ctx: RequestContext, calls: list[UpstreamCall], per: int) -> OpenStream:
    """Streams for all the calls, opened at once, as one stream; none is left open if one fails."""
    tasks = [asyncio.ensure_future(svc.gateway.open_stream(call, ctx)) for call in calls]
    try:
        streams = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await (await task).aclose()
        raise
    return OpenStream(account=streams[0].account, held=[], rest=_in_turn(streams, per), ctx=ctx)


async def _in_turn(streams: list[OpenStream], per: int) -> AsyncIterator[JSON]:
    """The streams' chunks one stream after another, stream i's candidates shifted to i*per.

    Usage is cumulative within a Gemini stream, so each chunk's usage is its stream's plus that of the
    streams before it.
    """
    before: list[object] = []
    try:
        for i, stream in enumerate(streams):
            last: object = None
            try:
                async for chunk in stream.chunks():
                    out = candidates.shifted(candidates.answered(chunk, per), i * per)
                    usage = chunk.get("usageMetadata")
                    if usage is not None:
                        last = usage
                        if before:
                            out = {**out, "usageMetadata": candidates.summed_usage([*before, usage])}
                    yield out
            except UpstreamFailure as failure:
                await stream.failed(failure)  # the account that failed learns of it, not the first one
                raise
            if last is not None:
                before.append(last)
    finally:
        for stream in streams:
            await stream.aclose()
