"""Thought signatures: recorded from answers, restored onto replayed calls, degraded when lost."""

from __future__ import annotations

import copy
from typing import Any

from poolgate.hub.signatures import (
    CallIdAssigner,
    SignatureRecorder,
    SignatureStore,
    record_from_chunk,
    restore_into_request,
)

SIG_A = "CiQBsignature-A-opaque-and-long-enough-0123456789"
SIG_B = "CiQBsignature-B-opaque-and-long-enough-0123456789"


def call(name: str, args: dict[str, Any], call_id: str | None = None, sig: str | None = None) -> dict[str, Any]:
    fc: dict[str, Any] = {"name": name, "args": args}
    if call_id:
        fc["id"] = call_id
    part: dict[str, Any] = {"functionCall": fc}
    if sig:
        part["thoughtSignature"] = sig
    return part


def response(name: str, call_id: str | None = None) -> dict[str, Any]:
    fr: dict[str, Any] = {"name": name, "response": {"result": "ok"}}
    if call_id:
        fr["id"] = call_id
    return {"functionResponse": fr}


def history(*model_parts: dict[str, Any], responses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {"role": "model", "parts": list(model_parts)},
            {"role": "user", "parts": responses},
        ]
    }


def answer(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)}, "index": 0}]}


def test_recorded_call_signature_comes_back_by_id_and_by_fingerprint() -> None:
    store = SignatureStore()
    record_from_chunk(answer(call("f", {"a": 1}, "call_1", SIG_A)), "s", store)
    by_id = history(call("f", {"a": 1}, "call_1"), responses=[response("f", "call_1")])
    assert restore_into_request(by_id, "s", store, "gemini-3-pro-preview") == 0
    assert by_id["contents"][1]["parts"][0]["thoughtSignature"] == SIG_A
    # A client that dropped the id still matches on name + arguments within the same session.
    no_id = history(call("f", {"a": 1}), responses=[response("f")])
    restore_into_request(no_id, "s", store, "gemini-3-pro-preview")
    assert no_id["contents"][1]["parts"][0]["thoughtSignature"] == SIG_A
    # ...but not in another conversation.
    other = history(call("f", {"a": 1}), responses=[response("f")])
    restore_into_request(other, "other-session", store, "gemini-3-pro-preview")
    assert "functionCall" not in other["contents"][1]["parts"][0]


def test_placeholders_are_never_forwarded() -> None:
    store = SignatureStore()
    store.remember_call("s", "call_1", "f", {}, SIG_A)
    req = history(
        call("f", {}, "call_1", "skip_thought_signature_validator"),
        responses=[response("f", "call_1")],
    )
    restore_into_request(req, "s", store, "gemini-3-pro-preview")
    assert req["contents"][1]["parts"][0]["thoughtSignature"] == SIG_A
    # Unknown call with a placeholder on a lenient model: the placeholder is dropped, the call kept.
    lenient = history(
        call("g", {}, "call_x", "context_engineering_is_the_way_to_go"), responses=[response("g", "call_x")]
    )
    restore_into_request(lenient, "s", SignatureStore(), "gemini-2.5-flash")
    assert lenient["contents"][1]["parts"][0] == {"functionCall": {"name": "g", "args": {}, "id": "call_x"}}


def test_store_never_keeps_placeholders() -> None:
    store = SignatureStore()
    store.remember_call("s", "c", "f", {}, "skip_thought_signature_validator")
    assert len(store) == 0


def test_lost_signature_on_strict_model_turns_the_current_step_into_text() -> None:
    req = history(
        call("f", {"x": 1}, "c1"), call("f", {"x": 2}, "c2"), responses=[response("f", "c1"), response("f", "c2")]
    )
    assert restore_into_request(req, "s", SignatureStore(), "gemini-3-flash-preview") == 2
    model, user = req["contents"][1]["parts"], req["contents"][2]["parts"]
    assert model == [
        {"text": '[Called tool f with arguments {"x":1}]'},
        {"text": '[Called tool f with arguments {"x":2}]'},
    ]
    assert all("functionResponse" not in p for p in user)
    assert user[0]["text"].startswith("[Tool f returned")


def test_parallel_calls_need_only_the_first_signature() -> None:
    store = SignatureStore()
    record_from_chunk(answer(call("f", {"x": 1}, "c1", SIG_A), call("f", {"x": 2}, "c2")), "s", store)
    req = history(
        call("f", {"x": 1}, "c1"), call("f", {"x": 2}, "c2"), responses=[response("f", "c1"), response("f", "c2")]
    )
    assert restore_into_request(req, "s", store, "gemini-3-pro-preview") == 0
    parts = req["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == SIG_A and "thoughtSignature" not in parts[1]
    assert "functionCall" in parts[1]


def test_older_turns_and_lenient_models_keep_their_structure() -> None:
    req = history(call("f", {}, "c1"), responses=[response("f", "c1")])
    req["contents"].append({"role": "model", "parts": [{"text": "done"}]})
    req["contents"].append({"role": "user", "parts": [{"text": "next question"}]})
    before = copy.deepcopy(req)
    assert restore_into_request(req, "s", SignatureStore(), "gemini-3-pro-preview") == 0
    assert req == before
    lenient = history(call("f", {}, "c1"), responses=[response("f", "c1")])
    assert restore_into_request(lenient, "s", SignatureStore(), "gemini-2.5-pro") == 0
    assert "functionCall" in lenient["contents"][1]["parts"][0]


def test_snake_case_signature_is_normalised() -> None:
    req = history(call("f", {}, "c1"), responses=[response("f", "c1")])
    req["contents"][1]["parts"][0]["thought_signature"] = SIG_B
    restore_into_request(req, "s", SignatureStore(), "gemini-3-pro-preview")
    part = req["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == SIG_B and "thought_signature" not in part


def test_streamed_text_signature_is_keyed_by_the_whole_text() -> None:
    store = SignatureStore()
    recorder = SignatureRecorder("s", store)
    recorder.feed(answer({"text": "thinking", "thought": True}))
    recorder.feed(answer({"text": "Hello ", "thoughtSignature": SIG_B}))
    recorder.feed(answer({"text": "world"}))
    recorder.close()
    req = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "Hello world"}]}]
    }
    restore_into_request(req, "s", store, "gemini-3-pro-preview")
    assert req["contents"][1]["parts"][0]["thoughtSignature"] == SIG_B


def test_store_is_bounded_and_expires() -> None:
    now = [1000.0]
    store = SignatureStore(max_entries=3, ttl_seconds=10, clock=lambda: now[0])
    for n in range(5):
        store.remember_call("s", f"c{n}", "f", {"n": n}, SIG_A)
    assert len(store) == 3
    assert store.recall_call("s", "c4", "f", {"n": 4}) == SIG_A
    now[0] += 11
    assert store.recall_call("s", "c4", "f", {"n": 4}) is None


def test_call_ids_are_unique_per_answer_and_keep_upstream_ids() -> None:
    first = answer(call("f", {}), call("f", {}), call("g", {}, "upstream-id"))
    CallIdAssigner("req-one").apply(first)
    ids = [p["functionCall"]["id"] for p in first["candidates"][0]["content"]["parts"]]
    assert ids[2] == "upstream-id" and len(set(ids)) == 3
    second = answer(call("f", {}))
    CallIdAssigner("req-two").apply(second)
    assert second["candidates"][0]["content"]["parts"][0]["functionCall"]["id"] not in ids


def test_the_store_is_bounded_by_size_as_well_as_by_count() -> None:
    clock = [1000.0]
    store = SignatureStore(max_entries=1000, max_bytes=10_000, clock=lambda: clock[0])
    for n in range(20):
        store.remember_text("s", f"answer {n}", f"sig-{n:04d}-" + "x" * 991)  # 1,000 bytes each
    # The oldest went first; the newest are still there; the total stays under the limit.
    assert store.size == 10_000 and len(store) == 10
    assert store.recall_text("s", "answer 0") is None
    assert store.recall_text("s", "answer 19") is not None and store.recall_text("s", "answer 10") is not None
    # A key written again replaces its signature, and with it its share of the size.
    store.remember_text("s", "answer 19", "short")
    assert store.recall_text("s", "answer 19") == "short"
    assert store.size == 9 * 1000 + len("short")
    # Expired entries give back their size when they are found stale.
    clock[0] += 7 * 3600
    assert store.recall_text("s", "answer 19") is None
    assert store.size == 9 * 1000


def test_one_signature_larger_than_the_limit_is_still_kept_until_the_next() -> None:
    store = SignatureStore(max_bytes=100)
    store.remember_text("s", "long thinking", "y" * 500)
    assert store.recall_text("s", "long thinking") == "y" * 500
    store.remember_text("s", "next", "z" * 10)
    assert store.recall_text("s", "long thinking") is None and store.recall_text("s", "next") == "z" * 10
