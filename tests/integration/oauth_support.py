"""Helpers for the OAuth tests: gateway env pointing Google's URLs at the simulator, and its control API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Gateway, Simulator, _clean_env

CLIENT_ID = "poolgate-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret"


def google_env(sim: Simulator, bases: list[str] | None = None, *, client: bool = True) -> dict[str, str]:
    env = _clean_env()
    env.update(
        {
            "POOLGATE_UPSTREAM__GEMINI_API_BASE": sim.url,
            "POOLGATE_UPSTREAM__CODE_ASSIST_BASES": json.dumps(bases or [sim.url]),
            "POOLGATE_UPSTREAM__OAUTH_TOKEN_URL": f"{sim.url}/token",
            "POOLGATE_UPSTREAM__OAUTH_AUTH_URL": f"{sim.url}/o/oauth2/v2/auth",
            "POOLGATE_UPSTREAM__USERINFO_URL": f"{sim.url}/oauth2/v2/userinfo",
            "POOLGATE_UPSTREAM__USER_AGENT": "poolgate-tests/1.0",
            "POOLGATE_UPSTREAM__CLIENT_NAME": "poolgate-tests",
            "POOLGATE_UPSTREAM__CLIENT_VERSION": "9.9.9",
            # `login` opens a browser through $BROWSER; `true` swallows the URL so the test can play the browser.
            "BROWSER": "true",
            "COLUMNS": "250",
        }
    )
    if client:
        env["POOLGATE_UPSTREAM__OAUTH_CLIENT_ID"] = CLIENT_ID
        env["POOLGATE_UPSTREAM__OAUTH_CLIENT_SECRET"] = CLIENT_SECRET
    return env


def control(sim: Simulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{sim.url}/_sim/google/{path}", json=body, timeout=10)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def new_user(sim: Simulator, email: str, **settings: Any) -> str:
    """Create a simulated Google user and return a refresh token for it."""
    return str(control(sim, "user", {"email": email, **settings})["refresh_token"])


def mark(sim: Simulator) -> int:
    return len(sim.calls())


def calls_since(sim: Simulator, start: int, *methods: str) -> list[dict[str, Any]]:
    calls = sim.calls()[start:]
    return [c for c in calls if not methods or c["method"] in methods]


def oauth_gateway(sim: Simulator, data_dir: Path, bases: list[str] | None = None, **extra: str) -> Gateway:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = google_env(sim, bases)
    env.update(extra)
    return Gateway(data_dir=data_dir, env=env)


def import_entries(gw: Gateway, entries: Any, name: str = "import.json") -> subprocess.CompletedProcess[str]:
    path = gw.data_dir / name
    path.write_text(json.dumps(entries))
    return gw.cli("accounts", "import", str(path), check=False)


def account_row(gw: Gateway | str, email: str) -> str:
    """The `accounts list` row for email; pass a listing already read to save a CLI start."""
    out = gw if isinstance(gw, str) else gw.cli("accounts", "list").stdout
    rows = [line for line in out.splitlines() if email in line]
    assert rows, out
    return rows[0]


def start_login(gw: Gateway, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Run `poolgate accounts login` and return the process and the authorization URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "poolgate", "accounts", "login", *args, "--data-dir", str(gw.data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=gw.env,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"(http://\S+/o/oauth2/v2/auth\?\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError("login printed no URL:\n" + "".join(seen))
