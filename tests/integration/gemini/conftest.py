"""One strict-auth gateway for all Gemini-native tests, with one API-key account on the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import gateway_for_module

CLIENT_KEY = "sk-gemini-client-7f3a9c"
ACCOUNT_KEY = "gem-native-account-key-01"


@pytest.fixture(scope="package")
def gemini_gateway(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    env = {"POOLGATE_PROXY__AUTH_MODE": "strict", "POOLGATE_PROXY__API_KEY": CLIENT_KEY}
    gw = gateway_for_module(
        tmp_path_factory.mktemp("gemini-gw"), simulator_process, env, {"gemini-native": ACCOUNT_KEY}
    )
    yield gw
    gw.stop()


@pytest.fixture
def sim(simulator_process: Simulator) -> Simulator:
    simulator_process.reset()
    return simulator_process


def upstream_calls(sim: Simulator, method: str | None = None) -> list[dict[str, Any]]:
    calls = sim.calls(ACCOUNT_KEY)
    return [c for c in calls if method is None or c["method"] == method]


def goog(gw: Gateway, path: str, body: Any, **params: str) -> httpx.Response:
    """POST with the client key in x-goog-api-key, the way Google's SDKs send it."""
    return httpx.post(
        f"{gw.base_url}{path}", json=body, params=params, headers={"x-goog-api-key": CLIENT_KEY}, timeout=30
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}
