"""Engine benchmarks (SPEC §9), each next to a baseline measured in the same run:

  decision path   guards + the three built-in strategies + the pre-trade risk gate, per
                  symbol, in memory (target p99 <= 1 ms); baseline: the bare feed read and
                  strategy decisions without guards or gate.
  engine tick     engine_tick() with persistence and audit, one account, one symbol, three
                  strategies (target p99 <= 3x the baseline and <= 50 ms); baseline on
                  PostgreSQL: each tick's own INSERT and UPDATE statements, as it sent them,
                  replayed per tick in a raw psycopg transaction on a copy of the tables (no
                  ORM, no reads, no Python between them); on SQLite: a raw transaction of as
                  many single-row writes as the average tick, each as wide.
  paper orders    paper orders persisted with their fills, position, cash and three audit
                  events each (target >= 1,000/s sustained): order_execute_paper() one per
                  transaction, then the set-based paper_orders_execute() at 1, 20 and 100
                  orders per transaction (p50/p95/p99 per transaction, orders/s, client CPU
                  per order), the audit chain verified at the end; baseline: raw single-row
                  INSERT+COMMIT.
  replay          backtest() of each built-in over scenario candles (target >= 50,000
                  candles/s per strategy); baseline: the vectorized signals alone.

Runs in a scratch database: SQLite, or a scratch PostgreSQL database when DATABASE_URL points
at PostgreSQL.

    .venv/bin/python bench/engine.py [--ticks 300] [--orders 5000] [--single-orders 500]
        [--batch-sizes 1,20,100] [--profile] [--candles 200000] [--only decision,tick,orders,replay]
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

from audit import percentile, scratch_django  # noqa: E402  (same scratch-database rules as bench/audit.py)

STRATEGIES = {
    "ma_crossover": {"fast": 5, "slow": 20},
    "mean_reversion": {},
    "breakout": {},
}
UNPACED = (
    "max_trades_per_day: 100000\nmax_trades_per_hour: 100000\nmax_new_positions_per_hour: 100000\n"
    "min_seconds_between_trades: 0\nmin_seconds_per_symbol: 0\n"
)


def line(name: str, times: list[float], *, unit: str = "ms", count: int | None = None, what: str = "") -> float:
    p50, p95, p99 = (percentile(times, q) for q in (0.5, 0.95, 0.99))
    rate = f"  throughput {(count or len(times)) / sum(times):12,.0f} {what}/s" if what else ""
    print(f"  {name:34s} p50 {p50 * 1000:8.3f} ms  p95 {p95 * 1000:8.3f} ms  p99 {p99 * 1000:8.3f} ms{rate}")
    return p99


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def bench_decision_path(samples: int) -> None:
    from risk.exceptions import RiskRefused
    from risk.gate import GateContext, OrderIntent, gate_check
    from risk.guards import tick_rejection
    from risk.policy import RiskPolicy
    from trading.feeds import ScenarioFeed
    from trading.markets import market_get
    from trading.strategies import strategy_load

    feed, market = ScenarioFeed("sideways", 1), market_get("BTC/USDT")
    runners = [strategy_load(k, p) for k, p in STRATEGIES.items()]
    policy = RiskPolicy()

    def baseline(i: int) -> None:
        closes = feed.closes("BTC/USDT", end=i, length=200)
        for runner in runners:
            runner.decide(symbol="BTC/USDT", closes=closes, position_qty=Decimal("0"))

    def decision(i: int) -> None:
        candle = feed.candle("BTC/USDT", i)
        recent = [Decimal(f"{x:.8f}") for x in feed.closes("BTC/USDT", end=i - 1, length=20)]
        tick_rejection(
            close=candle.close,
            ts=candle.ts,
            expected_ts=feed.ts_of(i),
            previous_ts=feed.ts_of(i - 1),
            recent_closes=recent,
            max_deviation_pct=policy.bad_tick_deviation_pct,
            stale_seconds=policy.stale_data_seconds,
        )
        closes = feed.closes("BTC/USDT", end=i, length=200)
        ctx = GateContext(policy=policy, stop_level="none", equity=Decimal("100000"))
        for runner in runners:
            runner.decide(symbol="BTC/USDT", closes=closes, position_qty=Decimal("0"))
            # Every strategy's intent goes through the gate, signal or not: the worst case.
            intent = OrderIntent(
                symbol="BTC/USDT",
                side="buy",
                amount=Decimal("0.01"),
                price=candle.close,
                fee_rate=market.taker_fee,
                min_notional=market.min_notional,
            )
            try:
                gate_check(intent, ctx)
            except RiskRefused:  # a refusal is a result here, not an error
                pass

    print("decision path per symbol (3 strategies), in memory")
    results = {}
    for name, fn in (("baseline (feed + decide)", baseline), ("guards + decide + gate", decision)):
        times = []
        for i in range(300, 300 + samples):
            started = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - started)
        results[name] = line(name, times, what="symbols")
    p99 = results["guards + decide + gate"]
    print(
        f"  ratio p99 {p99 / results['baseline (feed + decide)']:.2f}x baseline; "
        f"target p99 <= 1 ms: {verdict(p99 <= 0.001)}"
    )


def raw_writes(connection, writes: int, runs: int, vendor: str, width: int = 0) -> list[float]:
    """A raw DB-API transaction of `writes` single-row INSERTs, timed per commit. `width`: the
    length of SQL text each INSERT should have (the tick's average, so the baseline writes rows
    as wide as the tick's, not a few bytes each); the payload is padded to reach it."""
    raw = connection.connection
    cursor = raw.cursor()
    key = "BIGSERIAL PRIMARY KEY" if vendor == "postgresql" else "INTEGER PRIMARY KEY"
    cursor.execute(f"CREATE TABLE IF NOT EXISTS bench_raw (id {key}, ts TEXT, payload TEXT)")
    raw.commit()
    marker = "%s" if vendor == "postgresql" else "?"
    sql = f"INSERT INTO bench_raw (ts, payload) VALUES ({marker}, {marker})"
    payload = '{"account": 1, "symbol": "BTC/USDT", "amount": "0.01"}'
    payload += " " * max(0, width - len(sql) - len(payload) - 20)
    times = []
    # Django keeps the DB-API connection in autocommit: an explicit BEGIN/COMMIT makes the
    # writes one transaction, as the engine's tick is.
    begin = "BEGIN IMMEDIATE" if vendor == "sqlite" else "BEGIN"
    for run in range(runs):
        started = time.perf_counter()
        cursor.execute(begin)
        for w in range(writes):
            cursor.execute(sql, (f"{run}-{w}", payload))
        cursor.execute("COMMIT")
        times.append(time.perf_counter() - started)
    return times


def make_account(name: str, scenario: str = "sideways"):
    from compliance.services import Actor
    from risk.policy import default_policy_yaml
    from risk.services import config_version_activate, config_version_create
    from trading.models import Strategy, TradingAccount

    account = TradingAccount.objects.create(
        name=name,
        scenario=scenario,
        scenario_seed=1,
        symbols=["BTC/USDT"],
        starting_balance=Decimal("100000"),
        cash_balance=Decimal("100000"),
        feed_cursor=300,
    )
    bench = Actor.system("bench")
    version = config_version_create(
        account=account, content=default_policy_yaml() + UNPACED, author=None, reason="bench", actor=bench
    )
    config_version_activate(version=version, actor=bench, reason="bench")
    for kind, params in STRATEGIES.items():
        Strategy.objects.create(account=account, name=kind, kind=kind, params=params, risk_budget=Decimal("0.02"))
    return account


def replay_schema_create(connection, schema: str = "bench_replay") -> str:
    """A copy of every table of the scratch PostgreSQL database, rows, indexes, unique and
    check constraints included, in schema `schema`, each identity sequence set past the
    copied rows (so the replayed INSERTs get the ids the tick's got). Foreign keys and
    triggers are not copied (LIKE never copies them): the replay checks fewer constraints
    than the tick did. Returns the schema."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cursor.fetchall():
            cursor.execute(f'CREATE TABLE {schema}."{table}" (LIKE public."{table}" INCLUDING ALL)')
            cursor.execute(f'INSERT INTO {schema}."{table}" SELECT * FROM public."{table}"')
            cursor.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attidentity <> ''",
                [f'public."{table}"'],
            )
            for (column,) in cursor.fetchall():
                cursor.execute(
                    f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{column}"), 0) + 1, false) '
                    f'FROM {schema}."{table}"',
                    [f'{schema}."{table}"', column],
                )
    return schema


def replay_writes(url: str, schema: str, ticks: list[list[str]]) -> list[float]:
    """Each tick's own writes (the INSERT and UPDATE statements it sent, as sent: values
    inlined by psycopg's client-side binding), replayed in order on a raw psycopg connection
    against the copy in `schema`, one transaction per tick, timed per commit."""
    import psycopg

    times = []
    with psycopg.connect(url, autocommit=True) as raw:
        raw.execute(f"SET search_path TO {schema}, public")
        cursor = raw.cursor()
        for writes in ticks:
            started = time.perf_counter()
            cursor.execute("BEGIN")
            for sql in writes:
                cursor.execute(sql)
            cursor.execute("COMMIT")
            times.append(time.perf_counter() - started)
    return times


def bench_tick(ticks: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import genesis_site.bulk
    from trading.services.engine import engine_tick

    vendor = connection.vendor
    account = make_account("bench-tick")
    for _ in range(20):  # warm caches, the first snapshot, the policy
        engine_tick(account_id=account.pk)
    # Every write an INSERT or UPDATE whose text can be replayed: no COPY for the rare audit
    # batch of 8 or more events (a multi-row INSERT costs the tick more, not less).
    genesis_site.bulk.COPY_FROM = 10**9
    schema = replay_schema_create(connection) if vendor == "postgresql" else None
    times, orders, per_tick = [], 0, []
    with CaptureQueriesContext(connection) as queries:
        for _ in range(ticks):
            first = len(queries.captured_queries)
            started = time.perf_counter()
            result = engine_tick(account_id=account.pk)
            times.append(time.perf_counter() - started)
            orders += len(result.orders)
            per_tick.append([q["sql"] for q in queries.captured_queries[first:]])
    is_write = lambda sql: sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))  # noqa: E731
    written = [[sql for sql in tick if is_write(sql)] for tick in per_tick]
    writes = sum(map(len, written))
    width = round(sum(len(sql) for tick in written for sql in tick) / max(1, writes))
    print(
        f"engine tick on {vendor}: 1 symbol, 3 strategies, {ticks} ticks, {orders} orders, "
        f"{sum(map(len, per_tick)) / ticks:.1f} queries and {writes / ticks:.1f} row writes per tick "
        f"(on average {width} characters of SQL each)"
    )
    if schema:
        base = replay_writes(os.environ["DATABASE_URL"], schema, written)  # the scratch database
        base_p99 = line("baseline: the ticks' own writes replayed raw", base, what="txns")
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    else:  # SQLite: as many single-row writes as the average tick, each as wide
        per = max(1, round(writes / ticks))
        base = raw_writes(connection, per, ticks, vendor, width=width)
        base_p99 = line(f"baseline raw txn, {per} writes", base, what="txns")
    single = raw_writes(connection, 1, ticks, vendor)
    line("raw INSERT+COMMIT (1 row)", single, what="commits")
    p99 = line("engine_tick", times, what="ticks")
    print(
        f"  ratio p99 {p99 / base_p99:.2f}x the raw transaction (target <= 3x: {verdict(p99 <= 3 * base_p99)}); "
        f"target p99 <= 50 ms: {verdict(p99 <= 0.050)}"
    )


def _paper_intents(first: int, n: int, tag: str):
    """`n` paper market orders of 0.01 BTC at 60,000, buys and sells alternating."""
    from trading.markets import market_get
    from trading.services.orders import PaperIntent

    market = market_get("BTC/USDT")
    return [
        PaperIntent(
            market=market,
            side="buy" if k % 2 == 0 else "sell",
            amount=Decimal("0.01"),
            last_price=Decimal("60000"),
            idempotency_key=f"{tag}-{k}",
            correlation_id=f"{tag}-{k}",
        )
        for k in range(first, first + n)
    ]


def _orders_line(name: str, times: list[float], cpu: float, orders: int) -> float:
    """One line: p50/p95/p99 per transaction, sustained orders/s and client CPU per order."""
    rate = orders / sum(times)
    p50, p95, p99 = (percentile(times, q) for q in (0.5, 0.95, 0.99))
    print(
        f"  {name:34s} p50 {p50 * 1000:8.3f} ms  p95 {p95 * 1000:8.3f} ms  p99 {p99 * 1000:8.3f} ms per txn  "
        f"{rate:8,.0f} orders/s  cpu {cpu * 1000 / orders:6.3f} ms/order  >= 1,000/s: {verdict(rate >= 1000)}"
    )
    return rate


def bench_orders(count: int, single: int, sizes: list[int], profile: bool = False) -> None:
    """Paper orders persisted with fill, position, cash and audit events (SPEC §9: >= 1,000/s
    sustained), next to the raw INSERT+COMMIT of the same run: one order per transaction,
    then the set-based batch service at several orders per transaction."""
    import os

    from django.db import connection, transaction

    from compliance.models import AuditEvent
    from compliance.selectors import audit_chain_verify
    from compliance.services import Actor
    from trading.exchanges.paper import PaperExchange
    from trading.markets import market_get
    from trading.models import Order, Position
    from trading.services.orders import order_execute_paper, paper_orders_execute

    account = make_account("bench-orders")
    market, exchange, actor = market_get("BTC/USDT"), PaperExchange(), Actor.system("bench")
    config_hash = account.config_versions.get(is_active=True).sha256
    position = Position.objects.create(account=account, symbol="BTC/USDT")
    positions = {"BTC/USDT": position}
    load = os.getloadavg()[0]
    print(
        f"paper orders persisted with fill, position, cash and audit on {connection.vendor}; "
        f"{single} orders one per transaction, {count} per batch size; load {load:.2f}"
    )
    base = raw_writes(connection, 1, max(single, 200), connection.vendor)
    print(
        f"  {'baseline raw INSERT+COMMIT (1 row)':34s} p50 {percentile(base, 0.5) * 1000:8.3f} ms  "
        f"p99 {percentile(base, 0.99) * 1000:8.3f} ms  {len(base) / sum(base):8,.0f} commits/s"
    )

    times, cpu = [], time.process_time()
    for it in _paper_intents(0, single, "single"):
        started = time.perf_counter()
        with transaction.atomic():
            order_execute_paper(
                account=account,
                strategy=None,
                position=position,
                market=market,
                side=it.side,
                amount=it.amount,
                last_price=it.last_price,
                exchange=exchange,
                idempotency_key=it.idempotency_key,
                correlation_id=it.correlation_id,
                config_hash=config_hash,
                actor=actor,
            )
        times.append(time.perf_counter() - started)
    _orders_line("order_execute_paper, 1 per txn", times, time.process_time() - cpu, single)

    def batches(size: int, orders: int, tag: str) -> tuple[list[float], float]:
        times, cpu = [], time.process_time()
        for first in range(0, orders, size):
            intents = _paper_intents(first, min(size, orders - first), tag)
            started = time.perf_counter()
            with transaction.atomic():
                paper_orders_execute(
                    account=account,
                    intents=intents,
                    exchange=exchange,
                    config_hash=config_hash,
                    actor=actor,
                    positions=positions,
                )
            times.append(time.perf_counter() - started)
        return times, time.process_time() - cpu

    for size in sizes:
        orders = single if size == 1 else count
        times, spent = batches(size, orders, f"batch{size}")
        _orders_line(f"paper_orders_execute, {size} per txn", times, spent, orders)
    if profile:
        import cProfile
        import pstats

        size = max(sizes)
        profiler = cProfile.Profile()
        profiler.runcall(batches, size, min(count, 20 * size), f"profile{size}")
        print(f"  cProfile of {min(count, 20 * size)} more orders, {size} per transaction")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)

    placed = Order.objects.filter(account=account).count()
    check = audit_chain_verify()
    print(
        f"  {placed} orders and {AuditEvent.objects.count()} audit events recorded; chain verifies: {check.ok}; "
        f"load {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )


def bench_replay(candles: int) -> None:
    from trading.backtest import backtest
    from trading.feeds import ScenarioFeed
    from trading.strategies import strategy_load

    print(f"replay (backtest on the paper exchange), {candles:,} one-minute candles per strategy")
    # Once, untimed: the first backtest of a process loads the markets (ccxt parses the stored
    # exchange info) and imports the fill path, which is no candle's cost.
    backtest(feed=ScenarioFeed("bull", 1), symbol="BTC/USDT", kind="ma_crossover", params={}, start=300, candles=2000)
    for scenario in ("bull", "sideways"):
        feed = ScenarioFeed(scenario, 1)
        feed.closes("BTC/USDT", end=candles + 300, length=candles + 300)  # build the path once
        for kind, params in STRATEGIES.items():
            runner = strategy_load(kind, params)
            started = time.perf_counter()
            runner.signals(feed.closes("BTC/USDT", end=candles + 299, length=candles + 200))
            base = time.perf_counter() - started
            started = time.perf_counter()
            result = backtest(feed=feed, symbol="BTC/USDT", kind=kind, params=params, start=300, candles=candles)
            spent = time.perf_counter() - started
            rate = candles / spent
            print(
                f"  {scenario:9s} {kind:15s} {rate:12,.0f} candles/s  ({result.trades:5d} trades; signals alone "
                f"{candles / base:12,.0f}/s, ratio {spent / base:5.1f}x)  target >= 50,000: {verdict(rate >= 50_000)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--orders", type=int, default=5000, help="paper orders per batch size (sustained)")
    parser.add_argument("--single-orders", type=int, default=500, help="paper orders one per transaction")
    parser.add_argument("--batch-sizes", default="1,20,100", help="orders per transaction, comma separated")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest batch size")
    parser.add_argument(
        "--only", default="decision,tick,orders,replay", help="comma-separated parts: decision,tick,orders,replay"
    )
    parser.add_argument("--candles", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()

    parts = set(args.only.split(","))
    with scratch_django(quiet=True):
        if "decision" in parts:
            bench_decision_path(args.decisions)
        if "tick" in parts:
            bench_tick(args.ticks)
        if "orders" in parts:
            sizes = [int(n) for n in args.batch_sizes.split(",")]
            bench_orders(args.orders, args.single_orders, sizes, profile=args.profile)
        if "replay" in parts:
            bench_replay(args.candles)


if __name__ == "__main__":
    main()
