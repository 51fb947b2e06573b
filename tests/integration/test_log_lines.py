"""The gateway's own log lines: `[logging] format = "json"` for log collectors, and `level`."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import gateway_for_module
from tests.support import poll

KEY = "key-log-lines-000001"
BANNER = ("poolgate listening on", "auth:", "generated API key", "admin UI:", "accounts:")


def provoke(gw: Gateway) -> str:
    """A request for a model the upstream lacks (logged by poolgate) and a malformed one (by uvicorn)."""
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        json={"model": "nope-model", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 404
    with socket.create_connection(("127.0.0.1", gw.port)) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    return r.headers["x-request-id"]


def logged(tmp_path: Any, simulator: Simulator, env: dict[str, str]) -> tuple[str, str]:
    """A gateway with `env` provoked once: the failed request's id and everything it wrote."""
    gw = gateway_for_module(tmp_path, simulator, env, {"logs": KEY})
    try:
        request_id = provoke(gw)
        poll(lambda: "Invalid HTTP request" in gw.output(), "uvicorn's warning to be written", 5)
    finally:
        gw.stop()
    return request_id, gw.output()


def test_json_lines_carry_every_message_poolgate_and_uvicorn_write(tmp_path: Any, simulator: Simulator) -> None:
    request_id, output = logged(tmp_path, simulator, {"POOLGATE_LOGGING__FORMAT": "json"})
    lines = [json.loads(line) for line in output.splitlines() if line and not line.startswith(BANNER)]
    assert lines and all(set(line) >= {"time", "level", "logger", "message"} for line in lines)
    assert all(line["time"].endswith("Z") for line in lines)
    failed = [line for line in lines if line["logger"] == "poolgate.gateway" and request_id in line["message"]]
    assert failed and failed[0]["level"] == "info" and "model_not_found" in failed[0]["message"]
    assert any(line["logger"] == "uvicorn.error" and line["level"] == "warning" for line in lines)


def test_level_warning_keeps_info_lines_out(tmp_path: Any, simulator: Simulator) -> None:
    request_id, output = logged(tmp_path, simulator, {"POOLGATE_LOGGING__LEVEL": "warning"})
    assert request_id not in output  # the failed attempt is an info line
    assert "WARNING uvicorn.error: Invalid HTTP request received." in output
