"""Validators that read the database and the ops files: each passes on good conditions and
fails, naming the defect, on a crafted bad one."""

import re
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from compliance.models import AuditEvent, RetentionPolicy
from compliance.services import Actor, audit_append
from genesis_site.models import Heartbeat
from risk.gate import gate_check
from risk.models import AlertChannel
from tests.compliance.tamper import as_table_owner
from tests.risk.factories import active_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory
from tests.validation.conftest import make_ctx, run_check
from trading.models import ORDER_TRANSITIONS, OrderStatus
from validation.validators.risk import RiskLimitsValidator

pytestmark = pytest.mark.django_db


def _events(n=3):
    from django.db import transaction

    account = TradingAccountFactory()
    for i in range(n):
        with transaction.atomic():
            audit_append(actor=Actor.system("t"), action="test.event", obj=account, payload={"i": i})
    return account


def test_compliance_passes_on_an_intact_chain(loaded):
    _events()
    result = run_check("compliance", make_ctx(loaded))
    assert result.status == "passed", result.details
    assert result.evidence["audit_events_checked"] == 3


def test_compliance_fails_on_a_tampered_audit_row_naming_its_sequence(loaded):
    _events()
    as_table_owner("UPDATE compliance_auditevent SET action = 'forged' WHERE sequence = 2")
    result = run_check("compliance", make_ctx(loaded))
    assert result.status == "failed"
    assert "audit chain broken at sequence 2" in result.details


def test_compliance_fails_when_retention_was_not_applied(loaded):
    RetentionPolicy.objects.update_or_create(record_type="orders", defaults={"keep_days": 30})
    order = OrderFactory(status=OrderStatus.FILLED)
    type(order).objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(days=40))
    result = run_check("compliance", make_ctx(loaded))
    assert result.status == "failed"
    assert "retention not applied: orders rows older than 30 days" in result.details


def test_compliance_warns_about_missing_signoffs_of_the_account(loaded):
    account = TradingAccountFactory()
    active_policy(account)
    result = run_check("compliance", make_ctx(loaded, account_id=account.pk))
    assert result.status == "warning"
    assert "legal" in result.evidence["signoffs_missing"]


def test_operational_passes_on_the_project_runbooks(loaded):
    result = run_check("operational", make_ctx(loaded))
    assert result.status == "passed", result.details


def test_operational_fails_on_a_missing_runbook(loaded, project_copy):
    (project_copy / "deploy/runbooks/kill-switch.md").unlink()
    result = run_check("operational", make_ctx(loaded, base_dir=project_copy))
    assert result.status == "failed"
    assert "runbook missing: deploy/runbooks/kill-switch.md" in result.details


def test_operational_fails_on_an_alert_linking_nowhere(loaded, project_copy):
    path = project_copy / "deploy/prometheus/alerts.yml"
    rules = yaml.safe_load(path.read_text())
    rules["groups"][0]["rules"][0]["annotations"]["runbook_url"] = "deploy/runbooks/nowhere.md"
    path.write_text(yaml.safe_dump(rules))
    result = run_check("operational", make_ctx(loaded, base_dir=project_copy))
    assert result.status == "failed"
    assert "links to a missing runbook deploy/runbooks/nowhere.md" in result.details


def test_monitoring_passes_with_metrics_rules_and_a_fresh_heartbeat(loaded):
    Heartbeat.objects.create(name="scheduler", beat_at=timezone.now())
    result = run_check("monitoring", make_ctx(loaded))
    assert result.status == "passed", result.details
    assert "GenesisEngineSilent" in result.evidence["alert_rules"]


def test_monitoring_fails_on_a_stale_heartbeat(loaded):
    Heartbeat.objects.create(name="scheduler", beat_at=timezone.now() - timedelta(minutes=10))
    result = run_check("monitoring", make_ctx(loaded))
    assert result.status == "failed"
    assert re.search(r"scheduler heartbeat is 60\d s old \(limit 60 s\)", result.details), result.details


def test_monitoring_fails_without_alert_rules(loaded, project_copy):
    Heartbeat.objects.create(name="scheduler", beat_at=timezone.now())
    (project_copy / "deploy/prometheus/alerts.yml").unlink()
    result = run_check("monitoring", make_ctx(loaded, base_dir=project_copy))
    assert result.status == "failed"
    assert "alert rules file deploy/prometheus/alerts.yml missing" in result.details


def test_strategy_passes_and_fails_on_an_invalid_configured_strategy(loaded):
    StrategyFactory(name="good")
    assert run_check("strategy", make_ctx(loaded)).status == "passed"
    StrategyFactory(name="broken", params={"fast": 30, "slow": 5, "surprise": 1})
    result = run_check("strategy", make_ctx(loaded))
    assert result.status == "failed"
    assert "strategy broken" in result.details


def test_risk_limits_passes_on_the_real_gate_for_every_active_policy(loaded):
    account = TradingAccountFactory(name="acme")
    active_policy(account)
    result = run_check("risk_limits", make_ctx(loaded))
    assert result.status == "passed", result.details
    assert result.evidence["acme v1"]["over total exposure"] == "max_total_exposure"
    assert result.evidence["default profile"]["sane entry"] == "allowed"


class _ExposureBlindGate(RiskLimitsValidator):
    """A gate with its exposure cap removed: the defect the validator exists to catch."""

    @staticmethod
    def gate(intent, ctx):
        from dataclasses import replace

        loose = ctx.policy.model_copy(update={"max_total_exposure_pct": 10_000})
        return gate_check(intent, replace(ctx, policy=loose))


def test_risk_limits_fails_when_the_gate_lets_an_over_cap_intent_through(loaded):
    result = _ExposureBlindGate().run(make_ctx(loaded))
    assert result.status == "failed"
    assert "over total exposure: expected refused by max_total_exposure" in result.details


def test_execution_measures_state_machine_idempotency_and_reconciliation(loaded):
    quick = run_check("execution", make_ctx(loaded))
    assert quick.status == "warning" and "not measured in quick mode" in quick.details
    result = run_check("execution", make_ctx(loaded, mode="standard"))
    assert result.status == "passed", result.details
    assert result.evidence["transitions_checked"] == 49
    recon = result.evidence["reconciliation"]
    assert recon["lost_answer_status_after"] == "filled" and recon["exchange_orders_for_lost"] == 1
    assert recon["never_reached_failed_on_pass"] == 3


def test_execution_fails_when_reconciliation_doubles_or_loses_an_order():
    from validation.validators.execution import reconciliation_problems

    good = {
        "lost_answer_status_after": "filled",
        "retry_same_order": True,
        "exchange_orders_for_lost": 1,
        "fills_for_lost": 1,
        "never_reached_status": "rejected",
        "never_reached_failed_on_pass": 3,
    }
    assert reconciliation_problems(good) == []
    doubled = reconciliation_problems(good | {"exchange_orders_for_lost": 2, "never_reached_failed_on_pass": 1})
    assert "a retried submit placed 2 orders on the exchange, not 1" in doubled
    assert any("failed on pass 1, expected rejected on pass 3" in p for p in doubled)


def test_execution_fails_when_a_final_state_can_be_left(loaded, monkeypatch):
    monkeypatch.setitem(ORDER_TRANSITIONS, OrderStatus.FILLED, frozenset({OrderStatus.CANCELLED}))
    result = run_check("execution", make_ctx(loaded))
    assert result.status == "failed"
    assert "illegal transition from a final state filled -> cancelled is allowed" in result.details


def test_database_passes_and_fails_against_its_query_limit(loaded):
    OrderFactory.create_batch(5)
    # A generous limit for the passing case: this machine is shared, its latency is not ours.
    passed = run_check("database", make_ctx(loaded, database={"query_p99_ms": 1000}))
    assert passed.status == "passed", passed.details
    assert passed.evidence["figures"]["samples"] == 50
    result = run_check("database", make_ctx(loaded, database={"query_p99_ms": 0.0001}))
    assert result.status == "failed"
    assert "query p99" in result.details and "exceeds 0.0001 ms" in result.details


def test_credentials_passes_when_every_stored_secret_is_a_fernet_token(loaded):
    from genesis_site.secrets import encrypt
    from trading.services.credentials import credential_store

    AlertChannel.objects.create(name="ok", kind="slack", url_encrypted=encrypt("https://hooks.example/x"))
    credential_store(account=TradingAccountFactory(), api_key="k" * 32, secret="s" * 48, actor=Actor.system("t"))
    result = run_check("credentials", make_ctx(loaded))
    assert result.status == "passed", result.details
    assert result.evidence["figures"]["values_checked"] == 3


def test_credentials_stores_a_throwaway_credential_and_reads_the_raw_table_even_with_none_stored(loaded):
    from trading.models import ExchangeCredential, TradingAccount

    result = run_check("credentials", make_ctx(loaded))
    assert result.status == "passed", result.details
    probe = result.evidence["storage_probe"]
    assert sorted(probe) == ["api_key_encrypted", "secret_encrypted"] and set(probe.values()) == {"fernet"}
    # The probe's rows were rolled back.
    assert not ExchangeCredential.objects.exists() and not TradingAccount.objects.exists()


def test_credentials_fails_when_the_storage_path_stops_encrypting(loaded, monkeypatch):
    from genesis_site import secrets

    monkeypatch.setattr(secrets, "encrypt", lambda text: text)  # the crafted defect
    result = run_check("credentials", make_ctx(loaded))
    assert result.status == "failed"
    assert "a stored api_key_encrypted reached the table unencrypted" in result.details


def test_credentials_fails_on_a_secret_stored_in_plain_text(loaded):
    from trading.models import ExchangeCredential

    ExchangeCredential.objects.create(
        account=TradingAccountFactory(), api_key_encrypted="plain-api-key", secret_encrypted="plain", fingerprint="x"
    )
    result = run_check("credentials", make_ctx(loaded))
    assert result.status == "failed"
    assert "api_key_encrypted is not a Fernet token" in result.details
    assert "plain-api-key" not in result.details  # the value is never echoed


def test_dependency_audit_is_skipped_without_a_vulnerability_database(loaded):
    result = run_check("dependencies", make_ctx(loaded))
    assert result.status == "skipped"
    assert "no vulnerability database reachable" in result.details


def test_an_audit_event_count_is_measured_not_assumed(loaded):
    assert not AuditEvent.objects.exists()
    result = run_check("compliance", make_ctx(loaded))
    assert result.evidence["audit_events_checked"] == 0


def test_timed_checks_record_the_machine_load_and_say_when_it_was_busy(loaded):
    from validation.validators.base import load_note, machine_load

    load = machine_load()
    assert load["cores"] >= 1 and load["busy"] == (load["load_1m"] > 1.5 * load["cores"])
    assert load_note({"busy": True, "load_1m": 9.0, "cores": 2}).startswith(" (machine busy: load 9 on 2 cores")
    assert load_note({"busy": False, "load_1m": 0.5, "cores": 2}) == ""
    result = run_check("database", make_ctx(loaded, database={"query_p99_ms": 1000}))
    assert result.evidence["machine_load"]["cores"] == load["cores"]
