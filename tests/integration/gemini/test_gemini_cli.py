"""Gemini CLI (`gemini -p`, installed by .ci/run) against poolgate and the simulator.

Each run gets its own HOME with a settings file (API-key auth, no telemetry, no update checks,
trusted workspace) and a working directory; a run passes only when the CLI exits 0 and prints the
expected answer. Every run is bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Gateway, Simulator, _clean_env
from tests.integration.gemini.conftest import ACCOUNT_KEY, CLIENT_KEY, upstream_calls

GEMINI = shutil.which("gemini")
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _gemini_installed() -> None:
    # CI installs the CLI, so there a missing binary is a failure; elsewhere it is only a skip.
    if GEMINI is None:
        if os.environ.get("CI"):
            pytest.fail("Gemini CLI not on PATH; .ci/run installs @google/gemini-cli")
        pytest.skip("Gemini CLI not installed (npm install -g @google/gemini-cli, see .ci/run)")


SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}


def run_cli(gw: Gateway, tmp_path: Path, prompt: str, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = {k: v for k, v in _clean_env().items() if not k.startswith(("GEMINI_", "GOOGLE_", "CLOUDSDK_"))}
    env.update(
        HOME=str(home),
        GOOGLE_GEMINI_BASE_URL=gw.base_url,
        GEMINI_API_KEY=CLIENT_KEY,
        GEMINI_CLI_TRUST_WORKSPACE="true",
        NO_COLOR="1",
    )
    assert GEMINI is not None
    result = subprocess.run(
        [GEMINI, *args, "-p", prompt],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, (
        f"gemini exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def test_plain_prompt(gemini_gateway: Gateway, sim: Simulator, tmp_path: Path) -> None:
    sim.script(ACCOUNT_KEY, {"text": "Paris is the capital of France (answer 4471)."})
    result = run_cli(gemini_gateway, tmp_path, "What is the capital of France?", "-m", "gemini-2.5-flash")
    assert "Paris is the capital of France (answer 4471)." in result.stdout
    calls = upstream_calls(sim)
    assert [(c["method"], c["model"]) for c in calls] == [("streamGenerateContent", "gemini-2.5-flash")]
    assert "What is the capital of France?" in json.dumps(calls[0]["body"]["contents"])


@pytest.mark.parametrize(
    ("router_step", "family"),
    [
        ({}, "flash"),  # the simulator's own schema-shaped answer: lowest complexity
        ({"text": '{"complexity_reasoning": "deep design work", "complexity_score": 95}'}, "pro"),
    ],
    ids=["simulator-router-answer", "scripted-complex"],
)
def test_prompt_without_model_goes_through_the_router(
    gemini_gateway: Gateway, sim: Simulator, tmp_path: Path, router_step: dict[str, str], family: str
) -> None:
    sim.script(ACCOUNT_KEY, router_step, {"text": "Routed answer 8812."})
    result = run_cli(gemini_gateway, tmp_path, "Hello there")
    assert "Routed answer 8812." in result.stdout
    router, main = upstream_calls(sim)
    assert router["method"] == "generateContent"
    assert router["body"]["generationConfig"]["responseMimeType"] == "application/json"
    assert "responseJsonSchema" in router["body"]["generationConfig"]
    assert main["method"] == "streamGenerateContent"
    # The CLI read the router's verdict: a simple prompt goes to a flash model, a complex one to pro.
    assert family in main["model"], main["model"]


def test_tool_call_round_trip(gemini_gateway: Gateway, sim: Simulator, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("The secret word is PAPAYA-9031.\n")
    result = run_cli(
        gemini_gateway, tmp_path, 'CALL_TOOL read_file {"file_path": "notes.txt"}', "-m", "gemini-2.5-flash"
    )
    assert 'Tool result: {"output":"The secret word is PAPAYA-9031.\\n"}' in result.stdout
    first, second = upstream_calls(sim)
    declared = {d["name"] for t in first["body"]["tools"] for d in t.get("functionDeclarations", [])}
    assert "read_file" in declared
    model_turn, tool_turn = second["body"]["contents"][-2:]
    call_part = model_turn["parts"][0]
    assert call_part["functionCall"]["name"] == "read_file"
    assert call_part["thoughtSignature"].startswith("sig-")
    assert "PAPAYA-9031" in json.dumps(tool_turn["parts"][0]["functionResponse"])


def test_google_web_search_tool_gets_the_grounded_sources(
    gemini_gateway: Gateway, sim: Simulator, tmp_path: Path
) -> None:
    # The CLI's google_web_search asks for a Google Search grounded answer; the simulator grounds it, and
    # the grounding has to come through poolgate's Gemini route for the CLI to list the sources.
    sim.script(ACCOUNT_KEY, {"function_calls": [{"name": "google_web_search", "args": {"query": "poolgate news"}}]})
    run_cli(gemini_gateway, tmp_path, "What is new with poolgate?", "-m", "gemini-2.5-flash")
    calls = upstream_calls(sim)
    assert any({"googleSearch": {}} in (c["body"].get("tools") or []) for c in calls), [
        c["body"].get("tools") for c in calls
    ]
    responses = [
        json.dumps(part["functionResponse"])
        for c in calls
        for content in c["body"].get("contents", [])
        for part in content.get("parts", [])
        if part.get("functionResponse", {}).get("name") == "google_web_search"
    ]
    assert responses and "https://example.com/search/" in responses[-1], responses
