"""Error bodies shaped like the ones Google's Gemini API and Cloud Code return (recorded shapes, ids trimmed)."""

from __future__ import annotations

from typing import Any

HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}


def _quota_failure(quota_id: str, metric: str, model: str = "gemini-2.5-flash") -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": model},
                "quotaValue": "10",
            }
        ],
    }


# Gemini API, free tier, requests per minute exceeded.
PER_MINUTE: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
        "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
        "limit: 10, model: gemini-2.5-flash\nPlease retry in 52.870255807s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            _quota_failure(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "generate_content_free_tier_requests"
            ),
            HELP,
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "52s"},
        ],
    }
}

# Gemini API, free tier, requests per day exceeded: Google still sends a short RetryInfo.
PER_DAY: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.\n"
        "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
        "limit: 250, model: gemini-2.5-flash\nPlease retry in 21.4s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            _quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "generate_content_free_tier_requests"),
            HELP,
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "21s"},
        ],
    }
}

# Cloud Code (OAuth accounts): a model's quota is used up until quotaResetDelay.
QUOTA_EXHAUSTED: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": "You have exhausted your capacity on this model. Your quota will reset after 2h1m1s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "QUOTA_EXHAUSTED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {
                    "uiMessage": "true",
                    "model": "gemini-2.5-pro",
                    "quotaResetDelay": "2h1m1.5s",
                    "quotaResetTimeStamp": "2026-11-26T10:00:00Z",
                },
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7261.5s"},
        ],
    }
}

# Cloud Code: a request-level throttle with a sub-second RetryInfo.
PER_REQUEST: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "cloudcode-pa.googleapis.com",
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.847s"},
        ],
    }
}

# A bare 429 with nothing to go on.
BARE_429: dict[str, Any] = {
    "error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}
}

CAPACITY: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": "No capacity available for model gemini-2.5-pro on the server",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "MODEL_CAPACITY_EXHAUSTED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {"model": "gemini-2.5-pro"},
            }
        ],
    }
}

OVERLOADED_503: dict[str, Any] = {
    "error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
}

UNAUTHENTICATED: dict[str, Any] = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential.",
        "status": "UNAUTHENTICATED",
    }
}

# The token endpoint's answer to a revoked refresh token.
INVALID_GRANT: dict[str, Any] = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}

VALIDATION_URL = "https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbt"
VALIDATION_REQUIRED: dict[str, Any] = {
    "error": {
        "code": 403,
        "message": "Verify your account to continue.",
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "VALIDATION_REQUIRED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {"validation_url": VALIDATION_URL},
            }
        ],
    }
}

FORBIDDEN: dict[str, Any] = {
    "error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}
}

# A file uploaded with another account's key, and a context cache made by another account.
FOREIGN_FILE: dict[str, Any] = {
    "error": {
        "code": 403,
        "message": "You do not have permission to access the File 3kx9rb2lq0v1 or it may not exist.",
        "status": "PERMISSION_DENIED",
    }
}
FOREIGN_CACHE: dict[str, Any] = {
    "error": {"code": 403, "message": "CachedContent not found (or permission denied)", "status": "PERMISSION_DENIED"}
}

# The same, answered as a 404: it names the cache, not the model.
MISSING_CACHE: dict[str, Any] = {
    "error": {"code": 404, "message": "cachedContents/ab12cd34ef is not found.", "status": "NOT_FOUND"}
}

API_KEY_INVALID: dict[str, Any] = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}

MODEL_NOT_FOUND: dict[str, Any] = {
    "error": {
        "code": 404,
        "message": "models/gemini-9-ultra is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their supported methods.",
        "status": "NOT_FOUND",
    }
}

BAD_REQUEST: dict[str, Any] = {
    "error": {
        "code": 400,
        "message": "Invalid JSON payload received. Unknown name \"foo\" at 'generation_config': Cannot find field.",
        "status": "INVALID_ARGUMENT",
    }
}

INTERNAL: dict[str, Any] = {
    "error": {"code": 500, "message": "An internal error has occurred. Please retry.", "status": "INTERNAL"}
}
