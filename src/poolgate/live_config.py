"""Settings that apply to a running gateway without restart, and the overrides the admin API stores for them."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from poolgate.config import _CHOICES, Config, ConfigError, _convert, _hints, config_as_dict, replace_section

OVERRIDES_SETTING = "config_overrides"

# Keys a running gateway re-reads on every request or flush. Everything else is read once at start.
LIVE_KEYS: frozenset[str] = frozenset(
    {
        "scheduling.mode",
        "scheduling.max_attempts",
        "scheduling.max_wait_seconds",
        "scheduling.session_ttl_seconds",
        "monitor.enabled",
        "monitor.retention_days",
        "monitor.capture_bodies",
        "monitor.body_cap_kb",
        "monitor.queue_size",
        "monitor.max_log_mb",
        "proxy.expose_account_header",
        "routing.custom_mapping",
    }
)

_SECRET_KEYS = frozenset({"proxy.api_key", "proxy.admin_password", "upstream.oauth_client_secret"})


def validate(patch: Any) -> dict[str, dict[str, Any]]:
    """Check a `{section: {key: value}}` patch; only live keys are accepted (the message names the key)."""
    if not isinstance(patch, dict):
        raise ConfigError('body: expected an object of sections, e.g. {"scheduling": {"mode": "balance"}}')
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    clean: dict[str, dict[str, Any]] = {}
    for section, values in patch.items():
        if section not in sections:
            raise ConfigError(f"{section}: unknown section")
        if not isinstance(values, dict):
            raise ConfigError(f"{section}: expected an object")
        hints = _hints(type(getattr(Config(), section)))
        for key, raw in values.items():
            dotted = f"{section}.{key}"
            if key not in hints:
                raise ConfigError(f"{dotted}: unknown key")
            if dotted not in LIVE_KEYS:
                raise ConfigError(f"{dotted}: needs a restart; change it in the config file")
            value = _convert(dotted, raw, hints[key], False)
            if dotted in _CHOICES and value not in _CHOICES[dotted]:
                raise ConfigError(f"{dotted}: expected one of {', '.join(_CHOICES[dotted])}")
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"{dotted}: expected a non-negative number")
            if dotted == "scheduling.max_attempts" and value < 1:
                raise ConfigError(f"{dotted}: expected at least 1")
            clean.setdefault(section, {})[key] = value
    return clean


def merge(current: dict[str, dict[str, Any]], patch: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged = {section: dict(values) for section, values in current.items()}
    for section, values in patch.items():
        merged.setdefault(section, {}).update(values)
    return merged


def apply(base: Config, overrides: dict[str, dict[str, Any]]) -> Config:
    config = base
    for section, values in overrides.items():
        known = {k: v for k, v in values.items() if f"{section}.{k}" in LIVE_KEYS}
        if known:
            config = replace_section(config, section, **known)
    return config


def load_overrides(raw: str | None) -> dict[str, dict[str, Any]]:
    if not raw:
        return {}
    try:
        return validate(orjson.loads(raw))
    except (ConfigError, orjson.JSONDecodeError):
        return {}  # a stale override naming a key this version dropped must not stop the gateway


def public_view(config: Config) -> dict[str, Any]:
    """The effective config with secrets masked, for the admin API."""
    data = config_as_dict(config)
    for dotted in _SECRET_KEYS:
        section, key = dotted.split(".")
        if data[section].get(key):
            data[section][key] = "***"
    return data


def restart_keys(old: Config, new: Config) -> list[str]:
    """Dotted keys that differ between two configs but only take effect after a restart."""
    a, b = config_as_dict(old), config_as_dict(new)
    changed = []
    for section, values in b.items():
        for key, value in values.items():
            dotted = f"{section}.{key}"
            if a[section].get(key) != value and dotted not in LIVE_KEYS:
                changed.append(dotted)
    return sorted(changed)


def take_live(running: Config, fresh: Config) -> Config:
    """`running` with every live key copied from `fresh`."""
    config = running
    for dotted in sorted(LIVE_KEYS):
        section, key = dotted.split(".")
        config = replace_section(config, section, **{key: getattr(getattr(fresh, section), key)})
    return config
