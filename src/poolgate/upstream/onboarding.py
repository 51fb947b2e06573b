"""Project discovery: loadCodeAssist gives the Cloud Code project and tier; onboardUser creates one when missing.

There is no fallback project: an account whose project cannot be found or created fails its
request with a clear reason, and is retried next time rather than sent to someone else's project.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from poolgate.hub.types import JSON
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.cloudcode_http import CloudCodeHttp

METADATA = {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
POLL_DELAYS = (0.2, 0.5, 1.0, 2.0, 3.0, 5.0)
POLL_BUDGET = 90.0  # seconds to wait for onboarding before giving up (the next request tries again)
DEFAULT_TIER = "free-tier"


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    project_id: str
    tier: str  # a display name, e.g. "Gemini Code Assist for individuals"
    tier_id: str


def _project_id(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return ""


def _tier_label(tier: Any) -> str:
    if not isinstance(tier, dict):
        return ""
    return str(tier.get("name") or tier.get("id") or "")


def _default_tier(answer: JSON) -> JSON:
    tiers = [t for t in answer.get("allowedTiers") or () if isinstance(t, dict)]
    for tier in tiers:
        if tier.get("isDefault"):
            return tier
    return tiers[0] if tiers else {"id": DEFAULT_TIER}


class ProjectResolver:
    def __init__(self, http: CloudCodeHttp, sleep: Any = asyncio.sleep) -> None:
        self.http = http
        self.sleep = sleep

    async def load(self, token: str) -> tuple[JSON, ProjectInfo | None]:
        answer = await self.http.post_json("loadCodeAssist", token, {"metadata": METADATA})
        project = _project_id(answer.get("cloudaicompanionProject"))
        if not project:
            return answer, None
        tier = answer.get("paidTier") or answer.get("currentTier")
        tier_id = str(tier.get("id") or "") if isinstance(tier, dict) else ""
        return answer, ProjectInfo(project, _tier_label(tier), tier_id)

    async def discover(self, token: str) -> ProjectInfo:
        """loadCodeAssist, then onboarding when the user has no project yet."""
        answer, info = await self.load(token)
        if info is not None:
            return info
        tier = _default_tier(answer)
        tier_id = str(tier.get("id") or DEFAULT_TIER)
        operation = await self.http.post_json("onboardUser", token, {"tierId": tier_id, "metadata": METADATA})
        done = await self._wait(operation, token)
        project = _project_id((done.get("response") or {}).get("cloudaicompanionProject"))
        if not project:
            raise UpstreamFailure(status=503, text="onboarding finished without a Cloud Code project")
        return ProjectInfo(project, _tier_label(tier), tier_id)

    async def _wait(self, operation: JSON, token: str) -> JSON:
        waited = 0.0
        n = 0
        while not operation.get("done"):
            name = operation.get("name")
            if not isinstance(name, str) or not name or waited >= POLL_BUDGET:
                raise UpstreamFailure(status=503, text="onboarding did not finish; it will be retried")
            delay = POLL_DELAYS[min(n, len(POLL_DELAYS) - 1)]
            await self.sleep(delay)
            waited += delay
            n += 1
            operation = await self.http.get_json(name, token)
        if isinstance(operation.get("error"), dict):
            raise UpstreamFailure(status=403, body={"error": operation["error"]}, text="onboarding failed")
        return operation
