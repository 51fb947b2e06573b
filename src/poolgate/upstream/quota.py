"""Per-model quota from Cloud Code's fetchAvailableModels: remaining fraction and reset time per model."""

from __future__ import annotations

from typing import Any

from poolgate.hub.types import JSON
from poolgate.upstream.cloudcode_http import CloudCodeHttp

QuotaMap = dict[str, dict[str, Any]]


def parse_models(answer: JSON) -> tuple[QuotaMap, list[JSON]]:
    """-> ({model: {"remaining_fraction", "reset_time"}}, Gemini-style model entries)."""
    quota: QuotaMap = {}
    listing: list[JSON] = []
    models = answer.get("models")
    if not isinstance(models, dict):
        return quota, listing
    for name, info in models.items():
        if not isinstance(name, str) or not isinstance(info, dict):
            continue
        listing.append({"name": f"models/{name}", "displayName": str(info.get("displayName") or name)})
        q = info.get("quotaInfo")
        if not isinstance(q, dict):
            continue
        fraction = q.get("remainingFraction")
        quota[name] = {
            # Google omits the fraction when nothing is left.
            "remaining_fraction": float(fraction) if isinstance(fraction, (int, float)) else 0.0,
            "reset_time": str(q.get("resetTime") or ""),
        }
    return quota, listing


async def fetch_models(http: CloudCodeHttp, token: str, project: str) -> tuple[QuotaMap, list[JSON]]:
    answer = await http.post_json("fetchAvailableModels", token, {"project": project} if project else {})
    return parse_models(answer)
