"""OpenAI Images end to end: the official SDK's images.generate / images.edit against `poolgate serve`.

The simulator draws a grey PNG whose dimensions follow the requested aspect ratio and size the way
Gemini's image models do, so the tests can read what reached the picture from the picture itself.
"""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway, openai_client
from tests.support import refused_field

KEY = "key-openai-images-0001"
# A 1×1 PNG a user might upload to edit.
SOURCE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


gw = keyed_gateway("images", KEY, {"POOLGATE_PROXY__ADMIN_PASSWORD": "admin-images"})


@pytest.fixture
def client(gw: Gateway, simulator_process: Simulator) -> openai.OpenAI:
    return openai_client(gw, simulator_process)


def png_size(b64: str) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def upstream(sim: Simulator) -> list[dict[str, Any]]:
    return [c for c in sim.calls(KEY) if c["method"] == "generateContent"]


def test_generate_follows_the_requested_shape(client: openai.OpenAI, simulator_process: Simulator) -> None:
    raw = client.images.with_raw_response.generate(model="gpt-image-1", prompt="A red fox in snow", size="1536x1024")
    result = raw.parse()
    assert raw.headers["x-mapped-model"] == "gemini-2.5-flash-image"
    assert result.data is not None and len(result.data) == 1
    b64 = result.data[0].b64_json
    assert b64 is not None
    assert png_size(b64) == (1248, 832)  # Gemini's 3:2 picture, the nearest to 1536x1024
    assert result.size == "1248x832" and result.output_format == "png"
    assert result.usage is not None and result.usage.output_tokens == 1290
    assert result.usage.total_tokens == result.usage.input_tokens + 1290
    [call] = upstream(simulator_process)
    body = call["body"]
    assert call["model"] == "gemini-2.5-flash-image"
    assert body["contents"] == [{"role": "user", "parts": [{"text": "A red fox in snow"}]}]
    # Gemini 2.x image models have one size: only the shape is asked for.
    assert body["generationConfig"] == {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "3:2"}}
    assert "systemInstruction" not in body


def test_several_images_are_several_calls_and_their_usage_adds_up(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    result = client.images.generate(prompt="Three boats", n=3, size="1024x1792")
    assert result.data is not None and len(result.data) == 3
    assert {png_size(d.b64_json or "") for d in result.data} == {(768, 1344)}  # 9:16
    assert len(upstream(simulator_process)) == 3
    assert result.usage is not None and result.usage.output_tokens == 3 * 1290


def test_url_format_and_a_larger_size_on_a_model_that_has_sizes(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    result = client.images.generate(
        model="gemini-3-pro-image-preview", prompt="A lighthouse", quality="high", response_format="url"
    )
    assert result.data is not None
    url = result.data[0].url or ""
    assert url.startswith("data:image/png;base64,")
    assert png_size(url.split(",", 1)[1]) == (2048, 2048)  # quality high: Gemini's 2K
    config = upstream(simulator_process)[0]["body"]["generationConfig"]
    assert config["imageConfig"] == {"imageSize": "2K"}


def test_streamed_generation_ends_with_the_completed_event(client: openai.OpenAI) -> None:
    events = list(client.images.generate(prompt="A kite", size="1024x1024", stream=True))
    assert [e.type for e in events] == ["image_generation.completed"]
    done = events[0]
    assert done.type == "image_generation.completed"
    assert png_size(done.b64_json) == (1024, 1024)
    assert done.output_format == "png" and done.usage.output_tokens == 1290


def test_edit_sends_the_uploaded_image_and_mask(client: openai.OpenAI, simulator_process: Simulator) -> None:
    result = client.images.edit(
        image=("photo.png", io.BytesIO(SOURCE_PNG), "application/octet-stream"),
        mask=("mask.png", io.BytesIO(SOURCE_PNG), "image/png"),
        prompt="Add a hat",
        size="1024x1024",
    )
    assert result.data is not None and png_size(result.data[0].b64_json or "") == (1024, 1024)
    parts = upstream(simulator_process)[0]["body"]["contents"][0]["parts"]
    assert [p["inlineData"]["mimeType"] for p in parts[:2]] == ["image/png", "image/png"]
    assert base64.b64decode(parts[0]["inlineData"]["data"]) == SOURCE_PNG
    assert parts[2]["text"].startswith("Add a hat\n\n") and "mask" in parts[2]["text"]
    # Usage separates the uploaded images from the prompt text.
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens == 2 * 258


def test_edit_refuses_a_file_that_is_not_an_image(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(image=("notes.txt", io.BytesIO(b"just text"), "text/plain"), prompt="Fix it")
    assert "not a PNG, JPEG, WebP or GIF image" in err.value.message
    assert err.value.body["param"] == "image"  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "huge"}, "size"),
        ({"n": 11}, "n"),
        ({"background": "transparent"}, "background"),
        ({"output_format": "webp"}, "output_format"),
        ({"quality": "ultra"}, "quality"),
    ],
)
def test_bad_fields_are_named(gw: Gateway, fields: dict[str, Any], param: str) -> None:
    r = httpx.post(f"{gw.v1}/images/generations", json={"prompt": "x", **fields}, timeout=30)
    assert refused_field(r)["param"] == param


def test_missing_prompt_and_a_json_edit_body(gw: Gateway) -> None:
    r = httpx.post(f"{gw.v1}/images/generations", json={"model": "gpt-image-1"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"
    r = httpx.post(f"{gw.v1}/images/edits", json={"prompt": "x"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "images"
    r = httpx.post(f"{gw.v1}/images/edits", content=b"prompt=x", headers={"content-type": "text/plain"}, timeout=30)
    assert r.status_code == 400 and "multipart/form-data" in r.json()["error"]["message"]


def data_url(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def test_json_edit_sends_the_referenced_images_and_mask(gw: Gateway, simulator_process: Simulator) -> None:
    # The JSON form of an edit (images: [{image_url}]) that clients built from OpenAI's reference send.
    simulator_process.reset()
    other = SOURCE_PNG[:-12] + b"\x00" + SOURCE_PNG[-11:]
    body = {
        "model": "gpt-image-1",
        "prompt": "Put both in one picture",
        "images": [{"image_url": data_url(SOURCE_PNG)}, {"image_url": data_url(other)}],
        "mask": {"image_url": data_url(SOURCE_PNG)},
        "size": "1024x1536",
    }
    r = httpx.post(f"{gw.v1}/images/edits", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert png_size(r.json()["data"][0]["b64_json"]) == (832, 1248)  # Gemini's 2:3 picture
    parts = upstream(simulator_process)[0]["body"]["contents"][0]["parts"]
    assert [base64.b64decode(p["inlineData"]["data"]) for p in parts[:3]] == [SOURCE_PNG, other, SOURCE_PNG]
    assert parts[3]["text"].startswith("Put both in one picture\n\n") and "mask" in parts[3]["text"]


@pytest.mark.parametrize(
    ("image", "param", "says"),
    [
        ({"file_id": "file-abc"}, "images[0].file_id", "no Files API"),
        (
            {"image_url": "data:image/png;base64," + base64.b64encode(b"just text").decode()},
            "images[0].image_url",
            "PNG",
        ),
        ({"image_url": "http://127.0.0.1:9/cat.png"}, "images[0].image_url", "Could not fetch"),
        ({"image_url": "file:///etc/passwd"}, "images[0].image_url", "http(s) URL"),
    ],
)
def test_json_edit_names_an_image_it_cannot_use(gw: Gateway, image: dict[str, str], param: str, says: str) -> None:
    error = refused_field(httpx.post(f"{gw.v1}/images/edits", json={"prompt": "x", "images": [image]}, timeout=30))
    assert error["param"] == param and says in error["message"]


def test_a_refusal_and_a_safety_block_reach_the_client(client: openai.OpenAI, simulator_process: Simulator) -> None:
    # Words alone are asked again once; twice, and the client hears what the model said.
    simulator_process.script(KEY, {"text": "Let me think."}, {"text": "I can't draw that person."})
    with pytest.raises(openai.APIStatusError) as err:
        client.images.generate(prompt="A famous person")
    assert err.value.status_code == 502
    assert "returned no image" in err.value.message and "I can't draw that person." in err.value.message
    assert len(upstream(simulator_process)) == 2

    simulator_process.script(KEY, {"finish_reason": "IMAGE_SAFETY"})
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(prompt="Something unsafe")
    assert bad.value.code == "content_policy_violation" and "IMAGE_SAFETY" in bad.value.message
    assert len(upstream(simulator_process)) == 3  # a block is not asked again


def test_a_words_only_answer_is_asked_again_once(client: openai.OpenAI, simulator_process: Simulator) -> None:
    simulator_process.script(KEY, {"text": "Here is your image!"})
    result = client.images.generate(prompt="A lighthouse at dusk", size="1024x1024")
    assert result.data is not None and png_size(result.data[0].b64_json or "") == (1024, 1024)
    assert len(upstream(simulator_process)) == 2
    # Both calls are billed, so both are counted.
    # The simulator bills a token per four characters of words: 4 for the first answer.
    assert result.usage is not None and result.usage.output_tokens == 1290 + 4


def test_a_text_model_is_refused_by_google_with_its_reason(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="gemini-2.5-flash", prompt="A cat")
    assert "response modalities" in err.value.message


def test_image_requests_are_logged_with_their_tokens(client: openai.OpenAI, gw: Gateway) -> None:
    client.images.generate(prompt="A logged owl", n=2)
    out = gw.cli("logs", "--limit", "1").stdout
    assert "/v1/images/generations" in out and "gemini-2.5-flash-image" in out
    admin = {"authorization": "Bearer admin-images"}
    entry = httpx.get(f"{gw.base_url}/api/logs", params={"limit": 1}, headers=admin, timeout=10).json()["items"][0]
    full = httpx.get(f"{gw.base_url}/api/logs/{entry['id']}", headers=admin, timeout=10).json()
    # A line per picture, not hundreds of kilobytes of base64.
    assert full["response_body"].startswith('{"images":["png, ') and len(full["response_body"]) < 200


def test_edit_with_several_images_sends_them_all_in_order(client: openai.OpenAI, simulator_process: Simulator) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32
    client.images.edit(
        image=[("a.png", io.BytesIO(SOURCE_PNG), "image/png"), ("b.jpg", io.BytesIO(jpeg), "image/jpeg")],
        prompt="Put them side by side",
    )
    parts = upstream(simulator_process)[0]["body"]["contents"][0]["parts"]
    assert [p.get("inlineData", {}).get("mimeType") for p in parts] == ["image/png", "image/jpeg", None]
    assert base64.b64decode(parts[1]["inlineData"]["data"]) == jpeg
    assert parts[2] == {"text": "Put them side by side"}


def test_an_answer_of_an_unexpected_shape_is_a_502(client: openai.OpenAI, simulator_process: Simulator) -> None:
    picture = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(SOURCE_PNG).decode()}}
    raw = {"candidates": [{"content": {"parts": [picture]}}], "usageMetadata": {"promptTokenCount": {"n": 1}}}
    simulator_process.script(KEY, {"raw": raw}, {"raw": raw})
    with pytest.raises(openai.APIStatusError) as err:
        client.images.generate(model="gpt-image-1", prompt="A fox")
    assert err.value.status_code == 502 and "could not be converted" in err.value.message
