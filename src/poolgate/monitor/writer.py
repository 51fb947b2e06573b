"""`python -m poolgate.monitor.writer DATA_DIR [DATABASE_URL]`: the request-log writer process.

Reads length-prefixed JSON batches of log rows on stdin, redacts and stores each in one transaction,
and answers every batch on stdout with `{"ok": true}` or `{"ok": false, "error": ...}`. Ends when
stdin closes. Started and fed by `poolgate.monitor.sinks.ProcessSink`; never run by hand.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import BinaryIO

import orjson

from poolgate.monitor.logrows import write_rows
from poolgate.monitor.sinks import HEADER
from poolgate.store.sql import SqlStore


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        piece = stream.read(size - len(data))
        if not piece:
            return None
        data += piece
    return data


def _answer(stream: BinaryIO, answer: dict[str, object]) -> None:
    payload = orjson.dumps(answer)
    stream.write(len(payload).to_bytes(HEADER, "big") + payload)
    stream.flush()


class LazyStore:
    """The store, opened at the first batch and again after a failed open: a writer started while the
    database is away answers each batch with the reason instead of dying at start (the gateway would
    start a new writer, and print its traceback, at every flush of the outage)."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.store: SqlStore | None = None

    def get(self) -> SqlStore:
        if self.store is None:
            self.store = SqlStore.open(self.data_dir, self.database_url)
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def serve(stores: LazyStore, inp: BinaryIO, out: BinaryIO) -> None:
    while True:
        header = _read_exactly(inp, HEADER)
        if header is None:
            return
        payload = _read_exactly(inp, int.from_bytes(header, "big"))
        if payload is None:
            return
        try:
            write_rows(stores.get(), orjson.loads(payload))
        except Exception as exc:  # the gateway keeps a refused batch for its next flush; say why and go on
            _answer(out, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]})
        else:
            _answer(out, {"ok": True})


def main() -> None:
    # Ctrl-C in a terminal and a service manager's SIGTERM reach the whole process group; the gateway
    # closes our stdin once it has flushed, so the writer ends after the last batch, not in the middle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stores = LazyStore(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
    try:
        serve(stores, sys.stdin.buffer, sys.stdout.buffer)
    finally:
        stores.close()


if __name__ == "__main__":
    main()
