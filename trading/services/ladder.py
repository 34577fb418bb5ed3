"""The capital ladder (SPEC T8): LIVE trading deploys at most the current step of capital,
stepped $100 -> $1k -> $10k -> $100k -> $1M. Raising a step needs the current step's
promotion criteria met (minimum duration, P&L, maximum drawdown, no breaker trip caused by
a defect of ours) and the sign-offs of CAPITAL_STEP_ROLES for the next step under the active
configuration. Lowering is always allowed. Every change is audited with its reason."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from compliance.models import AuditEvent, SignOffSubject
from compliance.selectors import signoffs_missing
from compliance.services import Actor, audit_append
from risk.selectors import config_version_active
from trading.exceptions import TradingError
from trading.models import CapitalLadder, EquitySnapshot, TradingAccount, TradingMode

STEPS = (Decimal("100"), Decimal("1000"), Decimal("10000"), Decimal("100000"), Decimal("1000000"))
CAPITAL_STEP_ROLES = ("risk", "operations")
# Breakers that trip on our own faults (orders the exchange refuses, bursts of API errors
# our requests cause). Exchange status and latency trips are the venue's, not a defect.
DEFECT_BREAKERS = ("order_rejection_burst", "api_error_burst")
HUNDRED = Decimal("100")


@dataclass(frozen=True)
class Criteria:
    min_days: int
    min_pnl_pct: Decimal
    max_drawdown_pct: Decimal


# What the step must show before the next one; the top step has none (it cannot be raised).
PROMOTION: dict[Decimal, Criteria] = {
    STEPS[0]: Criteria(min_days=7, min_pnl_pct=Decimal("0"), max_drawdown_pct=Decimal("10")),
    STEPS[1]: Criteria(min_days=14, min_pnl_pct=Decimal("0"), max_drawdown_pct=Decimal("10")),
    STEPS[2]: Criteria(min_days=30, min_pnl_pct=Decimal("0"), max_drawdown_pct=Decimal("8")),
    STEPS[3]: Criteria(min_days=60, min_pnl_pct=Decimal("0"), max_drawdown_pct=Decimal("6")),
}


class CapitalStepRefused(TradingError):
    code = "capital_step_refused"


def _equity(account: TradingAccount, at: datetime | None = None) -> Decimal:
    rows = EquitySnapshot.objects.filter(account=account)
    if at is not None:
        rows = rows.filter(ts__lte=at)
    latest = rows.order_by("-ts").values_list("equity", flat=True).first()
    return latest if latest is not None else account.cash_balance


def capital_ladder_start(account: TradingAccount) -> CapitalLadder:
    """The account's ladder, created at the first step on its first LIVE day."""
    ladder, _ = CapitalLadder.objects.get_or_create(
        account=account, defaults={"step": STEPS[0], "step_start_equity": _equity(account)}
    )
    return ladder


def capital_cap(account: TradingAccount) -> Decimal:
    """The most capital LIVE positions may hold now (the first step without a ladder)."""
    step = CapitalLadder.objects.filter(account=account).values_list("step", flat=True).first()
    return step if step is not None else STEPS[0]


def capital_clip(*, value: Decimal, deployed: Decimal, cap: Decimal) -> Decimal:
    """An entry of `value` shrunk so that deployed capital stays within the cap (0: none)."""
    return max(Decimal("0"), min(value, cap - deployed))


def _step_drawdown_pct(account: TradingAccount, since: datetime, start_equity: Decimal) -> Decimal:
    peak, worst = start_equity, Decimal("0")
    for equity in (
        EquitySnapshot.objects.filter(account=account, ts__gte=since).order_by("ts").values_list("equity", flat=True)
    ):
        peak = max(peak, equity)
        if peak > 0:
            worst = max(worst, (peak - equity) / peak * HUNDRED)
    return worst


def capital_promotion_blockers(account: TradingAccount, ladder: CapitalLadder, *, now: datetime) -> list[str]:
    """Every reason the ladder may not be raised now (empty: it may)."""
    if ladder.step == STEPS[-1]:
        return [f"the ladder is at its top step ${ladder.step:,.0f}"]
    criteria, next_step = PROMOTION[ladder.step], STEPS[STEPS.index(ladder.step) + 1]
    reasons = []
    if account.mode != TradingMode.LIVE:
        reasons.append(f"the account is {account.mode}: the ladder measures LIVE trading")
    held = now - ladder.step_started_at
    if held < timedelta(days=criteria.min_days):
        reasons.append(f"duration: {held.days} of {criteria.min_days} days at ${ladder.step:,.0f}")
    start = ladder.step_start_equity
    pnl_pct = (_equity(account) - start) / start * HUNDRED if start > 0 else Decimal("0")
    if pnl_pct < criteria.min_pnl_pct:
        reasons.append(f"pnl: {pnl_pct:.2f} % over the step, needs at least {criteria.min_pnl_pct} %")
    drawdown = _step_drawdown_pct(account, ladder.step_started_at, start)
    if drawdown > criteria.max_drawdown_pct:
        reasons.append(f"drawdown: {drawdown:.2f} % during the step, max {criteria.max_drawdown_pct} %")
    trips = AuditEvent.objects.filter(
        action="breaker.opened",
        payload__account=account.pk,
        payload__source__in=DEFECT_BREAKERS,
        ts__gte=ladder.step_started_at,
    ).count()
    if trips:
        reasons.append(f"breakers: {trips} trip(s) caused by defects during the step")
    version = config_version_active(account_id=account.pk)
    missing = signoffs_missing(
        required_roles=CAPITAL_STEP_ROLES,
        account_id=account.pk,
        subject=SignOffSubject.CAPITAL_STEP,
        subject_ref=str(int(next_step)),
        config_hash=version.sha256 if version else "",
    )
    if missing:
        reasons.append(f"sign-off: {', '.join(missing)} must approve the ${next_step:,.0f} step")
    return reasons


def _reason(reason: str) -> None:
    if not reason.strip():
        raise CapitalStepRefused("reason: a capital step change needs a reason")


def capital_step_raise(*, account_id: int, actor: Actor, reason: str, now: datetime | None = None) -> CapitalLadder:
    """Raise the cap one step, refused with every unmet criterion at once."""
    _reason(reason)
    now = now or timezone.now()
    with transaction.atomic():
        # The account lock orders the raise against ticks deploying capital under the cap.
        account = TradingAccount.objects.select_for_update().get(pk=account_id)
        ladder = capital_ladder_start(account)
        if blockers := capital_promotion_blockers(account, ladder, now=now):
            raise CapitalStepRefused(f"raise from ${ladder.step:,.0f} refused: " + "; ".join(blockers))
        return _step_set(account, ladder, STEPS[STEPS.index(ladder.step) + 1], actor, reason, now)


def capital_step_lower(
    *, account_id: int, actor: Actor, reason: str, step: Decimal | None = None, now: datetime | None = None
) -> CapitalLadder:
    """Lower the cap (one step down, or to `step`): always allowed, never below the first."""
    _reason(reason)
    with transaction.atomic():
        account = TradingAccount.objects.select_for_update().get(pk=account_id)
        ladder = capital_ladder_start(account)
        index = STEPS.index(ladder.step)
        target = STEPS[max(0, index - 1)] if step is None else Decimal(step)
        if target not in STEPS or target >= ladder.step:
            raise CapitalStepRefused(
                f"step: {target} is not a step below ${ladder.step:,.0f} (steps: {', '.join(str(s) for s in STEPS)})"
            )
        return _step_set(account, ladder, target, actor, reason, now or timezone.now())


def _step_set(account, ladder, step, actor, reason, now) -> CapitalLadder:
    previous = ladder.step
    ladder.step, ladder.step_started_at, ladder.step_start_equity = step, now, _equity(account)
    ladder.save()
    audit_append(
        actor=actor,
        action="capital.step_changed",
        obj=ladder,
        payload={"account": account.pk, "from": int(previous), "to": int(step), "reason": reason},
    )
    return ladder
