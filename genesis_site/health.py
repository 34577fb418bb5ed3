"""Health endpoints (SPEC M2) and the guarded /metrics (SPEC M1)."""

import hmac
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache
from django_prometheus.exports import ExportToDjangoView

from genesis_site.selectors import heartbeats_fresh

LOOPBACK = {"127.0.0.1", "::1"}


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; the reason is reported
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"ok": True, "skipped": "embedded mode: no Redis configured"}
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def _check_heartbeat(prefix: str) -> dict:
    try:
        fresh, at = heartbeats_fresh(prefix=prefix)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": fresh, "last": at}


def readiness() -> dict:
    """The readiness report shared by /readyz and `manage.py doctor`."""
    checks = {
        "database": _check_database(),
        "redis": _check_redis(),
        "worker": _check_heartbeat("worker:"),
        "scheduler": _check_heartbeat("scheduler"),
    }
    return {
        "ready": all(c["ok"] for c in checks.values()),
        "mode": "embedded" if settings.EMBEDDED else "full",
        "checks": checks,
    }


@login_not_required
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
def readyz(request):
    report = readiness()
    return JsonResponse(report, status=200 if report["ready"] else 503)


@login_not_required
@never_cache
def metrics(request):
    """Scrapes need the bearer token of GENESIS_METRICS_TOKEN; without one configured, only
    loopback clients may scrape (the embedded default binds to 127.0.0.1 anyway)."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponseForbidden("metrics need the bearer token\n", content_type="text/plain")
    elif request.META.get("REMOTE_ADDR") not in LOOPBACK:
        return HttpResponseForbidden("metrics are served to loopback only\n", content_type="text/plain")
    return ExportToDjangoView(request)
