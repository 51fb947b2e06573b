"""Codex CLI (`codex exec`, installed from npm by .ci/run) against poolgate and the simulator."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway, Simulator, _clean_env

KEY = "key-codex-00000000"
TIMEOUT = 120


@pytest.fixture(scope="module")
def codex() -> str:
    path = shutil.which("codex")
    if path is None:
        pytest.fail("Codex CLI not found; install it with: npm install -g @openai/codex@0.169.0")
    return path


@pytest.fixture(scope="module")
def gw(make_module_gateway: Any) -> Gateway:
    gateway: Gateway = make_module_gateway(name="codex")
    gateway.add_key(KEY, "codex")
    return gateway.start()


COMMON = """
model = "gemini-2.5-flash"
check_for_update_on_startup = false
[analytics]
enabled = false
[features]
apps = false
plugins = false
"""


def run_codex(codex: str, home: Path, prompt: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    work = home.parent / "work"
    work.mkdir(exist_ok=True)
    env = {k: v for k, v in _clean_env().items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update(CODEX_HOME=str(home), **extra_env)
    # Anything Codex might fetch from the internet goes to a dead proxy; poolgate on 127.0.0.1 is exempt.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
    return subprocess.run(
        [
            codex,
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "--ephemeral",
            "--color",
            "never",
            "-C",
            str(work),
            prompt,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )


def test_codex_runs_a_shell_tool_through_poolgate(
    codex: str, gw: Gateway, simulator_process: Simulator, tmp_path: Path
) -> None:
    simulator_process.reset()
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model_provider = "poolgate"\n'
        + COMMON
        + f"""[model_providers.poolgate]
name = "poolgate"
base_url = "{gw.v1}"
wire_api = "responses"
env_key = "POOLGATE_CODEX_KEY"
request_max_retries = 0
stream_max_retries = 0
"""
    )
    token = "tok-" + secrets.token_hex(6)
    prompt = 'Run the command. CALL_TOOL exec_command {"cmd": "echo ' + token + '"}'
    result = run_codex(codex, home, prompt, {"POOLGATE_CODEX_KEY": "sk-dummy"})
    assert result.returncode == 0, result.stderr[-3000:]
    # The final answer is the simulator's "Tool result: …" built from what Codex's shell returned.
    assert "Tool result:" in result.stdout and token in result.stdout, result.stdout + result.stderr[-3000:]
    calls = simulator_process.calls(KEY)
    assert len(calls) == 2
    first, second = (c["body"] for c in calls)
    assert "exec_command" in {d["name"] for t in first["tools"] for d in t.get("functionDeclarations", [])}
    model_turn = second["contents"][-2]
    assert model_turn["role"] == "model" and model_turn["parts"][0]["functionCall"]["name"] == "exec_command"
    # Codex replays history with store:false; the thought signature came back through encrypted_content.
    assert model_turn["parts"][0]["thoughtSignature"].startswith("sig-")
    assert "functionResponse" in second["contents"][-1]["parts"][0]


def test_codex_openai_provider_falls_back_from_websocket_at_once(
    codex: str, gw: Gateway, simulator_process: Simulator, tmp_path: Path
) -> None:
    simulator_process.reset()
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(f'openai_base_url = "{gw.v1}"\n' + COMMON)
    result = run_codex(codex, home, "say hello", {"OPENAI_API_KEY": "sk-dummy", "RUST_LOG": "codex_api=info"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Hello from the simulator" in result.stdout
    # One refused probe, then HTTP: no retry loop of WebSocket attempts before the fallback.
    assert result.stderr.count("connecting to Responses WebSocket") == 1, result.stderr[-3000:]
    assert len(simulator_process.calls(KEY)) == 1
