"""Options every command shares (--config, --data-dir), opening the config and store from them, and --proxy checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from poolgate.config import Config, ConfigError, load_config_file
from poolgate.store.sql import SqlStore
from poolgate.upstream.egress import check_proxy_url

console = Console()
err_console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", help="TOML config file (default: <data-dir>/poolgate.toml).")
DataDirOption = typer.Option(None, "--data-dir", help="Data directory (default: $POOLGATE_DATA_DIR or ~/.poolgate).")


@dataclass(slots=True)
class Context:
    config: Config
    data_dir: Path
    config_path: Path


def checked_proxy(url: str) -> str:
    """A --proxy value as stored (see upstream/egress.py); a bad one ends the command with the reason."""
    try:
        return check_proxy_url(url)
    except ValueError as exc:
        err_console.print(f"[red]Bad proxy:[/red] {exc}.")
        raise typer.Exit(1) from None


def default_data_dir() -> Path:
    env = os.environ.get("POOLGATE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".poolgate"


def load(config_path: Path | None, data_dir: Path | None) -> Context:
    directory = (data_dir or default_data_dir()).expanduser().resolve()
    path = config_path or directory / "poolgate.toml"
    if config_path is not None and not config_path.exists():
        err_console.print(f"[red]Config file not found:[/red] {config_path}")
        raise typer.Exit(2)
    try:
        config = load_config_file(path, os.environ)
    except ConfigError as exc:
        err_console.print(f"[red]Invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from None
    return Context(config=config, data_dir=directory, config_path=path)


def open_store(ctx: Context) -> SqlStore:
    return SqlStore.open(ctx.data_dir, ctx.config.store.database_url)
