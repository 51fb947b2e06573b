"""Session keys for sticky scheduling: client session headers, explicit hints, else a prompt hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from poolgate.hub.types import GenerateContentRequest

# Headers real clients send that name one conversation (Claude Code, Codex CLI, others).
SESSION_HEADERS = ("x-claude-code-session-id", "session-id", "session_id", "x-session-id", "conversation_id")


def hint_from_body(body: Mapping[str, Any]) -> str:
    """A conversation hint a client put in the body: prompt_cache_key, metadata.user_id, then user."""
    value = body.get("prompt_cache_key")
    if isinstance(value, str) and value:
        return f"prompt_cache_key:{value}"
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping):
        user_id = metadata.get("user_id")
        if isinstance(user_id, str) and user_id:
            return f"user_id:{user_id}"
    value = body.get("user")
    if isinstance(value, str) and value:
        return f"user:{value}"
    return ""


def session_key(headers: dict[str, str], hint: str, hub: GenerateContentRequest) -> str:
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value:
            return f"h:{value[:200]}"
    if hint:
        return f"k:{hint[:200]}"
    digest = hashlib.blake2b(digest_size=12)
    system = hub.get("systemInstruction") or {}
    for part in system.get("parts") or ():
        digest.update((part.get("text") or "").encode())
    digest.update(b"\x00")
    for content in hub.get("contents") or ():
        if content.get("role") == "user":
            for part in content.get("parts") or ():
                digest.update((part.get("text") or "").encode())
            break
    return "p:" + digest.hexdigest()
