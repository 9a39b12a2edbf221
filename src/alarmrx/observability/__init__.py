"""Observability: structlog set-up, every Prometheus metric, the HTTP endpoint, sd_notify and
the clock's synchronisation state."""
