"""Database (DB-001): connectivity, every migration applied, and query p99 on the hot
queries (latest orders of an account, audit events by sequence) under the limit."""

import time

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from compliance.models import AuditEvent
from trading.models import Order, TradingAccount
from validation.validators import register
from validation.validators.base import (
    BaseValidator,
    Context,
    Result,
    load_note,
    machine_load,
    percentile,
    verdict,
)


def _timed(fn, samples: int) -> list[float]:
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        fn(i)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


@register
class DatabaseValidator(BaseValidator):
    name = "database"
    check_id = "DB-001"
    group = "infrastructure"
    description = "Connectivity, migrations applied, hot query p99"
    parallel_safe = False  # timings

    def measure(self, ctx: Context) -> Result:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connect_ms = (time.perf_counter() - started) * 1000
        pending = MigrationExecutor(connection).migration_plan(MigrationExecutor(connection).loader.graph.leaf_nodes())
        problems = (
            [f"{len(pending)} migrations not applied: {', '.join(f'{m.app_label}.{m.name}' for m, _ in pending[:5])}"]
            if pending
            else []
        )
        account_ids = list(TradingAccount.objects.values_list("pk", flat=True)[:10]) or [0]
        max_seq = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 1
        samples = ctx.mode.samples
        Order.objects.filter(account_id=account_ids[0]).exists()  # warm the connection and statement cache
        orders = _timed(
            lambda i: list(
                Order.objects.filter(account_id=account_ids[i % len(account_ids)])
                .order_by("-created_at")[:50]
                .values("pk", "status")
            ),
            samples,
        )
        audit = _timed(
            lambda i: AuditEvent.objects.filter(sequence=1 + (i * 7919) % max_seq).values_list("hash").first(), samples
        )
        p99 = max(percentile(orders, 99), percentile(audit, 99))
        limit = ctx.criteria.database.query_p99_ms
        if p99 > limit:
            problems.append(f"query p99 {p99:.2f} ms exceeds {limit:g} ms")
        figures = {
            "connect_ms": round(connect_ms, 3),
            "orders_recent_p99_ms": round(percentile(orders, 99), 3),
            "audit_by_sequence_p99_ms": round(percentile(audit, 99), 3),
            "query_p99_ms": round(p99, 3),
            "samples": samples,
        }
        load = machine_load()
        result = verdict(problems, [], f"connected, migrations applied, query p99 {p99:.2f} ms", {"figures": figures})
        result.evidence["machine_load"] = load
        result.details += load_note(load)
        return result
