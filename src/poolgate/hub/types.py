"""Types for the Gemini-shaped hub request and response (dicts at run time, checked by mypy)."""

from __future__ import annotations

from typing import Any, TypedDict

JSON = dict[str, Any]

# Gemini's output ceiling (maxOutputTokens above it is a 400). Clients of other APIs ask for more:
# Claude Code sends 64000 and some 128000, GPT-5 clients up to 128000; each converter clamps to this.
MAX_OUTPUT_TOKENS = 65_536


class FunctionCall(TypedDict, total=False):
    name: str
    args: dict[str, Any]
    id: str


class FunctionResponse(TypedDict, total=False):
    name: str
    response: dict[str, Any]
    id: str


class Blob(TypedDict):
    mimeType: str
    data: str


class Part(TypedDict, total=False):
    text: str
    thought: bool
    thoughtSignature: str
    inlineData: Blob
    fileData: dict[str, str]
    functionCall: FunctionCall
    functionResponse: FunctionResponse


class Content(TypedDict, total=False):
    role: str
    parts: list[Part]


class GenerateContentRequest(TypedDict, total=False):
    contents: list[Content]
    systemInstruction: Content
    tools: list[JSON]
    toolConfig: JSON
    generationConfig: JSON
    safetySettings: list[JSON]
    cachedContent: str


# An upstream answer (or one streamed chunk of it): candidates, usageMetadata, modelVersion, responseId.
GenerateContentResponse = JSON
