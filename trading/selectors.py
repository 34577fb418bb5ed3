from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from risk.gate import Pacing
from trading.exchanges.ratelimit import rate_budget_for
from trading.feeds import EPOCH, STEP, TIMEFRAME, ScenarioFeed
from trading.models import (
    Candle,
    EquitySnapshot,
    ExchangeCredential,
    Order,
    Position,
    Strategy,
    Ticker,
    TradingAccount,
)

HUNDRED = Decimal("100")
PCT = Decimal("0.0001")


def accounts_visible_to(user) -> QuerySet[TradingAccount]:
    """The one authorization rule for reading an account: superusers see all, others their own."""
    if not user.is_authenticated:
        return TradingAccount.objects.none()
    if user.is_superuser:
        return TradingAccount.objects.all()
    return TradingAccount.objects.filter(members=user)


def account_visible(*, user, account_id: int) -> bool:
    return accounts_visible_to(user).filter(pk=account_id).exists()


def accounts_to_tick() -> list[int]:
    """Every account the engine ticks: paper and dry-run ones, and LIVE ones with exchange
    credentials (a LIVE account without them cannot reach its exchange)."""
    accounts = TradingAccount.objects.exclude(mode="LIVE", exchange_credential__isnull=True)
    return list(accounts.order_by("pk").values_list("pk", flat=True))


def positions_open(*, account_id: int) -> QuerySet[Position]:
    """Positions holding a sellable quantity: fee dust (Position.dust) is not an open position."""
    return Position.objects.filter(account_id=account_id, quantity__gt=0, dust=False).order_by("symbol")


FEE_PRICE_MAX_AGE = timedelta(minutes=15)


def price_at(*, symbol: str, at: datetime, max_age: timedelta = FEE_PRICE_MAX_AGE) -> Decimal | None:
    """The last stored price of `symbol` (any source) at or before `at` and at most `max_age`
    older: a ticker's last price, else a candle's close. None when the system has none."""
    window = {"symbol": symbol, "ts__lte": at, "ts__gte": at - max_age}
    last = Ticker.objects.filter(**window).order_by("-ts").values_list("last", flat=True).first()
    if last is None:
        last = Candle.objects.filter(**window).order_by("-ts").values_list("close", flat=True).first()
    return last


def orders_recent(*, account_id: int, limit: int = 20) -> QuerySet[Order]:
    return Order.objects.filter(account_id=account_id).order_by("-created_at", "-pk")[:limit]


def equity_curve(*, account_id: int, limit: int = 500) -> list[EquitySnapshot]:
    rows = EquitySnapshot.objects.filter(account_id=account_id).order_by("-ts")[:limit]
    return list(reversed(rows))


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)


def equity_at(*, account_id: int, moment: datetime) -> Decimal | None:
    """Equity of the last snapshot at or before `moment`; None if the account had none yet."""
    return (
        EquitySnapshot.objects.filter(account_id=account_id, ts__lte=moment)
        .order_by("-ts")
        .values_list("equity", flat=True)
        .first()
    )


def pnl_bases(*, account: TradingAccount, now: datetime | None = None) -> dict[str, Decimal]:
    """The equity today's and this week's P&L are measured from: the last snapshot before the
    period began, or the starting balance if the account had none yet."""
    now = now or timezone.now()
    day = _day_start(now)
    week = day - timedelta(days=day.weekday())
    return {
        key: equity_at(account_id=account.pk, moment=start) or account.starting_balance
        for key, start in (("today", day), ("week", week))
    }


def pnl_summary(
    *, account: TradingAccount, equity: Decimal, now: datetime | None = None, bases: dict | None = None
) -> dict[str, Decimal]:
    """P&L today (since 00:00 UTC), this week (since Monday 00:00 UTC) and in total. A period
    that began before the account's first snapshot is measured from the starting balance.
    `bases` (from pnl_bases for the same moment) saves reading them again."""
    bases = bases or pnl_bases(account=account, now=now)
    out = {"total": equity - account.starting_balance}
    out["total_pct"] = (out["total"] / account.starting_balance * HUNDRED).quantize(PCT)
    for key, base in bases.items():
        out[key] = equity - base
        out[f"{key}_pct"] = (out[key] / base * HUNDRED).quantize(PCT)
    return out


def prices_latest(*, account: TradingAccount) -> dict[str, Decimal]:
    """Close of the candle of the account's last tick, per symbol."""
    rows = Candle.objects.filter(
        source=ScenarioFeed(account.scenario, account.scenario_seed).source,
        symbol__in=account.symbols,
        timeframe=TIMEFRAME,
        ts=EPOCH + STEP * account.feed_cursor,
    ).values_list("symbol", "close")
    return dict(rows)


def trading_pacing(*, account_id: int, now: datetime) -> Pacing:
    """The account's recent activity for the gate's pacing rules. A trade is an order that
    reached the exchange (anything but new or rejected)."""
    trades = Order.objects.filter(account_id=account_id).exclude(status__in=("new", "rejected"))
    hour_ago = now - timedelta(hours=1)
    last_by_symbol = dict(trades.values("symbol").annotate(last=Max("created_at")).values_list("symbol", "last"))
    last = max(last_by_symbol.values(), default=None)
    counts = trades.aggregate(
        today=Count("pk", filter=Q(created_at__gte=_day_start(now))),
        hour=Count("pk", filter=Q(created_at__gte=hour_ago)),
    )
    return Pacing(
        trades_today=counts["today"],
        trades_last_hour=counts["hour"],
        new_positions_last_hour=Position.objects.filter(account_id=account_id, opened_at__gte=hour_ago).count(),
        seconds_since_last_trade=(now - last).total_seconds() if last else None,
        seconds_since_symbol_trade={s: (now - t).total_seconds() for s, t in last_by_symbol.items()},
    )


def rate_budget_usage() -> list[dict]:
    """Request-weight budget in use per exchange API key (SPEC T5, shown on the system page):
    the key's fingerprint, the accounts using it, and the share used now (0..1)."""
    keys: dict[str, list[int]] = {}
    for fingerprint, account_id in ExchangeCredential.objects.values_list("fingerprint", "account_id"):
        keys.setdefault(fingerprint, []).append(account_id)
    return [
        {"key": fingerprint, "accounts": sorted(ids), "used": rate_budget_for(fingerprint).usage()}
        for fingerprint, ids in sorted(keys.items())
    ]


def strategy_variants_compare(
    *, account_id: int, strategy: str, overrides: dict[str, dict], candles: int, symbol: str | None = None
):
    """The account's strategy (the baseline) and variants of it (its parameters with each
    override applied), side by side on the paper exchange over the account's feed, over the
    `candles` candles up to its current cursor."""
    from trading.backtest import variants_compare
    from trading.strategies import StrategyConfigInvalid

    found = Strategy.objects.select_related("account").filter(account_id=account_id, name=strategy).first()
    if found is None:
        raise StrategyConfigInvalid(f"strategy: no strategy {strategy!r} on account {account_id}")
    account = found.account
    if candles < 10:
        raise StrategyConfigInvalid(f"candles: at least 10 are needed, got {candles}")
    symbol = symbol or (found.symbols or account.symbols)[0]
    variants = {found.name: found.params, **{name: {**found.params, **o} for name, o in overrides.items()}}
    start = max(0, account.feed_cursor - candles + 1)
    return variants_compare(
        feed=ScenarioFeed(account.scenario, account.scenario_seed),
        symbol=symbol,
        kind=found.kind,
        variants=variants,
        start=start,
        candles=candles,
    )
