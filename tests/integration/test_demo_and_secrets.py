"""`serve --demo` works offline, and API keys never appear in full in output or logs."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import openai

from tests.conftest import Gateway

SECRET = "AIzaSyTOTALLYSECRETKEY1234567890abcd"


def test_demo_mode_serves_from_the_builtin_simulator(make_gateway: Any) -> None:
    gw: Gateway = make_gateway(env={"POOLGATE_UPSTREAM__GEMINI_API_BASE": "http://127.0.0.1:9"}, name="demo")
    gw.start("--demo")
    assert "accounts: 1 usable of 1" in gw.output()
    client = openai.OpenAI(api_key="x", base_url=gw.v1)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "offline?"}])
    assert "offline?" in (reply.choices[0].message.content or "")


def test_keys_never_shown_in_full(make_gateway: Any) -> None:
    gw: Gateway = make_gateway(name="secrets")
    added = gw.cli("accounts", "add-key", SECRET, "--label", "secret-key")
    gw.start()
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200
    listing = gw.cli("accounts", "list").stdout
    gw.stop()
    for text in (added.stdout, added.stderr, listing, gw.output(), r.text, str(r.headers)):
        assert SECRET not in text
    assert "AIza…abcd" in listing
    with sqlite3.connect(gw.data_dir / "poolgate.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert SECRET not in dump
