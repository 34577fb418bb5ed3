from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from risk.gate import Pacing
from trading.exchanges.ratelimit import rate_budget_for
from trading.feeds import EPOCH, STEP, TIMEFRAME, ScenarioFeed
from trading.models import (
    Candle,
    EquitySnapshot,
    ExchangeCredential,
    Fill,
    Order,
    Position,
    Strategy,
    Ticker,
    TradingAccount,
)

if TYPE_CHECKING:
    from risk.models import ConfigVersion

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


def account_visible_get(*, user, account_id: int) -> TradingAccount | None:
    """accounts_visible_to(user).filter(pk=account_id).first(), the same statement, but
    compiled by the ORM once per process (genesis_site.prepared) instead of on every call:
    ~1.5 ms of CPU per API request on the reference machine, more than the statement itself.
    The statement is kept per what accounts_visible_to branches on (anonymous, superuser or
    not): a new branch there must join the key here."""
    from django.contrib.auth import get_user_model

    from genesis_site.prepared import prepared_objects

    if not user.is_authenticated:
        return None
    superuser = bool(user.is_superuser)

    def query(v):  # a stand-in user: the statement depends on its key and superuser flag only
        stand_in = get_user_model()(pk=v.get("user"), is_superuser=superuser, is_active=True)
        return accounts_visible_to(stand_in).filter(pk=v["account"]).order_by("pk")[:1]

    values = {"account": account_id} | ({} if superuser else {"user": user.pk})
    accounts = prepared_objects(("account_visible_get", superuser), TradingAccount, query, values)
    return accounts[0] if accounts else None


def accounts_to_tick() -> list[int]:
    """Every account the engine ticks: paper and dry-run ones, and LIVE ones with exchange
    credentials (a LIVE account without them cannot reach its exchange)."""
    accounts = TradingAccount.objects.exclude(mode="LIVE", exchange_credential__isnull=True)
    return list(accounts.order_by("pk").values_list("pk", flat=True))


def positions_open(*, account_id: int) -> QuerySet[Position]:
    """Positions holding a sellable quantity: fee dust (Position.dust) is not an open position."""
    return Position.objects.filter(account_id=account_id, quantity__gt=0, dust=False).order_by("symbol")


FEE_PRICE_MAX_AGE = timedelta(minutes=15)


def accounts_with_unpriced_fees() -> list[int]:
    """Accounts with a fill whose third-currency fee has no price yet (Fill.fee_unpriced), or
    with a fee_unpriced alert still open: what the late fee pricing has to look at."""
    from risk.models import Alert, AlertStatus  # risk imports trading

    fills = Fill.objects.filter(fee_unpriced=True).values_list("account_id", flat=True)
    alerts = Alert.objects.filter(type="fee_unpriced").exclude(status=AlertStatus.RESOLVED)
    return sorted(set(fills) | set(alerts.values_list("account_id", flat=True)))


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


def _period_starts(now: datetime) -> tuple[datetime, datetime]:
    """Where today's and this week's P&L periods began: 00:00 UTC, Monday 00:00 UTC."""
    day = _day_start(now)
    return day, day - timedelta(days=day.weekday())


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
    day, week = _period_starts(now)
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
    reached the exchange (anything but new or rejected). The engine's tick reads the same in
    `tick_reads`."""
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
    opened = Position.objects.filter(account_id=account_id, opened_at__gte=hour_ago).count()
    return _pacing(now=now, trades=rows, new_positions=opened)


def _pacing(*, now: datetime, trades: Iterable[tuple[str, datetime, int, int]], new_positions: int) -> Pacing:
    """Pacing from per-symbol trades: (symbol, its last trade, trades today, in the last hour)."""
    last_by_symbol, today, hour = {}, 0, 0
    for symbol, last_at, n_today, n_hour in trades:
        last_by_symbol[symbol] = last_at
        today += n_today
        hour += n_hour
    last = max(last_by_symbol.values(), default=None)
    return Pacing(
        trades_today=today,
        trades_last_hour=hour,
        new_positions_last_hour=new_positions,
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


@dataclass(frozen=True)
class TickReads:
    """What every tick reads besides its account row, positions and configuration."""

    bases: dict[str, Decimal]  # as pnl_bases
    open_breakers: tuple[str, ...]  # as breakers_open, sorted
    locked_symbols: frozenset[str]  # as symbols_locked
    pacing: Pacing  # as trading_pacing
    # The order_rejection_burst breaker has failures to forgive or is not closed: an accepted
    # paper order then has to be recorded on it (paper_orders_execute's `rejections_unsettled`).
    rejections_unsettled: bool = False


# One round trip for the four reads above, in SQL written once: through the ORM they cost
# ~1-4 ms of CPU each to build, ten times the statement itself. Every branch has the same
# six columns (kind, name, time, count today, count last hour, equity), typed by the first
# branch's casts (PostgreSQL types a UNION left to right); the values are
# converted by the ORM's own converters for the fields they come from, so they are what the
# ORM selectors answer (tests/trading/test_selectors_tick.py compares them on both backends).
_TICK_READS_SQL = """
SELECT CASE WHEN state = 'open' THEN 'breaker' ELSE 'unsettled' END, source, opened_at,
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS NUMERIC)
  FROM risk_circuitbreakerstate WHERE account_id = %(account)s
   AND (state = 'open' OR (source = %(rejections)s AND NOT (state = 'closed' AND failures = 0)))
UNION ALL
SELECT 'lock', symbol, until, NULL, NULL, NULL
  FROM risk_symbollock WHERE account_id = %(account)s AND until > %(now)s
UNION ALL
SELECT 'trades', symbol, MAX(created_at),
       COUNT(CASE WHEN created_at >= %(day)s THEN 1 END), COUNT(CASE WHEN created_at >= %(hour)s THEN 1 END), NULL
  FROM trading_order WHERE account_id = %(account)s AND status NOT IN ('new', 'rejected') GROUP BY symbol
UNION ALL
SELECT 'base', 'today', NULL, NULL, NULL,
       (SELECT equity FROM trading_equitysnapshot WHERE account_id = %(account)s AND ts <= %(day)s
        ORDER BY ts DESC LIMIT 1)
UNION ALL
SELECT 'base', 'week', NULL, NULL, NULL,
       (SELECT equity FROM trading_equitysnapshot WHERE account_id = %(account)s AND ts <= %(week)s
        ORDER BY ts DESC LIMIT 1)
"""


def _converters(model, name: str):
    field = model._meta.get_field(name)
    col = field.get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)

    def convert(value):
        for converter in converters:
            value = converter(value, col, connection)
        return value

    return convert


def tick_reads(*, account: TradingAccount, now: datetime, policy, positions: Iterable[Position]) -> TickReads:
    """pnl_bases, breakers_open, symbols_locked, trading_pacing and whether the order rejection
    breaker is unsettled, of the account at `now`, in one statement (the engine's tick).
    `positions`: all of the account's positions."""
    from risk.models import REJECTION_BREAKER, CircuitBreakerState
    from risk.selectors import breakers_recovering

    day, week = _period_starts(now)
    hour_ago = now - timedelta(hours=1)
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "account": account.pk,
        "now": adapt(now),
        "day": adapt(day),
        "week": adapt(week),
        "hour": adapt(hour_ago),
        "rejections": REJECTION_BREAKER,
    }
    with connection.cursor() as cursor:
        cursor.execute(_TICK_READS_SQL, params)
        rows = cursor.fetchall()
    moment, money = _converters(CircuitBreakerState, "opened_at"), _converters(EquitySnapshot, "equity")
    bases, breakers, locked, trades = {}, [], set(), []
    for kind, name, at, n_today, n_hour, equity in rows:
        if kind == "base":
            bases[name] = money(equity) if equity is not None else None
        elif kind == "trades":
            trades.append((name, moment(at), n_today, n_hour))
        elif kind == "lock":
            locked.add(name)
        elif kind == "breaker":
            breakers.append((name, moment(at)))
    unsettled = any(kind in ("breaker", "unsettled") and name == REJECTION_BREAKER for kind, name, *_ in rows)
    return TickReads(
        bases={k: bases.get(k) or account.starting_balance for k in ("today", "week")},
        open_breakers=tuple(breakers_recovering(breakers, now=now, policy=policy)),
        locked_symbols=frozenset(locked),
        pacing=_pacing(
            now=now,
            trades=trades,
            new_positions=sum(1 for p in positions if p.opened_at is not None and p.opened_at >= hour_ago),
        ),
        rejections_unsettled=unsettled,
    )


@dataclass(frozen=True)
class StateReads:
    """What the account's status shows besides its own row (trading.serializers.account_state)."""

    snapshot: EquitySnapshot | None  # the latest, as EquitySnapshot...order_by("-ts").first()
    positions: list[Position]  # as positions_open
    version: "ConfigVersion | None"  # as risk.selectors.config_version_active, `content` unread
    bases: dict[str, Decimal]  # as pnl_bases


# The status's reads (GET /api/v1/status, the dashboard's re-sync) in one round trip, for the
# reason given at _TICK_READS_SQL: through the ORM they were six statements and ~8 ms of CPU
# per request on the reference machine. Columns: kind, text, two times, an integer and five
# decimals, whose meaning depends on the kind (see state_reads); tests/trading/
# test_selectors_state.py compares the answer with the ORM selectors' on both backends.
_STATE_READS_SQL = """
SELECT 'snapshot', CAST(NULL AS VARCHAR(64)), s.ts, s.ts, CAST(s.id AS BIGINT),
       s.equity, s.cash, s.positions_value, s.realized_pnl, s.unrealized_pnl
  FROM (SELECT * FROM trading_equitysnapshot WHERE account_id = %(account)s ORDER BY ts DESC LIMIT 1) s
UNION ALL
SELECT 'position', symbol, opened_at, updated_at, id, quantity, average_cost, realized_pnl, mark_price, high_water_mark
  FROM trading_position WHERE account_id = %(account)s AND quantity > 0 AND NOT dust
UNION ALL
SELECT 'config', sha256, created_at, NULL, version, NULL, NULL, NULL, NULL, NULL
  FROM risk_configversion WHERE account_id = %(account)s AND is_active
UNION ALL
SELECT 'base', 'today', NULL, NULL, NULL,
       (SELECT equity FROM trading_equitysnapshot WHERE account_id = %(account)s AND ts <= %(day)s
        ORDER BY ts DESC LIMIT 1), NULL, NULL, NULL, NULL
UNION ALL
SELECT 'base', 'week', NULL, NULL, NULL,
       (SELECT equity FROM trading_equitysnapshot WHERE account_id = %(account)s AND ts <= %(week)s
        ORDER BY ts DESC LIMIT 1), NULL, NULL, NULL, NULL
"""
_SNAPSHOT_MONEY = ("equity", "cash", "positions_value", "realized_pnl", "unrealized_pnl")
_POSITION_MONEY = ("quantity", "average_cost", "realized_pnl", "mark_price", "high_water_mark")


def state_reads(*, account: TradingAccount, now: datetime | None = None) -> StateReads:
    """The latest equity snapshot, the open positions (by symbol, in code point order), the
    active configuration version (its `content` left unread: the status shows only its number
    and digest) and the P&L bases at `now`, in one statement."""
    from risk.models import ConfigVersion

    day, week = _period_starts(now or timezone.now())
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_STATE_READS_SQL, {"account": account.pk, "day": adapt(day), "week": adapt(week)})
        rows = cursor.fetchall()
    moment, money = _converters(EquitySnapshot, "ts"), _converters(EquitySnapshot, "equity")

    def amounts_of(names, values) -> dict:
        return {name: None if v is None else money(v) for name, v in zip(names, values, strict=True)}

    snapshot, version, positions, bases = None, None, [], {}
    for kind, text, at, at2, number, *amounts in rows:
        if kind == "position":
            opened = None if at is None else moment(at)
            fields = {"opened_at": opened, "updated_at": moment(at2), **amounts_of(_POSITION_MONEY, amounts)}
            positions.append(Position(id=number, account=account, symbol=text, dust=False, **fields))
        elif kind == "snapshot":
            snapshot = EquitySnapshot(id=number, account=account, ts=moment(at), **amounts_of(_SNAPSHOT_MONEY, amounts))
        elif kind == "config":
            version = ConfigVersion(account=account, version=number, sha256=text, is_active=True, created_at=moment(at))
        else:
            bases[text] = None if amounts[0] is None else money(amounts[0])
    positions.sort(key=lambda p: p.symbol)
    return StateReads(
        snapshot=snapshot,
        positions=positions,
        version=version,
        bases={k: bases.get(k) or account.starting_balance for k in ("today", "week")},
    )
