"""A client whose request body stops arriving gets a 408 in its protocol, and its connection is freed.

uvicorn never times out a request body: before `proxy.body_idle_seconds` (1 s here) a client that sent
its headers and part of a body held the connection and a handler for as long as it kept the socket.
A body that keeps arriving, however slowly, is read whole.
"""

from __future__ import annotations

import socket
import time

import orjson

from tests.conftest import Gateway
from tests.integration.gateways import keyed_gateway

KEY = "key-slow-bodies-0001"
gw = keyed_gateway("slow-bodies", KEY, {"POOLGATE_PROXY__BODY_IDLE_SECONDS": "1"})


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


CHAT = orjson.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "REPLY_WITH arrived"}]})


def test_a_stalled_body_is_a_408_in_the_clients_protocol(gw: Gateway) -> None:
    took, answer = send_slowly(gw, "/v1/chat/completions", CHAT, [CHAT[:20]], gap=0)
    status, body = split(answer)
    assert status == 408 and took < 10
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == "request_timeout" and "1 s" in error["message"]
    anthropic = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": []})
    status, body = split(send_slowly(gw, "/v1/messages", anthropic, [anthropic[:10]], gap=0)[1])
    assert status == 408 and body["type"] == "error"
    assert isinstance(body["error"], dict) and body["error"]["type"] == "invalid_request_error"


def test_a_slow_body_that_keeps_arriving_is_read_whole(gw: Gateway) -> None:
    pieces = [CHAT[i : i + 20] for i in range(0, len(CHAT), 20)]
    took, answer = send_slowly(gw, "/v1/chat/completions", CHAT, pieces, gap=0.4)
    status, body = split(answer)
    assert took > 1.5, "the body took longer than the idle limit in all"
    assert status == 200, body
    choices = body["choices"]
    assert isinstance(choices, list) and choices[0]["message"]["content"] == "arrived"
