"""Outage: how the gateway logs a dependency (database, Redis) that keeps failing — a line, not a flood."""

from __future__ import annotations

import logging
import time


class Outage:
    """One warning when failures start, one per `every` seconds while they last, one line when it works again.

    The request path and the background loops call `failed` on each failure, twice a second or per
    request: logging a traceback each time buried everything else in the log during an outage.
    """

    def __init__(self, log: logging.Logger, failing: str, recovered: str, every: float) -> None:
        self.log = log
        self.failing = failing
        self.recovered = recovered
        self.every = every
        self.since = 0.0  # monotonic time of the first failure of the current outage; 0 when none
        self._warned = 0.0

    def failed(self, exc: BaseException, consequence: str = "") -> None:
        now = time.monotonic()
        if self.since and now - self._warned < self.every:
            return
        self.since = self.since or now
        self._warned = now
        reason = str(exc).splitlines()[0][:300].rstrip(".") if str(exc) else ""
        self.log.warning(
            "%s (%s: %s)%s",
            self.failing,
            type(exc).__name__,
            reason,
            f"; {consequence}" if consequence else "",
            exc_info=self.log.isEnabledFor(logging.DEBUG),
        )

    def succeeded(self) -> None:
        if self.since:
            self.log.info("%s after %.0f s", self.recovered, time.monotonic() - self.since)
            self.since = 0.0
