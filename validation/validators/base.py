"""The validator plugin interface (SPEC V1).

A validator measures one thing and returns a Result: passed, failed, warning or skipped, with
details for a human, evidence (JSON) for the record, whether it blocks go-live, and how long it
took. A validator that cannot measure (a missing tool, no data, no network) returns skipped
with the reason; it never returns passed without a measurement. An exception inside a
validator is a failure of that check, never of the suite.
"""

import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from django.conf import settings

from validation.criteria import Criteria, Mode
from validation.stats import percentile  # noqa: F401  (re-exported for validators)

PASSED, FAILED, WARNING, SKIPPED = "passed", "failed", "warning", "skipped"


@dataclass
class Result:
    status: str
    details: str
    evidence: dict = field(default_factory=dict)
    blocking: bool = True
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class Context:
    """What every validator may read: the criteria, the mode's scale, where the project is."""

    criteria: Criteria
    mode_name: str
    base_dir: Path = field(default_factory=lambda: Path(settings.BASE_DIR))
    account_id: int | None = None

    @property
    def mode(self) -> Mode:
        return self.criteria.modes[self.mode_name]


class BaseValidator:
    name: ClassVar[str]
    check_id: ClassVar[str]
    group: ClassVar[str]
    description: ClassVar[str]
    blocking: ClassVar[bool] = True
    # Safe to run at the same time as other validators (reads only, no heavy CPU or a
    # process of its own). Unsafe ones run one after the other so their timings are honest.
    parallel_safe: ClassVar[bool] = True

    def measure(self, ctx: Context) -> Result:
        raise NotImplementedError

    def run(self, ctx: Context) -> Result:
        started = time.perf_counter()
        try:
            result = self.measure(ctx)
        except Exception as exc:  # a crashing check is a failed check, with the reason kept
            result = Result(
                FAILED,
                f"{self.name} crashed: {type(exc).__name__}: {exc}",
                {"traceback": traceback.format_exc(limit=8)},
            )
        result.blocking = self.blocking
        result.duration_seconds = round(time.perf_counter() - started, 4)
        return result


def machine_load() -> dict:
    """The load average against the cores, for checks that time things: their figures on a
    machine busy with other work include that contention."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # not available on this platform
        return {}
    cores = os.cpu_count() or 1
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "cores": cores, "busy": one > 1.5 * cores}


def load_note(load: dict) -> str:
    if not load.get("busy"):
        return ""
    return f" (machine busy: load {load['load_1m']:g} on {load['cores']} cores, timings include that contention)"


def skipped(reason: str, **evidence) -> Result:
    return Result(SKIPPED, reason, evidence)


def verdict(problems: list[str], warnings: list[str], ok_details: str, evidence: dict) -> Result:
    """failed when any problem, warning when only warnings, passed otherwise."""
    if problems:
        return Result(FAILED, "; ".join(problems), evidence | {"warnings": warnings} if warnings else evidence)
    if warnings:
        return Result(WARNING, "; ".join(warnings), evidence)
    return Result(PASSED, ok_details, evidence)
