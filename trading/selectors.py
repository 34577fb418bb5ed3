from collections.abc import Iterable
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from risk.gate import Pacing
from trading.exchanges.ratelimit import rate_budget_for
from trading.feeds import EPOCH, STEP, TIMEFRAME, ScenarioFeed
from trading.models import Candle, EquitySnapshot, ExchangeCredential, Order, Position, Strategy, TradingAccount

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
    return Position.objects.filter(account_id=account_id, quantity__gt=0).order_by("symbol")


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
    period began, or the starting balance if the account had none yet. One query for both."""
    now = now or timezone.now()
    day = _day_start(now)
    week = day - timedelta(days=day.weekday())

    def base(start: datetime) -> Subquery:
        rows = EquitySnapshot.objects.filter(account_id=OuterRef("pk"), ts__lte=start).order_by("-ts")
        return Subquery(rows.values("equity")[:1])

    today, this_week = (
        TradingAccount.objects.filter(pk=account.pk).annotate(d=base(day), w=base(week)).values_list("d", "w").get()
    )
    return {"today": today or account.starting_balance, "week": this_week or account.starting_balance}


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


def trading_pacing(*, account_id: int, now: datetime, positions: Iterable[Position] | None = None) -> Pacing:
    """The account's recent activity for the gate's pacing rules. A trade is an order that
    reached the exchange (anything but new or rejected). `positions`: every position of the
    account, when the caller has them loaded already (saves counting the new ones in SQL)."""
    hour_ago, day = now - timedelta(hours=1), _day_start(now)
    # One grouped read: per symbol, its last trade and its trades today and in the last hour.
    rows = (
        Order.objects.filter(account_id=account_id)
        .exclude(status__in=("new", "rejected"))
        .values("symbol")
        .annotate(
            last=Max("created_at"),
            today=Count("pk", filter=Q(created_at__gte=day)),
            hour=Count("pk", filter=Q(created_at__gte=hour_ago)),
        )
        .values_list("symbol", "last", "today", "hour")
    )
    last_by_symbol, today, hour = {}, 0, 0
    for symbol, last_at, n_today, n_hour in rows:
        last_by_symbol[symbol] = last_at
        today += n_today
        hour += n_hour
    last = max(last_by_symbol.values(), default=None)
    if positions is None:
        opened = Position.objects.filter(account_id=account_id, opened_at__gte=hour_ago).count()
    else:
        opened = sum(1 for p in positions if p.opened_at is not None and p.opened_at >= hour_ago)
    return Pacing(
        trades_today=today,
        trades_last_hour=hour,
        new_positions_last_hour=opened,
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
