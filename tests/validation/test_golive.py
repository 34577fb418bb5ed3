"""The go-live gate (SPEC V5) and the LIVE switch that consults it (SPEC T8)."""

import pytest
from django.core.exceptions import PermissionDenied

from compliance.models import AuditEvent
from compliance.services import Actor, signoff_record
from risk.policy import default_policy_yaml
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from trading.services.accounts import live_blockers
from validation.exceptions import GoLiveRefused
from validation.golive import golive_decide, golive_override
from validation.models import CheckResult, ValidationRun
from validation.selectors import GOLIVE_SUBJECT_REF, golive_decision_current

pytestmark = pytest.mark.django_db
OPS = Actor.system("tests")
SIGNERS = {"legal": "legal", "compliance": "compliance_officer", "risk": "risk_manager", "operations": "operator"}


@pytest.fixture
def account():
    account = TradingAccountFactory()
    active_policy(account)
    return account


def _run(account, loaded, failing=()):
    """A finished run on the account's active configuration with every checklist result."""
    version = account.config_versions.get(is_active=True)
    run = ValidationRun.objects.create(
        trigger="ci",
        mode="standard",
        account=account,
        config_hash=version.sha256,
        status="finished",
        criteria_sha256=loaded.sha256,
        decision="GO",
    )
    for check_id, name in loaded.criteria.golive.checklist.items():
        status = "failed" if name in failing else "passed"
        CheckResult.objects.create(run=run, check_id=check_id, name=name, status=status, details=f"{name} {status}")
    return run


def _sign_all(account, roles=SIGNERS, decision="approve"):
    for role, group in roles.items():
        signoff_record(
            account=account,
            subject="go_live",
            subject_ref=GOLIVE_SUBJECT_REF,
            role=role,
            decision=decision,
            comment="reviewed",
            user=UserFactory(role=group),
        )


def test_go_when_every_check_passed_and_every_role_signed(account, loaded):
    run = _run(account, loaded)
    _sign_all(account)
    decision = golive_decide(account_id=account.pk, actor=OPS, criteria=loaded)
    assert decision.decision == "GO" and decision.score == 100 and decision.blocking_issues == []
    assert decision.run == run and decision.signoffs.count() == 4
    event = AuditEvent.objects.get(action="golive.decided")
    assert event.payload["decision"] == "GO" and event.config_hash == decision.config_hash
    assert not any("GO decision" in reason for reason in live_blockers(account))


def test_no_go_with_a_blocking_failure(account, loaded):
    _run(account, loaded, failing=("disaster_recovery",))
    _sign_all(account)
    decision = golive_decide(account_id=account.pk, actor=OPS, criteria=loaded)
    assert decision.decision == "NO_GO"
    assert decision.blocking_issues == ["OPS-002 disaster_recovery failed: disaster_recovery failed"]
    assert decision.score == round(100 * 11 / 12, 1)
    assert "no GO decision exists" in "; ".join(live_blockers(account))


def test_no_go_with_a_missing_or_rejected_signoff(account, loaded):
    _run(account, loaded)
    _sign_all(account, roles={"legal": "legal", "risk": "risk_manager", "operations": "operator"})
    _sign_all(account, roles={"operations": "operator"}, decision="reject")
    decision = golive_decide(account_id=account.pk, actor=OPS, criteria=loaded)
    assert decision.decision == "NO_GO"
    assert "sign-off missing: compliance" in decision.blocking_issues
    assert "sign-off rejected by operations: reviewed" in decision.blocking_issues


def test_no_go_without_a_run_on_this_configuration(account, loaded):
    _sign_all(account)
    decision = golive_decide(account_id=account.pk, actor=OPS, criteria=loaded)
    assert decision.decision == "NO_GO"
    assert decision.blocking_issues[0] == "no finished validation run for this configuration"


def test_a_new_config_version_invalidates_go(account, loaded):
    _run(account, loaded)
    _sign_all(account)
    assert golive_decide(account_id=account.pk, actor=OPS, criteria=loaded).decision == "GO"
    active_policy(account, content=default_policy_yaml() + "max_open_positions: 4\n", reason="tighter")
    assert golive_decision_current(account_id=account.pk) is None
    assert "no GO decision exists for configuration v2" in "; ".join(live_blockers(account))
    # Re-deciding on the new configuration finds no run and no sign-offs for it.
    again = golive_decide(account_id=account.pk, actor=OPS, criteria=loaded)
    assert again.decision == "NO_GO" and "sign-off missing: legal" in again.blocking_issues


def test_override_needs_the_privileged_role_and_a_written_reason_and_is_audited(account, loaded):
    _run(account, loaded, failing=("load",))
    original = golive_decide(account_id=account.pk, actor=OPS, criteria=loaded)
    operator, admin = UserFactory(role="operator"), UserFactory(role="admin")
    with pytest.raises(PermissionDenied, match="may not override"):
        golive_override(
            decision_id=original.pk,
            decision="GO",
            actor=Actor.from_user(operator),
            user=operator,
            reason="the load test box was busy",
        )
    with pytest.raises(GoLiveRefused, match="reason: a written reason"):
        golive_override(decision_id=original.pk, decision="GO", actor=Actor.from_user(admin), user=admin, reason=" ok ")
    assert not AuditEvent.objects.filter(action="golive.overridden").exists()
    override = golive_override(
        decision_id=original.pk,
        decision="GO",
        actor=Actor.from_user(admin),
        user=admin,
        reason="load measured separately on the production box: 2,400 orders/s",
    )
    assert override.overrides == original and override.decision == "GO"
    event = AuditEvent.objects.get(action="golive.overridden")
    assert event.actor == admin.username and event.payload["reason"].startswith("load measured")
    assert golive_decision_current(account_id=account.pk) == override


def test_deciding_for_a_run_on_another_configuration_is_refused(account, loaded):
    run = _run(account, loaded)
    active_policy(account, content=default_policy_yaml() + "max_open_positions: 4\n", reason="tighter")
    with pytest.raises(GoLiveRefused, match="not the active"):
        golive_decide(account_id=account.pk, actor=OPS, run_id=run.pk, criteria=loaded)
