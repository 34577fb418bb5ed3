"""Trading metrics (SPEC M1). In the full stack, PROMETHEUS_MULTIPROC_DIR is shared by web,
worker and beat, so what a worker counts is visible at the web's /metrics."""

from prometheus_client import Counter, Gauge, Histogram

TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

open_positions = Gauge(
    "trader_open_positions", "Open positions per account.", ["account"], multiprocess_mode="mostrecent"
)
exposure_pct = Gauge(
    "trader_exposure_pct", "Open position value as a percentage of equity.", ["account"], multiprocess_mode="mostrecent"
)
total_pnl_usd = Gauge(
    "trader_total_pnl_usd",
    "Equity minus starting balance, quote currency.",
    ["account"],
    multiprocess_mode="mostrecent",
)
total_pnl_pct = Gauge(
    "trader_total_pnl_pct",
    "Total P&L as a percentage of the starting balance.",
    ["account"],
    multiprocess_mode="mostrecent",
)
pnl_daily_usd = Gauge(
    "trader_pnl_daily_usd", "P&L since 00:00 UTC, quote currency.", ["account"], multiprocess_mode="mostrecent"
)
fills_total = Counter("trader_fills_total", "Fills booked.", ["account"])
order_rejections_total = Counter("trader_order_rejections_total", "Order intents refused or rejected.", ["reason"])
tick_latency = Histogram("trader_tick_latency_seconds", "Engine tick duration.", buckets=TICK_BUCKETS)
bad_ticks_total = Counter("trader_bad_ticks_total", "Market data ticks rejected by the guards.", ["reason"])
