"""SignatureStore: Gemini thought signatures kept server-side (bounded, expiring) for the next turn.

Gemini attaches an opaque `thoughtSignature` to function-call (and some text) parts and rejects a
later request that replays the call without it. Most clients drop unknown fields, so poolgate keeps
the signature keyed by what the client will send back: the tool-call id it was given, and as a
fallback the function name plus its canonical arguments within the conversation's session key.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

import orjson

# Signatures the upstream documents as "skip validation"; never stored, and never sent on our own.
PLACEHOLDERS = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})


def call_fingerprint(name: str, args: object) -> str:
    """Stable key for one function call: name plus canonical JSON of its arguments."""
    raw = orjson.dumps(args, option=orjson.OPT_SORT_KEYS) if args is not None else b"{}"
    return name + ":" + hashlib.blake2b(raw, digest_size=10).hexdigest()


class SignatureStore:
    """An LRU of signatures with a TTL; lookups never raise and a miss just means "unknown"."""

    def __init__(
        self, max_entries: int = 20_000, ttl_seconds: float = 6 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, key: str, signature: str) -> None:
        if not signature or signature in PLACEHOLDERS:
            return
        entries = self._entries
        entries[key] = (signature, self.clock() + self.ttl)
        entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    def _get(self, key: str) -> str | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        signature, expires = hit
        if expires <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return signature

    def remember_call(self, session: str, call_id: str | None, name: str, args: object, signature: str) -> None:
        if call_id:
            self._put(f"id:{call_id}", signature)
        self._put(f"fp:{session}:{call_fingerprint(name, args)}", signature)

    def recall_call(self, session: str, call_id: str | None, name: str, args: object) -> str | None:
        if call_id:
            hit = self._get(f"id:{call_id}")
            if hit is not None:
                return hit
        return self._get(f"fp:{session}:{call_fingerprint(name, args)}")

    def remember_text(self, session: str, text: str, signature: str) -> None:
        """Signatures on text or thinking parts, keyed by the text the client will replay."""
        digest = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
        self._put(f"tx:{session}:{digest}", signature)

    def recall_text(self, session: str, text: str) -> str | None:
        digest = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
        return self._get(f"tx:{session}:{digest}")
