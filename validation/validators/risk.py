"""Risk limits (BIZ-002): crafted order intents that break each limit of the policy in force
are refused by the real pre-trade gate naming the right rule, and a sane intent passes (a gate
that refuses everything is as broken as one that refuses nothing)."""

from dataclasses import replace
from decimal import Decimal

from risk.exceptions import RiskRefused
from risk.gate import GateContext, OrderIntent, Pacing, gate_check
from risk.policy import RiskPolicy
from risk.selectors import config_version_active, policy_of
from trading.models import TradingAccount
from validation.validators import register
from validation.validators.base import BaseValidator, Context, Result, verdict

EQUITY = Decimal("100000")
PRICE = Decimal("100")


def _amount_for_pct(pct: Decimal) -> Decimal:
    return (EQUITY * pct / 100 / PRICE).quantize(Decimal("0.00000001"))


def crafted_cases(policy: RiskPolicy) -> list[tuple[str, str | None, OrderIntent, GateContext]]:
    """(label, expected rule or None for "must pass", intent, context) built from the policy's
    own numbers, so a looser policy is still held to its own limits."""
    small = min(policy.max_position_pct, policy.max_asset_pct, policy.max_total_exposure_pct) / 2
    ok = OrderIntent("BTC/USDT", "buy", _amount_for_pct(small), PRICE, Decimal("0.001"), Decimal("5"))
    base = GateContext(policy=policy, stop_level="none", equity=EQUITY, pacing=Pacing())
    full = {f"C{i}/USDT": Decimal("1") for i in range(policy.max_open_positions)}
    cases = [
        ("sane entry", None, ok, base),
        ("kill switch engaged", "kill_switch", ok, replace(base, stop_level="halt")),
        ("entries paused", "pause_entries", ok, replace(base, stop_level="pause_entries")),
        ("dry run", "mode", ok, replace(base, mode="DRY_RUN")),
        ("breaker open", "circuit_breaker", ok, replace(base, open_breakers=("exchange_status",))),
        ("symbol locked", "symbol_lock", ok, replace(base, locked_symbols=frozenset({"BTC/USDT"}))),
        ("too many positions", "max_open_positions", ok, replace(base, position_values=full)),
        ("daily stop", "daily_stop", ok, replace(base, pnl_today_pct=-(policy.daily_stop_pct or 1) - 1)),
        ("weekly stop", "weekly_stop", ok, replace(base, pnl_week_pct=-(policy.weekly_stop_pct or 1) - 1)),
        ("drawdown", "max_drawdown", ok, replace(base, drawdown_pct=policy.max_drawdown_pct or Decimal("100"))),
        (
            "trades per day",
            "max_trades_per_day",
            ok,
            replace(base, pacing=Pacing(trades_today=policy.max_trades_per_day)),
        ),
        (
            "below min notional",
            "min_notional",
            replace(ok, amount=Decimal("0.00000001")),
            base,
        ),
        (
            "over total exposure",
            "max_total_exposure",
            replace(ok, amount=_amount_for_pct(policy.max_total_exposure_pct + 1)),
            base,
        ),
        (
            "over position size",
            None if policy.max_position_pct >= policy.max_total_exposure_pct else "max_position_pct",
            replace(ok, amount=_amount_for_pct(policy.max_position_pct + Decimal("0.5"))),
            base,
        ),
    ]
    if policy.stale_data_seconds:
        cases.append(
            ("stale data", "data_freshness", ok, replace(base, data_age_seconds=policy.stale_data_seconds + 1))
        )
    # Drop "must pass" expectations that do not hold for the over-position-size case above.
    return [c for c in cases if not (c[0] == "over position size" and c[1] is None)]


@register
class RiskLimitsValidator(BaseValidator):
    name = "risk_limits"
    check_id = "BIZ-002"
    group = "risk"
    description = "Crafted intents beyond each limit are refused by the pre-trade gate"
    gate = staticmethod(gate_check)

    def measure(self, ctx: Context) -> Result:
        policies = _policies(ctx.account_id)
        problems, evidence = [], {}
        for label, policy in policies.items():
            outcomes = {}
            for case, expected, intent, gate_ctx in crafted_cases(policy):
                try:
                    self.gate(intent, gate_ctx)
                    got = None
                except RiskRefused as refusal:
                    got = refusal.rule
                outcomes[case] = got or "allowed"
                if got != expected:
                    want = f"refused by {expected}" if expected else "allowed"
                    problems.append(f"{label}: {case}: expected {want}, got {got or 'allowed'}")
            evidence[label] = outcomes
        cases = sum(len(v) for v in evidence.values())
        return verdict(problems, [], f"{cases} crafted intents over {len(policies)} policies judged right", evidence)


def _policies(account_id: int | None) -> dict[str, RiskPolicy]:
    """The policy in force for each account under test (the default profile as well)."""
    accounts = TradingAccount.objects.all() if account_id is None else TradingAccount.objects.filter(pk=account_id)
    policies = {"default profile": RiskPolicy()}
    for account in accounts.order_by("pk")[:20]:
        version = config_version_active(account_id=account.pk)
        if version is not None:
            policies[f"{account.name} v{version.version}"] = policy_of(version)
    return policies
