"""Prometheus metrics: one registry per gateway, label children cached so a request costs a dict lookup."""

from __future__ import annotations

import re
from collections import Counter as Tally
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from poolgate.gateway import RequestContext

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Model names come from clients; past this many distinct values new ones share the label "other".
MAX_MODEL_LABELS = 200
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, float("inf"))
_OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, float("inf"))
_MODEL_IN_PATH = re.compile(r"/models/[^/:]+")


def route_label(path: str) -> str:
    """Gemini routes carry the model in the path; fold it so the label set stays small."""
    if "/models/" in path:
        return _MODEL_IN_PATH.sub("/models/{model}", path, count=1)
    return path


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "poolgate_requests",
            "Requests answered, by route, status, client model and mapped (upstream) model.",
            ("route", "status", "client_model", "mapped_model"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "poolgate_request_duration_seconds",
            "Time from request start to the last byte, by route.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.overhead = Histogram(
            "poolgate_gateway_overhead_seconds",
            "Time spent inside the gateway, excluding upstream calls, by route.",
            ("route",),
            buckets=_OVERHEAD_BUCKETS,
            registry=self.registry,
        )
        self.upstream_failures = Counter(
            "poolgate_upstream_failures",
            "Upstream failures by class (rate_limit, quota_exhausted, capacity, unauthenticated, ...).",
            ("kind",),
            registry=self.registry,
        )
        self.accounts = Gauge(
            "poolgate_accounts", "Accounts by state (sampled at scrape time).", ("state",), registry=self.registry
        )
        self.streams = Gauge("poolgate_streams_in_flight", "Streaming responses being written.", registry=self.registry)
        self.log_queue = Gauge(
            "poolgate_log_queue_rows", "Request-log rows waiting to be written.", registry=self.registry
        )
        self.log_dropped_bodies = Gauge(
            "poolgate_log_dropped_bodies",
            "Log rows whose bodies were shed because the queue was full.",
            registry=self.registry,
        )
        self.log_dropped_rows = Gauge(
            "poolgate_log_dropped_rows", "Log rows shed entirely past the hard queue limit.", registry=self.registry
        )
        self._request_children: dict[tuple[str, int, str, str], Any] = {}
        self._route_children: dict[str, tuple[Any, Any]] = {}
        self._failure_children: dict[str, Any] = {}
        self._models: set[str] = set()

    def _model(self, name: str) -> str:
        if name in self._models or not name:
            return name
        if len(self._models) >= MAX_MODEL_LABELS:
            return "other"
        self._models.add(name)
        return name

    def observe(self, ctx: RequestContext, duration: float) -> None:
        """Called once per request, after the response is written."""
        key = (ctx.route, ctx.status, ctx.client_model, ctx.mapped_model)
        child = self._request_children.get(key)
        if child is None:
            route = route_label(ctx.route)
            child = self.requests.labels(
                route, str(ctx.status), self._model(ctx.client_model), self._model(ctx.mapped_model)
            )
            if len(self._request_children) < 10_000:
                self._request_children[key] = child
        child.inc()
        pair = self._route_children.get(ctx.route)
        if pair is None:
            route = route_label(ctx.route)
            pair = (self.latency.labels(route), self.overhead.labels(route))
            if len(self._route_children) < 1_000:
                self._route_children[ctx.route] = pair
        pair[0].observe(duration)
        pair[1].observe(ctx.overhead_ms() / 1000.0)

    def upstream_failure(self, kind: str) -> None:
        child = self._failure_children.get(kind)
        if child is None:
            child = self._failure_children[kind] = self.upstream_failures.labels(kind or "unknown")
        child.inc()

    def set_account_states(self, states: list[str]) -> None:
        counts = Tally(states)
        for state in ("active", "cooling", "disabled", "needs_relogin", "forbidden", "invalid", *counts):
            self.accounts.labels(state).set(counts.get(state, 0))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
