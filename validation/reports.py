"""Reports of a validation run (SPEC V4): JSON for CI, HTML for people, text for a terminal."""

import json

from django.template.loader import render_to_string

from validation.criteria import criteria_load
from validation.exceptions import CriteriaInvalid
from validation.models import GoLiveDecision, ValidationRun


def _timing(run: ValidationRun) -> dict:
    """The run's wall time (start to finish, queueing included) against its mode's time
    budget (SPEC V3: quick <= 60 s, standard <= 10 min)."""
    try:
        budget = criteria_load().criteria.modes[run.mode].budget_seconds
    except (CriteriaInvalid, KeyError):
        budget = None
    wall = round((run.finished_at - run.started_at).total_seconds(), 1) if run.finished_at else None
    within = None if wall is None or budget is None else wall <= budget
    return {"wall_seconds": wall, "budget_seconds": budget, "within_budget": within}


def run_report(*, run: ValidationRun, decision: GoLiveDecision | None = None) -> dict:
    report = {
        "run": run.pk,
        "mode": run.mode,
        "status": run.status,
        "decision": run.decision,
        "score": run.score,
        "trigger": run.trigger,
        "actor": run.actor,
        "started_by": run.started_by.get_username() if run.started_by else None,
        "account": run.account_id,
        "code_version": run.code_version,
        "config_hash": run.config_hash,
        "criteria_sha256": run.criteria_sha256,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        **_timing(run),
        "blocking_issues": [line for line in run.error.splitlines() if line],
        "checks": [
            {
                "name": r.name,
                "check_id": r.check_id,
                "status": r.status,
                "blocking": r.blocking,
                "duration_seconds": r.duration_seconds,
                "details": r.details,
                "evidence": r.evidence,
            }
            for r in run.results.order_by("pk")
        ],
    }
    if decision is not None:
        report["golive"] = golive_report(decision)
    return report


def golive_report(decision: GoLiveDecision) -> dict:
    return {
        "id": decision.pk,
        "account": decision.account_id,
        "decision": decision.decision,
        "config_hash": decision.config_hash,
        "run": decision.run_id,
        "score": decision.score,
        "checklist": decision.checklist,
        "blocking_issues": decision.blocking_issues,
        "warnings": decision.warnings,
        "recommendation": decision.recommendation,
        "signoffs": [
            {"role": s.role, "by": s.signed_by.get_username(), "at": s.signed_at.isoformat()}
            for s in decision.signoffs.select_related("signed_by")
        ],
        "decided_by": decision.decided_by,
        "decided_at": decision.decided_at.isoformat(),
        "overrides": decision.overrides_id,
        "override_reason": decision.override_reason,
    }


def report_render(*, run: ValidationRun, fmt: str, decision: GoLiveDecision | None = None) -> str:
    data = run_report(run=run, decision=decision)
    if fmt == "json":
        return json.dumps(data, indent=2, default=str)
    if fmt == "html":
        return render_to_string("validation/report.html", {"report": data})
    return _text(data)


def _text(data: dict) -> str:
    lines = [
        f"Validation run {data['run']} ({data['mode']}): {data['decision'] or data['status']}, score {data['score']}",
        f"code {data['code_version'][:12] or '-'}  config {data['config_hash'][:12] or '-'}  "
        f"criteria {data['criteria_sha256'][:12]}",
    ]
    if data["wall_seconds"] is not None:
        over = "" if data["within_budget"] is not False else "  OVER BUDGET"
        budget = f" of the {data['mode']} budget {data['budget_seconds']:g} s" if data["budget_seconds"] else ""
        lines.append(f"wall time {data['wall_seconds']:.1f} s{budget}{over}")
    for check in data["checks"]:
        flag = " [blocking]" if check["blocking"] else ""
        lines.append(
            f"  {check['status'].upper():8} {check['check_id']:10} {check['name']:18} "
            f"{check['duration_seconds']:7.2f}s{flag}  {check['details']}"
        )
    if golive := data.get("golive"):
        lines.append(f"Go-live: {golive['decision']} (score {golive['score']}) — {golive['recommendation']}")
        lines += [f"  blocking: {issue}" for issue in golive["blocking_issues"]]
    return "\n".join(lines)
