"""StreamEncoder: the state machine each protocol implements to turn hub chunks into its stream bytes."""

from __future__ import annotations

from typing import Protocol

from poolgate.errors import GatewayError
from poolgate.hub.events import Usage
from poolgate.hub.types import JSON


class StreamEncoder(Protocol):
    keepalive: bytes
    usage: Usage | None
    media_type: str

    def start(self) -> list[bytes]:
        """Bytes sent once the stream is committed, before the first chunk."""
        ...

    def feed(self, chunk: JSON) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...

    def fail(self, err: GatewayError) -> list[bytes]:
        """The in-stream error and a clean end, for failures after the first byte."""
        ...
