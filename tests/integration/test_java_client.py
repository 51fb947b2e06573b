"""A Java program on the JDK's HttpClient, as Spring AI and LangChain4j use it, against `poolgate serve`.

That client defaults to HTTP/2, so on an http:// URL it sends every request with `Upgrade: h2c`.
httptools stops parsing at such a request's headers, and uvicorn handed the application an empty
body: every Java client got "Request body is empty" (a 400). poolgate declines the upgrade and reads
the request as HTTP/1.1 (server/connections.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway
from tests.servers import _missing

KEY = "key-java-client-00001"
gw = keyed_gateway("java-client", KEY)
PROGRAM = Path(__file__).parent / "java" / "Chat.java"


def test_the_jdk_http_client_gets_answers(gw: Gateway, simulator_process: Simulator) -> None:
    java = shutil.which("java")
    if java is None:
        _missing("java")
        return
    simulator_process.script(KEY, {"text": "first answer"}, {"text": "second answer"})
    run = subprocess.run([java, str(PROGRAM), gw.v1, "hello from Java"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "HTTP_1_1 200", run.stdout
    assert orjson.loads(lines[1])["choices"][0]["message"]["content"] == "first answer"
    assert lines[2] == "HTTP_1_1 200"
    assert orjson.loads(lines[3])["choices"][0]["message"]["content"] == "second answer"
    calls = [c for c in simulator_process.calls(KEY) if c["method"] == "generateContent"]
    assert calls[-2]["body"]["contents"][0]["parts"][0]["text"] == "hello from Java"
    assert "Unsupported upgrade" not in gw.output()
