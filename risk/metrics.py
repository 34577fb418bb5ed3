from prometheus_client import Counter, Gauge

breaker_state = Gauge(
    "trader_circuit_breaker_state",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    ["account", "source"],
    multiprocess_mode="mostrecent",
)
breaker_trips_total = Counter("trader_circuit_breaker_trips_total", "Circuit breaker trips.", ["account", "source"])
