"""The input items a stored response was made from, as the list OpenAI's input_items endpoint returns."""

from __future__ import annotations

from typing import Any

from poolgate.errors import invalid
from poolgate.hub.types import JSON


def listed_item(item: object, response_id: str, index: int) -> JSON:
    """One stored input item as listed: with an id (clients often send none) and message text as parts.

    The id is derived from the response and the item's place, so it is the same on every listing and
    can serve as the `after` cursor.
    """
    if not isinstance(item, dict):
        return {"id": f"item_{response_id.removeprefix('resp_')}_{index}", "type": "unknown", "value": item}
    out: dict[str, Any] = dict(item)
    kind = out.setdefault("type", "message")
    if not isinstance(out.get("id"), str) or not out["id"]:
        prefix = "msg" if kind == "message" else "item"
        out["id"] = f"{prefix}_{response_id.removeprefix('resp_')}_{index}"
    if kind == "message":
        content = out.get("content")
        if isinstance(content, str):
            part = "output_text" if out.get("role") == "assistant" else "input_text"
            out["content"] = [{"type": part, "text": content}]
        out.setdefault("status", "completed")
    return out


def input_item_page(response_id: str, items: list[Any], order: str, limit: int, after: str | None) -> JSON:
    """A cursor page: newest first for `desc` (the default), starting after the item named by `after`."""
    listed = [listed_item(item, response_id, i) for i, item in enumerate(items)]
    if order == "desc":
        listed.reverse()
    if after:
        ids = [item["id"] for item in listed]
        if after not in ids:
            raise invalid(f"'after' names no input item of response '{response_id}': {after!r}.", "after")
        listed = listed[ids.index(after) + 1 :]
    page = listed[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(listed) > limit,
    }
