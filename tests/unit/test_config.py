"""Config loading: TOML, environment overrides, and errors that name the dotted key."""

from __future__ import annotations

import pytest

from poolgate.config import ConfigError, load_config


def test_defaults() -> None:
    c = load_config("", {})
    assert c.proxy.port == 8045
    assert c.bind_host == "127.0.0.1"
    assert c.effective_auth_mode == "off"
    assert c.scheduling.max_attempts == 3


def test_toml_and_env_override() -> None:
    text = '[proxy]\nport = 9000\nallow_lan_access = true\n[routing]\ncustom_mapping = { "a" = "b" }\n'
    env = {"POOLGATE_PROXY__PORT": "9100", "POOLGATE_SCHEDULING__MODE": "cache_first", "OTHER": "x"}
    c = load_config(text, env)
    assert c.proxy.port == 9100
    assert c.bind_host == "0.0.0.0"
    assert c.effective_auth_mode == "all_except_health"
    assert c.routing.custom_mapping == {"a": "b"}
    assert c.scheduling.mode == "cache_first"


def test_env_json_for_lists() -> None:
    c = load_config("", {"POOLGATE_UPSTREAM__CODE_ASSIST_BASES": '["http://127.0.0.1:1", "http://127.0.0.1:2"]'})
    assert c.upstream.code_assist_bases == ["http://127.0.0.1:1", "http://127.0.0.1:2"]


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[proxy]\nport = 'x'\n", {}, "proxy.port: expected an integer"),
        ("", {"POOLGATE_PROXY__PORT": "abc"}, "proxy.port: expected an integer"),
        ("[proxy]\nnope = 1\n", {}, "proxy.nope: unknown key"),
        ("[bogus]\n", {}, "bogus: unknown section"),
        ("[proxy]\nauth_mode = 'maybe'\n", {}, "proxy.auth_mode: expected one of"),
        ("[proxy\n", {}, "config file"),
        ("", {"POOLGATE_PROXY__ALLOW_LAN_ACCESS": "perhaps"}, "proxy.allow_lan_access: expected a boolean"),
    ],
)
def test_errors_name_the_key(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(text, env)


def test_logging_level_and_format_are_checked() -> None:
    assert load_config('[logging]\nlevel = "debug"\nformat = "json"').logging.format == "json"
    assert load_config("", {"POOLGATE_LOGGING__LEVEL": "warning"}).logging.level == "warning"
    with pytest.raises(ConfigError, match=r"logging\.level: expected one of debug, info, warning, error"):
        load_config('[logging]\nlevel = "verbose"')
    with pytest.raises(ConfigError, match=r"logging\.format: expected one of text, json"):
        load_config("", {"POOLGATE_LOGGING__FORMAT": "xml"})
