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

API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
exchange_api_errors_total = Counter(
    "exchange_api_errors_total", "Exchange API calls that failed, by error kind.", ["exchange", "kind"]
)
exchange_api_consecutive_errors = Gauge(
    "exchange_api_consecutive_errors",
    "Exchange API calls failed in a row (0 after a success).",
    ["exchange"],
    multiprocess_mode="mostrecent",
)
exchange_api_latency = Histogram(
    "exchange_api_latency_seconds",
    "Exchange API call duration, retries included.",
    ["exchange", "call"],
    buckets=API_BUCKETS,
)
exchange_rate_budget_used_ratio = Gauge(
    "exchange_rate_budget_used_ratio",
    "Share of the API key's request-weight budget in use (0 idle, 1 exhausted).",
    ["key"],
    multiprocess_mode="mostrecent",
)
exchange_rate_budget_waits_total = Counter(
    "exchange_rate_budget_waits_total", "Calls that waited for request-weight budget.", ["key", "priority"]
)

# The engine-tick error budget (SPEC M7), set from the database by genesis_site.error_budget_export.
error_budget_remaining_ratio = Gauge(
    "trader_error_budget_remaining_ratio",
    "Share of the tick error budget (GENESIS_TICK_SLO over GENESIS_ERROR_BUDGET_DAYS) not yet spent.",
    multiprocess_mode="mostrecent",
)
error_budget_burn_rate = Gauge(
    "trader_error_budget_burn_rate",
    "Tick failure rate over the window divided by the allowed rate (1 - SLO); 1 spends the budget exactly.",
    ["window"],
    multiprocess_mode="mostrecent",
)
