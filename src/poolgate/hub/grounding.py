"""Google Search grounding → citations: which span of a candidate's answer text each web source supports.

Gemini puts `groundingMetadata` on the candidate (in a stream, on the last chunk): `groundingChunks`
are the sources, `groundingSupports` tie a `segment` of the answer to some of them. A segment's
`startIndex` / `endIndex` count UTF-8 bytes (zero is left out of the JSON), and clients index text
by characters, so the span is converted; when the byte span does not hold the segment's quoted
`text` (a different counting, or a segment of another part) the quote is looked up instead.

Asking for search is here too (`add_search`): the one rule for when it may join function declarations,
shared by every protocol that offers it beside functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from poolgate.hub.types import JSON


@dataclass(frozen=True, slots=True)
class Citation:
    start: int  # characters into the answer text, end exclusive
    end: int
    url: str
    title: str


def combines_search_with_functions(model: str) -> bool:
    """Gemini 3 and later accept Google Search together with function declarations; 1.x and 2.x do not."""
    name = model.lower().removeprefix("models/")
    return name.startswith("gemini-") and not name.startswith(("gemini-1", "gemini-2"))


def add_search(hub_tools: list[JSON], tool_config: JSON | None, model: str) -> JSON | None:
    """Add Google Search to `hub_tools` where Gemini takes it; returns the toolConfig to send."""
    return add_server_tool(hub_tools, tool_config, model, {"googleSearch": {}})


def add_server_tool(hub_tools: list[JSON], tool_config: JSON | None, model: str, tool: JSON) -> JSON | None:
    """Add one of Google's own tools (Search, URL context) where Gemini takes it; returns the toolConfig.

    Beside function declarations only Gemini 3 and later take them, and only with
    `includeServerSideToolInvocations` (without the flag such a request is a 400); older models reject
    the mix, so there the functions are kept and the server tool is left out.
    """
    has_functions = any("functionDeclarations" in t for t in hub_tools)
    if has_functions and not combines_search_with_functions(model):
        return tool_config
    hub_tools.append(tool)
    if has_functions:
        return {**(tool_config or {}), "includeServerSideToolInvocations": True}
    return tool_config


def grounding_of(candidate: object) -> JSON | None:
    meta = candidate.get("groundingMetadata") if isinstance(candidate, dict) else None
    return meta if isinstance(meta, dict) else None


def first_grounding(chunk: JSON) -> JSON | None:
    """The grounding of a response's first candidate (the only one for Anthropic and Responses)."""
    candidates = chunk.get("candidates")
    return grounding_of(candidates[0]) if isinstance(candidates, list) and candidates else None


def sources(metadata: JSON) -> list[tuple[str, str]]:
    """The (url, title) of each web source, once each, in the metadata's order."""
    seen: dict[str, str] = {}
    for chunk in metadata.get("groundingChunks") or ():
        source = _source(chunk)
        if source is not None and source[0] not in seen:
            seen[source[0]] = source[1]
    return list(seen.items())


def queries(metadata: JSON) -> list[str]:
    listed = metadata.get("webSearchQueries")
    return [q for q in listed if isinstance(q, str) and q] if isinstance(listed, list) else []


def citations(metadata: JSON, text: str) -> list[Citation]:
    """Every (span, source) pair the metadata states, in its order; spans not found in `text` are left out."""
    sources = [_source(chunk) for chunk in metadata.get("groundingChunks") or ()]
    found: list[Citation] = []
    raw = text.encode()
    for support in metadata.get("groundingSupports") or ():
        if not isinstance(support, dict):
            continue
        span = _span(support.get("segment"), text, raw)
        if span is None:
            continue
        for i in support.get("groundingChunkIndices") or ():
            source = sources[i] if isinstance(i, int) and 0 <= i < len(sources) else None
            if source is not None:
                found.append(Citation(span[0], span[1], source[0], source[1]))
    return found


def _source(chunk: object) -> tuple[str, str] | None:
    if not isinstance(chunk, dict):
        return None
    for key in ("web", "retrievedContext"):
        entry = chunk.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("uri"), str) and entry["uri"]:
            title = entry.get("title")
            return entry["uri"], title if isinstance(title, str) else ""
    return None


def _span(segment: object, text: str, raw: bytes) -> tuple[int, int] | None:
    if not isinstance(segment, dict):
        return None
    start, end = segment.get("startIndex") or 0, segment.get("endIndex") or 0
    quote = segment.get("text")
    quote = quote if isinstance(quote, str) and quote else None
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(raw):
        first = len(raw[:start].decode("utf-8", "ignore"))
        last = len(raw[:end].decode("utf-8", "ignore"))
        if quote is None or text[first:last] == quote:
            return first, last
        if text[start:end] == quote:
            return start, end
    if quote is not None:
        at = text.find(quote)
        if at >= 0:
            return at, at + len(quote)
    return None
