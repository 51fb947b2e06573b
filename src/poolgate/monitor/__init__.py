"""Monitoring: the request log, usage aggregation and Prometheus metrics."""
