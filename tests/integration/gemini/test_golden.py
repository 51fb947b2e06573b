"""Golden cases for the pass-through edits: each request goes through the gateway; the simulator's
call log must show exactly the expected upstream body and model (tests/golden/gemini/*.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ROOT, Gateway, Simulator
from tests.integration.gemini.conftest import CLIENT_KEY, upstream_calls

CASES = sorted((ROOT / "tests" / "golden" / "gemini").glob("*.json"))


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 5


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
def test_golden(gemini_gateway: Gateway, sim: Simulator, case_path: Path) -> None:
    case: dict[str, Any] = orjson.loads(case_path.read_bytes())
    r = httpx.post(
        f"{gemini_gateway.base_url}{case['path']}",
        content=orjson.dumps(case["request"]),
        headers={"x-goog-api-key": CLIENT_KEY, "content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    [call] = upstream_calls(sim)
    assert call["model"] == case["upstream_model"]
    assert call["body"] == case["upstream_body"]
