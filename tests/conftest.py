"""Shared fixtures: a real simulator process and real `poolgate serve` processes on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    # Tests must never reach a real provider or pick up a developer's proxy or poolgate settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("POOLGATE_") and "PROXY" not in k.upper()}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"  # Rich tables must not truncate what tests look for
    return env


@dataclass
class Simulator:
    url: str
    process: subprocess.Popen[str]

    def script(self, key: str, *steps: dict[str, Any]) -> None:
        r = httpx.post(f"{self.url}/_sim/script", json={"key": key, "steps": list(steps)}, timeout=10)
        r.raise_for_status()

    def calls(self, key: str | None = None) -> list[dict[str, Any]]:
        params = {"key": key} if key is not None else None
        r = httpx.get(f"{self.url}/_sim/calls", params=params, timeout=10)
        r.raise_for_status()
        calls: list[dict[str, Any]] = r.json()["calls"]
        return calls

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sim/reset", timeout=10).raise_for_status()


def start_simulator_process() -> Simulator:
    proc = subprocess.Popen(
        [sys.executable, "-m", "poolgate.simulator", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_clean_env(),
    )
    assert proc.stdout is not None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return Simulator(m.group(1), proc)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("simulator did not start")


@pytest.fixture(scope="session")
def simulator_process() -> Iterator[Simulator]:
    sim = start_simulator_process()
    yield sim
    sim.process.terminate()
    sim.process.wait(timeout=10)


@pytest.fixture
def simulator(simulator_process: Simulator) -> Simulator:
    simulator_process.reset()
    return simulator_process


@dataclass
class Gateway:
    data_dir: Path
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    ca_file: str = ""  # set for a gateway that serves HTTPS with a certificate this file vouches for

    @property
    def base_url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "poolgate", *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"poolgate {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def add_key(self, key: str, label: str = "") -> str:
        out = self.cli("accounts", "add-key", key, *(["--label", label] if label else [])).stdout
        m = re.search(r"account (\w+)", out)
        assert m, out
        return m.group(1)

    def start(self, *args: str) -> Gateway:
        self.port = free_port()
        self.log_path = self.data_dir / "serve.log"
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "poolgate",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *args,
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1, verify=self.ca_file or True).status_code in (
                    200,
                    401,
                ):
                    # The banner is printed just after the port opens; tests read it, so wait for its last line.
                    if "accounts: " in self.output():
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gateway did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def write_config(self, text: str) -> None:
        (self.data_dir / "poolgate.toml").write_text(text)


def _factory(base: Path, simulator_process: Simulator, made: list[Gateway]) -> Any:
    def factory(env: dict[str, str] | None = None, name: str = "gw") -> Gateway:
        data_dir = base / name
        data_dir.mkdir(exist_ok=True)
        full_env = _clean_env()
        full_env["POOLGATE_UPSTREAM__GEMINI_API_BASE"] = simulator_process.url
        full_env.update(env or {})
        gw = Gateway(data_dir=data_dir, env=full_env)
        made.append(gw)
        return gw

    return factory


@pytest.fixture
def make_gateway(tmp_path: Path, simulator_process: Simulator) -> Iterator[Any]:
    """Factory: make_gateway(env={...}) → a Gateway (not started) wired to the simulator."""
    made: list[Gateway] = []
    simulator_process.reset()
    yield _factory(tmp_path, simulator_process, made)
    for gw in made:
        gw.stop()


@pytest.fixture(scope="module")
def make_module_gateway(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Any]:
    """Like make_gateway, but the gateways live for the whole test module (fewer process starts)."""
    made: list[Gateway] = []
    yield _factory(tmp_path_factory.mktemp("module-gw"), simulator_process, made)
    for gw in made:
        gw.stop()


@pytest.fixture(scope="module")
def module_gateway(make_module_gateway: Any) -> Gateway:
    """A running gateway shared by a test module, with one API-key account named "key-a"."""
    gw: Gateway = make_module_gateway()
    gw.add_key("key-a-0000000000", "key-a")
    return gw.start()


@pytest.fixture
def gateway(make_gateway: Any) -> Gateway:
    """A running gateway with one API-key account named "key-a"."""
    gw: Gateway = make_gateway()
    gw.add_key("key-a-0000000000", "key-a")
    return gw.start()


# Throwaway PostgreSQL and Redis servers (session-scoped), for the store and shared-state tests.
from tests.servers import postgres_server, redis_server  # noqa: E402, F401
