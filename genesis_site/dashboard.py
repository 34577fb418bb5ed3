"""Read-side of the dashboard pages: what each page shows, read from the database (and, for
the system page, from the process and its metrics). Views render these; the live stream only
tells a page when to read again."""

import os
import time
from decimal import Decimal

import psutil
from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Q

from compliance.models import AuditEvent
from genesis_site.errorbudget import error_budget
from genesis_site.health import readiness
from genesis_site.models import FailedTask, FailedTaskStatus
from risk.alerts import runbook_url
from risk.models import Alert, AlertStatus, CircuitBreakerState, ConfigVersion
from risk.policy import BREAKER_SOURCES
from risk.selectors import config_version_active, config_version_diff, policy_of, symbols_locked
from trading.live import stream_seq_current
from trading.models import Fill, Order, Strategy, TradingAccount
from trading.selectors import rate_budget_usage

ORDERS_PER_PAGE = 50
DEPLOYMENT_ACTIONS = ("config.activated", "config.rolled_back")
NOT_MEASURED = "not measured yet"


def alerts_open_count(*, account_id: int) -> int:
    return Alert.objects.filter(account_id=account_id, status=AlertStatus.OPEN).count()


def orders_page(*, account: TradingAccount, filters: dict) -> dict:
    orders = Order.objects.filter(account=account).select_related("strategy").order_by("-created_at", "-pk")
    if filters.get("symbol"):
        orders = orders.filter(symbol__iexact=filters["symbol"])
    if filters.get("side"):
        orders = orders.filter(side=filters["side"])
    if filters.get("status"):
        orders = orders.filter(status=filters["status"])
    if filters.get("strategy"):
        orders = orders.filter(strategy__name=filters["strategy"])
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(filters.get("page") or 1)
    fills = Fill.objects.filter(account=account).order_by("-created_at", "-pk")[:20]
    return {"orders": page, "fills": fills}


def order_detail(*, account: TradingAccount, order_id: int) -> dict | None:
    order = Order.objects.filter(account=account, pk=order_id).select_related("strategy").first()
    if order is None:
        return None
    fills = list(order.fills.order_by("created_at"))
    events = AuditEvent.objects.filter(
        Q(object_type="trading.order", object_id=str(order.pk))
        | Q(object_type="trading.fill", object_id__in=[str(f.pk) for f in fills])
    ).order_by("sequence")
    return {"order": order, "fills": fills, "events": events}


def strategies_page(*, account: TradingAccount) -> dict:
    return {"strategies": Strategy.objects.filter(account=account).order_by("name")}


def breaker_rows(*, account: TradingAccount) -> list[dict]:
    """One row per breaker source, closed when it never recorded anything."""
    stored = {b.source: b for b in CircuitBreakerState.objects.filter(account=account)}
    rows = []
    for source in BREAKER_SOURCES:
        b = stored.get(source)
        rows.append(
            {
                "source": source,
                "state": b.state if b else "closed",
                "failures": b.failures if b else 0,
                "trips": b.trips if b else 0,
                "opened_at": b.opened_at if b else None,
                "updated_at": b.updated_at if b else None,
            }
        )
    return rows


def risk_page(*, account: TradingAccount, diff_from: int | None = None, diff_to: int | None = None) -> dict:
    active = config_version_active(account_id=account.pk)
    versions = list(ConfigVersion.objects.filter(account=account).select_related("author").order_by("-version"))
    by_number = {v.version: v for v in versions}
    newer = by_number.get(diff_to) or (versions[0] if versions else None)  # the latest change by default
    older = by_number.get(diff_from) or (newer.parent if newer else None)
    if older is None and newer is not None:
        older = next((v for v in versions if v.version < newer.version), None)
    diff = config_version_diff(older, newer) if older and newer and older.pk != newer.pk else None
    limits = policy_of(active).model_dump(exclude={"circuit_breakers"})
    return {
        "active": active,
        "versions": versions,
        "diff": diff,
        "limits": _flatten(limits),
        "breakers": breaker_rows(account=account),
        "locked_symbols": sorted(symbols_locked(account_id=account.pk)),
    }


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested policy sections as dotted keys (sizing.method), each value readable."""
    rows = []
    for key, value in sorted(values.items()):
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", _plain(value)))
    return rows


def _plain(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return value


def alerts_page(*, account: TradingAccount, status: str) -> dict:
    alerts = Alert.objects.filter(account=account, status=status).select_related("acknowledged_by")
    order = "-last_seen" if status != AlertStatus.RESOLVED else "-resolved_at"
    counts = {s: Alert.objects.filter(account=account, status=s).count() for s in AlertStatus.values}
    rows = list(alerts.order_by(order)[:200])
    for alert in rows:
        alert.runbook = runbook_url(alert.type)
    return {"alerts": rows, "status": status, "counts": counts}


def deployments_page(*, account: TradingAccount) -> dict:
    """A deployment of the risk configuration is its activation or rollback (SPEC M4 records:
    version, config hash, who, when); health checks are not recorded yet."""
    events = AuditEvent.objects.filter(action__in=DEPLOYMENT_ACTIONS, payload__account=account.pk).order_by(
        "-sequence"
    )[:100]
    versions = {v.version: v for v in ConfigVersion.objects.filter(account=account)}
    rows = [
        {
            "event": e,
            "kind": "rollback" if e.action == "config.rolled_back" else "activation",
            "version": versions.get(e.payload.get("version")),
            "previous_version": e.payload.get("previous_version"),
            "reason": e.payload.get("reason", ""),
        }
        for e in events
    ]
    return {"deployments": rows, "active": config_version_active(account_id=account.pk)}


def histogram_quantiles(name: str, quantiles=(0.5, 0.95, 0.99)) -> dict | None:
    """Quantiles estimated from a Prometheus histogram's buckets (linear inside a bucket, as
    PromQL's histogram_quantile), summed over its labels; None before any observation."""
    buckets: dict[float, float] = {}
    for metric in _registry().collect():
        if metric.name != name:
            continue
        for sample in metric.samples:
            if sample.name == f"{name}_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    bounds = sorted(buckets)
    total = buckets.get(float("inf"), 0.0)
    if not total:
        return None
    result = {"count": int(total)}
    for q in quantiles:
        rank, lower, below = q * total, 0.0, 0.0
        for upper in bounds:
            if buckets[upper] >= rank:
                if upper == float("inf"):
                    value = lower
                else:
                    inside = buckets[upper] - below
                    value = lower + (upper - lower) * ((rank - below) / inside if inside else 1)
                break
            lower, below = upper, buckets[upper]
        result[f"p{round(q * 100)}"] = round(value * 1000, 2)
    return result


def _registry():
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def system_page() -> dict:
    process = psutil.Process()
    memory = psutil.virtual_memory()
    tick = histogram_quantiles("trader_tick_latency_seconds")
    http = histogram_quantiles("django_http_requests_latency_seconds_by_view_method")
    return {
        "latency_rows": [("Engine tick", tick), ("HTTP requests (API and pages)", http)],
        # A short sample of its own: the figure between two page loads depended on what else
        # in the process had asked psutil last.
        "cpu_percent": psutil.cpu_percent(interval=0.1),
        "cpu_count": psutil.cpu_count(),
        "load": os.getloadavg(),
        "memory_used_pct": memory.percent,
        "memory_total_mb": memory.total // 2**20,
        "process_rss_mb": round(process.memory_info().rss / 2**20, 1),
        "process_uptime_s": int(time.time() - process.create_time()),
        "error_budget": error_budget(),
        "failed_tasks": failed_tasks_recent(),
        "rate_limit": rate_budget_usage(),
        "not_measured": NOT_MEASURED,
        "readiness": readiness(),
        "mode": "embedded" if settings.EMBEDDED else "full stack",
    }


FAILED_TASKS_SHOWN = 20


def failed_tasks_recent() -> dict:
    """The dead-letter table for the system page: dead tasks first, then recently handled."""
    dead = FailedTask.objects.filter(status=FailedTaskStatus.DEAD)
    return {
        "dead_count": dead.count(),
        "dead": list(dead.order_by("-failed_at", "-pk")[:FAILED_TASKS_SHOWN]),
        "handled": list(
            FailedTask.objects.exclude(status=FailedTaskStatus.DEAD).order_by("-acted_at", "-pk")[:FAILED_TASKS_SHOWN]
        ),
    }


def stream_seq(*, account_id: int) -> int:
    """Read first, before the page's data: an event after this number is then never missed."""
    return stream_seq_current(account_id=account_id)
