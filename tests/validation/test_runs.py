"""Runs (SPEC V1, V4, V6): recorded with who/what/which code and config, every result, live
progress over the channel layer, reports, trends, and the validate command's exit code."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command

from compliance.models import AuditEvent
from compliance.services import Actor
from risk.models import Alert
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from validation.exceptions import RunRefused
from validation.live import RUNS_GROUP
from validation.models import ValidationRun
from validation.selectors import check_trend
from validation.services import run_verdict, validation_run_now, validation_run_start
from validation.validators.base import BaseValidator, Result

pytestmark = pytest.mark.django_db
OPS = Actor.system("tests")


def test_a_run_records_its_origin_every_result_and_a_verdict():
    account = TradingAccountFactory()
    version = active_policy(account)
    user = UserFactory(role="operator")
    run = validation_run_now(
        mode="quick",
        only=["risk_limits", "strategy"],
        actor=Actor.from_user(user),
        user=user,
        trigger="dashboard",
        account_id=account.pk,
    )
    assert run.status == "finished" and run.decision == "GO" and run.score == 100
    assert (run.started_by, run.actor, run.trigger) == (user, user.username, "dashboard")
    assert run.config_hash == version.sha256 and len(run.code_version) == 40 and len(run.criteria_sha256) == 64
    assert sorted(run.results.values_list("name", flat=True)) == ["risk_limits", "strategy"]
    actions = list(AuditEvent.objects.filter(object_type="validation.validationrun").values_list("action", flat=True))
    assert actions == ["validation.run_started", "validation.run_finished"]


def test_a_blocking_check_that_was_skipped_or_failed_makes_the_run_no_go():
    account = TradingAccountFactory()
    active_policy(account)
    run = validation_run_now(mode="quick", only=["monitoring"], actor=OPS, trigger="ci", account_id=account.pk)
    assert run.decision == "NO_GO" and "OPS-001 monitoring failed" in run.error
    assert Alert.objects.filter(type="validation_failed", account=account).exists()
    skipped = run.results.first()
    skipped.status = "skipped"
    assert run_verdict([skipped], ["monitoring"])[0] == "NO_GO"


class _Crashes(BaseValidator):
    name, check_id, group, description = "crashes", "X-1", "x", "raises"

    def measure(self, ctx):
        raise RuntimeError("disk on fire")


class _Skips(BaseValidator):
    name, check_id, group, description = "skips", "X-2", "x", "cannot measure"

    def measure(self, ctx):
        return Result("skipped", "tool missing")


def test_a_crashing_validator_fails_and_a_skipping_one_never_passes(loaded):
    from tests.validation.conftest import make_ctx

    crashed = _Crashes().run(make_ctx(loaded))
    assert crashed.status == "failed" and "RuntimeError: disk on fire" in crashed.details
    assert _Skips().run(make_ctx(loaded)).status == "skipped"


async def _drain(layer, channel):
    import asyncio

    events = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), 0.5)
        except TimeoutError:
            return events
        events.append(message["event"])


def test_progress_is_pushed_per_check_to_the_runs_group(django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(RUNS_GROUP, channel)
    with django_capture_on_commit_callbacks(execute=True):
        run = validation_run_now(mode="quick", only=["strategy", "operational"], actor=OPS, trigger="ci")
    events = async_to_sync(_drain)(layer, channel)
    kinds = [(e["type"], e.get("name")) for e in events]
    assert ("check", "strategy") in kinds and ("check", "operational") in kinds
    assert events[-1] == {"type": "run", "run": run.pk, "status": "finished", "decision": "GO", "score": 100.0}


def test_bad_requests_are_refused_naming_the_field_and_record_nothing():
    with pytest.raises(RunRefused, match="mode: 'fast'"):
        validation_run_start(mode="fast", actor=OPS, trigger="api")
    with pytest.raises(RunRefused, match="only: unknown validator or group nope"):
        validation_run_start(mode="quick", actor=OPS, trigger="api", only=["nope"])
    with pytest.raises(RunRefused, match="account: no account with id 999"):
        validation_run_start(mode="quick", actor=OPS, trigger="api", account_id=999)
    assert not ValidationRun.objects.exists()


def test_trend_per_check_over_runs():
    for _ in range(2):
        validation_run_now(mode="quick", only=["database"], actor=OPS, trigger="ci")
    trend = check_trend(name="database")
    assert len(trend) == 2 and trend[0]["run"] < trend[1]["run"]
    assert trend[0]["figures"]["samples"] == 50 and "query_p99_ms" in trend[0]["figures"]


def test_validate_command_reports_json_and_exits_non_zero_on_no_go(capsys, tmp_path):
    call_command("validate", "--mode", "quick", "--only", "risk_limits", "--format", "json")
    report = json.loads(capsys.readouterr().out)
    assert report["decision"] == "GO" and report["checks"][0]["check_id"] == "BIZ-002"
    assert report["budget_seconds"] == 60 and report["within_budget"] is True
    assert 0 <= report["wall_seconds"] <= report["budget_seconds"]
    with pytest.raises(CommandError, match="NO-GO"):
        call_command(
            "validate",
            "--mode",
            "quick",
            "--only",
            "monitoring",
            "--format",
            "html",
            "--output",
            str(tmp_path / "r.html"),
        )
    assert "OPS-001" in (tmp_path / "r.html").read_text()


def test_a_report_compares_the_run_wall_time_with_its_mode_budget():
    from datetime import timedelta

    from django.utils import timezone

    from validation.reports import report_render

    end = timezone.now()
    slow = ValidationRun.objects.create(
        mode="quick", trigger="ci", started_at=end - timedelta(seconds=75), finished_at=end
    )
    report = json.loads(report_render(run=slow, fmt="json"))
    assert (report["wall_seconds"], report["budget_seconds"], report["within_budget"]) == (75.0, 60, False)
    assert "wall time 75.0 s of the quick budget 60 s  OVER BUDGET" in report_render(run=slow, fmt="text")
    running = ValidationRun.objects.create(mode="standard", trigger="ci", status="running")
    assert json.loads(report_render(run=running, fmt="json"))["within_budget"] is None


def test_a_run_whose_framework_fails_is_closed_as_an_error_and_does_not_block_the_next():
    from validation.services import validation_run_execute

    run = validation_run_start(mode="quick", only=["strategy"], actor=OPS, trigger="ci", queue=False)
    ValidationRun.objects.filter(pk=run.pk).update(checks_planned=["a_validator_removed_since"])
    with pytest.raises(KeyError):
        validation_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.decision) == ("error", "NO_GO") and "KeyError" in run.error
    assert AuditEvent.objects.filter(action="validation.run_error", object_id=str(run.pk)).exists()
    assert validation_run_now(mode="quick", only=["strategy"], actor=OPS, trigger="ci").status == "finished"


def test_a_second_start_while_one_is_pending_is_refused_naming_it():
    from validation.exceptions import RunInProgress

    first = validation_run_start(mode="quick", only=["strategy"], actor=OPS, trigger="ci", queue=False)
    with pytest.raises(RunInProgress, match=f"validation run {first.pk} \\(quick"):
        validation_run_start(mode="quick", only=["strategy"], actor=OPS, trigger="api")
    assert ValidationRun.objects.count() == 1
    # Another account is not blocked by it.
    account = TradingAccountFactory()
    other = validation_run_start(
        mode="quick", only=["strategy"], actor=OPS, trigger="api", account_id=account.pk, queue=False
    )
    assert other.account_id == account.pk
