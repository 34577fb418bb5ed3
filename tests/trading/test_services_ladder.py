"""SPEC T8: the capital ladder. LIVE deploys at most the current step; a raise needs the
step's criteria and the sign-offs; every change is audited."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.services import Actor, audit_append, signoff_record
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from trading.models import CapitalLadder, EquitySnapshot, TradingMode
from trading.services.accounts import ModeChangeRefused, account_mode_set
from trading.services.ladder import (
    STEPS,
    CapitalStepRefused,
    capital_cap,
    capital_clip,
    capital_ladder_start,
    capital_step_lower,
    capital_step_raise,
)

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")
D = Decimal


def live_account(days_ago=8, equity="1000"):
    account = TradingAccountFactory(mode=TradingMode.LIVE, cash_balance=D(equity), starting_balance=D(equity))
    active_policy(account)
    ladder = capital_ladder_start(account)
    ladder.step_started_at = timezone.now() - timedelta(days=days_ago)
    ladder.save()
    return account


def snapshot(account, equity, hours_ago):
    EquitySnapshot.objects.create(
        account=account,
        ts=timezone.now() - timedelta(hours=hours_ago),
        equity=D(equity),
        cash=D(equity),
        positions_value=D("0"),
        realized_pnl=D("0"),
        unrealized_pnl=D("0"),
    )


def approve(account, step, roles=("risk", "operations")):
    admin = UserFactory(role="admin")
    for role in roles:
        signoff_record(
            account=account, subject="capital_step", subject_ref=str(step), role=role,
            decision="approve", comment="criteria reviewed", user=admin,
        )  # fmt: skip


def test_the_steps_are_the_spec_ladder_and_the_cap_clips_entries():
    assert STEPS == (D("100"), D("1000"), D("10000"), D("100000"), D("1000000"))
    assert capital_clip(value=D("80"), deployed=D("0"), cap=D("100")) == D("80")
    assert capital_clip(value=D("80"), deployed=D("50"), cap=D("100")) == D("50")
    assert capital_clip(value=D("80"), deployed=D("120"), cap=D("100")) == D("0")


def test_a_raise_with_every_criterion_met_and_signed_moves_one_step_audited():
    account = live_account()
    snapshot(account, "1010", hours_ago=1)
    approve(account, 1000)
    ladder = capital_step_raise(account_id=account.pk, actor=OPS, reason="week one clean")
    assert ladder.step == D("1000") and capital_cap(account) == D("1000")
    assert ladder.step_start_equity == D("1010")
    event = AuditEvent.objects.get(action="capital.step_changed")
    assert (event.payload["from"], event.payload["to"], event.payload["reason"]) == (100, 1000, "week one clean")


def test_a_raise_is_refused_with_every_unmet_criterion_and_changes_nothing():
    account = live_account(days_ago=2)
    snapshot(account, "1100", hours_ago=30)
    snapshot(account, "900", hours_ago=1)  # -10 % on the step, 18 % below its peak
    audit_append(
        actor=Actor.system("breakers"),
        action="breaker.opened",
        payload={"account": account.pk, "source": "order_rejection_burst"},
    )
    with pytest.raises(CapitalStepRefused) as refused:
        capital_step_raise(account_id=account.pk, actor=OPS, reason="hurry")
    message = str(refused.value)
    for part in ("duration: 2 of 7 days", "pnl: -10.00 %", "drawdown: 18.18 %", "breakers: 1 trip", "sign-off: risk"):
        assert part in message
    assert capital_cap(account) == D("100")
    assert not AuditEvent.objects.filter(action="capital.step_changed").exists()


def test_an_exchange_breaker_trip_is_not_a_defect_and_a_rejected_signoff_blocks():
    account = live_account()
    audit_append(
        actor=Actor.system("breakers"), action="breaker.opened", payload={"account": account.pk, "source": "latency"}
    )
    approve(account, 1000, roles=("risk",))
    with pytest.raises(CapitalStepRefused, match="sign-off: operations must approve the \\$1,000 step") as refused:
        capital_step_raise(account_id=account.pk, actor=OPS, reason="r")
    assert "breakers" not in str(refused.value)


def test_paper_accounts_cannot_climb_and_the_top_step_is_the_top():
    paper = TradingAccountFactory()
    active_policy(paper)
    with pytest.raises(CapitalStepRefused, match="the account is PAPER"):
        capital_step_raise(account_id=paper.pk, actor=OPS, reason="r")
    top = live_account()
    CapitalLadder.objects.filter(account=top).update(step=STEPS[-1])
    with pytest.raises(CapitalStepRefused, match="top step"):
        capital_step_raise(account_id=top.pk, actor=OPS, reason="r")


def test_lowering_is_always_allowed_audited_and_never_below_the_first_step():
    account = live_account()
    CapitalLadder.objects.filter(account=account).update(step=D("100000"))
    assert capital_step_lower(account_id=account.pk, actor=OPS, reason="incident").step == D("10000")
    assert capital_step_lower(account_id=account.pk, actor=OPS, reason="reset", step=D("100")).step == D("100")
    with pytest.raises(CapitalStepRefused, match="not a step below"):
        capital_step_lower(account_id=account.pk, actor=OPS, reason="again")
    with pytest.raises(CapitalStepRefused, match="reason"):
        capital_step_lower(account_id=account.pk, actor=OPS, reason="")
    assert AuditEvent.objects.filter(action="capital.step_changed").count() == 2


def test_the_command_shows_the_blockers_and_refuses_a_raise_cleanly(capsys):
    account = live_account(days_ago=1)
    call_command("capital_ladder", account.name, "status")
    out = capsys.readouterr().out
    assert "cap $100 (LIVE)" in out and "not yet: duration: 1 of 7 days" in out
    with pytest.raises(CommandError, match="raise from \\$100 refused"):
        call_command("capital_ladder", account.name, "raise", "--reason", "r")
    with pytest.raises(CommandError, match="--step"):
        call_command("capital_ladder", account.name, "lower", "--reason", "r", "--step", "lots")


def test_live_is_still_refused_without_a_go_decision_and_no_ladder_is_created():
    account = TradingAccountFactory(exchange_id="binance")
    active_policy(account)
    with pytest.raises(ModeChangeRefused, match="LIVE refused"):
        account_mode_set(account_id=account.pk, mode="LIVE", actor=OPS, reason="go")
    assert not CapitalLadder.objects.exists()
