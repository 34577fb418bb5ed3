"""The go-live gate (SPEC V5): a GO/NO-GO decision for one account's active configuration,
from the latest finished validation run on that configuration and the required sign-offs.

GO only when every checklist check was measured and passed (a warning is listed, not
blocking), no other blocking check failed, and every required role approved this exact
configuration. The decision is bound to the config hash: the LIVE switch only accepts a GO for
the hash that is active now, so a new configuration version needs a new decision."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction

from compliance.services import Actor, audit_append
from risk.selectors import config_version_active
from trading.models import TradingAccount
from validation.criteria import LoadedCriteria, criteria_load
from validation.exceptions import GoLiveConflict, GoLiveNotFound, GoLiveRefused
from validation.models import CheckStatus, Decision, GoLiveDecision, RunStatus, ValidationRun
from validation.selectors import golive_signoffs

OVERRIDE_PERMISSION = "validation.override_golive"


def _latest_run(account_id: int, config_hash: str) -> ValidationRun | None:
    return (
        ValidationRun.objects.filter(account_id=account_id, config_hash=config_hash, status=RunStatus.FINISHED)
        .order_by("-finished_at", "-pk")
        .first()
    )


def golive_evaluate(*, run: ValidationRun | None, config_hash: str, account_id: int, criteria: LoadedCriteria) -> dict:
    """The decision's content, without recording it: checklist, blocking issues, warnings,
    score, sign-offs and recommendation."""
    gate = criteria.criteria.golive
    blocking, warnings, checklist = [], [], {}
    results = {r.name: r for r in run.results.all()} if run else {}
    if run is None:
        blocking.append("no finished validation run for this configuration")
    for check_id, name in gate.checklist.items():
        row = results.get(name)
        status = row.status if row else "not run"
        checklist[check_id] = {"check": name, "status": status, "details": row.details if row else ""}
        if row is None:
            blocking.append(f"{check_id} {name}: not measured in run {run.pk if run else '-'}")
        elif status in (CheckStatus.FAILED, CheckStatus.SKIPPED):
            blocking.append(f"{check_id} {name} {status}: {row.details}")
        elif status == CheckStatus.WARNING:
            warnings.append(f"{check_id} {name}: {row.details}")
    listed = set(gate.checklist.values())
    for name, row in results.items():
        if name not in listed and row.blocking and row.status == CheckStatus.FAILED:
            blocking.append(f"{row.check_id} {name} failed: {row.details}")
    if run is not None and run.criteria_sha256 != criteria.sha256:
        warnings.append("the criteria changed since the run was measured")
    current = golive_signoffs(account_id=account_id, config_hash=config_hash)
    for role in gate.required_signoffs:
        signoff = current.get(role)
        if signoff is None:
            blocking.append(f"sign-off missing: {role}")
        elif signoff.decision != "approve":
            blocking.append(f"sign-off rejected by {role}: {signoff.comment}")
    passed = sum(1 for item in checklist.values() if item["status"] == CheckStatus.PASSED)
    score = round(100 * passed / len(checklist), 1)
    decision = Decision.NO_GO if blocking else Decision.GO
    return {
        "decision": decision,
        "score": score,
        "checklist": checklist,
        "blocking_issues": blocking,
        "warnings": warnings,
        "signoffs": [s for s in current.values() if s.decision == "approve"],
        "recommendation": _recommendation(decision, blocking, warnings),
    }


def _recommendation(decision: str, blocking: list[str], warnings: list[str]) -> str:
    if decision == Decision.GO:
        extra = f" Review {len(warnings)} warning(s) first." if warnings else ""
        return (
            "GO: every checklist item measured and passed and every sign-off approved; start at the first capital step."
            + extra
        )
    return f"NO-GO: resolve {len(blocking)} blocking issue(s), starting with: {blocking[0]}"


def golive_decide(
    *, account_id: int, actor: Actor, run_id: int | None = None, criteria: LoadedCriteria | None = None
) -> GoLiveDecision:
    """Decide GO/NO-GO for the account's active configuration from `run_id` (default: the
    latest finished run on that configuration) and record it, audited, linked to the
    sign-offs it relied on."""
    account = TradingAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise GoLiveNotFound(f"account: no account with id {account_id}")
    version = config_version_active(account_id=account.pk)
    if version is None:
        raise GoLiveConflict(f"account {account.name} has no active configuration to decide on")
    run = _run_for(account.pk, version.sha256, run_id)
    content = golive_evaluate(
        run=run, config_hash=version.sha256, account_id=account.pk, criteria=criteria or criteria_load()
    )
    signoffs = content.pop("signoffs")
    with transaction.atomic():
        decision = GoLiveDecision.objects.create(
            account=account, config_hash=version.sha256, run=run, decided_by=actor.name, **content
        )
        decision.signoffs.set(signoffs)
        audit_append(
            actor=actor,
            action="golive.decided",
            obj=decision,
            config_hash=version.sha256,
            payload={
                "account": account.pk,
                "decision": decision.decision,
                "score": decision.score,
                "run": run.pk if run else None,
                "blocking_issues": decision.blocking_issues[:50],
            },
        )
    return decision


def _run_for(account_id: int, config_hash: str, run_id: int | None) -> ValidationRun | None:
    if run_id is None:
        return _latest_run(account_id, config_hash)
    run = ValidationRun.objects.filter(pk=run_id, account_id=account_id).first()
    if run is None:
        raise GoLiveNotFound(f"run: no validation run {run_id} for this account")
    if run.status != RunStatus.FINISHED:
        raise GoLiveConflict(f"run: validation run {run_id} has not finished")
    if run.config_hash != config_hash:
        raise GoLiveConflict(
            f"run: validation run {run_id} measured configuration {run.config_hash[:12] or '(none)'}, "
            f"not the active {config_hash[:12]}"
        )
    return run


def golive_override(
    *, decision_id: int, decision: str, actor: Actor, user: AbstractBaseUser, reason: str
) -> GoLiveDecision:
    """Override a decision (GO to NO-GO or back) for its configuration. Only a user with the
    override permission, only with a written reason; recorded as a new decision naming the
    one it overrides, and audited."""
    if not user.has_perm(OVERRIDE_PERMISSION):
        raise PermissionDenied(f"{user.get_username()} may not override a go-live decision")
    if decision not in Decision.values:
        raise GoLiveRefused(f"decision: {decision!r} is not one of {', '.join(Decision.values)}")
    if len(reason.strip()) < 10:
        raise GoLiveRefused("reason: a written reason (at least 10 characters) is required to override")
    with transaction.atomic():
        original = GoLiveDecision.objects.select_for_update().filter(pk=decision_id).first()
        if original is None:
            raise GoLiveNotFound(f"decision: no go-live decision {decision_id}")
        override = GoLiveDecision.objects.create(
            account_id=original.account_id,
            config_hash=original.config_hash,
            run=original.run,
            decision=decision,
            score=original.score,
            checklist=original.checklist,
            blocking_issues=original.blocking_issues,
            warnings=original.warnings,
            recommendation=f"Overridden to {decision} by {actor.name}: {reason.strip()}",
            decided_by=actor.name,
            overrides=original,
            override_reason=reason.strip(),
        )
        override.signoffs.set(original.signoffs.all())
        audit_append(
            actor=actor,
            action="golive.overridden",
            obj=override,
            config_hash=original.config_hash,
            payload={
                "account": original.account_id,
                "overrides": original.pk,
                "from": original.decision,
                "to": decision,
                "reason": reason.strip(),
            },
        )
    return override


def golive_live_blocker(*, account_id: int) -> str | None:
    """Why the go-live gate forbids LIVE for the account now, or None when the current
    decision for its active configuration is GO."""
    from validation.selectors import golive_decision_current

    version = config_version_active(account_id=account_id)
    if version is None:
        return "no active risk configuration"
    current = golive_decision_current(account_id=account_id)
    label = f"configuration v{version.version} ({version.sha256[:12]})"
    if current is None:
        return f"no GO decision exists for {label}"
    if current.decision != Decision.GO:
        return f"no GO decision exists for {label}: the current decision {current.pk} is NO-GO"
    return None
