"""Prometheus metrics kept as plain counters on the event loop, turned into metric families at scrape time.

Everything that mutates these counters runs on the gateway's single event-loop thread, so a request
costs one `observe()` call of a few dict and list updates: no locks, no label lookups in prometheus-client.
prometheus-client is used for the exposition format only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from poolgate.gateway import RequestContext

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Model names come from clients; past this many distinct values new ones share the label "other".
MAX_MODEL_LABELS = 200
MAX_ROUTE_LABELS = 200
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, float("inf"))
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, float("inf"))
ACCOUNT_STATES = ("active", "cooling", "disabled", "needs_relogin", "forbidden", "invalid")
# The methods Gemini routes serve; any other name a client puts after the colon is labelled "{other}".
_ACTIONS = frozenset({"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"})


def route_label(path: str) -> str:
    """Gemini routes carry the model and a method in the path; fold both so the label set stays small."""
    prefix, found, rest = path.partition("/models/")
    if not found:
        return path
    _, colon, action = rest.partition(":")
    if not colon:
        return f"{prefix}/models/{{model}}"
    return f"{prefix}/models/{{model}}:{action if action in _ACTIONS else '{other}'}"


class _Histogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less than or equal"; bisect_left finds the first bound >= value.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


class Metrics(Collector):
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int, str, str], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.overhead: dict[str, _Histogram] = {}
        self.upstream_failures: dict[str, int] = {}
        self.client_drops: dict[str, int] = {}
        self.streams_in_flight = 0
        self.account_states: dict[str, int] = dict.fromkeys(ACCOUNT_STATES, 0)
        self.log_queue = 0
        self.log_dropped_bodies = 0
        self.log_dropped_rows = 0
        self._models: set[str] = set()
        self._routes: dict[str, str] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # -- the hot path
    def observe(self, ctx: RequestContext, duration: float) -> None:
        """Called once per request, after the response is written."""
        route = self._routes.get(ctx.route)
        if route is None:
            route = self._route(ctx.route)
        models = self._models  # known names skip the call: this runs on every request
        client = ctx.client_model if ctx.client_model in models else self._model(ctx.client_model)
        mapped = ctx.mapped_model if ctx.mapped_model in models else self._model(ctx.mapped_model)
        key = (route, ctx.status, client, mapped)
        self.requests[key] = self.requests.get(key, 0) + 1
        latency = self.latency.get(route)
        if latency is None:
            latency = self.latency[route] = _Histogram(LATENCY_BUCKETS)
            self.overhead[route] = _Histogram(OVERHEAD_BUCKETS)
        latency.observe(duration)
        self.overhead[route].observe(ctx.overhead_ms() / 1000.0)

    def _route(self, path: str) -> str:
        label = route_label(path)
        if len(self._routes) < MAX_ROUTE_LABELS:
            self._routes[path] = label
        return label

    def _model(self, name: str) -> str:
        if not name or name in self._models:
            return name
        if len(self._models) >= MAX_MODEL_LABELS:
            return "other"
        self._models.add(name)
        return name

    def upstream_failure(self, kind: str) -> None:
        kind = kind or "unknown"
        self.upstream_failures[kind] = self.upstream_failures.get(kind, 0) + 1

    def client_dropped(self, reason: str, count: int = 1) -> None:
        """A request or connection ended because of its client (stalled, gone) or the gateway's stop."""
        self.client_drops[reason] = self.client_drops.get(reason, 0) + count

    def stream_started(self) -> None:
        self.streams_in_flight += 1

    def stream_ended(self) -> None:
        self.streams_in_flight -= 1

    # -- sampled at scrape time
    def set_account_states(self, states: list[str]) -> None:
        counts = Tally(states)
        self.account_states = {state: counts.get(state, 0) for state in (*ACCOUNT_STATES, *counts)}

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "poolgate_requests",
            "Requests answered, by route, status, client model and mapped (upstream) model.",
            labels=("route", "status", "client_model", "mapped_model"),
        )
        for (route, status, client_model, mapped_model), count in self.requests.items():
            requests.add_metric((route, str(status), client_model, mapped_model), count)
        yield requests
        for name, doc, table in (
            ("poolgate_request_duration_seconds", "Time from request start to the last byte, by route.", self.latency),
            (
                "poolgate_gateway_overhead_seconds",
                "Time spent inside the gateway, excluding upstream calls, by route.",
                self.overhead,
            ),
        ):
            family = HistogramMetricFamily(name, doc, labels=("route",))
            for route, hist in table.items():
                family.add_metric((route,), hist.cumulative(), hist.total)
            yield family
        failures = CounterMetricFamily(
            "poolgate_upstream_failures",
            "Upstream failures by class (rate_limit, quota_exhausted, capacity, unauthenticated, ...).",
            labels=("kind",),
        )
        for kind, count in self.upstream_failures.items():
            failures.add_metric((kind,), count)
        yield failures
        drops = CounterMetricFamily(
            "poolgate_client_drops",
            "Requests and connections ended early: headers_timeout, body_timeout, stopped_reading, "
            "left_mid_body, shutdown.",
            labels=("reason",),
        )
        for reason, count in self.client_drops.items():
            drops.add_metric((reason,), count)
        yield drops
        accounts = GaugeMetricFamily("poolgate_accounts", "Accounts by state.", labels=("state",))
        for state, count in self.account_states.items():
            accounts.add_metric((state,), count)
        yield accounts
        yield GaugeMetricFamily(
            "poolgate_streams_in_flight", "Streaming responses being written.", value=self.streams_in_flight
        )
        yield GaugeMetricFamily(
            "poolgate_log_queue_rows", "Request-log rows waiting to be written.", value=self.log_queue
        )
        yield CounterMetricFamily(
            "poolgate_log_dropped_bodies",
            "Log rows whose bodies were shed because the queue was full.",
            value=self.log_dropped_bodies,
        )
        yield CounterMetricFamily(
            "poolgate_log_dropped_rows",
            "Log rows shed entirely past the hard queue limit.",
            value=self.log_dropped_rows,
        )

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
