"""Server side of the dashboard push alone: CPU of one uvicorn process per event that
trading/fanout.py sends to 200 sockets, for each of uvicorn's WebSocket implementations.

A bare ASGI app joins each socket to one fan-out group of an in-memory channel layer (no Redis,
no database, no Channels consumer: bench/websocket.py measures the full stack); a separate
process holds the 200 WebSocket clients and reports when the last has an event, so that none of
the client work lands in the measured process. Prints user and system CPU per event (system is
mostly the 200 socket writes), the least CPU per event over blocks of 25 events (the block least
disturbed by other jobs on the machine), and the time to the last client.

    .venv/bin/python bench/websocket_server.py [--ws websockets-sansio websockets] [--rounds 3]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.websocket import PAYLOAD  # noqa: E402

CLIENTS = r"""
import asyncio, json, sys, time
import uvloop
from websockets.asyncio.client import connect

async def main(url, n):
    sockets, counts = [await connect(url, max_queue=None) for _ in range(n)], {}

    async def read(ws):
        async for raw in ws:
            i = json.loads(raw)["i"]
            counts[i] = counts.get(i, 0) + 1
            if counts[i] == n:
                sys.stdout.write(f"{time.perf_counter()!r}\n")
                sys.stdout.flush()

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    print("ready", flush=True)
    stdin = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.read()

uvloop.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def serve_and_measure(ws: str, clients: int, events: int) -> dict:
    import uvicorn
    from channels.layers import InMemoryChannelLayer

    from trading import fanout

    layer = InMemoryChannelLayer()

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()  # websocket.connect
        key = object()
        await fanout.join(layer, "bench", key, send)
        await send({"type": "websocket.accept"})
        fanout.opened("bench", key)
        while (await receive())["type"] != "websocket.disconnect":
            pass
        await fanout.leave("bench", key)

    from tests.e2e.procs import free_port

    port = free_port()
    config = uvicorn.Config(app, port=port, ws=ws, ws_per_message_deflate=False, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENTS,
        f"ws://127.0.0.1:{port}/",
        str(clients),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert await proc.stdout.readline() == b"ready\n"
    latencies, blocks = [], []
    for i in range(-20, events):
        if i == 0:
            start = os.times()
        if i >= 0 and i % 25 == 0:
            block = time.process_time()
        text = json.dumps({"i": i, **PAYLOAD})
        t0 = time.perf_counter()
        await layer.group_send("bench", {"type": "account.event", "text": text})
        latencies.append(float(await proc.stdout.readline()) - t0)
        if i >= 0 and i % 25 == 24:
            blocks.append((time.process_time() - block) / 25)
    end = os.times()
    proc.stdin.close()
    await proc.wait()
    server.should_exit = True
    await serving
    latencies = sorted(latencies[20:])
    return {
        "user": (end.user - start.user) / events,
        "system": (end.system - start.system) / events,
        "least": min(blocks),
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws", nargs="+", default=["websockets-sansio", "websockets"])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="each implementation once per round, in turn")
    args = parser.parse_args()
    import uvloop

    print(
        f"{args.clients} sockets, {args.events} events; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    for _ in range(args.rounds):
        for ws in args.ws:
            r = uvloop.run(serve_and_measure(ws, args.clients, args.events))
            print(
                f"{ws:18s} CPU per event: user {r['user'] * 1e3:5.2f} ms + system {r['system'] * 1e3:5.2f} ms,"
                f" least block {r['least'] * 1e3:5.2f} ms ({r['least'] / args.clients * 1e6:4.1f} us a socket);"
                f" last client p50 {r['p50'] * 1e3:6.2f} ms p99 {r['p99'] * 1e3:6.2f} ms;"
                f" load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
