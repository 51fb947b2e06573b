"""The `poolgate` entry point: assembles the command groups."""

from __future__ import annotations

import typer

from poolgate.cli import accounts, logs, mapping, serve, stats

app = typer.Typer(
    help="poolgate: a self-hosted AI gateway over a pool of Google Gemini accounts.", no_args_is_help=True
)
app.command("serve")(serve.serve)
app.add_typer(accounts.app, name="accounts")
app.add_typer(mapping.app, name="map")
app.command("logs")(logs.logs)
app.command("stats")(stats.stats)


def main() -> None:
    app()
