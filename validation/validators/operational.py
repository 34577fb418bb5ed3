"""Operational: a runbook for each top failure scenario, and every alert rule links to an
existing runbook."""

import yaml

from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, skipped, verdict

MIN_RUNBOOK_CHARS = 200  # a title and a line is not a runbook


def alert_rules(path) -> list[dict]:
    data = yaml.safe_load(path.read_text()) or {}
    return [rule for group in data.get("groups") or [] for rule in group.get("rules") or [] if "alert" in rule]


@register
class OperationalValidator(BaseValidator):
    name = "operational"
    check_id = "OPS-003"
    group = "operations"
    description = "Runbooks for the top failure scenarios exist and every alert links to one"

    def measure(self, ctx: Context) -> Result:
        crit = ctx.criteria.operational
        runbooks = ctx.base_dir / crit.runbooks_dir
        rules_path = ctx.base_dir / ctx.criteria.monitoring.alert_rules_file
        if not runbooks.is_dir():
            return Result("failed", f"runbook directory {crit.runbooks_dir} does not exist", {})
        problems = []
        for name in crit.required_runbooks:
            path = runbooks / f"{name}.md"
            if not path.is_file():
                problems.append(f"runbook missing: {crit.runbooks_dir}/{name}.md")
            elif len(path.read_text().strip()) < MIN_RUNBOOK_CHARS:
                problems.append(f"runbook {name}.md is a stub (< {MIN_RUNBOOK_CHARS} characters)")
        if not rules_path.is_file():
            return skipped(f"alert rules file {rules_path.name} not found: cannot check runbook links")
        linked = {}
        for rule in alert_rules(rules_path):
            url = (rule.get("annotations") or {}).get("runbook_url", "")
            linked[rule["alert"]] = url
            if not url:
                problems.append(f"alert {rule['alert']} has no runbook_url")
            elif not (ctx.base_dir / url).is_file():
                problems.append(f"alert {rule['alert']} links to a missing runbook {url}")
        evidence = {"required": crit.required_runbooks, "alert_links": linked}
        return verdict(
            problems, [], f"{len(crit.required_runbooks)} runbooks present; {len(linked)} alerts linked", evidence
        )
