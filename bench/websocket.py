"""WebSocket push, event to the last of 200 dashboards (SPEC §9: p99 <= 100 ms and <= 3x a bare
Pub/Sub group send to 200, 0 dropped).

Full stack: a scratch PostgreSQL database, Redis (channels-redis Pub/Sub layer), and a real
`manage.py serve` (uvicorn) process. Two kinds of events, timed in the same run, alternating one
by one so that whatever else loads the machine falls on both alike:
  baseline  - a bare channel-layer group_send to 200 receivers of a second layer instance
              (the reference: Redis PUBLISH -> layer fan-out -> 200 queues)
  push      - trading.live.account_event_publish from this process (stream number taken in
              PostgreSQL, then group_send) until the last of 200 dashboards' sockets has it: the
              200 WebSocket clients log in as a member of one account and subscribe to its stream
              through the real consumer (session auth, origin check)

The 200 receivers of both kinds live in a separate client process (`--client-procs` of them, the
receivers split between them), not on this process's event loop, which only sends and times:
the receivers are one long-lived task each, timestamping every arrival with
`time.perf_counter` (CLOCK_MONOTONIC, shared by every process on the machine), so both kinds pay
the same client conditions. An event counts at its last arrival; the next one is sent once every
receiver has it.

Prints p50/p95/p99, deliveries per second, dropped and out-of-order messages, the p99 ratio to
the baseline, and the server process's CPU time per pushed event.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python bench/websocket.py [--clients 200] [--events 1000] [--client-procs 1]
"""

import argparse
import asyncio
import importlib
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
WARMUP = 20  # events of each kind sent first and not counted: connections and subscriptions settle
TIMEOUT = 2.0  # seconds an event may take to reach every receiver before it counts as dropped
PASSWORD = secrets.token_urlsafe(16)  # a scratch user in a scratch database, new each run


# --- the client process: 200 dashboards' sockets and 200 bare layer receivers ------------------


async def clients_run(spec: dict) -> None:
    """Hold `spec["clients"]` WebSocket clients and as many bare layer receivers; print
    `<kind> <id> <first arrival> <last arrival>` once all of them have an event, and at the
    end (stdin closed) a JSON line of arrival counts and out-of-order frames."""
    from websockets.asyncio.client import connect

    module, name = spec["layer_backend"].rsplit(".", 1)
    layer = getattr(importlib.import_module(module), name)(**spec["layer_config"])
    clients, arrivals, disorder = spec["clients"], {}, [0]

    def arrive(key: str, now: float) -> None:
        seen = arrivals.get(key)
        if seen is None:
            seen = arrivals[key] = [0, now, now]
        seen[0] += 1
        seen[2] = now
        if seen[0] == clients:
            sys.stdout.write(f"{key} {seen[1]!r} {seen[2]!r}\n")
            sys.stdout.flush()

    async def socket_reader(ws) -> None:
        last = 0
        async for raw in ws:
            seq = json.loads(raw)["seq"]
            now = time.perf_counter()
            disorder[0] += seq <= last
            last = seq
            arrive(f"p {seq}", now)

    async def layer_reader(channel: str) -> None:
        while True:
            message = await layer.receive(channel)
            arrive(f"b {message['i']}", time.perf_counter())

    sockets = [
        await connect(
            spec["ws_url"], origin=spec["origin"], additional_headers={"Cookie": spec["cookie"]}, max_queue=None
        )
        for _ in range(clients)
    ]
    channels = [await layer.new_channel() for _ in range(clients)]
    for channel in channels:
        await layer.group_add(spec["group"], channel)
    readers = [asyncio.create_task(socket_reader(ws)) for ws in sockets]
    readers += [asyncio.create_task(layer_reader(channel)) for channel in channels]
    await asyncio.sleep(0.5)  # let the subscriptions settle
    print("ready", flush=True)
    stdin = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.read()  # the timing process closes it at the end
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    for channel in channels:
        await layer.group_discard(spec["group"], channel)
    await layer.flush()
    counts = {key: seen[0] for key, seen in arrivals.items()}
    print("done " + json.dumps({"counts": counts, "disorder": disorder[0]}), flush=True)


# --- the timing process ------------------------------------------------------------------------


class Clients:
    """The client processes, and the arrival times they report."""

    def __init__(self, spec: dict, procs: int, log_dir: Path):
        self.spec, self.nprocs, self.log_dir = spec, procs, log_dir
        self.procs: list[asyncio.subprocess.Process] = []
        self.reports: dict[str, list[tuple[float, float]]] = {}
        self.waiting: dict[str, asyncio.Future] = {}
        self.finals: list[dict] = []

    async def start(self) -> None:
        share, extra = divmod(self.spec["clients"], self.nprocs)
        for n in range(self.nprocs):
            spec = {**self.spec, "clients": share + (n < extra)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--client-process",
                json.dumps(spec),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=open(self.log_dir / f"clients-{n}.log", "wb"),
                limit=1 << 20,
            )
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
            assert line == b"ready\n", f"client process {n} did not start: {line!r}, see {self.log_dir}"
            self.procs.append(proc)
        self.tasks = [asyncio.create_task(self._read(proc)) for proc in self.procs]

    async def _read(self, proc) -> None:
        async for line in proc.stdout:
            if line.startswith(b"done "):
                self.finals.append(json.loads(line[5:]))
                continue
            kind, ident, first, last = line.decode().split()
            key = f"{kind} {ident}"
            reports = self.reports.setdefault(key, [])
            reports.append((float(first), float(last)))
            if len(reports) == self.nprocs and not self.arrived(key).done():
                self.arrived(key).set_result(None)

    def arrived(self, key: str) -> asyncio.Future:
        if key not in self.waiting:
            self.waiting[key] = asyncio.get_running_loop().create_future()
        return self.waiting[key]

    async def wait(self, key: str) -> tuple[float, float] | None:
        """(first, last) arrival of the event on every client, or None after TIMEOUT."""
        try:
            await asyncio.wait_for(asyncio.shield(self.arrived(key)), timeout=TIMEOUT)
        except TimeoutError:
            return None
        reports = self.reports[key]
        return min(first for first, _ in reports), max(last for _, last in reports)

    async def stop(self) -> dict:
        for proc in self.procs:
            proc.stdin.close()
        await asyncio.gather(*(proc.wait() for proc in self.procs))
        await asyncio.gather(*self.tasks)
        counts: dict[str, int] = {}
        for final in self.finals:
            for key, count in final["counts"].items():
                counts[key] = counts.get(key, 0) + count
        return {"counts": counts, "disorder": sum(final["disorder"] for final in self.finals)}


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def measure(args, base: str, cookie: str, account_id: int, server_pid: int, log_dir: Path) -> dict:
    from channels.layers import get_channel_layer
    from django.conf import settings

    from trading.live import account_event_publish

    layer_settings = settings.CHANNEL_LAYERS["default"]
    group = f"bench-bare-{uuid.uuid4().hex[:6]}"
    clients = Clients(
        {
            "ws_url": base.replace("http://", "ws://") + f"/ws/accounts/{account_id}/",
            "origin": base,
            "cookie": cookie,
            "clients": args.clients,
            "group": group,
            "layer_backend": layer_settings["BACKEND"],
            "layer_config": layer_settings["CONFIG"],
            "uvloop": args.client_loop == "uvloop",
        },
        args.client_procs,
        log_dir,
    )
    await clients.start()
    sender, loop = get_channel_layer(), asyncio.get_running_loop()

    async def bare(i: int) -> tuple[float, str]:
        t0 = time.perf_counter()
        await sender.group_send(group, {"type": "bench", "i": i, **PAYLOAD})
        return t0, f"b {i}"

    async def push(i: int) -> tuple[float, str]:
        t0 = time.perf_counter()
        # In a worker thread, as the engine publishes after its commit.
        seq = await loop.run_in_executor(
            None, lambda: account_event_publish(account_id=account_id, event={"type": "bench", "i": i, **PAYLOAD})
        )
        return t0, f"p {seq}"

    times = {"b": ([], [], []), "p": ([], [], [])}  # last arrivals, first arrivals, event keys
    for i in range(-WARMUP, args.events):
        if i == 0:
            cpu0, started = server_cpu_seconds(server_pid), time.perf_counter()
        # Alternate which kind goes first, so neither always follows the other's leftovers.
        for send in (bare, push) if i % 2 else (push, bare):
            t0, key = await send(i)
            arrived = await clients.wait(key)
            if i < 0:
                continue
            last, first, keys = times[key[0]]
            keys.append(key)
            if arrived is not None:
                first.append(arrived[0] - t0)
                last.append(arrived[1] - t0)
    elapsed, cpu = time.perf_counter() - started, server_cpu_seconds(server_pid) - cpu0
    final = await clients.stop()
    dropped = {
        kind: sum(args.clients - final["counts"].get(key, 0) for key in keys) for kind, (_, _, keys) in times.items()
    }
    return {"times": times, "dropped": dropped, "disorder": final["disorder"], "elapsed": elapsed, "server_cpu": cpu}


# --- setup and report --------------------------------------------------------------------------


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
    if sys.argv[1:2] == ["--client-process"]:
        spec = json.loads(sys.argv[2])
        if spec["uvloop"]:
            import uvloop

            uvloop.install()
        asyncio.run(clients_run(spec))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=1000, help="timed events of each kind")
    parser.add_argument("--client-procs", type=int, default=1, help="processes the receivers are split between")
    parser.add_argument("--client-loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--ws", help="uvicorn WebSocket implementation (manage.py serve --ws), to compare them")
    args = parser.parse_args()
    database, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit("bench/websocket.py measures the full stack: set DATABASE_URL (PostgreSQL) and REDIS_URL")

    from tests.e2e.procs import Procs, free_port, login, wait_for

    url, drop = scratch_database(database)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    setup_django(url, redis_url, prefix)
    log_dir = Path(tempfile.mkdtemp(prefix="genesis-bench-logs-"))
    procs = Procs(log_dir)
    try:
        account_id = seed()
        port = free_port()
        serve = ["manage.py", "serve", "--no-seed", "--port", str(port)] + (["--ws", args.ws] if args.ws else [])
        server = procs.start("web", serve, dict(os.environ))
        base = f"http://127.0.0.1:{port}"
        import httpx

        with httpx.Client(base_url=base, timeout=10) as client:
            wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, what="/healthz")
            login(client, "bench", PASSWORD)
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"{args.clients} clients in {args.client_procs} process(es) ({args.client_loop}), {args.events} events"
            " of each kind;"
            f" uvicorn (ws {args.ws or 'as served'}) + Pub/Sub layer on {redis_url}"
        )
        print(f"load average {load} at start on {os.cpu_count()} cores (shared machine: figures move with it)")

        run = asyncio.run(measure(args, base, cookie, account_id, server.pid, log_dir))
        (base_lat, _, base_keys), (push_lat, push_first, push_keys) = run["times"]["b"], run["times"]["p"]
        deliveries = len(base_lat) * args.clients + len(push_lat) * args.clients
        bare_p99 = report("baseline: bare Pub/Sub group send", base_lat, deliveries, run["elapsed"])
        report("  (event to first dashboard)", push_first, deliveries, run["elapsed"])
        push_p99 = report("push: event to last dashboard", push_lat, deliveries, run["elapsed"])
        late = {"b": len(base_keys) - len(base_lat), "p": len(push_keys) - len(push_lat)}
        cpu_ms = run["server_cpu"] / len(push_keys) * 1000
        print(
            f"server process CPU per pushed event {cpu_ms:.2f} ms ({cpu_ms * 1000 / args.clients:.1f} us a dashboard);"
            f" out-of-order frames {run['disorder']}"
        )
        ratio = push_p99 / bare_p99
        met = push_p99 <= 0.100 and ratio <= 3 and run["dropped"]["p"] == 0 and late["p"] == 0
        p50, p95 = (percentile(push_lat, q) / percentile(base_lat, q) for q in (0.5, 0.95))
        print(
            f"ratio push / baseline: p50 {p50:.2f}x, p95 {p95:.2f}x, p99 {ratio:.2f}x;"
            f" dropped: push {run['dropped']['p']}, baseline {run['dropped']['b']} messages;"
            f" over {TIMEOUT:.0f} s: push {late['p']}, baseline {late['b']} events;"
            f" targets p99 <= 100 ms, <= 3x, 0 dropped: {'met' if met else 'NOT met'}"
        )
        print("load average {} at end".format(", ".join(f"{x:.1f}" for x in os.getloadavg())))
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
