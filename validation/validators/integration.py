"""Integration tests (TECH-002): the JUnit report of the last full test run (`make test`
writes it) has enough tests and none failed or errored."""

import time
import xml.etree.ElementTree as ET

from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, skipped, verdict


@register
class IntegrationValidator(BaseValidator):
    name = "integration"
    check_id = "TECH-002"
    group = "quality"
    description = "The last full test run (JUnit XML) passed with enough tests"

    def measure(self, ctx: Context) -> Result:
        crit = ctx.criteria.integration
        path = ctx.base_dir / crit.junit_file
        if not path.is_file():
            return skipped(f"no test report at {crit.junit_file}: run `make test` first")
        age_hours = (time.time() - path.stat().st_mtime) / 3600
        if age_hours > crit.max_age_hours:
            return skipped(f"test report is {age_hours:.0f} h old (limit {crit.max_age_hours:g} h): not evidence")
        root = ET.parse(path).getroot()  # noqa: S314  # nosec B314: our own pytest report, not untrusted input
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        totals = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
        failed = [
            f"{case.get('classname')}::{case.get('name')}"
            for case in root.iter("testcase")
            if case.find("failure") is not None or case.find("error") is not None
        ]
        problems = []
        if totals["failures"] or totals["errors"]:
            problems.append(
                f"{totals['failures']} failed and {totals['errors']} errored tests: {', '.join(failed[:5])}"
            )
        if totals["tests"] < crit.min_tests:
            problems.append(f"only {totals['tests']} tests ran (minimum {crit.min_tests})")
        evidence = {"figures": totals, "failed": failed[:50], "report_age_hours": round(age_hours, 2)}
        return verdict(problems, [], f"{totals['tests']} tests, none failed ({totals['skipped']} skipped)", evidence)
