"""The `poolgate` entry point: assembles the command groups."""

from __future__ import annotations

import errno

import typer
from sqlalchemy.exc import OperationalError

from poolgate.cli import accounts, logs, mapping, serve, stats
from poolgate.cli.common import err_console

app = typer.Typer(
    help="poolgate: a self-hosted AI gateway over a pool of Google Gemini accounts.", no_args_is_help=True
)
app.command("serve")(serve.serve)
app.add_typer(accounts.app, name="accounts")
app.add_typer(mapping.app, name="map")
app.command("logs")(logs.logs)
app.command("stats")(stats.stats)


def main() -> None:
    try:
        app()
    except OperationalError as exc:
        # A full disk, a database locked too long or a PostgreSQL server away: a sentence, not a traceback.
        reason = str(exc.orig or exc).strip().splitlines()[0]
        err_console.print(f"[red]The database cannot be used:[/red] {reason}.")
        raise SystemExit(1) from None
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRORS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        err_console.print(f"[red]The data directory cannot be written:[/red] {exc.strerror}{where}.")
        raise SystemExit(1) from None


# What the machine, not poolgate, gets wrong when a command writes its data directory.
_STORAGE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}
)
