"""CPU per request of the endpoints bench/api.py times, measured in one process without the
network: the robust figure on a shared machine, where bench/api.py's latencies depend on what
else runs. Same settings (bench/api_settings.py, production), same seed and same PostgreSQL
and Redis as bench/api.py; each request goes through the server's own sync path
(genesis_site.asgi_http.SyncRequestHandler._respond: request_started, every middleware, the
view, request_finished), one after another on this thread.

Per endpoint it prints the CPU of this process per request, the CPU of the PostgreSQL backends
of the scratch database per request (read from /proc, so the server must be local), and the
SQL statements per request. `--profile NAME` adds a pyinstrument profile of that endpoint (a call
tree in wall time; with `--flat` a cProfile in CPU time). Logs go to stderr: redirect it.

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/<n> .venv/bin/python bench/api_cpu.py \
        [--requests 500] [--profile status] 2>/dev/null
"""

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import PROXY, deployment, seed  # noqa: E402

CLIENTS = 16


def backend_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (/proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def scope(path: str, token: str | None) -> dict:
    path, _, query = path.partition("?")
    headers = [(b"host", b"127.0.0.1"), *((k.lower().encode(), v.encode()) for k, v in PROXY.items())]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def run(handler, path: str, tokens: list[str | None], requests: int):
    """`requests` requests cycling through the tokens; returns the responses' statuses."""
    statuses = []
    for i in range(requests):
        response = handler._respond(scope(path, tokens[i % len(tokens)]), io.BytesIO())
        statuses.append(response.status_code)
    return statuses


def measure(handler, name, path, tokens, requests, profile: bool, flat: bool = False):
    from django.db import connection

    statements = []
    run(handler, path, tokens, 2 * len(tokens))  # warm: caches, the pool, the token cache

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    pids = backend_pids()
    profiler = None
    if profile and flat:
        # CPU time, not wall time: waits for PostgreSQL and Redis are not this process's work.
        profiler = cProfile.Profile(time.process_time)
        profiler.start, profiler.stop = profiler.enable, profiler.disable
    elif profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
    with connection.execute_wrapper(count):
        cpu, db_cpu = time.process_time(), backend_cpu(pids)
        if profiler:
            profiler.start()
        statuses = run(handler, path, tokens, requests)
        if profiler:
            profiler.stop()
        cpu, db_cpu = time.process_time() - cpu, backend_cpu(pids) - db_cpu
    bad = [s for s in statuses if s != 200]
    print(
        f"{name:32} {cpu / requests * 1000:8.2f} {db_cpu / requests * 1000:8.2f} {len(statements) / requests:7.1f}"
        + (f"  ({len(bad)} not 200: {sorted(set(bad))})" if bad else "")
    )
    if profiler:
        if flat:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(80)
            print(out.getvalue())
        else:
            print(profiler.output_text(show_all=False, short_mode=False))
        print("statements of one request:", *statements[-len(statements) // requests :], sep="\n  ")


def backend_pids() -> list[int]:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres", autocommit=True
    ) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [db["NAME"]])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="requests per endpoint (default 500)")
    parser.add_argument("--profile", choices=["ping", "plain-status", "status", "plain-orders", "orders"])
    parser.add_argument("--flat", action="store_true", help="the profile by cProfile, in CPU time, by cumulative time")
    args = parser.parse_args()
    var, drop, env = deployment("api_cpu")
    try:
        import subprocess

        full = {**os.environ, **env}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=full, cwd=ROOT, check=True)
        account, viewer, tokens, _ = seed(full, CLIENTS)
        os.environ.update(env)
        from genesis_site.asgi_http import get_asgi_application

        handler = get_asgi_application()
        anonymous = [None]
        runs = [
            ("ping", "/api/v1/ping", anonymous),
            ("plain-status", f"/plain/status?account={account}&user={viewer}", anonymous),
            ("status", f"/api/v1/status?account={account}", tokens),
            ("plain-orders", f"/plain/orders?account={account}&user={viewer}", anonymous),
            ("orders", f"/api/v1/orders?account={account}&limit=50", tokens),
        ]
        print(f"bench/api_cpu.py: {args.requests} requests per endpoint, one thread; load {_load()}")
        print(f"{'endpoint':32} {'CPU ms':>8} {'PG ms':>8} {'SQL/req':>7}")
        for name, path, clients in runs:
            measure(handler, name, path, clients, args.requests, args.profile == name, args.flat)
        print(f"load {_load()}")
    finally:
        from django.db import connections

        connections.close_all()
        drop()
        shutil.rmtree(var, ignore_errors=True)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
