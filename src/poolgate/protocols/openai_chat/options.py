"""OpenAI sampling, reasoning, structured-output and logprob options → Gemini generationConfig.

`reasoning_effort` is mapped by model family, because Gemini 3 takes a thinking *level* and Gemini 2.5
a token *budget* (each with its own range; some models cannot switch thinking off):

| effort  | Gemini 3 Pro | Gemini 3 Flash/other | 2.5 Pro | 2.5 Flash / Flash-Lite |
|---------|--------------|----------------------|---------|------------------------|
| none    | low          | minimal              | 128     | 0                      |
| minimal | low          | minimal              | 128     | 512                    |
| low     | low          | low                  | 1024    | 1024                   |
| medium  | high         | medium               | 8192    | 8192                   |
| high    | high         | high                 | 24576   | 24576                  |

Thoughts are requested (`includeThoughts`) for every effort except `none`. Models without thinking
controls (Gemini 2.0 and older, unknown names) get no thinkingConfig.
"""

from __future__ import annotations

from typing import Any, Final

from poolgate.errors import invalid
from poolgate.hub.types import JSON, MAX_OUTPUT_TOKENS
from poolgate.protocols import fields
from poolgate.protocols.schema import sanitize_schema

EFFORTS: Final = ("none", "minimal", "low", "medium", "high")
# OpenAI also documents "xhigh" for its newest models; Gemini has no step above high, so it maps as high.
ACCEPTED_EFFORTS: Final = (*EFFORTS, "xhigh")
_LEVEL_PRO: Final = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high"}
_LEVEL_FLASH: Final = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_BUDGET_PRO: Final = {"none": 128, "minimal": 128, "low": 1024, "medium": 8192, "high": 24576}
_BUDGET_FLASH: Final = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
MAX_CANDIDATES: Final = 8
MAX_TOP_LOGPROBS: Final = 20


def thinking_family(model: str) -> str | None:
    """'level' for Gemini 3 and later, 'budget' for Gemini 2.5, None for models without thinking controls."""
    name = model.lower().removeprefix("models/")
    if not name.startswith("gemini-"):
        return None
    if name.startswith("gemini-2.5"):
        return "budget"
    if name.startswith(("gemini-1", "gemini-2")):
        return None
    return "level"


def thinking_config(effort: str, model: str) -> JSON | None:
    family = thinking_family(model)
    name = model.lower()
    if family == "level":
        table = _LEVEL_PRO if "pro" in name else _LEVEL_FLASH
        return {"thinkingLevel": table[effort], "includeThoughts": effort != "none"}
    if family == "budget":
        budgets = _BUDGET_PRO if "pro" in name else _BUDGET_FLASH
        return {"thinkingBudget": budgets[effort], "includeThoughts": effort != "none"}
    return None


def sampling(body: dict[str, Any]) -> JSON:
    """Sampling fields shared by chat and legacy completions.

    Each reader runs only when its key is in the body: a request names a few of these at most, and
    reading an absent key still costs a call per field on every request (absent and null read alike).
    """
    config: JSON = fields.temperature_top_p(body) if "temperature" in body or "top_p" in body else {}
    max_tokens = fields.opt_int(body, "max_completion_tokens", lo=1) if "max_completion_tokens" in body else None
    if max_tokens is None and "max_tokens" in body:
        max_tokens = fields.opt_int(body, "max_tokens", lo=1)
    if max_tokens is not None:
        config["maxOutputTokens"] = min(max_tokens, MAX_OUTPUT_TOKENS)
    if "stop" in body:
        stop = fields.stop_sequences(body)
        if stop:
            if len(stop) > 5:
                raise invalid("'stop' may hold at most 5 sequences.", "stop")
            config["stopSequences"] = stop
    if "seed" in body:
        seed = fields.opt_int(body, "seed")
        if seed is not None:
            # OpenAI takes a 64-bit seed, Gemini a 32-bit one (a larger one is a 400 upstream). A seed only
            # asks for the same answer again, which folding keeps: the same seed always folds the same way.
            config["seed"] = seed if -(2**31) <= seed < 2**31 else seed % 2**31
    if "presence_penalty" in body:
        presence = fields.opt_number(body, "presence_penalty", lo=-2, hi=2)
        if presence is not None:
            config["presencePenalty"] = presence
    if "frequency_penalty" in body:
        frequency = fields.opt_number(body, "frequency_penalty", lo=-2, hi=2)
        if frequency is not None:
            config["frequencyPenalty"] = frequency
    if "n" in body:
        n = fields.opt_int(body, "n", lo=1)
        if n is not None and n > 1:
            if n > MAX_CANDIDATES:
                raise invalid(f"'n' must be at most {MAX_CANDIDATES}.", "n")
            config["candidateCount"] = n
    return config


def response_format(body: dict[str, Any], config: JSON) -> None:
    spec = fields.opt_dict(body, "response_format")
    if spec is None:
        return
    kind = spec.get("type")
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        inner = fields.opt_dict(spec, "json_schema", "response_format.json_schema")
        if inner is None:
            raise invalid("'response_format.json_schema' is required.", "response_format.json_schema")
        schema = inner.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise invalid(
                "'response_format.json_schema.schema' must be an object.", "response_format.json_schema.schema"
            )
        config["responseMimeType"] = "application/json"
        cleaned = sanitize_schema(schema)
        if cleaned is not None:
            config["responseSchema"] = cleaned
        return
    raise invalid("'response_format.type' must be 'text', 'json_object' or 'json_schema'.", "response_format.type")


def logprobs(body: dict[str, Any], config: JSON) -> None:
    wanted = fields.opt_bool(body, "logprobs")
    top = fields.opt_int(body, "top_logprobs", lo=0)
    if top is not None:
        if top > MAX_TOP_LOGPROBS:
            raise invalid(f"'top_logprobs' must be at most {MAX_TOP_LOGPROBS}.", "top_logprobs")
        if not wanted:
            raise invalid("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs")
    if wanted:
        config["responseLogprobs"] = True
        if top:
            config["logprobs"] = top


def google_thinking(body: dict[str, Any]) -> JSON | None:
    """Google's own OpenAI-compatible spelling: `extra_body.google.thinking_config`, taken as given."""
    extra = fields.opt_dict(body, "extra_body") or {}
    google = fields.opt_dict(extra, "google", "extra_body.google") or {}
    where = "extra_body.google.thinking_config"
    spec = fields.opt_dict(google, "thinking_config", where)
    if spec is None:
        return None
    out: JSON = {}
    budget = fields.opt_int(spec, "thinking_budget", f"{where}.thinking_budget", lo=-1)
    if budget is not None:
        out["thinkingBudget"] = budget
    level = fields.opt_str(spec, "thinking_level", f"{where}.thinking_level")
    if level is not None:
        if level not in ("minimal", "low", "medium", "high"):
            raise invalid(f"'{where}.thinking_level' must be minimal, low, medium or high.", f"{where}.thinking_level")
        out["thinkingLevel"] = level
    if "thinkingBudget" in out and "thinkingLevel" in out:
        raise invalid(f"'{where}' takes thinking_budget or thinking_level, not both.", where)
    include = fields.opt_bool(spec, "include_thoughts", f"{where}.include_thoughts")
    if include is not None:
        out["includeThoughts"] = include
    return out or None


def reasoning(body: dict[str, Any], config: JSON, model: str) -> None:
    effort = fields.opt_str(body, "reasoning_effort")
    if effort is not None and effort not in ACCEPTED_EFFORTS:
        raise invalid(f"'reasoning_effort' must be one of {', '.join(ACCEPTED_EFFORTS)}.", "reasoning_effort")
    explicit = google_thinking(body)
    if explicit is not None:
        config["thinkingConfig"] = explicit
        return
    if effort is None:
        return
    thinking = thinking_config("high" if effort == "xhigh" else effort, model)
    if thinking is not None:
        config["thinkingConfig"] = thinking


def accepted_extras(body: dict[str, Any]) -> None:
    """Fields with no Gemini counterpart that are still checked so a malformed one is a clear 400."""
    fields.opt_str(body, "user")
    metadata = fields.opt_dict(body, "metadata")
    if metadata is not None:
        if len(metadata) > 16 or not all(isinstance(v, str) for v in metadata.values()):
            raise invalid("'metadata' must map at most 16 keys to string values.", "metadata")
    fields.opt_bool(body, "parallel_tool_calls")
    fields.opt_bool(body, "store")
    modalities = fields.opt_list(body, "modalities")
    if modalities is not None and any(m != "text" for m in modalities):
        raise invalid("'modalities' may only contain 'text': audio output is not supported.", "modalities")


# The body keys each group of readers below looks at (see sampling() for why absent ones are skipped).
_LOGPROB_KEYS = frozenset({"logprobs", "top_logprobs"})
_REASONING_KEYS = frozenset({"reasoning_effort", "extra_body"})
_EXTRA_KEYS = frozenset({"user", "metadata", "parallel_tool_calls", "store", "modalities"})


def generation_config(body: dict[str, Any], model: str = "") -> JSON:
    config = sampling(body)
    if "response_format" in body:
        response_format(body, config)
    if not _LOGPROB_KEYS.isdisjoint(body):
        logprobs(body, config)
    if not _REASONING_KEYS.isdisjoint(body):
        reasoning(body, config, model)
    if not _EXTRA_KEYS.isdisjoint(body):
        accepted_extras(body)
    return config
