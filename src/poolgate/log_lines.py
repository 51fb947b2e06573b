"""The gateway's own log lines on stderr: their level and format (`[logging]`), text or one JSON object each.

uvicorn's loggers are left to propagate to the same handler (see `uvicorn_log_level`), so a log collector
reading JSON never meets one of uvicorn's plain lines.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import orjson

from poolgate.config import LoggingConfig

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, plus `exception` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line).decode()


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def configure(config: LoggingConfig, stream: TextIO | None = None) -> None:
    """Send every logger's lines at `config.level` and above to stderr in `config.format`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    # Also for the demo's embedded simulator, whose uvicorn leaves logging alone.
    logging.getLogger("uvicorn.error").setLevel(uvicorn_log_level(config).upper())


def uvicorn_log_level(config: LoggingConfig) -> str:
    # uvicorn's info lines (its banner, each connection) repeat what poolgate says itself.
    return "warning" if config.level in ("debug", "info") else config.level
