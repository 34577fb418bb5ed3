"""REST API latency (SPEC §9): GET /api/v1/status and the 50-row orders list, 16 concurrent
clients, next to plain Django views doing the same queries (bench/api_site.py) and the bare
/api/v1/ping, all measured in the same run; then the kill switch POST (halt, then release).

The server runs as deployed (Dockerfile CMD, docker-compose.yml): uvicorn with WEB_CONCURRENCY
worker processes, production settings (bench/api_settings.py), PostgreSQL through psycopg's
pool, Redis for the cache and channel layer when REDIS_URL is set (else local memory), a
Prometheus multiprocess directory, JSON logs at INFO (to a file; the line count is printed).
Each client is a bot with its own token, as bots are, and sends X-Forwarded-Proto: https as the
TLS proxy in front does. The clients are aiohttp in this process (one event loop).

Targets: p99 <= 50 ms, and p99 <= 2x the plain view; kill switch POST p99 <= 50 ms.
DATABASE_URL must name PostgreSQL (a scratch database is created and dropped):

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/<n> .venv/bin/python bench/api.py \
        [--requests 2000] [--clients 16] [--workers 2] [--kill-switch 100]
"""

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.audit import scratch_database  # noqa: E402

# uvicorn worker processes of the web service on a 2-core host (WEB_CONCURRENCY, docker-compose.yml).
DEFAULT_WORKERS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SEED = """
import django; django.setup()
import sys
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from genesis_site.services import bot_token_create
from risk.policy import default_policy_yaml
from risk.services import config_version_activate, config_version_create
from compliance.services import Actor
from trading.models import Order, TradingAccount
from trading.services.engine import engine_tick
clients = int(sys.argv[1])
account = TradingAccount.objects.create(name="bench", starting_balance=Decimal(100000), cash_balance=Decimal(100000),
    symbols=["BTC/USDT", "ETH/USDT"], feed_cursor=60)
tokens = []
for i, role in [(i, "viewer") for i in range(clients)] + [(clients, "risk_manager")]:
    user = get_user_model().objects.create(username=f"bench-{i}")
    user.groups.add(Group.objects.get(name=role))
    account.members.add(user)
    tokens.append(bot_token_create(name=f"bench-{i}", user=user, days=1))
bench = Actor.system("bench")
v = config_version_create(account=account, content=default_policy_yaml(), author=None, reason="bench", actor=bench)
config_version_activate(version=v, actor=bench, reason="bench")
for _ in range(30):
    engine_tick(account_id=account.pk)
Order.objects.bulk_create([Order(account=account, symbol="BTC/USDT", side="buy", amount=Decimal("0.01"),
    status="filled", filled_amount=Decimal("0.01"), average_price=Decimal("60000"), fee=Decimal("0.6"),
    idempotency_key=f"bench-{i}") for i in range(500)])
# Planner statistics, as autovacuum keeps them in a deployment: without them PostgreSQL takes the
# fresh tables for empty (the 500 orders as 1 row) and plans the API's account-visibility join as
# a nested loop per order; and autovacuum would analyze them at some moment in the middle of a run.
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print(account.pk, account.members.order_by("pk").first().pk, *tokens)
"""


def deployment(name: str) -> tuple[Path, callable, dict]:
    """A scratch PostgreSQL database and var directory with the environment of the deployed
    web service (bench/api_settings.py, production): (var, drop the database, env)."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit(f"bench/{name}.py measures the deployed configuration: set DATABASE_URL to PostgreSQL")
    url, drop = scratch_database()
    var = Path(tempfile.mkdtemp(prefix=f"genesis-bench-{name}-"))
    (var / "static").mkdir()
    (var / "metrics").mkdir()
    env = {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.api_settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "GENESIS_AUDIT_HEAD_KEY": secrets.token_urlsafe(32),
        "GENESIS_BENCH_PREFIX": f"benchapi{secrets.token_hex(4)}",
        "GENESIS_VAR_DIR": str(var),
        "PROMETHEUS_MULTIPROC_DIR": str(var / "metrics"),
        "PYTHONPATH": str(ROOT),
    }
    return var, drop, env


def seed(env: dict, clients: int) -> tuple[int, int, list[str], str]:
    """The bench account with 30 ticks and 500 orders, a viewer bot per client and a
    risk-manager bot for the kill switch; returns the account id, a viewer's user id (for
    the plain views), the viewer tokens and the risk manager's token."""
    out = subprocess.run(
        [sys.executable, "-c", SEED, str(clients)], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    account, viewer, *tokens = out.stdout.split()[-(clients + 3) :]
    return int(account), int(viewer), tokens[:-1], tokens[-1]


# The Dockerfile's CMD; uvicorn reads WEB_CONCURRENCY for its number of worker processes.
UVICORN = [sys.executable, "-m", "uvicorn", "genesis_site.asgi:application", "--lifespan", "on"]
PROXY = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds (SPEC S1)


async def measure(base: str, path: str, tokens: list[str | None], requests: int):
    """`len(tokens)` clients, each with its own connection and token, `requests` in all."""
    import aiohttp

    latencies: list[float] = []
    errors: list[int] = []
    per_client = requests // len(tokens)

    def headers(token):
        return {**PROXY, **({"Authorization": f"Bearer {token}"} if token else {})}

    async def client_loop(session, token):
        for _ in range(per_client):
            started = time.perf_counter()
            async with session.get(path, headers=headers(token)) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                errors.append(response.status)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=connector) as session:
        for token in tokens:  # warm: a connection per client, the server's caches and pool
            for _ in range(2):
                async with session.get(path, headers=headers(token)) as response:
                    await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(session, token) for token in tokens))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


async def kill_switch(base: str, account: int, token: str, pairs: int, background: list | None):
    """An operator's bot halts the account, then releases it, `pairs` times in a row; with
    `background` = (path, tokens), those clients read it meanwhile. Returns the POST
    latencies of halt and of release."""
    import aiohttp

    halts: list[float] = []
    releases: list[float] = []
    errors: list[int] = []
    headers = {**PROXY, "Authorization": f"Bearer {token}"}
    done = asyncio.Event()

    async def post(session, what: str, into: list[float]):
        started = time.perf_counter()
        async with session.post(
            f"/api/v1/stops/{what}", json={"account": account, "reason": "bench"}, headers=headers
        ) as response:
            await response.read()
        into.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(response.status)

    async def reader(session, path, token):
        while not done.is_set():
            async with session.get(path, headers={**PROXY, "Authorization": f"Bearer {token}"}) as response:
                await response.read()

    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=0)) as session:
        readers = []
        if background:
            path, tokens = background
            readers = [asyncio.create_task(reader(session, path, t)) for t in tokens]
            await asyncio.sleep(0.5)
        for _ in range(pairs):
            await post(session, "halt", halts)
            await post(session, "release", releases)
        done.set()
        await asyncio.gather(*readers)
    return halts, releases, errors


def wait_until_up(base: str, seconds: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/ping", headers=PROXY, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {base} did not come up within {seconds} s")


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def row(name: str, lat: list[float], elapsed: float | None, ratio: str = "", errors=()) -> str:
    rate = f"{len(lat) / elapsed:8.0f}" if elapsed else f"{'':8}"
    return f"{name:36} {pct(lat, 50):8.2f} {pct(lat, 95):8.2f} {pct(lat, 99):8.2f} {rate}  {ratio}" + (
        f"  ({len(errors)} failed: {sorted(set(errors))})" if errors else ""
    )


def server_cpu(server: subprocess.Popen) -> float:
    """CPU seconds used so far by the server's processes (uvicorn's supervisor and workers):
    divided by the requests of a run, the server's CPU per request, which unlike latency does
    not depend on what else the machine runs."""
    import psutil

    total = 0.0
    root = psutil.Process(server.pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint (default 2000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help=f"uvicorn worker processes (default {DEFAULT_WORKERS})"
    )
    parser.add_argument("--kill-switch", type=int, default=100, help="halt+release pairs (default 100; 0 skips)")
    args = parser.parse_args()
    var, drop, deployed = deployment("api")
    env = {**os.environ, **deployed, "WEB_CONCURRENCY": str(args.workers)}
    server = None
    log_path = var / "server.log"
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        account, viewer, tokens, operator = seed(env, args.clients)
        port = free_port()
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [*UVICORN, "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        anonymous = [None] * args.clients
        runs = [
            ("ping (bare baseline)", "/api/v1/ping", anonymous, None),
            ("plain view: status queries", f"/plain/status?account={account}&user={viewer}", anonymous, None),
            ("GET /api/v1/status", f"/api/v1/status?account={account}", tokens, 1),
            ("plain view: 50 orders values()", f"/plain/orders?account={account}&user={viewer}", anonymous, None),
            ("GET /api/v1/orders?limit=50", f"/api/v1/orders?account={account}&limit=50", tokens, 3),
        ]
        redis = "Redis cache" if os.environ.get("REDIS_URL") else "local-memory cache"
        print(
            f"bench/api.py: {args.clients} clients, {args.requests} requests per endpoint; uvicorn, "
            f"{args.workers} worker(s), production settings, PostgreSQL, {redis}"
        )
        print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        print(f"{'endpoint':36} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}  ratio p99, server CPU")
        results = []
        for name, path, clients, baseline in runs:
            cpu = server_cpu(server)
            lat, elapsed, errors = asyncio.run(measure(base, path, clients, args.requests))
            # The warm-up requests (2 per client) ran too.
            cpu = (server_cpu(server) - cpu) / (len(lat) + 2 * len(clients)) * 1000
            results.append(pct(lat, 99))
            ratio = f"{results[-1] / results[baseline]:.2f}x plain, " if baseline is not None else ""
            print(row(name, lat, elapsed, f"{ratio}{cpu:.2f} ms CPU/req", errors))
        if args.kill_switch:
            status = f"/api/v1/status?account={account}"
            for label, background in [("", None), (f" +{len(tokens)} reading", (status, tokens))]:
                pairs = args.kill_switch
                halts, releases, errors = asyncio.run(kill_switch(base, account, operator, pairs, background))
                print(row(f"POST stops/halt{label}", halts, None, errors=errors))
                print(row(f"POST stops/release{label}", releases, None))
        print("targets: p99 <= 50 ms and <= 2x the plain view doing the same queries; kill switch POST p99 <= 50 ms")
        print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    finally:
        if server:
            server.terminate()
            server.wait(20)
        drop()
        lines = log_path.read_text().splitlines() if log_path.exists() else []
        shutil.rmtree(var, ignore_errors=True)
        print(f"server log: {len(lines)} lines" + (f", last: {lines[-1][:200]}" if lines else ""))


if __name__ == "__main__":
    main()
