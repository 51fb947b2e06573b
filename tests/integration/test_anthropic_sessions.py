"""Sticky scheduling for Anthropic clients: metadata.user_id and Claude Code's session header keep one account."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Gateway


def account_for(gw: Gateway, prompt: str, **extra: Any) -> str:
    headers = extra.pop("headers", {})
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": prompt}], **extra}
    r = httpx.post(f"{gw.base_url}/v1/messages", json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.headers["x-account-email"]


def test_user_id_and_session_header_pin_the_account(make_gateway: Any) -> None:
    gw: Gateway = make_gateway()
    gw.add_key("key-sticky-aaaa-0001", "acct-a")
    gw.add_key("key-sticky-bbbb-0002", "acct-b")
    gw.start()
    # Unrelated conversations spread over the pool ...
    assert len({account_for(gw, f"topic {i}") for i in range(6)}) == 2
    # ... while one user's or one Claude Code session's requests stay on one account.
    pinned = {account_for(gw, f"turn {i}", metadata={"user_id": '{"session_id": "s-1"}'}) for i in range(6)}
    assert len(pinned) == 1
    session = {"X-Claude-Code-Session-Id": "0d6c2f52-session"}
    assert len({account_for(gw, f"step {i}", headers=session) for i in range(6)}) == 1
