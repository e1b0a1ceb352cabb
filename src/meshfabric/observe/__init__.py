"""Observability: product metrics, SLOs with error budgets and burn-rate alerts, probes and the
scheduler that runs them, alert routing, Prometheus exposition and OpenTelemetry traces."""
