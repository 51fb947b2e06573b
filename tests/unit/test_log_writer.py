"""The request-log writer process: batches reach the store redacted, and a dead writer loses nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from poolgate.config import MonitorConfig
from poolgate.monitor.records import RequestLog
from poolgate.monitor.sinks import ProcessSink
from poolgate.store.sql import SqlStore
from tests.unit.test_request_log import _ctx

SECRET = b'{"api_key":"hunter2-very-secret","auth":"Bearer sk-abcdefghijklmnopqrstuvwxyz"}'


async def test_the_writer_process_stores_batches_redacted_and_counts_usage(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    sink = ProcessSink(store, tmp_path)
    log = RequestLog(store, MonitorConfig(queue_size=5000), sink)
    for i in range(1500):  # more than one batch
        log.put(_ctx(i, body=SECRET if i == 7 else b'{"model":"m"}', status=500 if i % 10 == 0 else 200))
    await log.flush()
    proc = sink._proc
    assert proc is not None and proc.returncode is None and proc.pid != os.getpid()
    assert store.count_logs() == 1500 and store.count_logs(errors_only=True) == 150
    row = store.get_log("req-0007")
    assert row is not None
    assert "hunter2" not in row["request_body"] and "abcdefghijklmnop" not in row["request_body"]
    assert store.usage_since(0)[0]["requests"] == 1500
    await log.stop()
    assert proc.returncode == 0  # stdin closed after the last flush: the writer ended on its own
    store.close()


async def test_a_writer_that_dies_is_replaced_and_no_row_is_lost(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    sink = ProcessSink(store, tmp_path)
    log = RequestLog(store, MonitorConfig(), sink)
    log.put(_ctx(1))
    await log.flush()
    first = sink._proc
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    await first.wait()
    for i in range(2, 12):
        log.put(_ctx(i))
    await log.flush()  # the next batch starts a new writer
    log.put(_ctx(12))
    await log.flush()
    assert sink.restarts == 1
    assert sink._proc is not None and sink._proc.pid != first.pid and sink._proc.returncode is None
    assert store.count_logs() == 12
    # A writer that goes away with a batch in hand: that batch is written here instead.
    os.kill(sink._proc.pid, signal.SIGSTOP)
    sink._proc.stdin.close()  # type: ignore[union-attr]
    os.kill(sink._proc.pid, signal.SIGKILL)
    log.put(_ctx(13))
    await log.flush()
    assert store.count_logs() == 13
    await log.stop()
    store.close()
