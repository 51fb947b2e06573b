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
from typing import Any

import orjson

from poolgate.hub.types import JSON, GenerateContentRequest

# Signatures the upstream documents as "skip validation"; never stored, and never sent on our own.
PLACEHOLDERS = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})


def call_fingerprint(name: str, args: object) -> str:
    """Stable key for one function call: name plus canonical JSON of its arguments."""
    raw = orjson.dumps(args, option=orjson.OPT_SORT_KEYS) if args is not None else b"{}"
    return name + ":" + hashlib.blake2b(raw, digest_size=10).hexdigest()


class SignatureStore:
    """An LRU of signatures with a TTL; lookups never raise and a miss just means "unknown".

    Bounded by count and by size: a signature is usually a few hundred bytes to a few KB, but it grows
    with the thinking it stands for, and a gateway that runs for weeks must not grow with it.
    """

    def __init__(
        self,
        max_entries: int = 20_000,
        ttl_seconds: float = 6 * 3600,
        clock: Callable[[], float] = time.time,
        max_bytes: int = 64 << 20,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._bytes = 0  # the signatures' lengths, counted once per key

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes

    def _put(self, key: str, signature: str) -> None:
        if not signature or signature in PLACEHOLDERS:
            return
        entries = self._entries
        old = entries.get(key)
        if old is not None:
            self._bytes -= len(old[0])
        entries[key] = (signature, self.clock() + self.ttl)
        entries.move_to_end(key)
        self._bytes += len(signature)
        while len(entries) > self.max_entries or (self._bytes > self.max_bytes and len(entries) > 1):
            self._bytes -= len(entries.popitem(last=False)[1][0])

    def _get(self, key: str) -> str | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        signature, expires = hit
        if expires <= self.clock():
            del self._entries[key]
            self._bytes -= len(signature)
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


# --- protocol-neutral recording and restoring -------------------------------------------------------------

# Model families that do not validate signatures on replayed calls: an unsigned call is fine there.
_LENIENT_PREFIXES = ("gemini-1", "gemini-2", "gemma")


def _signature_of(part: dict[str, Any]) -> str | None:
    sig = part.get("thoughtSignature") or part.get("thought_signature")
    return sig if isinstance(sig, str) and sig else None


def valid_signature(sig: object) -> bool:
    """A real signature: a non-empty string that is not one of the documented skip placeholders."""
    return isinstance(sig, str) and bool(sig) and sig not in PLACEHOLDERS


class SignatureRecorder:
    """Remembers the signatures of one answer as it streams past; text signatures once the text is whole.

    Function-call parts arrive whole, so they are stored at once. A signature on text may sit on any
    piece of a streamed answer while clients replay the joined text, so text is accumulated per
    candidate and stored under the full text at `close()`.
    """

    def __init__(self, session: str, store: SignatureStore) -> None:
        self.session = session
        self.store = store
        self._text: dict[tuple[int, bool], list[str]] = {}
        self._sig: dict[tuple[int, bool], str] = {}

    def feed(self, chunk: JSON) -> None:
        for cand in chunk.get("candidates") or ():
            if not isinstance(cand, dict):
                continue
            index = int(cand.get("index") or 0)
            for part in (cand.get("content") or {}).get("parts") or ():
                if not isinstance(part, dict):
                    continue
                sig = _signature_of(part)
                call = part.get("functionCall")
                if isinstance(call, dict):
                    if sig:
                        self.store.remember_call(
                            self.session, call.get("id"), str(call.get("name") or ""), call.get("args") or {}, sig
                        )
                    continue
                text = part.get("text")
                if isinstance(text, str):
                    key = (index, bool(part.get("thought")))
                    self._text.setdefault(key, []).append(text)
                    if sig:
                        self._sig[key] = sig

    def close(self) -> None:
        for key, sig in self._sig.items():
            self.store.remember_text(self.session, "".join(self._text.get(key, ())), sig)
        self._sig.clear()
        self._text.clear()


def record_from_chunk(chunk: JSON, session_key: str, store: SignatureStore) -> None:
    """Remember every signature in one complete answer (or one self-contained chunk)."""
    recorder = SignatureRecorder(session_key, store)
    recorder.feed(chunk)
    recorder.close()


def _current_turn_start(contents: list[Any]) -> int:
    """Index after the last user content that is a real user message (not only function responses)."""
    for i in range(len(contents) - 1, -1, -1):
        content = contents[i]
        if not isinstance(content, dict) or content.get("role", "user") == "model":
            continue
        parts = content.get("parts") or []
        if any(isinstance(p, dict) and "functionResponse" not in p for p in parts):
            return i + 1
    return 0


def _validates(model: str) -> bool:
    name = model.lower().removeprefix("models/")
    return not name.startswith(_LENIENT_PREFIXES)


def restore_into_request(
    hub_request: GenerateContentRequest | JSON, session_key: str, store: SignatureStore, model: str = ""
) -> int:
    """Put stored signatures back on replayed model parts; returns how many calls were degraded to text.

    For each model-role `functionCall` part without a real signature (missing, or a placeholder such
    as `skip_thought_signature_validator`), the stored one is restored, by call id or else by name and
    arguments. Placeholders are never forwarded. When no signature is known and the model validates
    them (Gemini 3 and later; anything not known to be lenient), Google checks the first call of each
    model step in the current turn, so such a step's calls and their responses are rewritten as plain
    text: the model still sees what happened and the upstream has nothing to reject. Older turns are
    not validated and keep their structure.
    """
    contents = hub_request.get("contents")
    if not isinstance(contents, list):
        return 0
    for turn in contents:
        if isinstance(turn, dict) and turn.get("role") == "model":
            break
    else:
        return 0  # nothing replayed: the first turn of every conversation
    current = _current_turn_start(contents)
    strict = _validates(model)
    degraded_ids: dict[str, str] = {}
    degraded_names: list[str] = []
    degraded = 0
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role") != "model":
            continue
        parts = content.get("parts")
        if not isinstance(parts, list):
            continue
        first_call_signed: bool | None = None
        for part in parts:
            if not isinstance(part, dict):
                continue
            sig = _signature_of(part)
            part.pop("thought_signature", None)
            call = part.get("functionCall")
            if not valid_signature(sig):
                part.pop("thoughtSignature", None)
                if isinstance(call, dict):
                    sig = store.recall_call(session_key, call.get("id"), str(call.get("name") or ""), call.get("args"))
                elif isinstance(part.get("text"), str) and part.get("text"):
                    sig = store.recall_text(session_key, part["text"])
                else:
                    sig = None
                if sig:
                    part["thoughtSignature"] = sig
            else:
                part["thoughtSignature"] = str(sig)
            if isinstance(call, dict) and first_call_signed is None:
                first_call_signed = "thoughtSignature" in part
        if first_call_signed is False and strict and i >= current:
            degraded += _calls_to_text(parts, degraded_ids, degraded_names)
    if degraded:
        for content in contents[current:]:
            if isinstance(content, dict) and content.get("role") != "model":
                _responses_to_text(content.get("parts") or [], degraded_ids, degraded_names)
    return degraded


def _calls_to_text(parts: list[Any], ids: dict[str, str], names: list[str]) -> int:
    count = 0
    for n, part in enumerate(parts):
        call = part.get("functionCall") if isinstance(part, dict) else None
        if not isinstance(call, dict):
            continue
        name = str(call.get("name") or "")
        args = orjson.dumps(call.get("args") or {}).decode()
        if isinstance(call.get("id"), str):
            ids[call["id"]] = name
        else:
            names.append(name)
        parts[n] = {"text": f"[Called tool {name} with arguments {args}]"}
        count += 1
    return count


def _responses_to_text(parts: list[Any], ids: dict[str, str], names: list[str]) -> None:
    for n, part in enumerate(parts):
        resp = part.get("functionResponse") if isinstance(part, dict) else None
        if not isinstance(resp, dict):
            continue
        call_id = resp.get("id")
        name = str(resp.get("name") or "")
        if isinstance(call_id, str) and call_id in ids:
            pass
        elif name in names and not (isinstance(call_id, str) and call_id):
            names.remove(name)
        else:
            continue
        result = orjson.dumps(resp.get("response") or {}).decode()
        parts[n] = {"text": f"[Tool {name} returned {result}]"}


class CallIdAssigner:
    """Gives every function call of one answer an id if the upstream sent none.

    The ids are what clients echo back next turn, so they key the signature store and match tool
    results to calls: unique across requests (the request id is random) and stable within one answer.
    """

    def __init__(self, request_id: str) -> None:
        self.prefix = "call_" + request_id[:24]
        self.count = 0

    def apply(self, chunk: JSON) -> JSON:
        for cand in chunk.get("candidates") or ():
            if not isinstance(cand, dict):
                continue
            for part in (cand.get("content") or {}).get("parts") or ():
                call = part.get("functionCall") if isinstance(part, dict) else None
                if isinstance(call, dict) and not call.get("id"):
                    call["id"] = f"{self.prefix}_{self.count}"
                    self.count += 1
        return chunk
