"""Load generator: a keep-alive HTTP/1.1 client on a bare asyncio protocol, run as its own process.

The request bytes are built once; parsing is httptools. That keeps the client's CPU per request far
below any proxy's, which matters when client, proxy and stub share two cores.
Input: one JSON spec on argv. Output: one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson
import uvloop

from benchmarks.stub import raise_fd_limit


@dataclass
class Result:
    status: int = 0
    start: float = 0.0
    first_byte: float = 0.0
    end: float = 0.0
    size: int = 0
    events: int = 0
    body: list[bytes] = field(default_factory=list)


class ClientProtocol(asyncio.Protocol):
    def __init__(self, keep_body: bool) -> None:
        self.keep_body = keep_body
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Result] | None = None
        self.first: asyncio.Future[None] | None = None
        self.result = Result()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are duck-typed

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(exc)

    def on_headers_complete(self) -> None:
        self.result.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        r = self.result
        if not r.first_byte:
            r.first_byte = time.perf_counter()
            if self.first is not None and not self.first.done():
                self.first.set_result(None)
        r.size += len(body)
        if self.keep_body:
            r.body.append(body)

    def on_message_complete(self) -> None:
        r = self.result
        r.end = time.perf_counter()
        if self.keep_body:
            r.events = b"".join(r.body).count(b"data:")
            r.body = []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(r)

    def close(self) -> None:
        """A deliberate close: nobody waits for an answer any more."""
        self.waiter = None
        if self.transport is not None:
            self.transport.close()

    def send(self, request: bytes) -> asyncio.Future[Result]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.first = loop.create_future()
        self.result = Result(start=time.perf_counter())
        self.transport.write(request)
        return self.waiter


class Client:
    def __init__(self, url: str, body: bytes, keep_body: bool, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-type: application/json\r\n"
            f"{extra}content-length: {len(body)}\r\n\r\n"
        )
        self.request = head.encode() + body
        self.keep_body = keep_body

    async def connect(self) -> ClientProtocol:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: ClientProtocol(self.keep_body), self.host, self.port)
        return proto


class Conn:
    """One keep-alive connection that reconnects if the server closes it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.proto: ClientProtocol | None = None

    async def call(self) -> Result:
        if self.proto is None or self.proto.closed:
            self.proto = await self.client.connect()
        return await self.proto.send(self.client.request)

    def close(self) -> None:
        if self.proto is not None:
            self.proto.close()


async def sequential(client: Client, n: int, warmup: int) -> dict[str, Any]:
    conn = Conn(client)
    errors = 0
    for _ in range(warmup):
        await conn.call()
    lat: list[float] = []
    ttfb: list[float] = []
    cps: list[float] = []
    for _ in range(n):
        r = await conn.call()
        if r.status != 200:
            errors += 1
            continue
        lat.append(r.end - r.start)
        ttfb.append(r.first_byte - r.start)
        if r.events and r.end > r.start:
            cps.append(r.events / (r.end - r.start))
    conn.close()
    return {"latency": lat, "ttfb": ttfb, "chunks_per_s": cps, "errors": errors, "count": len(lat)}


async def concurrent(client: Client, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    conns = [Conn(client) for _ in range(concurrency)]
    lat: list[float] = []
    errors = 0
    measuring = False
    stop = False

    async def worker(conn: Conn) -> None:
        nonlocal errors
        while not stop:
            try:
                r = await conn.call()
            except (ConnectionError, OSError, httptools.HttpParserError):
                errors += 1
                await asyncio.sleep(0.01)
                continue
            if not measuring:
                continue
            if r.status == 200:
                lat.append(r.end - r.start)
            else:
                errors += 1

    tasks = [asyncio.create_task(worker(c)) for c in conns]
    await asyncio.sleep(warmup)
    measuring = True
    t0 = time.perf_counter()
    await asyncio.sleep(duration)
    measuring = False
    elapsed = time.perf_counter() - t0
    count = len(lat)
    stop = True
    # In-flight requests finish on their own; the ones still waiting after a grace period are dropped.
    _, pending = await asyncio.wait(tasks, timeout=10)
    for task in pending:
        task.cancel()
    for c in conns:
        c.close()
    return {"count": count, "elapsed": elapsed, "rps": count / elapsed, "errors": errors, "latency": lat}


async def hold(client: Client, n: int, hold_s: float) -> dict[str, Any]:
    """Open n streams, report when every one has sent its first byte, keep them open until told."""
    protos: list[ClientProtocol] = []
    sem = asyncio.Semaphore(100)

    async def open_one() -> None:
        async with sem:
            proto = await client.connect()
            protos.append(proto)
            proto.send(client.request)
            assert proto.first is not None
            await proto.first

    t0 = time.perf_counter()
    # A server that cannot open them all within the bound is reported with the ones it did open.
    results = await asyncio.gather(*(asyncio.wait_for(open_one(), 90) for _ in range(n)), return_exceptions=True)
    opened = sum(1 for r in results if not isinstance(r, BaseException))
    print(orjson.dumps({"ready": opened, "seconds": time.perf_counter() - t0}).decode(), flush=True)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), hold_s)
    for proto in protos:
        proto.close()
    return {"opened": opened, "requested": n}


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    body = spec["body"].encode() if isinstance(spec["body"], str) else orjson.dumps(spec["body"])
    mode = spec["mode"]
    client = Client(spec["url"], body, keep_body=bool(spec.get("stream")), headers=spec.get("headers"))
    if mode == "sequential":
        return await sequential(client, spec["n"], spec.get("warmup", 20))
    if mode == "concurrent":
        return await concurrent(client, spec["concurrency"], spec["duration"], spec.get("warmup", 0.5))
    if mode == "hold":
        return await hold(client, spec["n"], spec["hold"])
    raise SystemExit(f"unknown mode {mode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("spec", help="JSON: mode, url, body, and the mode's parameters")
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.install()
    spec = orjson.loads(args.spec)
    out = orjson.dumps(asyncio.run(run(spec)))
    # Large results go to a file: a pipe left non-blocking by the event loop truncates big writes.
    if spec.get("out"):
        Path(spec["out"]).write_bytes(out)
    else:
        sys.stdout.write(out.decode() + "\n")


if __name__ == "__main__":
    main()
