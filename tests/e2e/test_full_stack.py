"""The full stack as separate processes on loopback: uvicorn web, Celery worker and beat,
against real PostgreSQL and Redis. Ticks flow broker -> worker -> database -> Redis Pub/Sub
-> web -> WebSocket, and the worker's metrics show at the web's /metrics."""

import asyncio
import json
import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import redis
import websockets

from tests.e2e.procs import Procs, base_env, free_port, login, metric_value, wait_for

pytestmark = [pytest.mark.full_stack, pytest.mark.slow]


@pytest.fixture
def scratch_database():
    """A database of its own, so the stack's commits never touch the test database."""
    url = urlsplit(os.environ["DATABASE_URL"])
    name = f"genesis_e2e_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(url._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch_redis():
    url = urlsplit(os.environ["REDIS_URL"])
    scratch = urlunsplit(url._replace(path="/15"))
    redis.Redis.from_url(scratch).flushdb()
    yield scratch
    redis.Redis.from_url(scratch).flushdb()


async def first_ticks(url: str, cookie: str, origin: str, count: int, timeout: float) -> list[dict]:
    events = []
    async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": origin}) as ws:
        async with asyncio.timeout(timeout):
            while len(events) < count:
                event = json.loads(await ws.recv())
                if event.get("type") == "tick":
                    events.append(event)
    return events


def test_ticks_reach_the_browser_socket_and_worker_metrics_reach_the_web(tmp_path, scratch_database, scratch_redis):
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = base_env(
        tmp_path / "var",
        DATABASE_URL=scratch_database,
        REDIS_URL=scratch_redis,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        GENESIS_TICK_SECONDS="0.5",
        GENESIS_HEARTBEAT_STALE_SECONDS="20",
    )
    procs = Procs(tmp_path)
    try:
        procs.run(["manage.py", "migrate", "--noinput"], env)
        password = procs.run(["manage.py", "seed_demo"], env).rsplit("/", 1)[1].strip()
        procs.start("worker", ["-m", "celery", "-A", "genesis_site", "worker", "--concurrency=1", "-l", "INFO"], env)
        procs.start(
            "beat",
            ["-m", "celery", "-A", "genesis_site", "beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule")],
            env,
        )
        procs.start("web", ["manage.py", "serve", "--no-seed", "--port", str(port)], env)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as client:
            wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, what="web /healthz")
            login(client, "operator", password)
            account_id = client.get("/api/v1/status").json()["account"]["id"]
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            started = time.monotonic()
            events = asyncio.run(
                first_ticks(f"ws://127.0.0.1:{port}/ws/accounts/{account_id}/", cookie, base, count=3, timeout=10)
            )
            assert time.monotonic() - started < 10
            seqs = [e["seq"] for e in events]
            assert seqs == sorted(seqs) and len(set(seqs)) == 3
            assert all(e["account"]["id"] == account_id and e["equity"] for e in events)

            def fills_at_web():
                text = client.get("/metrics").text
                return metric_value(text, "trader_fills_total", f'{{account="{account_id}"}}')

            fills = wait_for(lambda: (fills_at_web() or 0) > 0 and fills_at_web(), timeout=60, what="worker fills")
            # The web process never ticks in the full stack: every fill it reports was counted
            # by the worker and reached /metrics through the shared multiprocess directory.
            with psycopg.connect(scratch_database) as conn:
                db_fills = conn.execute("SELECT count(*) FROM trading_fill").fetchone()[0]
            assert 0 < fills <= db_fills
            ready = wait_for(lambda: client.get("/readyz").json()["ready"], timeout=30, what="/readyz")
            assert ready is True
    except (AssertionError, TimeoutError):
        print(procs.logs())
        raise
    finally:
        procs.stop()
