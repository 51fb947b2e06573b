"""SimulatorState: the model catalogue, per-key script queues and the call log, shared by all routes."""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from poolgate.simulator.google_accounts import GoogleWorld
from poolgate.simulator.script import Step

SHARED_KEY: Final = "*"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    display_name: str
    input_token_limit: int = 1_048_576
    output_token_limit: int = 65_536
    methods: tuple[str, ...] = ("generateContent", "streamGenerateContent", "countTokens")
    thinking: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": f"models/{self.name}",
            "version": "001",
            "displayName": self.display_name,
            "description": f"Simulated {self.display_name}",
            "inputTokenLimit": self.input_token_limit,
            "outputTokenLimit": self.output_token_limit,
            "supportedGenerationMethods": list(self.methods),
            "thinking": self.thinking,
        }


DEFAULT_MODELS: Final[tuple[ModelInfo, ...]] = (
    ModelInfo("gemini-2.5-pro", "Gemini 2.5 Pro"),
    ModelInfo("gemini-2.5-flash", "Gemini 2.5 Flash"),
    ModelInfo("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
    ModelInfo("gemini-2.0-flash", "Gemini 2.0 Flash", output_token_limit=8192, thinking=False),
    ModelInfo("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    key: str
    model: str
    method: str  # generateContent | streamGenerateContent | countTokens | listModels | getModel
    stream: bool
    body: Any
    t: float
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "model": self.model,
            "method": self.method,
            "stream": self.stream,
            "body": self.body,
            "t": self.t,
            "path": self.path,
            "headers": self.headers,
        }


@dataclass
class SimulatorState:
    """Everything mutable about one simulator; routes get it as an argument, never from a global."""

    models: tuple[ModelInfo, ...] = DEFAULT_MODELS
    # Bounded so a long benchmark against the simulator does not grow memory without end.
    call_log_limit: int = 10_000
    clock: Callable[[], float] = time.time
    queues: dict[str, deque[Step]] = field(default_factory=dict)
    google: GoogleWorld = field(default_factory=GoogleWorld)  # OAuth users and Cloud Code faults
    calls: deque[CallRecord] = field(init=False)
    # Calls whose client hung up while the simulator was still delaying or streaming the answer.
    disconnects: deque[CallRecord] = field(init=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def __post_init__(self) -> None:
        self.calls = deque(maxlen=self.call_log_limit)
        self.disconnects = deque(maxlen=self.call_log_limit)

    def script(self, key: str, steps: Iterable[Step]) -> int:
        """Append steps to `key`'s queue ("*" is the shared queue); returns the queue's new length."""
        queue = self.queues.setdefault(key, deque())
        queue.extend(steps)
        return len(queue)

    def next_step(self, key: str) -> Step | None:
        """Pop the key's own next step, else the shared queue's, else None (default behaviour)."""
        queue = self.queues.get(key)
        if queue:
            return queue.popleft()
        shared = self.queues.get(SHARED_KEY)
        if shared:
            return shared.popleft()
        return None

    def pending(self) -> dict[str, int]:
        return {key: len(queue) for key, queue in self.queues.items() if queue}

    def record(self, call: CallRecord) -> None:
        self.calls.append(call)

    def calls_for(self, key: str | None = None) -> list[CallRecord]:
        return [c for c in self.calls if key is None or c.key == key]

    def reset(self) -> None:
        self.queues.clear()
        self.calls.clear()
        self.disconnects.clear()
        self.google.reset()

    def next_id(self) -> str:
        return f"sim-{next(self._ids)}"

    def find_model(self, name: str) -> ModelInfo | None:
        for model in self.models:
            if model.name == name:
                return model
        return None
