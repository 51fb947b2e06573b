"""Module-scoped gateway processes for the monitoring and admin tests (one process per test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import Gateway, Simulator, _clean_env


def gateway_for_module(
    data_dir: Path, simulator: Simulator, env: dict[str, str] | None = None, keys: dict[str, str] | None = None
) -> Gateway:
    """A gateway wired to the simulator, with API-key accounts {label: key} added before it starts."""
    full_env = _clean_env()
    full_env["POOLGATE_UPSTREAM__GEMINI_API_BASE"] = simulator.url
    full_env.update(env or {})
    gw = Gateway(data_dir=data_dir, env=full_env)
    for label, key in (keys or {}).items():
        gw.add_key(key, label)
    return gw.start()


def keyed_gateway(name: str, key: str, env: dict[str, str] | None = None) -> Any:
    """A module-scoped `gw` fixture: one gateway with one API-key account labelled `name`."""

    @pytest.fixture(scope="module")
    def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
        gateway = gateway_for_module(tmp_path_factory.mktemp(name), simulator_process, env, {name: key})
        yield gateway
        gateway.stop()

    return gw


def openai_client(gw: Gateway, simulator: Simulator) -> openai.OpenAI:
    """The openai SDK on the gateway, after clearing the simulator's scripts and recorded calls."""
    simulator.reset()
    return openai.OpenAI(api_key="sk-test", base_url=gw.v1, max_retries=0)
