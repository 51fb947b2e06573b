"""A fast Gemini upstream stub: static `generateContent` answers and `streamGenerateContent` SSE streams.

Written on a bare asyncio protocol with httptools so the upstream costs as little CPU as possible;
on a 2-core machine every cycle the stub spends is taken from the proxy under test.
Models whose name contains "slow" stream one chunk, then one more every `--slow-gap` seconds, so
streams stay open for the memory measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import resource

import httptools
import orjson
import uvloop

TEXT = "Hello! This is a benchmark answer from the stub upstream."


def answer_json(model: str) -> bytes:
    return orjson.dumps(
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": TEXT}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 11, "totalTokenCount": 23},
            "modelVersion": model,
            "responseId": "bench-stub",
        }
    )


def stream_event(model: str, i: int, last: bool) -> bytes:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": [{"text": f"word{i} "}]}, "index": 0}
    if last:
        candidate["finishReason"] = "STOP"
    chunk = {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": i + 1, "totalTokenCount": 13 + i},
        "modelVersion": model,
        "responseId": "bench-stub",
    }
    payload = b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"
    return b"%x\r\n%s\r\n" % (len(payload), payload)


JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: %d\r\n\r\n"
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
HEALTH = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'


class Cache:
    """Answers are built once per model name: the stub must not measure its own JSON encoding."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.json: dict[str, bytes] = {}
        self.stream: dict[str, list[bytes]] = {}

    def json_for(self, model: str) -> bytes:
        hit = self.json.get(model)
        if hit is None:
            body = answer_json(model)
            hit = self.json[model] = (JSON_HEAD % len(body)) + body
        return hit

    def stream_for(self, model: str) -> list[bytes]:
        hit = self.stream.get(model)
        if hit is None:
            hit = self.stream[model] = [stream_event(model, i, i == self.chunks - 1) for i in range(self.chunks)]
        return hit


class StubProtocol(asyncio.Protocol):
    def __init__(self, cache: Cache, slow_gap: float) -> None:
        self.cache = cache
        self.slow_gap = slow_gap
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are duck-typed

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self.tasks:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        path = self.url.split(b"?", 1)[0]
        if path == b"/healthz":
            transport.write(HEALTH)
            return
        name = path.rsplit(b"/", 1)[-1].decode()
        model, _, method = name.partition(":")
        if method == "generateContent":
            transport.write(self.cache.json_for(model))
        elif method == "streamGenerateContent":
            events = self.cache.stream_for(model)
            if "slow" in model:
                task = asyncio.get_running_loop().create_task(self.slow(transport, events))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                transport.write(SSE_HEAD + b"".join(events) + b"0\r\n\r\n")
        else:
            transport.write(NOT_FOUND)

    async def slow(self, transport: asyncio.Transport, events: list[bytes]) -> None:
        transport.write(SSE_HEAD + events[0])
        for event in events[1:]:
            await asyncio.sleep(self.slow_gap)
            if transport.is_closing():
                return
            transport.write(event)
        transport.write(b"0\r\n\r\n")


async def serve(host: str, port: int, chunks: int, slow_gap: float) -> None:
    cache = Cache(chunks)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StubProtocol(cache, slow_gap), host, port, backlog=4096)
    print(f"stub listening on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--slow-gap", type=float, default=30.0)
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.install()
    asyncio.run(serve(args.host, args.port, args.chunks, args.slow_gap))


if __name__ == "__main__":
    main()
