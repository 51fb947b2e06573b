"""The real Claude Code CLI (`claude -p`) against poolgate and the simulator: a plain prompt and a tool round trip."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import Gateway, Simulator, _clean_env
from tests.integration.gateways import gateway_for_module

KEY = "key-claude-code-001"
CLAUDE = shutil.which("claude")
# CI installs Claude Code, so there a missing binary must fail the run rather than skip the proof.
pytestmark = pytest.mark.skipif(
    CLAUDE is None and os.environ.get("CI") != "true", reason="Claude Code is not installed (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    gateway = gateway_for_module(tmp_path_factory.mktemp("claude-code"), simulator_process, keys={"cc": KEY})
    yield gateway
    gateway.stop()


def run_claude(gw: Gateway, workdir: Path, prompt: str, *extra: str) -> subprocess.CompletedProcess[str]:
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in _clean_env().items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    env.update(
        {
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": gw.base_url,
            "ANTHROPIC_API_KEY": "dummy-key-for-poolgate",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
            "NO_COLOR": "1",
        }
    )
    assert CLAUDE is not None
    return subprocess.run(
        [CLAUDE, "-p", prompt, "--model", "claude-sonnet-4-6", *extra],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_plain_prompt(gw: Gateway, simulator: Simulator, tmp_path: Path) -> None:
    result = run_claude(gw, tmp_path, "REPLY_WITH poolgate-says-7781")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("poolgate-says-7781"), result.stdout + result.stderr
    main_calls = [c for c in simulator.calls(KEY) if c["method"] == "streamGenerateContent"]
    assert main_calls, "Claude Code's request never reached the upstream"


def test_tool_round_trip_reads_a_file(gw: Gateway, simulator: Simulator, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The secret word is PINEAPPLE-4411.\n")
    prompt = f'CALL_TOOL Read {{"file_path": "{notes}"}}'
    result = run_claude(gw, tmp_path, prompt, "--allowedTools", "Read", "--permission-mode", "default")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Tool result:" in result.stdout and "PINEAPPLE-4411" in result.stdout, result.stdout + result.stderr
    # Claude Code ran the tool itself and sent its output back as a tool_result on the same conversation.
    responses = [
        part["functionResponse"]
        for call in simulator.calls(KEY)
        for content in (call["body"] or {}).get("contents", [])
        for part in content.get("parts", [])
        if "functionResponse" in part
    ]
    assert any(r["name"] == "Read" and "PINEAPPLE-4411" in r["response"].get("output", "") for r in responses)
    # Its replay of our answer carried Gemini's signature back onto the functionCall.
    replayed = [
        part
        for call in simulator.calls(KEY)
        for content in (call["body"] or {}).get("contents", [])
        if content.get("role") == "model"
        for part in content.get("parts", [])
        if part.get("functionCall", {}).get("name") == "Read"
    ]
    assert replayed and all(p.get("thoughtSignature", "").startswith("sig-") for p in replayed)


def test_web_search_tool_gets_google_search_results(gw: Gateway, simulator: Simulator, tmp_path: Path) -> None:
    # Claude Code defers WebSearch: the model loads it with ToolSearch, then calls it. WebSearch then sends
    # its own request with Anthropic's web_search server tool, and gives the main conversation the links.
    simulator.script(
        KEY,
        {"function_calls": [{"name": "ToolSearch", "args": {"query": "select:WebSearch", "max_results": 1}}]},
        {"function_calls": [{"name": "WebSearch", "args": {"query": "poolgate gateway release"}}]},
        {"delay": 0},  # the search request itself: the simulator's default answer, grounded
    )
    result = run_claude(gw, tmp_path, "Search the web for poolgate.", "--allowedTools", "WebSearch,ToolSearch")
    assert result.returncode == 0, result.stdout + result.stderr
    calls = simulator.calls(KEY)
    searches = [c for c in calls if {"googleSearch": {}} in ((c["body"] or {}).get("tools") or [])]
    assert len(searches) == 1, [c["body"].get("tools") for c in calls]
    responses = [
        orjson.dumps(part["functionResponse"]).decode()
        for call in calls
        for content in (call["body"] or {}).get("contents", [])
        for part in content.get("parts", [])
        if part.get("functionResponse", {}).get("name") == "WebSearch"
    ]
    assert responses and "https://example.com/search/" in responses[-1], (responses, result.stdout)
    assert "Tool result:" in result.stdout, result.stdout
