"""Adding Google OAuth accounts: CLI login (loopback and pasted), import, refresh, and the admin-API login."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.oauth_support import (
    CLIENT_ID,
    account_row,
    calls_since,
    control,
    google_env,
    import_entries,
    mark,
    new_user,
    oauth_gateway,
    start_login,
)


@pytest.fixture
def gw(tmp_path: Path, simulator_process: Simulator) -> Iterator[Gateway]:
    gateway = oauth_gateway(simulator_process, tmp_path / "gw")
    yield gateway
    gateway.stop()  # tests that start it must not leave a server (and its log writer) running


def test_login_through_the_loopback_redirect(gw: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    new_user(sim, "loop@example.com", project="loop-project", tier="standard-tier")
    control(sim, "next_login", {"email": "loop@example.com"})
    proc, url = start_login(gw)
    try:
        params = parse_qs(urlsplit(url).query)
        assert params["client_id"] == [CLIENT_ID]
        assert params["code_challenge_method"] == ["S256"] and params["code_challenge"][0]
        assert params["access_type"] == ["offline"]
        scopes = params["scope"][0].split()
        assert "https://www.googleapis.com/auth/cloud-platform" in scopes
        assert "https://www.googleapis.com/auth/userinfo.email" in scopes
        redirect = params["redirect_uri"][0]
        assert redirect.startswith("http://127.0.0.1:") and redirect.endswith("/oauth-callback")
        # The test is the browser: Google's consent page redirects to the loopback port with a code.
        consent = httpx.get(url, follow_redirects=False, timeout=10)
        assert consent.status_code == 302
        landing = httpx.get(consent.headers["location"], timeout=10)
        assert landing.status_code == 200 and "Login received" in landing.text
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "Added OAuth account" in out and "loop@example.com" in out
    row = account_row(gw, "loop@example.com")
    assert "oauth" in row and "standard" in row and "active" in row
    # The stored refresh token is the one Google issued, shown masked.
    assert "1//s" in row


def test_loopback_refuses_a_redirect_with_a_forged_state(gw: Gateway, simulator_process: Simulator) -> None:
    control(simulator_process, "next_login", {"email": "csrf@example.com"})
    proc, url = start_login(gw)
    try:
        location = httpx.get(url, follow_redirects=False, timeout=10).headers["location"]
        forged = location.split("&state=")[0] + "&state=forged"
        refused = httpx.get(forged, timeout=10)
        assert refused.status_code == 400 and "does not belong" in refused.text
        assert "0 account(s)" in gw.cli("accounts", "list").stdout
        # The login is still waiting, and the genuine redirect completes it.
        assert httpx.get(location, timeout=10).status_code == 200
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "Added OAuth account" in out and "csrf@example.com" in out


def test_login_without_a_browser_takes_the_pasted_redirect(gw: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    new_user(sim, "paste@example.com", project="paste-project")
    control(sim, "next_login", {"email": "paste@example.com"})
    proc, url = start_login(gw, "--no-browser")
    try:
        consent = httpx.get(url, follow_redirects=False, timeout=10)
        # Nothing listens on the redirect port: the user copies the URL from the browser's address bar.
        out, _ = proc.communicate(consent.headers["location"] + "\n", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "paste@example.com" in out and "paste-project" in out
    assert "paste@example.com" in account_row(gw, "paste@example.com")


def test_login_without_a_browser_takes_a_bare_code(gw: Gateway, simulator_process: Simulator) -> None:
    control(simulator_process, "next_login", {"email": "bare@example.com"})
    proc, url = start_login(gw, "--no-browser")
    try:
        location = httpx.get(url, follow_redirects=False, timeout=10).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        out, _ = proc.communicate(code + "\n", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "Added OAuth account" in out and "bare@example.com" in out


def test_login_without_client_credentials_says_what_to_set(tmp_path: Path, simulator_process: Simulator) -> None:
    gw = Gateway(data_dir=tmp_path / "noclient", env=google_env(simulator_process, client=False))
    gw.data_dir.mkdir()
    result = gw.cli("accounts", "login", "--no-browser", check=False)
    assert result.returncode == 1
    message = " ".join((result.stdout + result.stderr).split())
    assert "upstream.oauth_client_id" in message and "oauth_client_secret" in message


def test_import_a_list_with_bad_entries_among_good_ones(gw: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    good1 = new_user(sim, "imp1@example.com", project="imp1-project")
    good2 = new_user(sim, "imp2@example.com", project="imp2-project")
    revoked = new_user(sim, "gone@example.com")
    control(sim, "revoke", {"email": "gone@example.com"})
    entries = [
        {"refresh_token": good1, "email": "imp1@example.com"},
        {"email": "no-token@example.com"},
        {"refresh_token": revoked, "email": "gone@example.com"},
        "not an object",
        {"refresh_token": good2, "project_id": "given-project"},
    ]
    result = import_entries(gw, entries)
    assert result.returncode == 1  # some entries failed; the good ones are still imported
    lines = result.stdout.splitlines()

    def line_for(n: int) -> str:
        return next(line for line in lines if line.strip("│┃ ").startswith(f"{n} "))

    assert "imported" in line_for(1) and "imp1@example.com" in line_for(1)
    assert "failed" in line_for(2) and "no refresh_token" in line_for(2)
    assert "failed" in line_for(3) and "invalid_grant" in line_for(3)
    assert "failed" in line_for(4)
    assert "imported" in line_for(5) and "imp2@example.com" in line_for(5)
    assert "2 imported, 3 failed" in result.stdout
    listing = gw.cli("accounts", "list").stdout
    assert "imp1@example.com" in listing and "imp2@example.com" in listing
    assert "gone@example.com" not in listing
    assert good1 not in listing  # refresh tokens are only ever shown masked
    store = gw.data_dir / "poolgate.db"
    assert good1.encode() not in store.read_bytes()  # and encrypted at rest


def test_import_a_gemini_cli_oauth_creds_file(gw: Gateway, simulator_process: Simulator) -> None:
    token = new_user(simulator_process, "cli-user@example.com", project="cli-project")
    creds = {
        "access_token": "ya29.stale-from-gemini-cli",
        "refresh_token": token,
        "scope": "https://www.googleapis.com/auth/cloud-platform openid",
        "token_type": "Bearer",
        "id_token": "x.y.z",
        "expiry_date": 1700000000000,
    }
    result = import_entries(gw, creds, "oauth_creds.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 imported, 0 failed" in result.stdout
    # Importing the same Google account again updates it instead of duplicating it.
    again = import_entries(gw, creds, "oauth_creds.json")
    assert "updated" in again.stdout
    listing = gw.cli("accounts", "list").stdout
    assert listing.count("cli-user@example.com") == 1
    row = account_row(listing, "cli-user@example.com")
    assert "free" in row and "active" in row


def test_import_onboards_a_user_without_a_project(gw: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    token = new_user(sim, "fresh@example.com", no_project=True, onboard_project="fresh-onboarded", onboard_polls=2)
    start = mark(sim)
    result = import_entries(gw, [{"refresh_token": token}])
    assert result.returncode == 0, result.stdout + result.stderr
    flow = [c["method"] for c in calls_since(sim, start) if c["key"] == "fresh@example.com"]
    assert flow[:7] == [
        "token",
        "userinfo",
        "loadCodeAssist",
        "onboardUser",
        "getOperation",
        "getOperation",
        "fetchAvailableModels",
    ]
    onboard = next(c for c in calls_since(sim, start, "onboardUser"))
    assert onboard["body"]["tierId"] == "free-tier"
    assert "fresh-onboarded" in result.stdout
    row = account_row(gw, "fresh@example.com")
    assert "free" in row
    # Persisted: a refresh asks loadCodeAssist again and now finds the project, without onboarding twice.
    start = mark(sim)
    refreshed = gw.cli("accounts", "refresh", "fresh@example.com")
    assert "fresh-onboarded" in refreshed.stdout
    assert "onboardUser" not in [c["method"] for c in calls_since(sim, start)]


def test_refresh_marks_a_revoked_account_for_relogin(gw: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    ok = new_user(sim, "keep@example.com", project="keep-project")
    lost = new_user(sim, "lost@example.com", project="lost-project")
    assert import_entries(gw, [{"refresh_token": ok}, {"refresh_token": lost}]).returncode == 0
    control(sim, "revoke", {"email": "lost@example.com"})
    result = gw.cli("accounts", "refresh", check=False)
    assert result.returncode == 1
    assert "keep@example.com: ok" in result.stdout
    assert "lost@example.com: needs re-login" in result.stdout
    listing = gw.cli("accounts", "list").stdout
    assert "needs re-login" in account_row(listing, "lost@example.com")
    assert "active" in account_row(listing, "keep@example.com")
    # Logging in again as the same Google account brings it back.
    control(sim, "next_login", {"email": "lost@example.com"})
    proc, url = start_login(gw, "--no-browser")
    try:
        location = httpx.get(url, follow_redirects=False, timeout=10).headers["location"]
        out, _ = proc.communicate(location + "\n", timeout=60)
    finally:
        proc.kill()
    assert "Updated OAuth account" in out
    assert "active" in account_row(gw, "lost@example.com")


def test_admin_api_login_via_callback_and_via_paste(gw: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    gw.env["POOLGATE_PROXY__ADMIN_PASSWORD"] = "admin-pass"
    gw.start()
    admin = {"authorization": "Bearer admin-pass"}
    assert httpx.post(f"{gw.base_url}/api/accounts/oauth/start", timeout=10).status_code == 401

    control(sim, "next_login", {"email": "web1@example.com"})
    started = httpx.post(f"{gw.base_url}/api/accounts/oauth/start", headers=admin, timeout=10).json()
    assert started["redirect_uri"] == f"{gw.base_url}/auth/callback"
    assert parse_qs(urlsplit(started["url"]).query)["state"] == [started["state"]]
    location = httpx.get(started["url"], follow_redirects=False, timeout=10).headers["location"]
    page = httpx.get(location, timeout=30)  # public: the browser carries no admin password
    assert page.status_code == 200 and "web1@example.com" in page.text
    again = httpx.get(location, timeout=30)  # a code and its login are single use
    assert again.status_code == 400

    control(sim, "next_login", {"email": "web2@example.com"})
    started = httpx.post(f"{gw.base_url}/api/accounts/oauth/start", headers=admin, json={}, timeout=10).json()
    location = httpx.get(started["url"], follow_redirects=False, timeout=10).headers["location"]
    done = httpx.post(
        f"{gw.base_url}/api/accounts/oauth/complete", headers=admin, json={"redirect_url": location}, timeout=30
    )
    assert done.status_code == 200, done.text
    assert done.json()["account"]["email"] == "web2@example.com" and done.json()["created"] is True

    bad = httpx.post(f"{gw.base_url}/api/accounts/oauth/complete", headers=admin, json={"code": "nope"}, timeout=10)
    assert bad.status_code == 400 and "start again" in bad.json()["error"]["message"]

    token = new_user(sim, "web3@example.com", project="web3-project")
    imported = httpx.post(
        f"{gw.base_url}/api/accounts/oauth/import", headers=admin, json={"refresh_token": token}, timeout=30
    )
    assert imported.status_code == 200 and imported.json()["account"]["project_id"] == "web3-project"
    # A revoked token is the admin's input, not an upstream fault: a 400 that says what Google said.
    revoked = new_user(sim, "gone-web@example.com")
    control(sim, "revoke", {"email": "gone-web@example.com"})
    refused = httpx.post(
        f"{gw.base_url}/api/accounts/oauth/import", headers=admin, json={"refresh_token": revoked}, timeout=30
    )
    assert refused.status_code == 400 and "invalid_grant" in refused.json()["error"]["message"], refused.text
    listing = gw.cli("accounts", "list").stdout
    assert "gone-web@example.com" not in listing
    assert all(f"web{n}@example.com" in listing for n in (1, 2, 3))
    # The new accounts serve at once, with their Google email in X-Account-Email.
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 200 and r.headers["x-account-email"] in {f"web{n}@example.com" for n in (1, 2, 3)}
    assert json.loads(r.text)["choices"][0]["message"]["content"].endswith("hi")
