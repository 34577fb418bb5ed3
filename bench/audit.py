"""Audit chain verification throughput (SPEC §9: >= 100,000 events/s).

Builds a chain of N events in a scratch database (SQLite file, or a scratch PostgreSQL
database when DATABASE_URL points at PostgreSQL), then times, in the same run:
  baseline  - reading every event's fields in sequence order (no hashing)
  verify    - compliance.selectors.audit_chain_verify (read + canonical JSON + SHA-256 + links)
Prints p50/p95/p99 of the per-run time, throughput, and the ratio to the baseline.

    .venv/bin/python bench/audit.py [--events 200000] [--runs 7]
"""

import argparse
import os
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scratch_database() -> tuple[str, callable]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        name = f"genesis_bench_{uuid.uuid4().hex[:8]}"
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop():
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return urlunsplit(parts._replace(path=f"/{name}")), drop
    folder = tempfile.mkdtemp(prefix="genesis-bench-")
    return f"sqlite:///{folder}/bench.sqlite3", lambda: None


@contextmanager
def scratch_django(*, quiet: bool = False):
    """Django set up on a migrated scratch database (see scratch_database), dropped after.
    `quiet` silences warnings, which would otherwise time the log handler."""
    url, drop = scratch_database()
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="genesis_site.settings.dev",
        GENESIS_VAR_DIR=tempfile.mkdtemp(prefix="genesis-bench-var-"),
    )
    import logging

    import django

    django.setup()
    if quiet:
        logging.disable(logging.WARNING)
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        drop()


def build_chain(n: int) -> None:
    from compliance.chain import GENESIS_HASH, event_hash
    from compliance.models import AuditChainHead, AuditEvent

    prev, start, batch = GENESIS_HASH, datetime(2026, 1, 1, tzinfo=UTC), []
    for seq in range(1, n + 1):
        fields = {
            "sequence": seq,
            "ts": start + timedelta(milliseconds=seq),
            "actor_type": "system",
            "actor": "engine",
            "action": "order.filled",
            "object_type": "trading.order",
            "object_id": str(seq),
            "payload": {"account": 1, "symbol": "BTC/USDT", "side": "buy", "amount": "0.01", "price": "60000.00"},
            "config_hash": "c" * 64,
            "correlation_id": uuid.UUID(int=seq).hex,
            "prev_hash": prev,
        }
        prev = event_hash(**fields)
        batch.append(AuditEvent(**fields, hash=prev))
        if len(batch) == 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    AuditChainHead.objects.create(pk=1, sequence=n, hash=prev)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with scratch_django() as url:
        from compliance.models import AuditEvent
        from compliance.selectors import _FIELDS, audit_chain_verify

        started = time.perf_counter()
        build_chain(args.events)
        print(f"built {args.events:,} events in {time.perf_counter() - started:.1f} s on {url.split(':')[0]}")

        def baseline():
            for _ in AuditEvent.objects.order_by("sequence").values_list(*_FIELDS).iterator(chunk_size=5000):
                pass

        def verify():
            result = audit_chain_verify()
            assert result.ok and result.checked == args.events, result

        p50s = {}
        for name, fn in (("baseline (read only)", baseline), ("verify", verify)):
            times = timed(fn, args.runs)
            p50s[name] = p50 = percentile(times, 0.5)
            print(
                f"{name:22s} p50 {p50 * 1000:8.1f} ms  p95 {percentile(times, 0.95) * 1000:8.1f} ms  "
                f"p99 {percentile(times, 0.99) * 1000:8.1f} ms  throughput {args.events / p50:12,.0f} events/s"
            )
        verify_rate = args.events / p50s["verify"]
        print(
            f"ratio verify / baseline (p50): {p50s['verify'] / p50s['baseline (read only)']:.2f}x; "
            f"target >= 100,000 events/s: {'met' if verify_rate >= 100_000 else 'NOT met'} ({args.runs} runs each)"
        )


if __name__ == "__main__":
    main()
