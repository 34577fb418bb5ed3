"""Validation runs and the go-live gate (SPEC V1, V4, V5). The dashboard button, the API, the
ChatOps command and `manage.py validate` all call these functions."""

import logging
import os
import subprocess
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from compliance.services import Actor, audit_append
from risk.selectors import config_version_active
from trading.models import TradingAccount
from validation.criteria import MODES, LoadedCriteria, criteria_load
from validation.exceptions import RunInProgress, RunNotFound, RunRefused
from validation.live import run_event_publish
from validation.models import CheckResult, CheckStatus, Decision, RunStatus, ValidationRun
from validation.validators import REGISTRY, validators_select
from validation.validators.base import Context

logger = logging.getLogger(__name__)
TRIGGERS = ("api", "cli", "dashboard", "schedule", "ci", "chatops")


def code_version() -> str:
    """The git commit of the running code (GENESIS_CODE_VERSION wins, e.g. in an image)."""
    if version := os.environ.get("GENESIS_CODE_VERSION"):
        return version[:64]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()[:64]


def _account_for_run(account_id: int | None) -> TradingAccount | None:
    if account_id is None:
        return None
    account = TradingAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise RunNotFound(f"account: no account with id {account_id}")
    return account


def validation_run_start(
    *,
    mode: str,
    actor: Actor,
    trigger: str,
    user: AbstractBaseUser | None = None,
    account_id: int | None = None,
    only: list[str] | None = None,
    criteria: LoadedCriteria | None = None,
    queue: bool = True,
) -> ValidationRun:
    """Record a new run and queue it (after commit; `queue=False` leaves executing it to the
    caller). The run validates `account_id`'s active configuration when given. One run at a
    time per account (runs without an account count as one more account): RunInProgress names
    the run still pending or running. RunRefused names a bad mode, trigger, account or check
    name; CriteriaInvalid a malformed criteria file. Nothing is recorded on refusal."""
    if mode not in MODES:
        raise RunRefused(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    if trigger not in TRIGGERS:
        raise RunRefused(f"trigger: {trigger!r} is not one of {', '.join(TRIGGERS)}")
    loaded = criteria or criteria_load()
    planned = validators_select(names=loaded.criteria.modes[mode].validators, only=only)
    account = _account_for_run(account_id)
    version = config_version_active(account_id=account.pk) if account else None
    with transaction.atomic():
        if account is not None:  # two starts for one account queue here; the second is refused
            TradingAccount.objects.select_for_update().filter(pk=account.pk).first()
        _refuse_when_running(account_id=account.pk if account else None, criteria=loaded)
        run = ValidationRun.objects.create(
            started_by=user if user is not None and user.is_authenticated else None,
            actor=actor.name,
            trigger=trigger,
            mode=mode,
            account=account,
            only=list(only or []),
            checks_planned=planned,
            code_version=code_version(),
            config_hash=version.sha256 if version else "",
            criteria_sha256=loaded.sha256,
        )
        audit_append(
            actor=actor,
            action="validation.run_started",
            obj=run,
            config_hash=run.config_hash,
            payload={"mode": mode, "trigger": trigger, "checks": planned, "account": account.pk if account else None},
        )
        if queue:
            transaction.on_commit(lambda: _queue(run.pk))
    return run


def _refuse_when_running(*, account_id: int | None, criteria: LoadedCriteria) -> None:
    """RunInProgress when a run of this account is pending or running. A run still unfinished
    twice its mode's budget after its start was abandoned (its process died: a server restart
    in the embedded mode, a lost worker): it is closed as an error and no longer blocks."""
    active = ValidationRun.objects.filter(status__in=(RunStatus.PENDING, RunStatus.RUNNING))
    active = active.filter(account_id=account_id) if account_id is not None else active.filter(account__isnull=True)
    now = timezone.now()
    for run in active.order_by("started_at", "pk"):
        budget = criteria.criteria.modes[run.mode].budget_seconds if run.mode in MODES else 3600
        if now - run.started_at > timedelta(seconds=2 * budget):
            _run_abandon(run, f"abandoned: no result {2 * budget:g} s after its start (twice the {run.mode} budget)")
            continue
        by = f" by {run.actor}" if run.actor else ""
        raise RunInProgress(
            f"run: validation run {run.pk} ({run.mode}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC{by}) "
            f"is still {run.status} for this account; wait for it to finish (GET /api/v1/validation-runs/{run.pk}/)"
        )


def _run_abandon(run: ValidationRun, reason: str) -> None:
    if ValidationRun.objects.filter(pk=run.pk, status__in=(RunStatus.PENDING, RunStatus.RUNNING)).update(
        status=RunStatus.ERROR, decision=Decision.NO_GO, finished_at=timezone.now(), error=reason[:10000]
    ):
        audit_append(
            actor=Actor.system("validation"),
            action="validation.run_error",
            obj=run,
            config_hash=run.config_hash,
            payload={"error": reason[:500]},
        )
        transaction.on_commit(
            lambda: run_event_publish(
                run_id=run.pk,
                event={"type": "run", "run": run.pk, "status": RunStatus.ERROR, "decision": Decision.NO_GO},
            )
        )


def _queue(run_id: int) -> None:
    """Full stack: a Celery task for a worker. Embedded (tasks eager): the same task on the
    in-process background worker, so the request that started the run returns at once."""
    from genesis_site.scheduler import background, task_queue
    from validation.tasks import validation_run_execute_task

    task_queue(
        validation_run_execute_task,
        (run_id,),
        worker=background,
        in_background=settings.GENESIS_VALIDATION_BACKGROUND,
    )


def validation_run_execute(*, run_id: int, criteria: LoadedCriteria | None = None) -> ValidationRun:
    """Run every planned check of a pending run: the parallel-safe ones as their own tasks
    (concurrent on a worker pool), the others one after the other here, so timings of the
    heavy checks are not disturbed. Idempotent: a redelivered run that is not pending does
    nothing."""
    # Conditional update: of two deliveries of the same task only one starts the run.
    if not ValidationRun.objects.filter(pk=run_id, status=RunStatus.PENDING).update(status=RunStatus.RUNNING):
        return ValidationRun.objects.get(pk=run_id)
    run = ValidationRun.objects.get(pk=run_id)
    run_event_publish(run_id=run.pk, event={"type": "run", "run": run.pk, "status": run.status})
    try:
        return _run_checks(run, criteria)
    except Exception as exc:  # the framework itself failed (a validator's crash is a failed check)
        with transaction.atomic():
            _run_abandon(run, f"the run failed: {type(exc).__name__}: {exc}")
        raise


def _run_checks(run: ValidationRun, criteria: LoadedCriteria | None) -> ValidationRun:
    if not run.checks_planned:
        return _run_finalize(run.pk)
    from validation.tasks import validation_check_run_task

    serial = []
    for name in run.checks_planned:
        if REGISTRY[name].parallel_safe and criteria is None:
            validation_check_run_task.delay(run.pk, name)
        else:
            serial.append(name)
    for name in serial:
        validation_check_run(run_id=run.pk, name=name, criteria=criteria)
    run.refresh_from_db()
    return run


def validation_check_run(*, run_id: int, name: str, criteria: LoadedCriteria | None = None) -> CheckResult:
    """Measure one check of a run and record its result; finalizes the run after the last one.
    Idempotent: a check that already has a result is not measured again."""
    existing = CheckResult.objects.filter(run_id=run_id, name=name).first()
    if existing is not None:
        return existing
    run = ValidationRun.objects.get(pk=run_id)
    validator = REGISTRY[name]()
    loaded = criteria or criteria_load()
    run_event_publish(run_id=run_id, event={"type": "check_started", "run": run_id, "name": name})
    ctx = Context(criteria=loaded.criteria, mode_name=run.mode, account_id=run.account_id)
    result = validator.run(ctx)
    row, _ = CheckResult.objects.get_or_create(
        run_id=run_id,
        name=name,
        defaults={
            "check_id": validator.check_id,
            "status": result.status,
            "details": result.details[:10000],
            "evidence": result.evidence,
            "blocking": result.blocking,
            "duration_seconds": result.duration_seconds,
            "finished_at": timezone.now(),
        },
    )
    run_event_publish(run_id=run_id, event={"type": "check", "run": run_id, **check_event(row)})
    if CheckResult.objects.filter(run_id=run_id).count() >= len(run.checks_planned):
        _run_finalize(run_id)
    return row


def check_event(row: CheckResult) -> dict:
    return {
        "name": row.name,
        "check_id": row.check_id,
        "status": row.status,
        "blocking": row.blocking,
        "details": row.details,
        "duration_seconds": row.duration_seconds,
    }


def run_verdict(results: list[CheckResult], planned: list[str]) -> tuple[str, float, list[str]]:
    """(decision, score, blocking issues) of a run's results. A blocking check that failed,
    was skipped (not measured) or never reported makes the run NO-GO."""
    by_name = {r.name: r for r in results}
    issues = []
    for name in planned:
        row = by_name.get(name)
        if row is None:
            issues.append(f"{name}: no result")
        elif row.blocking and row.status in (CheckStatus.FAILED, CheckStatus.SKIPPED):
            issues.append(f"{row.check_id} {name} {row.status}: {row.details}")
    points = sum(1.0 if r.status == "passed" else 0.5 if r.status == "warning" else 0.0 for r in results)
    score = round(100 * points / len(planned), 1) if planned else 0.0
    return (Decision.NO_GO if issues or not planned else Decision.GO), score, issues


def _run_finalize(run_id: int) -> ValidationRun:
    with transaction.atomic():
        run = ValidationRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING:  # another check's task finalized it first
            return run
        decision, score, issues = run_verdict(list(run.results.all()), run.checks_planned)
        run.status, run.decision, run.score, run.finished_at = RunStatus.FINISHED, decision, score, timezone.now()
        run.error = "\n".join(issues)[:10000]
        run.save(update_fields=["status", "decision", "score", "finished_at", "error"])
        audit_append(
            actor=Actor.system("validation"),
            action="validation.run_finished",
            obj=run,
            config_hash=run.config_hash,
            payload={"decision": decision, "score": score, "blocking_issues": issues[:50]},
        )
        if decision == Decision.NO_GO and run.account_id is not None:
            _alert_validation_failed(run, issues)
    transaction.on_commit(
        lambda: run_event_publish(
            run_id=run.pk,
            event={"type": "run", "run": run.pk, "status": run.status, "decision": decision, "score": score},
        )
    )
    return run


def _alert_validation_failed(run: ValidationRun, issues: list[str]) -> None:
    from risk.alerts import alert_raise

    alert_raise(
        account_id=run.account_id,
        type="validation_failed",
        message=f"validation run {run.pk} ({run.mode}) is NO-GO: {issues[0] if issues else 'no checks'}",
        details={"run": run.pk, "blocking_issues": issues[:20]},
    )


def validation_run_now(**kwargs) -> ValidationRun:
    """Start a run and execute it in this process, every check one after the other (for
    `manage.py validate` and tests); returns the finished run."""
    criteria = kwargs.pop("criteria", None) or criteria_load()
    run = validation_run_start(**kwargs, criteria=criteria, queue=False)
    validation_run_execute(run_id=run.pk, criteria=criteria)
    run.refresh_from_db()
    return run
