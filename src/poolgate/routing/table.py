"""The built-in model table: common OpenAI and Claude model names mapped to Gemini models, as data."""

from __future__ import annotations

DEFAULT_FLASH = "gemini-2.5-flash"
DEFAULT_PRO = "gemini-2.5-pro"
DEFAULT_IMAGE = "gemini-2.5-flash-image"
DEFAULT_EMBEDDING = "gemini-embedding-001"
DEFAULT_TTS = "gemini-2.5-flash-preview-tts"

# Exact names first; the wildcard families below catch dated and future variants.
BUILTIN_EXACT: dict[str, str] = {
    "gpt-4o": DEFAULT_FLASH,
    "gpt-4o-mini": DEFAULT_FLASH,
    "gpt-4": DEFAULT_PRO,
    "gpt-4-turbo": DEFAULT_PRO,
    "gpt-4.1": DEFAULT_PRO,
    "gpt-4.1-mini": DEFAULT_FLASH,
    "gpt-4.1-nano": "gemini-2.5-flash-lite",
    "gpt-3.5-turbo": DEFAULT_FLASH,
    "gpt-5": DEFAULT_PRO,
    "gpt-5-mini": DEFAULT_FLASH,
    "gpt-5-nano": "gemini-2.5-flash-lite",
    "o1": DEFAULT_PRO,
    "o3": DEFAULT_PRO,
    "o3-mini": DEFAULT_FLASH,
    "o4-mini": DEFAULT_FLASH,
    "claude-3-5-sonnet-20241022": DEFAULT_PRO,
    "claude-3-5-haiku-20241022": DEFAULT_FLASH,
    "claude-3-haiku-20240307": DEFAULT_FLASH,
}

BUILTIN_PATTERNS: dict[str, str] = {
    "gpt-4o*": DEFAULT_FLASH,
    "gpt-4*": DEFAULT_PRO,
    "gpt-5*": DEFAULT_PRO,
    "gpt-3.5*": DEFAULT_FLASH,
    "o1*": DEFAULT_PRO,
    "o3*": DEFAULT_PRO,
    "o4*": DEFAULT_FLASH,
    "claude-*opus*": DEFAULT_PRO,
    "claude-*sonnet*": DEFAULT_PRO,
    "claude-*haiku*": DEFAULT_FLASH,
    "claude-*": DEFAULT_PRO,
    # OpenAI's image models, for /v1/images and for chat requests that name them.
    "gpt-image-*": DEFAULT_IMAGE,
    "dall-e-*": DEFAULT_IMAGE,
    # Speech to text (gpt-4o-transcribe and its kin already fall under gpt-4o*).
    "whisper-*": DEFAULT_FLASH,
    "text-embedding-*": DEFAULT_EMBEDDING,
    # Text to speech; the pattern outranks gpt-4o* by being longer.
    "tts-*": DEFAULT_TTS,
    "gpt-4o-mini-tts*": DEFAULT_TTS,
}

# Models listed by /v1/models even before any account reports its own.
BUILTIN_MODELS: tuple[str, ...] = (
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    DEFAULT_IMAGE,
    DEFAULT_EMBEDDING,
)
