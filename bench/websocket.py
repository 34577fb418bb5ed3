"""WebSocket push, event to the last of 200 dashboards (SPEC §9: p99 <= 100 ms and <= 3x a bare
Pub/Sub group send to 200, 0 dropped).

Full stack: a scratch PostgreSQL database, Redis (channels-redis Pub/Sub layer), and a real
`manage.py serve` (uvicorn) process. 200 WebSocket clients log in as a member of one account
and subscribe to its stream through the real consumer (session auth, origin check). Times, in
the same run:
  baseline  - a bare channel-layer group_send to 200 receivers of a second layer instance
              (the reference: Redis PUBLISH -> layer fan-out -> 200 queues)
  push      - trading.live.account_event_publish from this process (stream number taken in
              PostgreSQL, then group_send) until the last of the 200 browsers' sockets has it
Prints p50/p95/p99, deliveries per second, dropped messages, and the p99 ratio to the baseline.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python bench/websocket.py [--clients 200] [--events 300]
"""

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.procs import Procs, free_port, login, wait_for  # noqa: E402

# About the size of a real tick event (account state, five positions, prices, a few orders).
PAYLOAD = {
    "positions": [
        {"symbol": f"S{n}/USDT", "quantity": "0.04853", "average_cost": "61812.21", "mark_price": "63296.68"}
        for n in range(5)
    ],
    "prices": {f"S{n}/USDT": "63296.68" for n in range(5)},
    "orders": [
        {"id": n, "symbol": "BTC/USDT", "side": "buy", "amount": "0.04853", "status": "filled"} for n in range(5)
    ],
    "pnl": {"today": "53.94", "today_pct": "0.05", "week": "53.94", "week_pct": "0.05", "total": "53.94"},
}
WARMUP = 10  # events sent first and not counted: connections and subscriptions settle
PASSWORD = secrets.token_urlsafe(16)  # a scratch user in a scratch database, new each run


def scratch_database(url: str) -> tuple[str, callable]:
    import psycopg

    parts = urlsplit(url)
    name = f"genesis_dashboard_bench_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, latencies: list[float], deliveries: int, elapsed: float) -> float:
    p99 = percentile(latencies, 0.99)
    print(
        f"{name:34s} p50 {percentile(latencies, 0.5) * 1000:7.2f} ms  p95 {percentile(latencies, 0.95) * 1000:7.2f} ms"
        f"  p99 {p99 * 1000:7.2f} ms  {deliveries / elapsed:10,.0f} deliveries/s"
    )
    return p99


async def bare_group_send(clients: int, events: int) -> tuple[list[float], int, float]:
    """Baseline: one layer sends to a group of `clients` channels held by another layer."""
    from channels.layers import get_channel_layer

    sender, receiver = get_channel_layer(), get_channel_layer().__class__(**_layer_config())
    group = f"bench-bare-{uuid.uuid4().hex[:6]}"
    channels = [await receiver.new_channel() for _ in range(clients)]
    for channel in channels:
        await receiver.group_add(group, channel)
    await asyncio.sleep(0.5)  # let the subscription settle
    latencies, dropped, started = [], 0, time.perf_counter()
    for i in range(-WARMUP, events):
        if i == 0:
            latencies, dropped, started = [], 0, time.perf_counter()
        t0 = time.perf_counter()
        await sender.group_send(group, {"type": "bench", "i": i, **PAYLOAD})
        try:
            await asyncio.wait_for(asyncio.gather(*(receiver.receive(c) for c in channels)), timeout=2)
            latencies.append(time.perf_counter() - t0)
        except TimeoutError:
            dropped += 1
    elapsed = time.perf_counter() - started
    for channel in channels:
        await receiver.group_discard(group, channel)
    await receiver.flush()
    return latencies, dropped, elapsed


def _layer_config() -> dict:
    from django.conf import settings

    return settings.CHANNEL_LAYERS["default"]["CONFIG"]


async def full_push(url: str, cookie: str, account_id: int, clients: int, events: int):
    """Push through the whole stack and time until the last of `clients` sockets has it."""
    from websockets.asyncio.client import connect

    from trading.live import account_event_publish

    ws_url = url.replace("http://", "ws://") + f"/ws/accounts/{account_id}/"
    sockets = [
        await connect(ws_url, origin=url, additional_headers={"Cookie": cookie}, max_queue=None) for _ in range(clients)
    ]
    arrivals: dict[int, list[float]] = {}
    done: dict[int, asyncio.Event] = {}

    async def reader(ws):
        async for raw in ws:
            seq = json.loads(raw)["seq"]
            arrivals.setdefault(seq, []).append(time.perf_counter())
            if len(arrivals[seq]) == clients and seq in done:
                done[seq].set()

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    await asyncio.sleep(0.5)
    loop = asyncio.get_running_loop()
    latencies, firsts, dropped, started = [], [], 0, time.perf_counter()
    for i in range(-WARMUP, events):
        if i == 0:
            latencies, firsts, dropped, started = [], [], 0, time.perf_counter()
        t0 = time.perf_counter()
        # Runs in a worker thread as the engine does after commit; its future is not awaited
        # first so that a fast fan-out cannot finish before `done` exists.
        future = loop.run_in_executor(
            None, lambda i=i: account_event_publish(account_id=account_id, event={"type": "bench", "i": i, **PAYLOAD})
        )
        seq = await future
        done.setdefault(seq, asyncio.Event())
        if len(arrivals.get(seq, [])) == clients:
            done[seq].set()
        try:
            await asyncio.wait_for(done[seq].wait(), timeout=2)
            latencies.append(max(arrivals[seq]) - t0)
            firsts.append(min(arrivals[seq]) - t0)
        except TimeoutError:
            dropped += clients - len(arrivals.get(seq, []))
    elapsed = time.perf_counter() - started
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    return latencies, firsts, dropped, elapsed


def setup_django(database_url: str, redis_url: str, prefix: str) -> None:
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="bench.websocket_settings",
        GENESIS_BENCH_CHANNEL_PREFIX=prefix,
        GENESIS_VAR_DIR=tempfile.mkdtemp(prefix="genesis-bench-var-"),
    )
    import django

    django.setup()


def seed() -> int:
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from trading.models import TradingAccount

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username="bench", password=PASSWORD)
    account = TradingAccount.objects.create(
        name="bench", starting_balance=Decimal("100000"), cash_balance=Decimal("100000"), symbols=["BTC/USDT"]
    )
    account.members.add(user)
    return account.pk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    database, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit("bench/websocket.py measures the full stack: set DATABASE_URL (PostgreSQL) and REDIS_URL")

    url, drop = scratch_database(database)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    setup_django(url, redis_url, prefix)
    log_dir = Path(tempfile.mkdtemp(prefix="genesis-bench-logs-"))
    procs = Procs(log_dir)
    try:
        account_id = seed()
        port = free_port()
        procs.start("web", ["manage.py", "serve", "--no-seed", "--port", str(port)], dict(os.environ))
        base = f"http://127.0.0.1:{port}"
        import httpx

        with httpx.Client(base_url=base, timeout=10) as client:
            wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, what="/healthz")
            login(client, "bench", PASSWORD)
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{args.clients} clients, {args.events} events each way; uvicorn + Pub/Sub layer on {redis_url}")
        print(f"load average {load} on {os.cpu_count()} cores (shared machine: figures move with it)")

        base_lat, base_drop, base_time = asyncio.run(bare_group_send(args.clients, args.events))
        push_lat, push_first, push_drop, push_time = asyncio.run(
            full_push(base, cookie, account_id, args.clients, args.events)
        )
        bare_p99 = report("baseline: bare Pub/Sub group send", base_lat, len(base_lat) * args.clients, base_time)
        report("  (event to first dashboard)", push_first, len(push_lat) * args.clients, push_time)
        push_p99 = report("push: event to last dashboard", push_lat, len(push_lat) * args.clients, push_time)
        ratio = push_p99 / bare_p99
        met = push_p99 <= 0.100 and ratio <= 3 and push_drop == 0
        print(
            f"ratio push / baseline (p99): {ratio:.2f}x; dropped: push {push_drop}, baseline {base_drop} events; "
            f"targets p99 <= 100 ms, <= 3x, 0 dropped: {'met' if met else 'NOT met'}"
        )
    except AssertionError:
        print(procs.logs())
        raise
    finally:
        procs.stop()
        from django.db import connections

        connections.close_all()
        drop()


if __name__ == "__main__":
    main()
