"""Per-model quota from Cloud Code's fetchAvailableModels: remaining fraction and reset time per model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from poolgate.hub.types import JSON
from poolgate.pool.scheduler import PersistHook, Scheduler
from poolgate.store.models import Account, Cooldown
from poolgate.upstream.cloudcode_http import CloudCodeHttp

QuotaMap = dict[str, dict[str, Any]]
QUOTA_KIND = "quota_exhausted"


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


def _reset_at(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def exhausted_until(quota: QuotaMap, now: float, cap: float) -> dict[str, float]:
    """Models with nothing left -> when they free up (the reported reset, at most `cap` ahead).

    The cap keeps a wrong or far-off reset time from parking an account for days; the next quota
    lookup sets it again if the model is still exhausted.
    """
    out: dict[str, float] = {}
    for model, info in quota.items():
        if float(info.get("remaining_fraction") or 0.0) > 0.0:
            continue
        reset = _reset_at(info.get("reset_time"))
        out[model] = min(reset if reset is not None and reset > now else now + 60.0, now + cap)
    return out


async def apply_quota(
    scheduler: Scheduler, cap: float, persist: PersistHook, account: Account, quota: QuotaMap
) -> None:
    """Cool an account for the models it has no quota left on; lift such cooldowns once quota is back."""
    now = scheduler.clock.now()
    until = exhausted_until(quota, now, cap)
    fresh = [Cooldown(account.id, m, t, "no quota left until its reset", QUOTA_KIND) for m, t in until.items()]
    for cooldown in fresh:
        await scheduler.state.set_cooldown(cooldown)
    current = await scheduler.state.cooldowns(now)
    back = [
        key
        for key, c in current.items()
        if c.account_id == account.id and c.kind == QUOTA_KIND and c.model in quota and c.model not in until
    ]
    cleared = await scheduler.state.clear_cooldowns(back)
    if fresh or cleared:
        persist(fresh, cleared)
