"""Vercel's AI SDK (npm `ai` with its OpenAI, Anthropic and Google providers) against poolgate.

The SDK is one of the most used ways to call models from JavaScript; its OpenAI provider speaks the
Responses API by default. `tests/integration/js/ai_sdk.mjs` drives each provider through a plain answer,
a stream, a tool loop (the SDK runs the tool and sends its result back), a streamed tool loop and a
structured object; the packages are pinned in `tests/integration/js/package.json` (`.ci/run` installs them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway, Simulator, _clean_env

KEY = "key-aisdk-000000000"
JS = Path(__file__).parent / "js"
PROVIDERS = ("responses", "chat", "anthropic", "google")


@pytest.fixture(scope="module")
def results(make_module_gateway: Any, simulator_process: Simulator) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "ai").is_dir():
        pytest.fail(f"Node.js or the AI SDK is missing; install it with: npm ci --prefix {JS}")
    gw: Gateway = make_module_gateway(name="aisdk")
    gw.add_key(KEY, "aisdk")
    gw.start()
    simulator_process.reset()
    env = _clean_env() | {"GATEWAY": gw.base_url, "SIM": simulator_process.url, "SIM_KEY": KEY}
    run = subprocess.run([node, str(JS / "ai_sdk.mjs")], capture_output=True, text=True, env=env, timeout=180, cwd=JS)
    assert run.returncode == 0, run.stderr[-3000:]
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    out["_calls"] = simulator_process.calls(KEY)
    return out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_answers_and_streams(results: dict[str, Any], provider: str) -> None:
    text, stream = results[provider]["text"], results[provider]["stream"]
    assert text["text"] == "Hello from the simulator (model gemini-3-pro-preview). You said: hello there", text
    assert text["finish"] == "stop" and text["output_tokens"] > 0
    # Four upstream chunks arrive as four text deltas, in order, and the stream ends with its reason.
    assert stream == {"pieces": 4, "text": "one two three four", "finish": "stop"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_loops(results: dict[str, Any], provider: str) -> None:
    tools, streamed = results[provider]["tools"], results[provider]["stream_tools"]
    assert tools == {
        "steps": ["tool-calls", "stop"],
        "calls": [["weather", {"city": "Oslo"}]],
        "text": "Oslo is sunny.",
    }
    assert streamed == {
        "text": "Rome is sunny.",
        "results": [{"city": "Rome", "forecast": "sunny-in-Rome"}],
        "errors": [],
        "steps": 2,
    }


def test_tool_results_reach_the_model_with_their_signatures(results: dict[str, Any]) -> None:
    # Each loop's second upstream call: the model's call (signed, as Gemini 3 demands) then the SDK's result.
    followups = [c["body"] for c in results["_calls"] if "functionResponse" in json.dumps(c["body"]["contents"][-1:])]
    assert len(followups) == 2 * len(PROVIDERS)
    for body in followups:
        call_turn, result_turn = body["contents"][-2], body["contents"][-1]
        assert call_turn["parts"][0]["thoughtSignature"].startswith("sig-")
        response = result_turn["parts"][0]["functionResponse"]
        assert response["name"] == "weather"
        assert "sunny-in-" in json.dumps(response["response"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_structured_output(results: dict[str, Any], provider: str) -> None:
    assert results[provider]["object"] == {"name": "Ada", "age": 36}


def test_anthropic_thinking_streams_and_round_trips(results: dict[str, Any]) -> None:
    thinking = results["anthropic"]["thinking"]
    assert thinking == {
        "reasoning": "Weighing it up.",
        "text": "Forty-two.",
        "signature": True,
        "second": "Still forty-two.",
    }
    # The next turn gave Gemini back the thought signature the SDK kept from the thinking block.
    last = results["_calls"][-1]["body"]
    model_turn = last["contents"][-2]
    assert model_turn["role"] == "model"
    assert any(str(part.get("thoughtSignature", "")).startswith("sig-") for part in model_turn["parts"])
