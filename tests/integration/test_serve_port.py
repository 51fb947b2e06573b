"""`poolgate serve` on a port another gateway already holds: one clear line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.conftest import Gateway


def test_second_gateway_on_the_same_port_says_so_and_exits(gateway: Gateway) -> None:
    second = gateway.data_dir.parent / "second"
    second.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "poolgate", "serve", "--port", str(gateway.port), "--data-dir", str(second)],
        capture_output=True,
        text=True,
        env=gateway.env,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (f"port {gateway.port} is already in use on 127.0.0.1; pick another with --port"), (
        result.stderr
    )
    assert "Traceback" not in result.stdout + result.stderr
    # The first gateway is untouched and still answering.
    assert httpx.get(f"{gateway.base_url}/healthz", timeout=5).status_code in (200, 401)
