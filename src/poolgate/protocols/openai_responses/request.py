"""Responses request (`instructions` + `input`) → hub request."""

from __future__ import annotations

from typing import Any

from poolgate.errors import invalid
from poolgate.hub.types import Content, GenerateContentRequest
from poolgate.protocols import fields
from poolgate.protocols.openai_chat.request import ChatRequest, text_of


def to_hub(body: dict[str, Any]) -> ChatRequest:
    model = fields.req_str(body, "model")
    system: list[str] = []
    instructions = fields.opt_str(body, "instructions")
    if instructions:
        system.append(instructions)
    raw = body.get("input")
    contents: list[Content] = []
    if isinstance(raw, str):
        contents.append({"role": "user", "parts": [{"text": raw}]})
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            where = f"input[{i}]"
            if not isinstance(item, dict):
                raise invalid(f"'{where}' must be an object.", where)
            role = item.get("role")
            text = text_of(item.get("content"), f"{where}.content")
            if role in ("system", "developer"):
                system.append(text)
            elif role in ("user", "assistant"):
                hub_role = "user" if role == "user" else "model"
                if contents and contents[-1]["role"] == hub_role:
                    contents[-1]["parts"].append({"text": text})
                else:
                    contents.append({"role": hub_role, "parts": [{"text": text}]})
            else:
                raise invalid(f"'{where}.role' must be user, assistant, system or developer.", f"{where}.role")
    else:
        raise invalid("'input' must be a string or an array of input items.", "input")
    if not contents:
        raise invalid("'input' must contain at least one user message.", "input")
    hub: GenerateContentRequest = {"contents": contents}
    if system:
        hub["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config: dict[str, Any] = {}
    temperature = fields.opt_number(body, "temperature", lo=0, hi=2)
    if temperature is not None:
        config["temperature"] = temperature
    top_p = fields.opt_number(body, "top_p", lo=0, hi=1)
    if top_p is not None:
        config["topP"] = top_p
    max_out = fields.opt_int(body, "max_output_tokens", lo=1)
    if max_out is not None:
        config["maxOutputTokens"] = max_out
    if config:
        hub["generationConfig"] = config
    return ChatRequest(model=model, hub=hub, stream=bool(fields.opt_bool(body, "stream")))
