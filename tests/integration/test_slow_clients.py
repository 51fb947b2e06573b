"""Clients that stall: a request body that stops arriving, a stream nobody reads (`proxy.client_idle_seconds`).

uvicorn times out neither: before, a client that sent its headers and part of a body held the connection
and a handler for as long as it kept the socket, and one that stopped reading a stream held the upstream
call too. Now the first gets a 408 in its protocol and the second is dropped and logged as 499 (limit
1 s here). A body that keeps arriving, however slowly, is read whole, and a silent upstream is no stall.
"""

from __future__ import annotations

import socket
import sqlite3
import time

import httpx
import orjson

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway
from tests.support import poll

KEY = "key-slow-bodies-0001"
gw = keyed_gateway("slow-bodies", KEY, {"POOLGATE_PROXY__CLIENT_IDLE_SECONDS": "1"})


def send_slowly(gw: Gateway, path: str, body: bytes, pieces: list[bytes], gap: float) -> tuple[float, bytes]:
    """Send the headers and `pieces` of the body `gap` seconds apart; return (seconds to the answer, answer)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        started = time.monotonic()
        sock.sendall(head)
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(gap)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return time.monotonic() - started, answer


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def split(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def drops(gw: Gateway) -> dict[str, float]:
    """poolgate_client_drops_total by reason, from /metrics."""
    counts: dict[str, float] = {}
    for line in httpx.get(f"{gw.base_url}/metrics", timeout=10).text.splitlines():
        if line.startswith("poolgate_client_drops_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = float(line.rsplit(" ", 1)[1])
    return counts


CHAT = orjson.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "REPLY_WITH arrived"}]})


def test_a_stalled_body_is_a_408_in_the_clients_protocol(gw: Gateway) -> None:
    before = drops(gw).get("body_timeout", 0)
    took, answer = send_slowly(gw, "/v1/chat/completions", CHAT, [CHAT[:20]], gap=0)
    status, body = split(answer)
    assert status == 408 and took < 10
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == "request_timeout" and "1 s" in error["message"]
    anthropic = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": []})
    status, body = split(send_slowly(gw, "/v1/messages", anthropic, [anthropic[:10]], gap=0)[1])
    assert status == 408 and body["type"] == "error"
    assert isinstance(body["error"], dict) and body["error"]["type"] == "invalid_request_error"
    assert drops(gw)["body_timeout"] == before + 2  # counted for whoever watches /metrics


def test_a_slow_body_that_keeps_arriving_is_read_whole(gw: Gateway) -> None:
    pieces = [CHAT[i : i + 20] for i in range(0, len(CHAT), 20)]
    took, answer = send_slowly(gw, "/v1/chat/completions", CHAT, pieces, gap=0.4)
    status, body = split(answer)
    assert took > 1.5, "the body took longer than the idle limit in all"
    assert status == 200, body
    choices = body["choices"]
    assert isinstance(choices, list) and choices[0]["message"]["content"] == "arrived"


def logged(gw: Gateway, marker: str) -> list[tuple[int, str]]:
    with sqlite3.connect(gw.data_dir / "poolgate.db") as db:
        return db.execute(
            "SELECT status, error FROM request_logs WHERE request_body LIKE ?", (f"%{marker}%",)
        ).fetchall()


def ask_and_read_nothing(gw: Gateway, marker: str, stream: bool) -> socket.socket:
    """Send a chat request, read the status line, then nothing more, keeping the connection open."""
    chat = {"model": "gemini-2.5-flash", "stream": stream, "messages": [{"role": "user", "content": marker}]}
    body = orjson.dumps(chat)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw.port))
    sock.sendall(head + body)
    assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    return sock


def wait_closed(sock: socket.socket) -> bytes:
    """What is left to read until the server closes (b"" if nothing); fails if it stays open for 10 s."""
    sock.settimeout(10)
    received: list[bytes] = []
    while data := sock.recv(1 << 20):
        received.append(data)
    return b"".join(received)


def test_a_stream_nobody_reads_is_dropped_and_its_upstream_call_ended(
    gw: Gateway, simulator_process: Simulator
) -> None:
    # 8 MB over 8 s: more than the kernel's buffers hold, so the gateway's writes must wait for the reader.
    simulator_process.script(KEY, {"text": "x" * 8_000_000, "chunks": 400, "chunk_delay": 0.02})
    with ask_and_read_nothing(gw, "unread stream", stream=True) as sock:
        [(status, error)] = poll(lambda: logged(gw, "unread stream"), "the unread stream to be dropped", 30)
        assert status == 499 and "stopped reading" in error
        poll(
            lambda: [
                d
                for d in httpx.get(f"{simulator_process.url}/_sim/disconnects").json()["disconnects"]
                if "unread stream" in str(d)
            ],
            "the upstream call to be ended",
            10,
        )
        assert len(wait_closed(sock)) < 8_000_000  # the connection was closed mid-answer


def test_a_large_answer_nobody_reads_is_dropped(gw: Gateway, simulator_process: Simulator) -> None:
    simulator_process.script(KEY, {"text": "y" * 8_000_000})
    before = drops(gw).get("stopped_reading", 0)
    with ask_and_read_nothing(gw, "unread answer", stream=False) as sock:
        [(status, error)] = poll(lambda: logged(gw, "unread answer"), "the unread answer to be dropped", 30)
        assert status == 499 and "stopped reading" in error
        assert drops(gw)["stopped_reading"] == before + 1
        assert len(wait_closed(sock)) < 8_000_000  # the connection was closed mid-answer


def test_a_silent_upstream_is_not_a_stalled_client(gw: Gateway, simulator_process: Simulator) -> None:
    simulator_process.script(KEY, {"text": "slow but sure", "chunks": 3, "chunk_delay": 1.5})
    chat = {"model": "gemini-2.5-flash", "stream": True, "messages": [{"role": "user", "content": "wait"}]}
    started = time.monotonic()
    with httpx.stream("POST", f"{gw.v1}/chat/completions", json=chat, timeout=30) as r:
        text = "".join(r.iter_text())
    assert time.monotonic() - started > 2.5, "the upstream was silent for longer than the limit"
    assert r.status_code == 200 and text.rstrip().endswith("data: [DONE]")


def test_connections_that_never_finish_their_headers_are_closed_with_a_408(gw: Gateway) -> None:
    # uvicorn itself never times these out: each held a file descriptor for as long as the client liked.
    with (
        socket.create_connection(("127.0.0.1", gw.port)) as silent,
        socket.create_connection(("127.0.0.1", gw.port)) as partial,
    ):
        before = drops(gw).get("headers_timeout", 0)
        partial.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert wait_closed(partial).startswith(b"HTTP/1.1 408")
        assert wait_closed(silent).startswith(b"HTTP/1.1 408")
    assert drops(gw)["headers_timeout"] >= before + 2


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer with a content-length: uvicorn writes its head and body separately, and a loaded
    machine can deliver them in two reads."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_kept_alive_connection_may_idle_but_not_dawdle_over_its_next_headers(gw: Gateway) -> None:
    chat = orjson.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "REPLY_WITH kept"}]})
    request = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(chat)}\r\n\r\n"
    ).encode() + chat
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(request)
            answer = read_answer(sock)
            assert answer.startswith(b"HTTP/1.1 200") and b"kept" in answer
            time.sleep(1.6)  # idle between requests, longer than the header limit: uvicorn's keep-alive rules
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert wait_closed(sock).startswith(b"HTTP/1.1 408")


def test_a_client_that_leaves_mid_body_is_logged_as_499_without_a_traceback(gw: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 200\r\n\r\n{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "left mid-body'
        )
        time.sleep(0.3)
    with sqlite3.connect(gw.data_dir / "poolgate.db") as db:
        query = "SELECT status, error FROM request_logs WHERE error LIKE '%before its request body%'"
        [(status, error)] = poll(lambda: db.execute(query).fetchall(), "the abandoned request to be logged", 10)
    assert status == 499 and "disconnected" in error
    assert drops(gw)["left_mid_body"] >= 1
    assert "Traceback" not in gw.output()
