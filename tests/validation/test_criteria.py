import pytest

from validation.criteria import CRITERIA_PATH, criteria_parse
from validation.exceptions import CriteriaInvalid

GOOD = CRITERIA_PATH.read_text()


def test_the_shipped_criteria_hold_the_spec_defaults():
    loaded = criteria_parse(GOOD)
    t = loaded.criteria.thresholds
    assert (t.latency_p99_ms, t.throughput_ops_per_s, t.memory_mb, t.cpu_pct) == (50, 1000, 2048, 50)
    assert (t.error_rate_pct, t.recovery_seconds, t.critical_vulnerabilities, t.high_vulnerabilities) == (
        0.1,
        300,
        0,
        0,
    )
    assert loaded.criteria.modes["quick"].budget_seconds == 60
    assert loaded.criteria.modes["standard"].budget_seconds == 600
    assert set(loaded.criteria.golive.checklist) == {
        "TECH-001",
        "TECH-002",
        "TECH-003",
        "SEC-001",
        "SEC-002",
        "PERF-001",
        "PERF-002",
        "OPS-001",
        "OPS-002",
        "OPS-003",
        "BIZ-001",
        "BIZ-002",
    }
    assert all(pct == 100 for pct in loaded.criteria.coverage.paths.values())
    assert len(loaded.sha256) == 64


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("latency_p99_ms: 50", "latency_p99_ms: -5", "thresholds.latency_p99_ms"),
        ("latency_p99_ms: 50", "latency_p99_ms: fast", "thresholds.latency_p99_ms"),
        ("  query_p99_ms: 10", "  query_p99_ms: 10\n  query_p50_ms: 1", "database.query_p50_ms"),
        ("    budget_seconds: 60\n", "", "modes.quick.budget_seconds"),
        ("trading/positions.py: 100", "trading/positions.py: 140", "coverage.paths"),
        ("    BIZ-002: risk_limits", "    BIZ-002: risk_limitz", "golive.checklist.BIZ-002"),
        ("[secrets, code_security,", "[secrets, code_securty,", "modes.quick.validators"),
        ("required_signoffs: [legal,", "required_signoffs: [lawyer,", "golive.required_signoffs"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_key(old, new, named):
    assert old in GOOD
    with pytest.raises(CriteriaInvalid, match=named.replace(".", r"\.")):
        criteria_parse(GOOD.replace(old, new, 1))


def test_not_yaml_or_not_a_mapping_is_refused():
    with pytest.raises(CriteriaInvalid, match="not valid YAML"):
        criteria_parse("thresholds: [unclosed")
    with pytest.raises(CriteriaInvalid, match="top level must be a mapping"):
        criteria_parse("- a list")
