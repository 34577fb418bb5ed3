"""REST API latency (SPEC §9): GET /api/v1/status and the 50-row orders list, 16 concurrent
clients, through uvicorn on loopback, next to plain Django views doing the same queries
(bench/api_site.py) and the bare /api/v1/ping, all measured in the same run.

Targets: p99 <= 50 ms, and p99 <= 2x the plain view. Uses PostgreSQL (a scratch database)
when DATABASE_URL is set, else a scratch SQLite file.

    .venv/bin/python bench/api.py [--requests 2000] [--clients 16]
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.audit import scratch_database  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(env: dict) -> tuple[str, int]:
    code = """
import django; django.setup()
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from genesis_site.services import bot_token_create
from risk.policy import default_policy_yaml
from risk.services import config_version_activate, config_version_create
from compliance.services import Actor
from trading.models import Order, TradingAccount
from trading.services.engine import engine_tick
user = get_user_model().objects.create(username="bench")
user.groups.add(Group.objects.get(name="viewer"))
account = TradingAccount.objects.create(name="bench", starting_balance=Decimal(100000), cash_balance=Decimal(100000),
    symbols=["BTC/USDT", "ETH/USDT"], feed_cursor=60)
account.members.add(user)
bench = Actor.system("bench")
v = config_version_create(account=account, content=default_policy_yaml(), author=None, reason="bench", actor=bench)
config_version_activate(version=v, actor=Actor.system("bench"), reason="bench")
for _ in range(30):
    engine_tick(account_id=account.pk)
Order.objects.bulk_create([Order(account=account, symbol="BTC/USDT", side="buy", amount=Decimal("0.01"),
    status="filled", filled_amount=Decimal("0.01"), average_price=Decimal("60000"), fee=Decimal("0.6"),
    idempotency_key=f"bench-{i}") for i in range(500)])
print(bot_token_create(name="bench", user=user, days=1), account.pk)
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    raw, account = out.stdout.split()[-2:]
    return raw, int(account)


async def measure(base: str, path: str, headers: dict, requests: int, clients: int):
    import httpx

    latencies: list[float] = []
    errors: list[int] = []
    per_client = requests // clients

    async def client_loop():
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
            for _ in range(per_client):
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(response.status_code)

    async with httpx.AsyncClient(base_url=base, headers=headers) as warm:
        for _ in range(20):
            await warm.get(path)
    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return latencies, time.perf_counter() - started, errors


def wait_until_up(base: str, seconds: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {base} did not come up within {seconds} s")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    url, drop = scratch_database()
    env = {
        **os.environ,
        "DATABASE_URL": url if url.startswith("postgres") else "",
        "DJANGO_SETTINGS_MODULE": "bench.api_settings",
        "GENESIS_VAR_DIR": str(Path(url.removeprefix("sqlite:///")).parent) if url.startswith("sqlite") else "/tmp",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        raw, account = seed(env)
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "genesis_site.asgi:application",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--log-level",
                "warning",
                "--lifespan",
                "off",
            ],
            env=env,
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        auth = {"Authorization": f"Bearer {raw}"}
        runs = [
            ("ping (bare baseline)", "/api/v1/ping", {}, None),
            ("plain view: status queries", f"/plain/status?account={account}", {}, None),
            ("GET /api/v1/status", f"/api/v1/status?account={account}", auth, 1),
            ("plain view: 50 orders values()", f"/plain/orders?account={account}", {}, None),
            ("GET /api/v1/orders?limit=50", f"/api/v1/orders?account={account}&limit=50", auth, 3),
        ]
        db = "PostgreSQL" if url.startswith("postgres") else "SQLite"
        print(f"bench/api.py: {args.clients} clients, {args.requests} requests per endpoint, uvicorn on loopback, {db}")
        print(f"{'endpoint':34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}  ratio p99")
        results = []
        for name, path, headers, baseline in runs:
            lat, elapsed, errors = asyncio.run(measure(base, path, headers, args.requests, args.clients))
            p99 = pct(lat, 99)
            results.append(p99)
            ratio = f"{p99 / results[baseline]:.2f}x plain" if baseline is not None else ""
            print(
                f"{name:34} {pct(lat, 50):8.2f} {pct(lat, 95):8.2f} {p99:8.2f} {len(lat) / elapsed:8.0f}  {ratio}"
                + (f"  ({len(errors)} non-200: {sorted(set(errors))})" if errors else "")
            )
        print("targets: p99 <= 50 ms and <= 2x the plain view doing the same queries")
    finally:
        if server:
            server.terminate()
            server.wait(10)
        drop()


if __name__ == "__main__":
    main()
