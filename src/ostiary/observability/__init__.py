"""Health, metrics, logs and traces: what an operator watches a running server with
(docs/observability.md)."""
