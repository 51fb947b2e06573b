"""The Images converters: size → Gemini shape, answers → pictures or the client's error, form uploads."""

from __future__ import annotations

import pytest

from poolgate.errors import ErrorKind, GatewayError
from poolgate.protocols import multipart
from poolgate.protocols import openai_images as images


@pytest.mark.parametrize(
    ("size", "ratio", "edge"),
    [
        ("auto", None, 0),
        ("1024x1024", "1:1", 1024),
        ("1536x1024", "3:2", 1536),
        ("1024x1536", "2:3", 1536),
        ("1792x1024", "16:9", 1792),  # 1.75: nearer 16:9 than 3:2
        ("1024x1792", "9:16", 1792),
        ("2560x1080", "21:9", 2560),
        ("3840x2160", "16:9", 3840),
        ("16:9", "16:9", 0),
        ("5:4", "5:4", 0),
        ("100x300", "9:16", 300),  # narrower than any ratio Gemini has: the nearest one
    ],
)
def test_size_takes_the_nearest_gemini_aspect_ratio(size: str, ratio: str | None, edge: int) -> None:
    assert images.parse_size(size) == (ratio, edge)


@pytest.mark.parametrize("size", ["big", "0x100", "1024x", "x", "-5x5", "16/9"])
def test_a_size_that_is_not_one_is_refused(size: str) -> None:
    with pytest.raises(GatewayError) as err:
        images.parse_size(size)
    assert err.value.param == "size"


@pytest.mark.parametrize(
    ("body", "image_size"),
    [
        ({}, None),
        ({"size": "1024x1024"}, None),
        ({"size": "1536x1024"}, "2K"),
        ({"size": "3840x2160"}, "4K"),
        ({"quality": "hd"}, "2K"),
        ({"quality": "max", "size": "1536x1024"}, "4K"),
        ({"quality": "low", "size": "2048x2048"}, "2K"),
        ({"image_size": "4k"}, "4K"),
    ],
)
def test_image_size_from_size_quality_or_the_explicit_field(body: dict[str, object], image_size: str | None) -> None:
    request = images.parse_generation({"prompt": "p", **body})
    assert request.image_size == image_size


def test_derived_sizes_go_only_to_models_that_have_sizes() -> None:
    request = images.parse_generation({"prompt": "p", "size": "1792x1024"})
    assert images.to_hub(request, "gemini-2.5-flash-image")["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9"
    }
    assert images.to_hub(request, "gemini-3-pro-image-preview")["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "2K",
    }
    explicit = images.parse_generation({"prompt": "p", "image_size": "2K"})
    assert images.to_hub(explicit, "gemini-2.5-flash-image")["generationConfig"]["imageConfig"] == {"imageSize": "2K"}


def _answer(*parts: dict[str, object], reason: str = "STOP") -> dict[str, object]:
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": reason}]}


def test_the_picture_is_found_after_text_and_thoughts() -> None:
    answer = _answer(
        {"text": "planning", "thought": True},
        {"text": "Here it is"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/AAAA"}},
    )
    picture = images.picture_of(answer, "gemini-3-pro-image-preview")
    assert picture.mime_type == "image/jpeg" and picture.output_format == "jpeg"
    assert picture.dimensions() is None  # only a PNG header is read


def test_no_picture_says_why() -> None:
    with pytest.raises(GatewayError) as err:
        images.picture_of(_answer({"text": "I cannot draw that."}), "gemini-2.5-flash-image")
    assert err.value.kind is ErrorKind.UPSTREAM_ERROR and "I cannot draw that." in err.value.message
    with pytest.raises(GatewayError) as err:
        images.picture_of(_answer({"text": "A poem instead"}), "gemini-2.5-flash")
    assert "gemini-2.5-flash is not an image model" in err.value.message
    with pytest.raises(GatewayError) as err:
        images.picture_of(_answer(reason="IMAGE_SAFETY"), "gemini-2.5-flash-image")
    assert err.value.code == "content_policy_violation" and err.value.kind is ErrorKind.INVALID_REQUEST
    with pytest.raises(GatewayError) as err:
        images.picture_of({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}, "gemini-2.5-flash-image")
    assert err.value.code == "content_policy_violation" and "PROHIBITED_CONTENT" in err.value.message


def test_usage_separates_uploaded_images_from_text() -> None:
    usage = images.ImageUsage()
    meta = {
        "promptTokenCount": 520,
        "candidatesTokenCount": 1290,
        "totalTokenCount": 1810,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}, {"modality": "IMAGE", "tokenCount": 516}],
    }
    usage.add({"usageMetadata": meta})
    usage.add({"usageMetadata": meta})
    assert usage.json() == {
        "input_tokens": 1040,
        "input_tokens_details": {"text_tokens": 8, "image_tokens": 1032},
        "output_tokens": 2580,
        "total_tokens": 3620,
    }
    assert usage.hub().prompt_tokens == 1040 and usage.hub().output_tokens == 2580


def _form(boundary: str, *parts: bytes) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return body + b"--" + boundary.encode() + b"--\r\n"


def test_multipart_fields_and_binary_files_come_back_exactly() -> None:
    blob = bytes(range(256)) * 40 + b"\r\n--b0undary\r\n"  # binary with CRLF and a boundary look-alike
    body = _form(
        "b0undary-real",
        b'Content-Disposition: form-data; name="prompt"\r\n\r\nA hat, please',
        b'Content-Disposition: form-data; name="image[]"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n' + blob,
    )
    form = multipart.parse_form("multipart/form-data; boundary=b0undary-real", body)
    assert form.fields == {"prompt": "A hat, please"}
    [upload] = form.files_named("image", "image[]")
    assert (upload.filename, upload.content_type, upload.data) == ("a.png", "image/png", blob)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x\r\n\r\n--x--"),
        ("multipart/form-data; boundary=other", _form("b", b'Content-Disposition: form-data; name="p"\r\n\r\nv')),
    ],
)
def test_a_body_that_is_not_a_readable_form_is_a_400(content_type: str, body: bytes) -> None:
    with pytest.raises(GatewayError) as err:
        multipart.parse_form(content_type, body)
    assert err.value.kind is ErrorKind.INVALID_REQUEST
