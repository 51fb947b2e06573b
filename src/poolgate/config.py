"""Typed configuration: TOML file merged with POOLGATE_<SECTION>__<KEY> environment overrides."""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "POOLGATE_"


class ConfigError(ValueError):
    """A config value has the wrong type or an unknown key; the message names the dotted key."""


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    host: str = ""
    port: int = 8045
    allow_lan_access: bool = False
    auth_mode: str = "auto"
    api_key: str = ""
    admin_password: str = ""
    max_body_mb: int = 100
    expose_account_header: bool = True
    request_timeout: float = 600.0
    keepalive_seconds: float = 15.0
    client_idle_seconds: float = 60.0
    shutdown_grace_seconds: float = 25.0
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Addresses or networks whose X-Forwarded-For / X-Forwarded-Proto are believed (reverse proxies, load
    # balancers); the client address they name is the one logged and counted by the admin lockout.
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1"])


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    custom_mapping: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SchedulingConfig:
    mode: str = "balance"
    max_attempts: int = 3
    max_wait_seconds: float = 10.0
    session_ttl_seconds: float = 3600.0
    cooldown_cap_seconds: float = 3600.0
    default_cooldown_seconds: float = 30.0
    tier_order: list[str] = field(default_factory=lambda: ["ultra", "pro", "free"])
    extra_rules: list[dict[str, Any]] = field(default_factory=list)
    prefer: list[str] = field(default_factory=lambda: ["priority", "tier", "quota"])
    attempt_timeout_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    gemini_api_base: str = "https://generativelanguage.googleapis.com"
    code_assist_bases: list[str] = field(default_factory=lambda: ["https://cloudcode-pa.googleapis.com"])
    oauth_token_url: str = "https://oauth2.googleapis.com/token"
    oauth_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    userinfo_url: str = "https://www.googleapis.com/oauth2/v2/userinfo"
    oauth_client_id: str = ""
    oauth_client_secret: str = ""
    user_agent: str = ""
    client_name: str = ""
    client_version: str = ""
    http_proxy: str = ""
    connect_timeout: float = 20.0
    media_fetch_allowlist: list[str] = field(default_factory=list)
    media_fetch_max_mb: int = 20
    media_fetch_timeout_seconds: float = 30.0
    quota_refresh_minutes: float = 15.0


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    enabled: bool = True
    retention_days: int = 30
    capture_bodies: bool = True
    body_cap_kb: int = 64
    queue_size: int = 10000
    max_log_mb: int = 1024  # 0: no size cap, only retention_days


@dataclass(frozen=True, slots=True)
class StoreConfig:
    database_url: str = ""
    redis_url: str = ""


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """The gateway's own log lines on stderr (not the request log, which is [monitor])."""

    level: str = "info"
    format: str = "text"  # text | json (one object per line, for log collectors)


@dataclass(frozen=True, slots=True)
class Config:
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    scheduling: SchedulingConfig = field(default_factory=SchedulingConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    @property
    def scheme(self) -> str:
        return "https" if self.proxy.tls_cert_file else "http"

    @property
    def bind_host(self) -> str:
        if self.proxy.host:
            return self.proxy.host
        return "0.0.0.0" if self.proxy.allow_lan_access else "127.0.0.1"

    @property
    def effective_auth_mode(self) -> str:
        mode = self.proxy.auth_mode
        if mode == "auto":
            return "all_except_health" if self.proxy.allow_lan_access else "off"
        return mode


_SECTIONS: dict[str, type[Any]] = {
    "proxy": ProxyConfig,
    "routing": RoutingConfig,
    "scheduling": SchedulingConfig,
    "upstream": UpstreamConfig,
    "monitor": MonitorConfig,
    "store": StoreConfig,
    "logging": LoggingConfig,
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "proxy.auth_mode": ("off", "strict", "all_except_health", "auto"),
    "scheduling.mode": ("cache_first", "balance", "performance_first"),
    "logging.level": ("debug", "info", "warning", "error"),
    "logging.format": ("text", "json"),
}


def _convert(key: str, raw: Any, hint: Any, from_env: bool) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if from_env and isinstance(raw, str) and raw.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return raw.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{key}: expected a boolean")
    if hint is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if from_env and isinstance(raw, str):
            try:
                return int(raw)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer")
    if hint is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if from_env and isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number")
    if hint is str:
        if isinstance(raw, str):
            return raw
        raise ConfigError(f"{key}: expected a string")
    if origin in (list, dict) and from_env and isinstance(raw, str):
        import orjson

        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{key}: expected JSON for a {origin.__name__}") from exc
    if origin is list:
        if not isinstance(raw, list):
            raise ConfigError(f"{key}: expected a list")
        return list(raw)
    if origin is dict:
        if not isinstance(raw, dict):
            raise ConfigError(f"{key}: expected a table")
        args = typing.get_args(hint)
        if args and args[1] is str and not all(isinstance(v, str) for v in raw.values()):
            raise ConfigError(f"{key}: expected string values")
        return dict(raw)
    return raw


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def load_config(toml_text: str = "", environ: Mapping[str, str] | None = None) -> Config:
    """Build a Config from TOML text, then apply environment overrides."""
    try:
        data = tomllib.loads(toml_text) if toml_text.strip() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file: {exc}") from exc
    merged: dict[str, dict[str, tuple[Any, bool]]] = {}
    for section, values in data.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{section}: unknown section")
        if not isinstance(values, dict):
            raise ConfigError(f"{section}: expected a table")
        merged[section] = {k: (v, False) for k, v in values.items()}
    for name, value in (environ or {}).items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        if section not in _SECTIONS:
            continue
        merged.setdefault(section, {})[key] = (value, True)
    built: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for key, (raw, from_env) in merged.get(section, {}).items():
            dotted = f"{section}.{key}"
            if key not in hints:
                raise ConfigError(f"{dotted}: unknown key")
            value = _convert(dotted, raw, hints[key], from_env)
            if dotted in _CHOICES and value not in _CHOICES[dotted]:
                raise ConfigError(f"{dotted}: expected one of {', '.join(_CHOICES[dotted])}")
            kwargs[key] = value
        built[section] = cls(**kwargs)
    config = Config(**built)
    if not 0 < config.proxy.port < 65536:
        raise ConfigError("proxy.port: expected 1-65535")
    if config.scheduling.max_attempts < 1:
        raise ConfigError("scheduling.max_attempts: expected at least 1")
    if bool(config.proxy.tls_cert_file) != bool(config.proxy.tls_key_file):
        raise ConfigError("proxy.tls_cert_file and proxy.tls_key_file: set both to serve HTTPS, or neither")
    unknown = [p for p in config.scheduling.prefer if p not in ("priority", "tier", "quota")]
    if unknown:
        raise ConfigError(
            f"scheduling.prefer: unknown key(s) {', '.join(map(str, unknown))}; use priority, tier, quota"
        )
    _check_rules(config.scheduling.extra_rules)
    _check_proxies(config.proxy.trusted_proxies)
    return config


def _check_proxies(entries: list[Any]) -> None:
    # uvicorn takes a malformed entry as a literal host name that never matches: say so instead.
    for entry in entries:
        if entry == "*":
            continue
        try:
            if not isinstance(entry, str):
                raise ValueError(entry)
            ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)
        except ValueError:
            raise ConfigError(
                f"proxy.trusted_proxies: {entry!r} is not an IP address, a network such as 10.0.0.0/8, or *"
            ) from None


def _check_rules(rules: list[Any]) -> None:
    from poolgate.pool.classify import rule_from_dict

    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise ConfigError(f"scheduling.extra_rules[{i}]: expected a table")
        try:
            rule_from_dict(rule)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"scheduling.extra_rules[{i}]: {exc}") from exc


def load_config_file(path: Path | None, environ: Mapping[str, str]) -> Config:
    text = path.read_text(encoding="utf-8") if path is not None and path.exists() else ""
    return load_config(text, environ)


def replace_section(config: Config, section: str, **changes: Any) -> Config:
    """A copy of config with some keys of one section changed (used by CLI flags and hot reload)."""
    current = getattr(config, section)
    return dataclasses.replace(config, **{section: dataclasses.replace(current, **changes)})


def config_as_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
