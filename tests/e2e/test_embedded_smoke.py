"""`make run`'s command on a fresh var/ directory: it migrates, seeds, serves, and trades."""

import sqlite3

import httpx
import pytest

from tests.e2e.procs import Procs, base_env, free_port, login, wait_for

pytestmark = pytest.mark.slow


def test_serve_starts_answers_healthz_and_writes_equity_snapshots_within_30_s(tmp_path):
    port = free_port()
    procs = Procs(tmp_path)
    env = base_env(tmp_path / "var")
    try:
        procs.start("serve", ["manage.py", "serve", "--port", str(port)], env)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, what="/healthz")
            db = tmp_path / "var" / "genesis.sqlite3"

            def snapshots() -> int:
                with sqlite3.connect(db) as conn:
                    return conn.execute("SELECT count(*) FROM trading_equitysnapshot").fetchone()[0]

            assert wait_for(lambda: snapshots() >= 3, timeout=30, what="equity snapshots") is True
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30, what="/readyz ready")
            password = (tmp_path / "var" / "demo_login").read_text().strip()
            login(client, "operator", password)
            overview = client.get("/", follow_redirects=True)
            assert overview.status_code == 200 and 'id="equity-chart"' in overview.text
    except AssertionError:
        print(procs.logs())
        raise
    finally:
        procs.stop()
