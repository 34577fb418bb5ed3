"""Reads of validation runs, results, trends and go-live decisions."""

from django.db.models import QuerySet

from compliance.selectors import signoffs_current
from risk.selectors import config_version_active
from validation.models import CheckResult, GoLiveDecision, ValidationRun

GOLIVE_SUBJECT = "go_live"
# Go-live sign-offs are bound to the configuration by their config hash; every go-live
# sign-off of an account carries this reference, and each decision links the ones it used.
GOLIVE_SUBJECT_REF = "go-live"


def runs_recent(*, limit: int = 50) -> QuerySet[ValidationRun]:
    return ValidationRun.objects.select_related("started_by", "account").order_by("-started_at", "-pk")[:limit]


def run_results(*, run_id: int) -> QuerySet[CheckResult]:
    return CheckResult.objects.filter(run_id=run_id).order_by("pk")


def check_trend(*, name: str, limit: int = 100) -> list[dict]:
    """One check's history, oldest first: status, duration and its measured figures, for a
    chart of pass rate, duration and figures over time."""
    rows = (
        CheckResult.objects.filter(name=name, run__status="finished")
        .order_by("-finished_at", "-pk")
        .values("run_id", "status", "duration_seconds", "finished_at", "evidence")[:limit]
    )
    return [
        {
            "run": r["run_id"],
            "at": r["finished_at"].isoformat(),
            "status": r["status"],
            "passed": 1 if r["status"] == "passed" else 0,
            "duration_seconds": r["duration_seconds"],
            "figures": (r["evidence"] or {}).get("figures", {}),
        }
        for r in reversed(list(rows))
    ]


def check_pass_rates(*, limit_runs: int = 50) -> dict[str, float]:
    """Pass rate (0-100) per check over its last `limit_runs` finished results."""
    rates = {}
    for name in CheckResult.objects.values_list("name", flat=True).distinct():
        statuses = list(
            CheckResult.objects.filter(name=name, run__status="finished")
            .order_by("-finished_at")
            .values_list("status", flat=True)[:limit_runs]
        )
        if statuses:
            rates[name] = round(100 * statuses.count("passed") / len(statuses), 1)
    return rates


def golive_signoffs(*, account_id: int, config_hash: str) -> dict:
    return signoffs_current(
        account_id=account_id, subject=GOLIVE_SUBJECT, subject_ref=GOLIVE_SUBJECT_REF, config_hash=config_hash
    )


def golive_signoffs_missing(*, account_id: int, roles: list[str]) -> list[str]:
    version = config_version_active(account_id=account_id)
    if version is None:
        return list(roles)
    current = golive_signoffs(account_id=account_id, config_hash=version.sha256)
    return [role for role in roles if role not in current or current[role].decision != "approve"]


def golive_decision_latest(*, account_id: int, config_hash: str | None = None) -> GoLiveDecision | None:
    """The latest decision for the account (for `config_hash` when given)."""
    decisions = GoLiveDecision.objects.filter(account_id=account_id)
    if config_hash is not None:
        decisions = decisions.filter(config_hash=config_hash)
    return decisions.order_by("-decided_at", "-pk").first()


def golive_decision_current(*, account_id: int) -> GoLiveDecision | None:
    """The decision that speaks for the account's active configuration now, or None: a
    decision about any other configuration version says nothing about this one."""
    version = config_version_active(account_id=account_id)
    if version is None:
        return None
    return golive_decision_latest(account_id=account_id, config_hash=version.sha256)
