"""Metrics labels stay bounded however many models and Gemini paths clients send."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from poolgate.gateway import RequestContext
from poolgate.monitor.metrics import MAX_MODEL_LABELS, Metrics, route_label


def _ctx(route: str, model: str, status: int = 200) -> RequestContext:
    ctx = RequestContext(request_id="r", route=route, protocol="gemini")
    ctx.client_model = model
    ctx.mapped_model = model
    ctx.status = status
    return ctx


def test_gemini_paths_fold_the_model_name() -> None:
    assert route_label("/v1beta/models/gemini-2.5-pro:generateContent") == "/v1beta/models/{model}:generateContent"
    assert route_label("/v1/models/x:streamGenerateContent") == "/v1/models/{model}:streamGenerateContent"
    assert route_label("/v1/chat/completions") == "/v1/chat/completions"
    # What follows the model is the client's too: an unknown method or extra segments add no label.
    assert route_label("/v1beta/models/x:bogus1234") == "/v1beta/models/{model}:{other}"
    assert route_label("/v1beta/models/a/b/c:countTokens") == "/v1beta/models/{model}:countTokens"
    assert route_label("/v1beta/models/a/b/c") == "/v1beta/models/{model}"


def test_route_labels_stay_bounded_under_made_up_paths() -> None:
    metrics = Metrics()
    for i in range(500):
        metrics.observe(_ctx(f"/v1beta/models/m:action{i}", "m", 404), 0.01)
        metrics.observe(_ctx(f"/v1/models/m/{i}/x", "m", 404), 0.01)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    routes = {s.labels["route"] for s in families["poolgate_requests"].samples}
    assert routes == {"/v1beta/models/{model}:{other}", "/v1/models/{model}"}


def test_model_labels_are_capped_and_histograms_are_cumulative() -> None:
    metrics = Metrics()
    for i in range(MAX_MODEL_LABELS + 50):
        metrics.observe(_ctx(f"/v1beta/models/m{i}:generateContent", f"m{i}"), 0.2)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    requests = families["poolgate_requests"].samples
    models = {s.labels["client_model"] for s in requests}
    assert len(models) == MAX_MODEL_LABELS + 1 and "other" in models
    assert sum(s.value for s in requests) == MAX_MODEL_LABELS + 50
    assert {s.labels["route"] for s in requests} == {"/v1beta/models/{model}:generateContent"}
    buckets = {
        s.labels["le"]: s.value
        for s in families["poolgate_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert buckets["0.1"] == 0 and buckets["0.25"] == MAX_MODEL_LABELS + 50 and buckets["+Inf"] == MAX_MODEL_LABELS + 50
