"""The web UI in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser download)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Gateway, Simulator
from tests.integration.gateways import gateway_for_module
from tests.integration.oauth_support import control, google_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
ADMIN = "ui-admin-password"
UI_KEY = "key-ui-browser-0000"

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package", pytrace=False)
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); CI installs it", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    # Google's OAuth and Cloud Code URLs point at the simulator too, so "Sign in with Google" works offline.
    env = {**google_env(simulator_process), "POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN}
    gateway = gateway_for_module(tmp_path_factory.mktemp("ui"), simulator_process, env)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, gw: Gateway) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def login(page: Any, gw: Gateway, password: str = ADMIN) -> None:
    page.goto(f"{gw.base_url}/ui/")
    page.fill("#password", password)
    page.click("#login-button")


def chat(gw: Gateway, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello from the browser test"}]}
    return httpx.post(f"{gw.v1}/chat/completions", json=body, timeout=30)


def test_wrong_password_is_refused(page: Any, gw: Gateway) -> None:
    login(page, gw, "not-the-password")
    sync_api.expect(page.locator("#login-error")).to_have_text("Wrong password.")
    assert page.locator("#shell").is_hidden()


def test_operator_journey(page: Any, gw: Gateway, simulator: Simulator) -> None:
    expect = sync_api.expect
    login(page, gw)
    expect(page.locator("#nav")).to_be_visible()
    expect(page.locator("#chart-requests svg")).to_be_visible()
    shot(page, "1-dashboard")

    # Add an API-key account.
    page.click("#nav a[data-view=accounts]")
    page.fill("#new-key", UI_KEY)
    page.fill("#new-label", "ui-key")
    page.click("#add-key-button")
    card = page.locator("article.account[data-name='ui-key']")
    expect(card.locator(".badge")).to_have_text("active")
    shot(page, "2-account-added")

    # A chat call shows up in the live log with its account and mapped model.
    page.click("#nav a[data-view=logs]")
    expect(page.locator("#live-state")).to_have_text("live")
    r = chat(gw, "gpt-4o")
    assert r.status_code == 200
    row = page.locator(f"tr.log-row[data-id='{r.headers['x-request-id']}']")
    expect(row.locator(".acct")).to_have_text("ui-key")
    expect(row.locator(".mapped")).to_have_text(r.headers["x-mapped-model"])
    row.click()
    expect(page.locator("#log-detail")).to_contain_text("hello from the browser test")
    shot(page, "3-live-log")

    # Changing a mapping changes X-Mapped-Model on the next call.
    before = r.headers["x-mapped-model"]
    target = "gemini-2.5-pro" if before != "gemini-2.5-pro" else "gemini-2.5-flash-lite"
    page.click("#nav a[data-view=mapping]")
    page.fill("#map-pattern", "gpt-4o")
    page.fill("#map-model", target)
    page.click("#map-save")
    expect(page.locator("#mapping-rows tr[data-pattern='gpt-4o']")).to_be_visible()
    shot(page, "4-mapping")
    assert chat(gw, "gpt-4o").headers["x-mapped-model"] == target

    # A 429 with a RetryInfo delay puts the account in a cooldown the accounts page counts down.
    simulator.script(UI_KEY, {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "120s"})
    assert chat(gw, "gemini-2.5-flash").status_code == 429
    page.click("#nav a[data-view=accounts]")
    countdown = card.locator(".countdown")
    expect(card.locator(".badge")).to_have_text(re.compile("cooling"))
    expect(countdown).to_have_text(re.compile(r"^[12]:\d\d$"))
    first = countdown.inner_text()
    deadline = time.time() + 10
    while countdown.inner_text() == first and time.time() < deadline:
        page.wait_for_timeout(200)
    assert countdown.inner_text() != first, "the countdown does not tick"
    expect(card).to_contain_text("last error")
    shot(page, "5-cooling")

    # The cooldown can be cleared from the card.
    card.locator("button[data-action=clear-cooldown]").click()
    expect(card.locator(".badge")).to_have_text("active")

    # An account's own egress proxy shows on its card, without the password.
    account_id = card.get_attribute("data-id") or ""
    admin = {"authorization": f"Bearer {ADMIN}"}
    proxied = httpx.post(
        f"{gw.base_url}/api/accounts/{account_id}/proxy",
        json={"proxy_url": "http://ops:s3cret@127.0.0.1:3128"},
        headers=admin,
    )
    assert proxied.status_code == 200, proxied.text
    page.reload()
    page.click("#nav a[data-view=accounts]")
    expect(card).to_contain_text("via http://ops:***@127.0.0.1:3128")
    assert "s3cret" not in card.inner_text()
    httpx.post(f"{gw.base_url}/api/accounts/{account_id}/proxy", json={"proxy_url": ""}, headers=admin)


PHONE_VIEWS = {
    "dashboard": "#chart-tokens svg",
    "accounts": "#account-list > *",
    "mapping": "#mapping-rows tr",
    "logs": "#log-rows tr",
    "settings": "#config-json",
}


def test_phone_width_has_no_sideways_scrolling(browser: Any, gw: Gateway) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    try:
        login(pg, gw)
        for view, loaded in PHONE_VIEWS.items():
            pg.goto(f"{gw.base_url}/ui/#{view}")
            sync_api.expect(pg.locator(f"#view[data-view={view}] {loaded}").first).to_be_visible()
            width = pg.evaluate("document.documentElement.scrollWidth")
            assert width <= 391, f"{view} is {width}px wide at a 390px viewport"
            shot(pg, f"phone-{view}")
    finally:
        context.close()


def test_settings_change_applies_live(page: Any, gw: Gateway) -> None:
    login(page, gw)
    page.click("#nav a[data-view=settings]")
    page.select_option("#cfg-scheduling-mode", "performance_first")
    page.click("#settings-save")
    sync_api.expect(page.locator("label[for=cfg-scheduling-mode] .badge")).to_have_text("overridden")
    shot(page, "settings")
    view = httpx.get(f"{gw.base_url}/api/config", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert view["config"]["scheduling"]["mode"] == "performance_first"
    httpx.delete(f"{gw.base_url}/api/config/overrides", headers={"Authorization": f"Bearer {ADMIN}"})


def test_google_sign_in_from_the_ui(page: Any, gw: Gateway, simulator: Simulator) -> None:
    """Runs last: the Google account it adds would otherwise share the traffic of the journey above."""
    expect = sync_api.expect
    control(simulator, "next_login", {"email": "ui-google@example.com"})
    login(page, gw)
    page.click("#nav a[data-view=accounts]")
    with page.context.expect_page() as opened:
        page.click("#oauth-start")
    google = opened.value  # the simulator's consent page sends the browser back to /auth/callback
    expect(google.locator("body")).to_contain_text("ui-google@example.com")
    shot(google, "6-google-callback")
    card = page.locator("article.account[data-name='ui-google@example.com']")
    expect(card.locator(".badge")).to_have_text("active")
    card.locator("button[data-action=refresh]").click()
    expect(page.locator("#toast")).to_have_text("Done.")
    shot(page, "7-google-account")
