"""The validation page's path on a real embedded server (`manage.py serve`, SPEC §1, V1, V6):
a run started over the API answers at once while the checks run on the server's background
thread, each check's progress arrives over /ws/validation/ as it is measured, a second start
for the account is refused naming the running run, and the page then shows the decision."""

import asyncio
import json
import sqlite3
import time

import httpx
import pytest
import websockets

from tests.e2e.procs import Procs, base_env, free_port, login, wait_for

pytestmark = pytest.mark.slow
CHECKS = ["strategy", "operational", "execution", "risk_limits", "monitoring", "compliance"]


async def follow_run(ws_url: str, cookie: str, origin: str, start) -> tuple[dict, list[tuple[float, dict]]]:
    """Open the socket, start the run while listening, and collect (arrival time, event) until
    the run has a decision."""
    events: list[tuple[float, dict]] = []
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": origin}) as ws:

        async def listen():
            async with asyncio.timeout(120):
                while True:
                    event = json.loads(await ws.recv())
                    events.append((time.monotonic(), event))
                    if event["type"] == "run" and event.get("decision"):
                        return

        listener = asyncio.create_task(listen())
        answered = await asyncio.to_thread(start)
        answered["at"] = time.monotonic()
        await listener
    run_id = answered["body"].get("id")
    return answered, [(at, e) for at, e in events if e.get("run") == run_id]


def test_a_run_started_on_the_embedded_server_answers_at_once_and_streams_its_checks(tmp_path):
    port = free_port()
    procs = Procs(tmp_path)
    env = base_env(tmp_path / "var", GENESIS_TICK_SECONDS="1")
    url, origin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    try:
        procs.start("serve", ["manage.py", "serve", "--port", str(port)], env)
        with httpx.Client(base_url=url, timeout=30) as client:
            wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, what="/healthz")
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30, what="/readyz ready")
            login(client, "operator", (tmp_path / "var" / "demo_login").read_text().strip())
            with sqlite3.connect(tmp_path / "var" / "genesis.sqlite3") as conn:
                account = conn.execute("SELECT id FROM trading_tradingaccount").fetchone()[0]
            headers = {"X-CSRFToken": client.cookies["csrftoken"], "Origin": origin}
            payload = {"mode": "standard", "only": CHECKS, "account": account}
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())

            def start() -> dict:
                response = client.post("/api/v1/validation-runs/", json=payload, headers=headers)
                second = client.post("/api/v1/validation-runs/", json=payload, headers=headers)
                return {"status": response.status_code, "body": response.json(), "second": second}

            answered, events = asyncio.run(follow_run(f"ws://127.0.0.1:{port}/ws/validation/", cookie, origin, start))
            assert answered["status"] == 202, answered["body"]
            run_id = answered["body"]["id"]
            assert answered["body"]["status"] in ("pending", "running")
            second = answered["second"]
            assert second.status_code == 409 and f"validation run {run_id} " in second.json()["error"]["message"]

            # Every check reported live, and both answers came before the slow check's result
            # arrived: the request did not wait for the suite (the emulator probe takes seconds).
            checks = {e["name"]: at for at, e in events if e["type"] == "check"}
            assert sorted(checks) == sorted(CHECKS)
            assert answered["at"] < checks["execution"]
            started = [e["name"] for _, e in events if e["type"] == "check_started"]
            assert set(started) == set(CHECKS)
            final = events[-1][1]
            assert final["status"] == "finished" and final["decision"] in ("GO", "NO_GO")

            detail = client.get(f"/api/v1/validation-runs/{run_id}/").json()
            assert detail["status"] == "finished" and len(detail["results"]) == len(CHECKS)
            # The scheduler heartbeats in-process, so the monitoring check measures a live beat.
            monitoring = next(r for r in detail["results"] if r["name"] == "monitoring")
            assert monitoring["status"] == "passed", monitoring["details"]
            page = client.get(f"/validation/?account={account}")
            assert page.status_code == 200 and f'data-show-run="{run_id}"' in page.text
            assert final["decision"] in page.text
    except AssertionError:
        print(procs.logs())
        raise
    finally:
        procs.stop()
