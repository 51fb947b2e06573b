"""OpenAI Chat golden vectors: client request → hub request → (Gemini answer, plain and streamed) → client answer.

Each directory under openai_chat/ is one case, all data files:
  request.json    the client's body (input)
  store.json      optional: signatures known before the request, [{"call_id","name","args","signature"}]
  hub.json        the Gemini request sent upstream, after signatures are restored (expected)
  error.json      instead of hub.json for a rejected request: {"status", "body"} (expected)
  upstream.json   a non-streamed Gemini answer (input)   → response.json (expected)
  upstream.sse    the streamed Gemini answer (input)     → client.sse (expected)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from poolgate.errors import GatewayError
from poolgate.hub.signatures import CallIdAssigner, SignatureStore, restore_into_request
from poolgate.protocols.openai_chat import errors, request, response
from poolgate.protocols.openai_chat.stream import ChatEncoder

ROOT = Path(__file__).parent / "openai_chat"
CASES = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
SESSION = "golden-session"
REQUEST_ID = "golden0000000000"


def _load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _check(path: Path, actual: bytes, update: bool) -> None:
    if update:
        path.write_bytes(actual)
        return
    assert path.exists(), f"{path} is missing; run pytest with --update-golden and review the diff"
    expected = path.read_bytes()
    if path.suffix == ".json":
        assert orjson.loads(actual) == orjson.loads(expected), f"{path} differs"
    else:
        assert actual.decode() == expected.decode(), f"{path} differs"


def _sse_chunks(path: Path) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        if line.startswith("data:"):
            chunks.append(orjson.loads(line[5:].strip()))
    return chunks


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, update_golden: bool) -> None:
    folder = ROOT / case
    body = _load(folder / "request.json")
    try:
        chat = request.to_hub(body)
    except GatewayError as err:
        status, raw = errors.render(err)
        _check(folder / "error.json", _dump({"status": status, "body": orjson.loads(raw)}), update_golden)
        assert not (folder / "hub.json").exists(), "a rejected request has no hub.json"
        return
    assert not (folder / "error.json").exists(), f"request was accepted but {case} expects an error"
    store = SignatureStore()
    if (folder / "store.json").exists():
        for entry in _load(folder / "store.json"):
            store.remember_call(SESSION, entry.get("call_id"), entry["name"], entry.get("args", {}), entry["signature"])
    hub = dict(chat.hub)
    restore_into_request(hub, SESSION, store, chat.model)
    _check(folder / "hub.json", _dump(hub), update_golden)
    # The hub must also survive the trip through JSON unchanged (no non-JSON values).
    assert orjson.loads(orjson.dumps(hub)) == hub

    if (folder / "upstream.json").exists():
        answer = CallIdAssigner(REQUEST_ID).apply(_load(folder / "upstream.json"))
        out, _ = response.from_hub(
            answer,
            request_id=REQUEST_ID,
            model=chat.model,
            created=0,
            n=chat.n,
            logprobs=chat.logprobs,
            legacy_functions=chat.legacy_functions,
        )
        _check(folder / "response.json", _dump(out), update_golden)

    if (folder / "upstream.sse").exists():
        encoder = ChatEncoder(
            request_id=REQUEST_ID,
            model=chat.model,
            created=0,
            include_usage=chat.include_usage,
            n=chat.n,
            logprobs=chat.logprobs,
            legacy_functions=chat.legacy_functions,
        )
        ids = CallIdAssigner(REQUEST_ID)
        items = encoder.start()
        for chunk in _sse_chunks(folder / "upstream.sse"):
            items += encoder.feed(ids.apply(chunk))
        items += encoder.finish()
        _check(folder / "client.sse", b"".join(items), update_golden)
