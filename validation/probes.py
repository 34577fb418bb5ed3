"""The measurements behind the stability, performance, load and paper-trading validators.
They run inside `manage.py validation_probe` in a child process with a scratch database (see
validation/probe.py) and return plain figures; the validators judge them against criteria."""

import hashlib
import itertools
import math
import os
import time
from collections import Counter
from decimal import Decimal
from secrets import token_hex

import psutil
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from compliance.services import Actor
from risk.policy import default_policy_yaml
from risk.services import config_version_activate, config_version_create
from trading.exchanges.paper import PaperExchange
from trading.markets import market_get
from trading.models import EquitySnapshot, Position, Strategy, TradingAccount
from trading.services.engine import engine_tick
from trading.services.orders import order_execute_paper
from trading.strategies import REGISTRY as STRATEGIES
from validation.stats import percentile

PROBE = Actor.system("validation-probe")
# The soak and performance probes measure the engine at full load, so they lift the pacing
# rules (which would otherwise refuse most entries). The paper-trading probe keeps the policy
# as configured and ticks on the candle clock, so pacing applies in simulated time.
UNPACED = (
    "max_trades_per_day: 100000\nmax_trades_per_hour: 100000\nmax_new_positions_per_hour: 100000\n"
    "min_seconds_between_trades: 0\nmin_seconds_per_symbol: 0\n"
)
WARMUP_CURSOR = 200
MB = 1024 * 1024


def now() -> float:
    return time.perf_counter()


def _account(*, scenario: str, policy: str | None, name: str, seed: int = 42, paced: bool = False) -> TradingAccount:
    account = TradingAccount.objects.create(
        name=name,
        starting_balance=Decimal("100000"),
        cash_balance=Decimal("100000"),
        scenario=scenario,
        scenario_seed=seed,
        symbols=["BTC/USDT", "ETH/USDT"],
        feed_cursor=WARMUP_CURSOR,
    )
    content = (policy or default_policy_yaml()).rstrip("\n") + "\n" + ("" if paced else UNPACED)
    version = config_version_create(account=account, content=content, author=None, reason="probe", actor=PROBE)
    config_version_activate(version=version, actor=PROBE, reason="probe")
    for kind in sorted(STRATEGIES):
        Strategy.objects.create(account=account, name=kind, kind=kind, params={}, risk_budget=Decimal("0.03"))
    return account


def _ticks(
    account_id: int, ticks: int, *, candle_clock: bool = False, refusals: Counter | None = None
) -> tuple[list[float], int, list[str]]:
    """Tick `ticks` times: per-tick latency (ms), crashes and their messages. `refusals`
    counts the gate's refusals by rule."""
    latencies, errors, messages = [], 0, []
    for _ in range(ticks):
        started = now()
        try:
            result = engine_tick(account_id=account_id, candle_clock=candle_clock)
            if refusals is not None and result is not None:
                refusals.update(r.split(":", 1)[0] for r in result.refusals)
        except Exception as exc:  # a crashing tick is counted, and the soak goes on
            errors += 1
            messages.append(f"{type(exc).__name__}: {exc}"[:200])
        latencies.append((now() - started) * 1000)
    return latencies, errors, messages[:10]


def soak(*, scenario: str, ticks: int, policy: str | None = None) -> dict:
    """Tick one account `ticks` times; RSS, CPU and latency drift over the run."""
    process = psutil.Process(os.getpid())
    account = _account(scenario=scenario, policy=policy, name="soak")
    warm = max(5, ticks // 10)
    _ticks(account.pk, warm)  # imports, caches and the first allocations are not growth
    rss_start = process.memory_info().rss
    cpu_start, wall_start = process.cpu_times(), now()
    latencies, errors, messages = _ticks(account.pk, ticks)
    cpu_end, wall = process.cpu_times(), now() - wall_start
    rss_end = process.memory_info().rss
    quarter = max(1, len(latencies) // 4)
    first, last = percentile(latencies[:quarter], 95), percentile(latencies[-quarter:], 95)
    cpu_seconds = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
    return {
        "ticks": ticks,
        "errors": errors,
        "error_messages": messages,
        "error_rate_pct": round(100 * errors / ticks, 3),
        "rss_start_mb": round(rss_start / MB, 1),
        "rss_end_mb": round(rss_end / MB, 1),
        "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
        "cpu_pct": round(100 * cpu_seconds / wall, 1) if wall else 0.0,
        "tick_p50_ms": round(percentile(latencies, 50), 3),
        "tick_p99_ms": round(percentile(latencies, 99), 3),
        "first_quarter_p95_ms": round(first, 3),
        "last_quarter_p95_ms": round(last, 3),
        "latency_drift_pct": round(100 * (last - first) / first, 1) if first else 0.0,
    }


def performance(*, samples: int, policy: str | None = None) -> dict:
    """Engine tick p50/p95/p99 and GET /api/v1/status p99 as an operator would call it."""
    account = _account(scenario="sideways", policy=policy, name="performance")
    _ticks(account.pk, 5)
    ticks, errors, _ = _ticks(account.pk, samples)
    user = get_user_model().objects.create_user("probe-operator", password=None)
    account.members.add(user)
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_HOST="localhost")
    client.force_login(user)
    url = f"/api/v1/status?account={account.pk}"
    statuses, api = {}, []
    for _ in range(samples):
        started = now()
        response = client.get(url)
        api.append((now() - started) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return {
        "samples": samples,
        "tick_errors": errors,
        "tick_p50_ms": round(percentile(ticks, 50), 3),
        "tick_p95_ms": round(percentile(ticks, 95), 3),
        "tick_p99_ms": round(percentile(ticks, 99), 3),
        "api_status_p50_ms": round(percentile(api, 50), 3),
        "api_status_p99_ms": round(percentile(api, 99), 3),
        "api_statuses": {str(k): v for k, v in statuses.items()},
    }


def load(*, orders: int) -> dict:
    """Paper orders persisted with their audit events, one transaction each, as fast as
    possible: sustained orders per second and per-order p99."""
    account = _account(scenario="sideways", policy=None, name="load")
    market, exchange = market_get("BTC/USDT"), PaperExchange()
    position = Position.objects.create(account=account, symbol="BTC/USDT")
    version_hash = account.config_versions.get(is_active=True).sha256
    timings, failures, started = [], 0, now()
    for i in range(orders):
        t0 = now()
        try:
            with transaction.atomic():
                order_execute_paper(
                    account=account,
                    strategy=None,
                    position=position,
                    market=market,
                    side="buy" if i % 2 == 0 else "sell",
                    amount=Decimal("0.001"),
                    last_price=Decimal("60000"),
                    exchange=exchange,
                    idempotency_key=f"load-{i}",
                    correlation_id=f"load-{i}",
                    config_hash=version_hash,
                    actor=PROBE,
                )
        except Exception:
            failures += 1
        timings.append((now() - t0) * 1000)
    wall = now() - started
    return {
        "orders": orders,
        "failures": failures,
        "error_rate_pct": round(100 * failures / orders, 3),
        "orders_per_second": round(orders / wall, 1),
        "order_p50_ms": round(percentile(timings, 50), 3),
        "order_p99_ms": round(percentile(timings, 99), 3),
    }


def paper_trading(*, scenarios: list[str], ticks: int, policy: str | None = None) -> dict:
    """Each scenario on its own account, with the policy as configured (pacing included) and
    ticked on the candle clock, so the pacing rules, cooldowns and daily/weekly stops count
    simulated time: return, max drawdown from peak, Sharpe of the per-tick equity returns
    scaled by sqrt(ticks), orders placed and the gate's refusals by rule."""
    results = {}
    for scenario in scenarios:
        account = _account(scenario=scenario, policy=policy, name=f"paper-{scenario}", paced=True)
        refusals: Counter = Counter()
        _, errors, messages = _ticks(account.pk, ticks, candle_clock=True, refusals=refusals)
        equity = [
            float(e)
            for e in EquitySnapshot.objects.filter(account=account)
            .order_by("ts", "pk")
            .values_list("equity", flat=True)
        ]
        results[scenario] = _equity_figures(equity, start=float(account.starting_balance)) | {
            "errors": errors,
            "error_messages": messages,
            "orders": account.orders.count(),
            "refusals": dict(refusals.most_common()),
        }
    return {"ticks": ticks, "clock": "candle", "scenarios": results}


def _equity_figures(equity: list[float], *, start: float) -> dict:
    if not equity:
        return {"return_pct": 0.0, "max_drawdown_pct": 0.0, "sharpe": 0.0}
    peak, worst = start, 0.0
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, (peak - value) / peak * 100)
    series = [start, *equity]
    returns = [b / a - 1 for a, b in itertools.pairwise(series) if a]
    mean = sum(returns) / len(returns) if returns else 0.0
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1) if len(returns) > 1 else 0.0
    sharpe = mean / math.sqrt(var) * math.sqrt(len(returns)) if var > 0 else 0.0
    return {
        "return_pct": round((equity[-1] / start - 1) * 100, 4),
        "max_drawdown_pct": round(worst, 4),
        "sharpe": round(sharpe, 4),
    }


def reconcile() -> dict:
    """Through the real ccxt client against the exchange emulator on loopback: an order whose
    answer is lost is resolved by client order id (never placed twice), and an order that never
    reached the book is failed only after repeated not-found passes."""
    from trading.exchanges.emulator import ExchangeEmulator
    from trading.exchanges.live import LiveExchange, RetryPolicy, binance_client
    from trading.models import Fill, Order
    from trading.services.live_orders import order_submit_live
    from trading.services.reconcile import reconcile_account

    account = TradingAccount.objects.create(
        name="reconcile", exchange_id="binance", starting_balance=Decimal("100000"), cash_balance=Decimal("100000")
    )
    api_key, api_secret = token_hex(8), token_hex(16)  # a throwaway key for a loopback emulator
    with ExchangeEmulator() as emulator:
        emulator.state.account_add(api_key=api_key, secret=api_secret, balances={"USDT": Decimal("100000")})
        emulator.state.price_set("BTCUSDT", Decimal("60000"))
        client = binance_client(api_key=api_key, secret=api_secret, base_url=emulator.url, timeout_ms=2000)
        exchange = LiveExchange(client=client, retry=RetryPolicy(attempts=3, base_seconds=0.001, cap_seconds=0.01))

        def submit(key):
            return order_submit_live(
                account=account,
                exchange=exchange,
                symbol="BTC/USDT",
                side="buy",
                amount=Decimal("0.01"),
                idempotency_key=key,
                actor=PROBE,
            )

        emulator.state.inject("drop_response", path="order", method="POST")
        emulator.state.inject("not_found", path="order", method="GET")
        lost = submit("probe-lost")
        retried = submit("probe-lost")  # the engine retries the same intent
        emulator.state.inject("status", path="order", method="POST", status=503)
        never = submit("probe-never")
        passes = [reconcile_account(account_id=account.pk, exchange=exchange) for _ in range(3)]
        lost.refresh_from_db()
        never.refresh_from_db()
        return {
            "lost_answer_status_before": "submitted",
            "lost_answer_status_after": lost.status,
            "retry_same_order": retried.pk == lost.pk,
            "exchange_orders_for_lost": len(emulator.state.orders_with_client_id("probe-lost")),
            "order_posts": emulator.state.requests.count(("POST", "order")),
            "fills_for_lost": Fill.objects.filter(order=lost).count(),
            "never_reached_status": never.status,
            "never_reached_failed_on_pass": next((i + 1 for i, p in enumerate(passes) if p.failed), None),
            "local_orders": Order.objects.filter(account=account).count(),
        }


def table_digests(*, max_pks: dict[str, int | None] | None = None) -> dict[str, dict]:
    """Row count and SHA-256 of every table, rows in primary-key order; limited to the primary
    keys up to `max_pks[table]` when given (to compare a live source with its backup)."""
    from django.apps import apps
    from django.db import models

    out = {}
    for model in apps.get_models():
        if not model._meta.managed or model._meta.proxy:
            continue
        table = model._meta.db_table
        qs = model._default_manager.order_by("pk")
        integer_pk = isinstance(model._meta.pk, models.AutoField | models.BigAutoField | models.IntegerField)
        if max_pks is not None and integer_pk:
            qs = qs.filter(pk__lte=max_pks.get(table) or 0)
        digest, count, last = hashlib.sha256(), 0, None
        for row in qs.values_list("pk", *[f.attname for f in model._meta.concrete_fields]).iterator(chunk_size=2000):
            digest.update(repr(row[1:]).encode())
            count, last = count + 1, row[0]
        out[table] = {"rows": count, "sha256": digest.hexdigest(), "max_pk": last if integer_pk else None}
    return out


def digest() -> dict:
    """The restored copy's tables and its newest audit event (run against the copy)."""
    from compliance.models import AuditEvent

    newest = AuditEvent.objects.order_by("-sequence").values_list("ts", flat=True).first()
    return {"tables": table_digests(), "newest_event": newest.isoformat() if newest else None}


PROBES = {
    "soak": soak,
    "performance": performance,
    "load": load,
    "paper_trading": paper_trading,
    "digest": digest,
    "reconcile": reconcile,
}
