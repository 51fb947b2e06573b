"""Readers for client JSON fields that raise a 400 naming the field when the type is wrong."""

from __future__ import annotations

import codecs
from typing import Any

import orjson

from poolgate.errors import invalid


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise invalid("Request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        body = _after_bom(raw)
        if body is None:
            raise invalid(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object.")
    return body


def _after_bom(raw: bytes) -> Any:
    """JSON saved with a byte-order mark (Windows editors; PowerShell writes UTF-16 by default), or None."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if raw.startswith(bom):
            try:
                return orjson.loads(raw[len(bom) :].decode(encoding))
            except (UnicodeDecodeError, orjson.JSONDecodeError):
                return None
    return None


def opt_str(body: dict[str, Any], key: str, where: str = "") -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{where or key}' must be a string.", where or key)
    return value


def req_str(body: dict[str, Any], key: str, where: str = "") -> str:
    value = opt_str(body, key, where)
    if not value:
        raise invalid(f"'{where or key}' is required.", where or key)
    return value


def opt_number(
    body: dict[str, Any], key: str, where: str = "", lo: float | None = None, hi: float | None = None
) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"'{where or key}' must be a number.", where or key)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise invalid(f"'{where or key}' must be between {lo} and {hi}.", where or key)
    return float(value)


def opt_int(body: dict[str, Any], key: str, where: str = "", lo: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{where or key}' must be an integer.", where or key)
    if lo is not None and value < lo:
        raise invalid(f"'{where or key}' must be at least {lo}.", where or key)
    return value


def opt_bool(body: dict[str, Any], key: str, where: str = "") -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(f"'{where or key}' must be a boolean.", where or key)
    return value


def opt_dict(body: dict[str, Any], key: str, where: str = "") -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"'{where or key}' must be an object.", where or key)
    return value


def opt_list(body: dict[str, Any], key: str, where: str = "") -> list[Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid(f"'{where or key}' must be an array.", where or key)
    return value


def stop_sequences(body: dict[str, Any], key: str = "stop") -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise invalid(f"'{key}' must be a string or an array of strings.", key)


def temperature_top_p(body: dict[str, Any]) -> dict[str, Any]:
    """`temperature` and `top_p` as Gemini generationConfig keys; every client protocol spells them alike."""
    config: dict[str, Any] = {}
    temperature = opt_number(body, "temperature", lo=0, hi=2)
    if temperature is not None:
        config["temperature"] = temperature
    top_p = opt_number(body, "top_p", lo=0, hi=1)
    if top_p is not None:
        config["topP"] = top_p
    return config
