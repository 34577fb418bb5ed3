"""The kill switch on a LIVE account (SPEC R6, §9 "kill switch POST p99 <= 50 ms; no order
after <= 100 ms", §10 "cancels go out within 2 s"), against the exchange emulator on loopback
with ccxt's real binance client.

  halt            trading_halt() on an account with N orders resting on the exchange, as the
                  API, dashboard and ChatOps call it: the stop level and audit commit, the call
                  returns, and the cancels go out on the embedded mode's urgent worker thread
                  (the task a Celery worker runs in the full stack). Timed: until the call
                  returns, and until the emulator holds the last order cancelled.
  halt, wait      trading_halt(wait=True) (what `trading_stop halt` does, and every halt did
                  before the cancels were queued): returns when the last cancel is answered
                  and booked.
  baseline        the same N cancels sent straight through the adapter, no database.

Runs in a scratch database, embedded mode (REDIS_URL is ignored: no worker would take the
task): SQLite, or a scratch PostgreSQL database when DATABASE_URL points at PostgreSQL.

    .venv/bin/python bench/live_halt.py [--runs 30] [--orders 5]
"""

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from audit import percentile, scratch_django  # noqa: E402

API_KEY, SECRET = "bench-key", "bench-secret"


def line(name: str, times: list[float]) -> float:
    p50, p95, p99 = (percentile(times, q) for q in (0.5, 0.95, 0.99))
    print(f"  {name:38s} p50 {p50 * 1000:8.2f} ms  p95 {p95 * 1000:8.2f} ms  p99 {p99 * 1000:8.2f} ms")
    return p99


def rest(adapter, n: int, prefix: str, account=None) -> list[str]:
    """N limit buys below the market, resting on the exchange (recorded locally if `account`)."""
    from compliance.services import Actor
    from trading.services.live_orders import order_submit_live

    keys = [f"{prefix}-{i}" for i in range(n)]
    for key in keys:
        if account is None:
            adapter.create_order(
                symbol="BTC/USDT",
                side="buy",
                amount=Decimal("0.002"),
                client_order_id=key,
                order_type="limit",
                price=Decimal("59000"),
            )
        else:
            order = order_submit_live(
                account=account,
                exchange=adapter,
                symbol="BTC/USDT",
                side="buy",
                amount=Decimal("0.002"),
                idempotency_key=key,
                actor=Actor.system("bench"),
                order_type="limit",
                price=Decimal("59000"),
            )
            assert order.status == "submitted", order.status
    return keys


def all_cancelled(emulator, keys: list[str]) -> bool:
    return all(emulator.state.orders_with_client_id(k)[0]["status"] == "CANCELED" for k in keys)


def bench(runs: int, n: int) -> None:
    from django.conf import settings

    from compliance.services import Actor
    from genesis_site.scheduler import urgent
    from risk.services import trading_halt, trading_release
    from trading.exchanges.emulator import ExchangeEmulator
    from trading.exchanges.live import LiveExchange, binance_client
    from trading.models import Order, TradingAccount, TradingMode
    from trading.services.credentials import credential_store
    from trading.services.engine import live_exchange_session

    ops = Actor("user", "bench")
    with ExchangeEmulator() as emulator:
        emulator.state.account_add(api_key=API_KEY, secret=SECRET, balances={"USDT": Decimal("10000000")})
        emulator.state.price_set("BTCUSDT", Decimal("60000"))
        settings.GENESIS_EXCHANGE_URL = emulator.url
        client = binance_client(api_key=API_KEY, secret=SECRET, base_url=emulator.url, timeout_ms=2000)
        account = TradingAccount.objects.create(
            name="bench-live",
            mode=TradingMode.LIVE,
            exchange_id="binance",
            symbols=["BTC/USDT"],
            starting_balance=Decimal("100000"),
            cash_balance=Decimal("100000"),
        )
        credential_store(account=account, api_key=API_KEY, secret=SECRET, actor=ops)
        adapter = LiveExchange(client=client, account_id=account.pk)
        adapter.market("BTC/USDT")  # markets loaded once, as a long-lived session has them
        live_exchange_session(account_id=account.pk).market("BTC/USDT")  # the worker's session, warm

        baseline, waited, answered, confirmed = [], [], [], []
        for run in range(runs):
            keys = rest(adapter, n, f"base{run}")
            started = time.perf_counter()
            for key in keys:
                adapter.cancel_order(symbol="BTC/USDT", client_order_id=key)
            baseline.append(time.perf_counter() - started)

            keys = rest(adapter, n, f"wait{run}", account)
            started = time.perf_counter()
            result = trading_halt(account_id=account.pk, actor=ops, reason="bench", wait=True, exchange=adapter)
            waited.append(time.perf_counter() - started)
            assert result.cancelled_orders == n, result
            assert all_cancelled(emulator, keys)
            trading_release(account_id=account.pk, actor=ops, reason="bench")

            keys = rest(adapter, n, f"halt{run}", account)
            started = time.perf_counter()
            result = trading_halt(account_id=account.pk, actor=ops, reason="bench")
            answered.append(time.perf_counter() - started)
            while not all_cancelled(emulator, keys):
                time.sleep(0.0005)
            confirmed.append(time.perf_counter() - started)
            assert result.cancel_on_exchange == n, result
            assert urgent.wait_idle(timeout=10)
            assert not Order.objects.filter(account=account, status="submitted").exists()
            trading_release(account_id=account.pk, actor=ops, reason="bench")

    print(f"LIVE halt with {n} resting orders, {runs} runs (emulator on loopback, real ccxt client):")
    base_p99 = line(f"baseline: {n} adapter cancels", baseline)
    line(f"halt, wait: commit + {n} cancels booked", waited)
    answer_p99 = line("halt: returns (stop in force)", answered)
    last_p99 = line(f"halt: last of {n} cancels on the exchange", confirmed)
    print(
        f"  halt returns p99 <= 50 ms: {answer_p99 <= 0.05};  last cancel p99 <= 2 s: {last_p99 <= 2.0};  "
        f"last cancel / baseline p99 {last_p99 / base_p99:6.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--orders", type=int, default=5)
    args = parser.parse_args()
    os.environ.pop("REDIS_URL", None)  # embedded mode: the cancels run on this process's urgent worker

    with scratch_django(quiet=True):
        bench(args.runs, args.orders)


if __name__ == "__main__":
    main()
