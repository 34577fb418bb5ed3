"""Test coverage (TECH-001) from coverage.py's data file, with path-specific thresholds: the
money paths (order, fill, position, P&L, fees) must be covered 100 %."""

import io
import time

from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, skipped, verdict


@register
class CoverageValidator(BaseValidator):
    name = "coverage"
    check_id = "TECH-001"
    group = "quality"
    description = "Line and branch coverage from coverage.py data against per-path thresholds"

    def measure(self, ctx: Context) -> Result:
        import coverage
        from coverage.exceptions import NoDataError, NoSource

        crit = ctx.criteria.coverage
        data_file = ctx.base_dir / crit.data_file
        if not data_file.is_file():
            return skipped(f"no coverage data at {crit.data_file}: run `coverage run -m pytest` first")
        age_hours = (time.time() - data_file.stat().st_mtime) / 3600
        if age_hours > crit.max_age_hours:
            return skipped(f"coverage data is {age_hours:.0f} h old (limit {crit.max_age_hours:g} h): not evidence")
        config = ctx.base_dir / "pyproject.toml"
        cov = coverage.Coverage(data_file=str(data_file), config_file=str(config) if config.is_file() else False)
        cov.load()
        problems, figures = [], {}
        for path, minimum in crit.paths.items():
            try:
                pct = cov.report(include=[str(ctx.base_dir / path)], file=io.StringIO())
            except (NoDataError, NoSource):
                problems.append(f"{path}: not measured at all (minimum {minimum:g} %)")
                continue
            figures[path] = round(pct, 2)
            if pct < minimum:
                problems.append(f"{path}: {pct:.2f} % covered, minimum {minimum:g} %")
        try:
            total = cov.report(file=io.StringIO())
        except NoDataError:
            return Result("failed", f"coverage data at {crit.data_file} holds no measurements", {})
        figures["total"] = round(total, 2)
        if total < crit.default_min_pct:
            problems.append(f"total {total:.2f} % covered, minimum {crit.default_min_pct:g} %")
        evidence = {"figures": figures, "data_age_hours": round(age_hours, 2)}
        return verdict(problems, [], f"total {total:.2f} %; every money path at its threshold", evidence)
