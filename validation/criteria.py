"""Validation criteria (SPEC V3): `validation/criteria.yaml`, checked by a pydantic schema.

A malformed file is refused with every problem named by its dotted key (`thresholds.latency_p99_ms:
...`); unknown keys are refused too, so a typo never silently falls back to a default."""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from validation.exceptions import CriteriaInvalid

CRITERIA_PATH = Path(__file__).with_name("criteria.yaml")
MODES = ("quick", "standard", "thorough")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    latency_p99_ms: float = Field(gt=0)
    throughput_ops_per_s: float = Field(gt=0)
    memory_mb: float = Field(gt=0)
    cpu_pct: float = Field(gt=0, le=100)
    error_rate_pct: float = Field(ge=0, le=100)
    recovery_seconds: float = Field(gt=0)
    rpo_seconds: float = Field(gt=0)
    critical_vulnerabilities: int = Field(ge=0)
    high_vulnerabilities: int = Field(ge=0)


class Coverage(_Strict):
    data_file: str
    max_age_hours: float = Field(gt=0)
    default_min_pct: float = Field(ge=0, le=100)
    paths: dict[str, float]

    @field_validator("paths")
    @classmethod
    def _percentages(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [path for path, pct in value.items() if not 0 <= pct <= 100]
        if bad:
            raise ValueError(f"thresholds must be between 0 and 100 ({', '.join(bad)})")
        return value


class Integration(_Strict):
    junit_file: str
    max_age_hours: float = Field(gt=0)
    min_tests: int = Field(ge=1)


class Security(_Strict):
    exclude: list[str] = []
    baseline_file: str
    bandit_targets: list[str] = Field(min_length=1)
    bandit_max_severity: Literal["LOW", "MEDIUM", "HIGH"]
    history_max_commits: int = Field(ge=1)


class Stability(_Strict):
    scenario: str
    rss_max_mb: float = Field(gt=0)
    rss_growth_pct: float = Field(ge=0)
    latency_drift_pct: float = Field(ge=0)


class PaperTrading(_Strict):
    scenarios: list[str] = Field(min_length=1)
    min_profit_pct: float
    max_drawdown_pct: float = Field(gt=0)
    min_sharpe: float


class Database(_Strict):
    query_p99_ms: float = Field(gt=0)


class Monitoring(_Strict):
    alert_rules_file: str
    heartbeat_max_age_seconds: float = Field(gt=0)
    required_metrics: list[str] = Field(min_length=1)


class Operational(_Strict):
    runbooks_dir: str
    required_runbooks: list[str] = Field(min_length=1)


class ComplianceCriteria(_Strict):
    retention_max_age_hours: float = Field(gt=0)


class Mode(_Strict):
    budget_seconds: float = Field(gt=0)
    validators: Literal["all"] | list[str]
    ticks: int = Field(ge=10)
    samples: int = Field(ge=10)
    secrets_history: bool


class GoLive(_Strict):
    checklist: dict[str, str] = Field(min_length=1)
    required_signoffs: list[Literal["legal", "compliance", "risk", "operations"]]


class Criteria(_Strict):
    version: Literal[1]
    thresholds: Thresholds
    coverage: Coverage
    integration: Integration
    security: Security
    stability: Stability
    paper_trading: PaperTrading
    database: Database
    monitoring: Monitoring
    operational: Operational
    compliance: ComplianceCriteria
    modes: dict[Literal["quick", "standard", "thorough"], Mode]
    golive: GoLive

    @field_validator("modes")
    @classmethod
    def _every_mode(cls, value: dict) -> dict:
        missing = [m for m in MODES if m not in value]
        if missing:
            raise ValueError(f"missing mode(s): {', '.join(missing)}")
        return value


@dataclass(frozen=True)
class LoadedCriteria:
    criteria: Criteria
    sha256: str
    path: str


def _problems(exc: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors())


def criteria_parse(text: str, *, path: str = "criteria.yaml") -> LoadedCriteria:
    """Parse and check criteria text; CriteriaInvalid names every bad key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CriteriaInvalid(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CriteriaInvalid(f"{path}: the top level must be a mapping of keys")
    try:
        criteria = Criteria.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise CriteriaInvalid(f"{path}: {_problems(exc)}") from None
    _check_names(criteria, path)
    return LoadedCriteria(criteria, hashlib.sha256(text.encode()).hexdigest(), path)


def _check_names(criteria: Criteria, path: str) -> None:
    """Validator names in modes and the checklist must exist in the registry."""
    from validation.validators import REGISTRY

    for mode_name, mode in criteria.modes.items():
        if mode.validators != "all":
            unknown = [n for n in mode.validators if n not in REGISTRY]
            if unknown:
                raise CriteriaInvalid(
                    f"{path}: modes.{mode_name}.validators: unknown validator(s) {', '.join(unknown)}"
                )
    for check_id, name in criteria.golive.checklist.items():
        if name not in REGISTRY:
            raise CriteriaInvalid(f"{path}: golive.checklist.{check_id}: unknown validator {name!r}")


def criteria_load(path: Path | str | None = None) -> LoadedCriteria:
    path = Path(path or CRITERIA_PATH)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CriteriaInvalid(f"{path}: cannot be read: {exc.strerror}") from None
    return criteria_parse(text, path=str(path))
