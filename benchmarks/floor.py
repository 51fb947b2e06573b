"""The floor: the least an OpenAI→Gemini proxy in Python can do, on the same libraries as poolgate.

A raw ASGI app (uvicorn + httptools + uvloop, or granian to compare servers) with one shared upstream
client (aiohttp, or httpx to compare clients) and orjson. It converts only what the wire requires:
messages → contents, Gemini answer → chat completion, Gemini SSE → chat chunks. No routing, no
accounts, no logging. Whatever poolgate adds on top of this is poolgate's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:9000").rstrip("/")
CLIENT = os.environ.get("FLOOR_CLIENT", "aiohttp")
UPSTREAM_HEADERS = {"content-type": "application/json", "x-goog-api-key": "floor-key"}


def to_gemini(body: dict[str, Any]) -> dict[str, Any]:
    contents = []
    system = []
    for m in body.get("messages") or ():
        text = m.get("content")
        if m.get("role") == "system":
            system.append({"text": text})
        else:
            contents.append({"role": "model" if m.get("role") == "assistant" else "user", "parts": [{"text": text}]})
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    return out


def candidate_text(chunk: dict[str, Any]) -> tuple[str, str | None]:
    cand = (chunk.get("candidates") or [{}])[0]
    parts = (cand.get("content") or {}).get("parts") or ()
    return "".join(p.get("text", "") for p in parts), cand.get("finishReason")


def to_chat(answer: dict[str, Any], model: str) -> bytes:
    text, _ = candidate_text(answer)
    usage = answer.get("usageMetadata") or {}
    return orjson.dumps(
        {
            "id": "chatcmpl-floor",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": usage.get("promptTokenCount", 0),
                "completion_tokens": usage.get("candidatesTokenCount", 0),
                "total_tokens": usage.get("totalTokenCount", 0),
            },
        }
    )


def to_chunk(chunk: dict[str, Any], model: str, created: int) -> bytes:
    text, finish = candidate_text(chunk)
    delta = {"content": text}
    payload = {
        "id": "chatcmpl-floor",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if finish else None}],
    }
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def sse_events(pieces: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    buf = b""
    async for piece in pieces:
        buf += piece
        while True:
            cut = buf.find(b"\r\n\r\n")
            sep = 4
            if cut < 0:
                cut = buf.find(b"\n\n")
                sep = 2
            if cut < 0:
                break
            event, buf = buf[:cut], buf[cut + sep :]
            for line in event.splitlines():
                if line.startswith(b"data:"):
                    yield orjson.loads(line[5:])


class Upstream:
    """The two upstream clients behind one interface: post JSON, read the body whole or in pieces."""

    def __init__(self) -> None:
        self.session: Any = None

    def _open(self) -> None:
        if CLIENT == "httpx":
            import httpx

            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            self.session = httpx.AsyncClient(limits=limits, timeout=300.0, trust_env=False)
        else:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
            self.session = aiohttp.ClientSession(connector=connector, trust_env=False)

    async def generate(self, url: str, body: bytes) -> bytes:
        if self.session is None:
            self._open()
        if CLIENT == "httpx":
            resp = await self.session.post(url, content=body, headers=UPSTREAM_HEADERS)
            return bytes(resp.content)
        async with self.session.post(url, data=body, headers=UPSTREAM_HEADERS) as r:
            return bytes(await r.read())

    async def stream(self, url: str, body: bytes) -> AsyncIterator[bytes]:
        if self.session is None:
            self._open()
        if CLIENT == "httpx":
            async with self.session.stream("POST", url, content=body, headers=UPSTREAM_HEADERS) as resp:
                async for piece in resp.aiter_raw():
                    yield piece
            return
        async with self.session.post(url, data=body, headers=UPSTREAM_HEADERS) as r:
            async for piece in r.content.iter_any():
                yield piece


upstream = Upstream()


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    req = orjson.loads(await read_body(receive))
    model = req.get("model", "")
    body = orjson.dumps(to_gemini(req))
    if not req.get("stream"):
        answer = orjson.loads(await upstream.generate(f"{UPSTREAM}/v1beta/models/{model}:generateContent", body))
        out = to_chat(answer, model)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})
        return
    url = f"{UPSTREAM}/v1beta/models/{model}:streamGenerateContent?alt=sse"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    created = int(time.time())
    async for chunk in sse_events(upstream.stream(url, body)):
        await send({"type": "http.response.body", "body": to_chunk(chunk, model, created), "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    args = parser.parse_args()
    from benchmarks.stub import raise_fd_limit

    raise_fd_limit()
    if args.server == "granian":
        from granian.constants import Interfaces, Loops
        from granian.server import Server

        Server(
            "benchmarks.floor:app",
            address="127.0.0.1",
            port=args.port,
            interface=Interfaces.ASGI,
            workers=1,
            loop=Loops.uvloop,
            log_enabled=False,
            backlog=4096,
        ).serve()
        return
    import uvicorn
    import uvloop

    uvloop.install()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="none",
        http="httptools",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
