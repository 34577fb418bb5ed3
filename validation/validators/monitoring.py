"""Monitoring: the metrics endpoint exposes the required metrics, alert rules are present and
valid, and the scheduler's heartbeat is fresh (the beat schedule is running)."""

from django.test import Client
from django.utils import timezone

from genesis_site.models import Heartbeat
from trading.services import engine  # noqa: F401  (registers the engine's metrics, as the running engine does)
from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, verdict
from validation.validators.operational import alert_rules


@register
class MonitoringValidator(BaseValidator):
    name = "monitoring"
    check_id = "OPS-001"
    group = "operations"
    description = "Metrics exposed, alert rules present, beat heartbeat fresh"

    def measure(self, ctx: Context) -> Result:
        crit = ctx.criteria.monitoring
        problems, evidence = [], {}
        # Scrape the real endpoint through the full middleware stack, as Prometheus would
        # from loopback.
        response = Client(REMOTE_ADDR="127.0.0.1", HTTP_HOST="localhost").get("/metrics", HTTP_AUTHORIZATION=_bearer())
        evidence["metrics_status"] = response.status_code
        if response.status_code != 200:
            problems.append(f"/metrics answered {response.status_code}")
        else:
            body = response.content.decode()
            missing = [m for m in crit.required_metrics if m not in body]
            evidence["metrics_missing"] = missing
            if missing:
                problems.append(f"metrics not exposed: {', '.join(missing)}")
        rules_path = ctx.base_dir / crit.alert_rules_file
        if not rules_path.is_file():
            problems.append(f"alert rules file {crit.alert_rules_file} missing")
        else:
            rules = alert_rules(rules_path)
            evidence["alert_rules"] = [r["alert"] for r in rules]
            if not rules:
                problems.append(f"{crit.alert_rules_file} holds no alert rules")
            problems += [f"alert {r['alert']} has no expr" for r in rules if not r.get("expr")]
        beat = Heartbeat.objects.filter(name="scheduler").first()
        age = (timezone.now() - beat.beat_at).total_seconds() if beat else None
        evidence["scheduler_heartbeat_age_seconds"] = age
        if age is None:
            problems.append("the scheduler has never beaten: the beat schedule is not running")
        elif age > crit.heartbeat_max_age_seconds:
            problems.append(f"scheduler heartbeat is {age:.0f} s old (limit {crit.heartbeat_max_age_seconds:g} s)")
        return verdict(problems, [], "metrics exposed, alert rules present, scheduler heartbeat fresh", evidence)


def _bearer() -> str:
    from django.conf import settings

    return f"Bearer {settings.METRICS_TOKEN}" if settings.METRICS_TOKEN else ""
