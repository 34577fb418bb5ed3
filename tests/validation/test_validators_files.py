"""Validators over files: coverage data, test reports, secrets and code scans."""

import subprocess
import sys

from tests.validation.conftest import make_ctx, run_check, with_mode

MONEY = """
def fee(notional, rate):
    return notional * rate


def net(notional, rate):
    if rate > 1:
        raise ValueError("rate")
    return notional - fee(notional, rate)
"""


def _coverage_project(tmp_path, call: str):
    (tmp_path / "money.py").write_text(MONEY)
    (tmp_path / "run.py").write_text(f"import money\n{call}\n")
    subprocess.run(
        [sys.executable, "-m", "coverage", "run", "--branch", "--source", ".", "run.py"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return tmp_path


def _cov_ctx(loaded, base):
    return make_ctx(loaded, base_dir=base, coverage={"paths": {"money.py": 100}, "default_min_pct": 50})


def test_coverage_passes_when_money_paths_are_fully_covered(loaded, tmp_path):
    base = _coverage_project(tmp_path, "money.net(10, 0.1)\ntry:\n    money.net(1, 2)\nexcept ValueError:\n    pass")
    result = run_check("coverage", _cov_ctx(loaded, base))
    assert result.status == "passed", result.details
    assert result.evidence["figures"]["money.py"] == 100


def test_coverage_fails_a_money_path_below_100(loaded, tmp_path):
    base = _coverage_project(tmp_path, "money.fee(10, 0.1)")
    result = run_check("coverage", _cov_ctx(loaded, base))
    assert result.status == "failed"
    assert "money.py:" in result.details and "minimum 100 %" in result.details


def test_coverage_is_skipped_without_data_never_passed(loaded, tmp_path):
    result = run_check("coverage", make_ctx(loaded, base_dir=tmp_path))
    assert result.status == "skipped"
    assert "no coverage data" in result.details


JUNIT = """<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}"
errors="0" skipped="1">{cases}</testsuite></testsuites>"""


def _junit(tmp_path, tests, failures):
    cases = '<testcase classname="tests.x" name="test_bad"><failure message="boom"/></testcase>' if failures else ""
    path = tmp_path / "var/reports/junit.xml"
    path.parent.mkdir(parents=True)
    path.write_text(JUNIT.format(tests=tests, failures=failures, cases=cases))
    return tmp_path


def test_integration_passes_on_a_green_report_and_fails_on_a_red_one(loaded, tmp_path):
    assert run_check("integration", make_ctx(loaded, base_dir=_junit(tmp_path / "g", 120, 0))).status == "passed"
    result = run_check("integration", make_ctx(loaded, base_dir=_junit(tmp_path / "r", 120, 1)))
    assert result.status == "failed"
    assert "1 failed and 0 errored tests: tests.x::test_bad" in result.details


def test_integration_is_skipped_without_a_report(loaded, tmp_path):
    assert run_check("integration", make_ctx(loaded, base_dir=tmp_path)).status == "skipped"


PLANTED = 'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n'


def test_secrets_passes_on_a_clean_tree(loaded, tmp_path):
    (tmp_path / "app.py").write_text("TIMEOUT = 30\n")
    result = run_check("secrets", make_ctx(loaded, base_dir=tmp_path))
    assert result.status in ("passed", "warning"), result.details
    assert result.evidence["figures"]["tree_findings"] == 0


def test_secrets_finds_a_planted_api_key(loaded, tmp_path):
    (tmp_path / "app.py").write_text("TIMEOUT = 30\n")
    (tmp_path / "settings_local.py").write_text(PLANTED)
    result = run_check("secrets", make_ctx(loaded, base_dir=tmp_path))
    assert result.status == "failed"
    assert "possible secret (AWS Access Key) at settings_local.py:1" in result.details
    assert "AKIAIOSFODNN7EXAMPLE" not in str(result.evidence)  # the secret itself is never recorded


def test_secrets_finds_a_key_removed_from_the_tree_but_left_in_git_history(loaded, tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "keys.py").write_text(PLANTED)
    git("add", ".")
    git("commit", "-qm", "oops")
    (tmp_path / "keys.py").write_text("# removed\n")
    git("commit", "-qam", "remove the key")
    ctx = with_mode(make_ctx(loaded, base_dir=tmp_path), secrets_history=True)
    result = run_check("secrets", ctx)
    assert result.status == "failed"
    assert "in history at" in result.details and ":keys.py" in result.details
    assert result.evidence["figures"]["tree_findings"] == 0


def test_code_security_passes_on_the_project(loaded):
    result = run_check("code_security", make_ctx(loaded))
    assert result.status in ("passed", "warning"), result.details
    assert "check_deploy" in result.evidence


def test_code_security_fails_on_a_high_severity_bandit_finding(loaded, tmp_path):
    (tmp_path / "genesis_site").mkdir()
    (tmp_path / "genesis_site/bad.py").write_text(
        "import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"
    )
    result = run_check("code_security", make_ctx(loaded, base_dir=tmp_path))
    assert result.status == "failed"
    assert "bandit B602 (HIGH) at genesis_site/bad.py:4" in result.details
