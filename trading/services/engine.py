"""The engine tick (SPEC T7): market data -> strategies -> pre-trade gate -> execute ->
persist (one transaction) -> audit -> metrics -> push."""

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

import numpy as np
from django.db import transaction
from django.utils import timezone

from compliance.services import Actor, audit_append, audit_batch
from genesis_site.bulk import row_update, rows_insert
from genesis_site.errorbudget import tick_outcome_record
from genesis_site.prepared import prepared_objects
from risk.alerts import alert_raise
from risk.exceptions import RiskRefused
from risk.exits import exit_reason
from risk.gate import GateContext, OrderIntent, Pacing, gate_check
from risk.guards import tick_rejection
from risk.models import ConfigVersion
from risk.policy import RiskPolicy
from risk.selectors import config_version_active, policy_of
from risk.services.stops import live_orders_cancel, trading_halt_locked
from risk.sizing import position_value
from trading import metrics
from trading.exchanges.live import LiveExchange
from trading.exchanges.paper import PaperExchange
from trading.feeds import TIMEFRAME, Feed, ScenarioFeed
from trading.live import account_event_publish
from trading.markets import market_get
from trading.models import (
    OPEN_ORDER_STATUSES,
    Candle,
    EquitySnapshot,
    Order,
    Position,
    StopLevel,
    Strategy,
    StrategyState,
    TradingAccount,
    TradingMode,
    Universe,
)
from trading.polling import LiveFeed, live_feed_poll
from trading.replay import MarketDataInvalid, ReplayFeed, replay_feed_for
from trading.selectors import pnl_summary, tick_reads
from trading.serializers import AccountNow, tick_event
from trading.services.ladder import capital_cap, capital_clip
from trading.services.live_orders import order_prepare_live, order_send_live
from trading.services.marketdata import tickers_store
from trading.services.orders import PaperIntent, idempotency_key_for, paper_orders_execute
from trading.strategies import Signal, strategy_load
from trading.universe import UniverseNow, universe_filter

logger = logging.getLogger(__name__)
ENGINE = Actor.system("engine")
HUNDRED = Decimal("100")
HISTORY = 200  # closes handed to strategies; bounds the work per tick
# Gate refusals that are also alerts (SPEC R4: daily/weekly stops and drawdown raise alerts).
ALERTING_RULES = {"daily_stop", "weekly_stop", "max_drawdown"}


@dataclass
class TickResult:
    account_id: int
    seq: int
    equity: Decimal
    correlation_id: str = ""
    marks: dict[str, Decimal] = field(default_factory=dict)
    rejected_ticks: dict[str, str] = field(default_factory=dict)
    orders: list = field(default_factory=list)
    refusals: list = field(default_factory=list)
    stream_seq: int | None = None  # the push's number, taken with the tick's writes
    state: AccountNow | None = None  # what the push shows, as the tick wrote it


@dataclass
class _Book:
    """The account's state during one tick, updated as orders fill."""

    account: TradingAccount
    positions: dict[str, Position]
    marks: dict[str, Decimal]
    # Each position's (mark, high water mark) as its row holds them, so that _marks_save
    # writes only what changed since the tick read the row or an order saved it.
    stored: dict[int, tuple] = field(default_factory=dict)
    # Whether the order rejection breaker has something to record for an accepted order.
    rejections_unsettled: bool = False

    def position(self, symbol: str) -> Position:
        """The account's position in `symbol`; a new one is inserted by the order that fills it."""
        if symbol not in self.positions:
            position = self.positions[symbol] = Position(account=self.account, symbol=symbol)
            if symbol in self.marks:
                _mark(position, self.marks[symbol])
        return self.positions[symbol]

    def mark_all(self) -> None:
        """Mark every position that has an accepted price this tick."""
        for symbol, position in self.positions.items():
            if symbol in self.marks:
                _mark(position, self.marks[symbol])

    def open_values(self) -> dict[str, Decimal]:
        # A symbol whose tick was rejected keeps its last accepted mark.
        return {
            s: p.quantity * (self.marks.get(s) or p.mark_price or p.average_cost)
            for s, p in self.positions.items()
            if p.quantity > 0
        }

    def equity(self) -> Decimal:
        return self.account.cash_balance + sum(self.open_values().values(), Decimal("0"))

    def exposure_values(self) -> dict[str, Decimal]:
        # Dust (a remainder no order can sell) counts in equity, not as an open position.
        values = self.open_values()
        return {s: v for s, v in values.items() if self.positions[s].is_open}


@dataclass(frozen=True)
class _Tick:
    """What every decision of one tick shares."""

    now: datetime
    feed: Feed
    book: _Book
    policy: RiskPolicy
    config_hash: str
    correlation_id: str
    cursor: int
    open_breakers: tuple[str, ...]
    locked_symbols: frozenset[str]
    pnl_today_pct: Decimal
    pnl_week_pct: Decimal
    drawdown_pct: Decimal
    pacing: Pacing
    exchange: PaperExchange | LiveExchange
    result: TickResult
    # LIVE only: the symbols with an order still open on the exchange and the quote value of
    # their open buys (no second order on a symbol before the first one settles; open buys
    # count against the capital ladder's cap), and the orders to send once this commits.
    in_flight: dict[str, Decimal] = field(default_factory=dict)
    to_send: list[Order] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return isinstance(self.exchange, LiveExchange)

    def data_age_seconds(self, symbol: str) -> float:
        """How old the price is (SPEC R7): the live ticker's age; a scenario or replay
        candle is read as it is produced, so it is never stale."""
        if not self.live:
            return 0.0
        ticker = self.feed.ticker(symbol, self.cursor)
        return max(0.0, (self.now - ticker.ts).total_seconds()) if ticker else float("inf")


def engine_tick(
    *, account_id: int, exchange: PaperExchange | LiveExchange | None = None, candle_clock: bool = False
) -> TickResult | None:
    """Advance one account by one candle. One tick per account at a time: a tick that finds
    the account locked by another worker returns None and does nothing. A LIVE account
    trades on `exchange` if it is a LiveExchange, else on its own exchange session.

    `candle_clock`: the tick's "now" is its candle's time instead of the wall clock, for a
    scenario or replay ticked faster than real time (a validation probe): the pacing rules,
    cooldowns, breakers and daily/weekly P&L periods then run in simulated time, through the
    same gate, exactly as they would in real time. The next candle is always taken (a
    replay's speed is a wall-clock notion). LIVE ticks always run on the wall clock."""
    started = time.perf_counter()
    paper = exchange if isinstance(exchange, PaperExchange) else PaperExchange()
    try:
        result = _paper_tick(account_id, paper, candle_clock=candle_clock)
        live = result is _LIVE
        if live:
            result = _live_tick(account_id, exchange if isinstance(exchange, LiveExchange) else None)
    except Exception:
        _outcome_record(account_id, ok=False)  # after the rollback, so the count stays
        raise
    if result is not None:  # None: locked by another worker, or no such account
        if live:  # a paper tick counted itself in its own transaction
            _outcome_record(account_id, ok=True)
        metrics.tick_latency.observe(time.perf_counter() - started)
    return result


def _outcome_record(account_id: int, *, ok: bool) -> None:
    """Count the tick for the error budget (SPEC M7). A failure to count (the database is
    down, which is likely why the tick failed) must not hide the tick's own error."""
    try:
        tick_outcome_record(account_id=account_id, ok=ok)
    except Exception:
        logger.warning("tick outcome not recorded", extra={"account": account_id, "ok": ok}, exc_info=True)


_LIVE = object()  # what _paper_tick answers for a LIVE account


def _paper_tick(account_id: int, exchange: PaperExchange, *, candle_clock: bool = False):
    """A DRY_RUN or PAPER tick in one transaction under the account row lock; _LIVE for a
    LIVE account (read under the same lock, so a paper tick costs no extra query)."""
    with transaction.atomic(), audit_batch():
        # SKIP LOCKED: a second worker (or a redelivered task) skips instead of queueing.
        account = _account_locked(account_id)
        if account is None:
            return None
        if account.mode == TradingMode.LIVE:
            return _LIVE
        try:
            feed = account_feed(account)
        except MarketDataInvalid as exc:  # a replay file removed or changed since it was checked
            alert_raise(
                account_id=account.pk, type="bad_tick", message=str(exc), details={"replay_files": account.replay_files}
            )
            return None
        cursor = _next_cursor(account, feed, candle_clock=candle_clock)
        if cursor is None:
            return None  # a replay with no candle due yet at its speed, or at its end
        result = _tick_locked(
            account,
            exchange,
            feed=feed,
            cursor=cursor,
            correlation_id=uuid.uuid4().hex,
            now=feed.ts_of(cursor) if candle_clock else None,
        )
        # Counted ok with the tick's own writes: one commit, and a tick whose commit fails is
        # counted failed instead (engine_tick, after the rollback).
        tick_outcome_record(account_id=account.pk, ok=True)
        transaction.on_commit(lambda: _after_commit(account, result))
    return result


def _account_locked(account_id: int) -> TradingAccount | None:
    """The account row under its lock, or None if another worker holds it (SKIP LOCKED), in a
    statement compiled once per process (genesis_site.prepared)."""
    accounts = prepared_objects(
        ("tick_account",),
        TradingAccount,
        lambda v: TradingAccount.objects.select_for_update(skip_locked=True).filter(pk=v["account"])[:1],
        {"account": account_id},
    )
    return accounts[0] if accounts else None


def _positions(account: TradingAccount) -> list[Position]:
    """The account's positions, in a statement compiled once per process."""
    query = lambda v: Position.objects.filter(account_id=v["account"])  # noqa: E731
    return prepared_objects(("tick_positions",), Position, query, {"account": account.pk})


def _live_tick(account_id: int, exchange: LiveExchange | None) -> TickResult | None:
    """A LIVE tick in three steps, so that no network call runs inside a transaction and
    every order is durable before the exchange can act on it:
    1. poll market data through the adapter (no lock held);
    2. under the account row lock, in one transaction: guards, strategies, risk gate, capital
       ladder, and each order recorded as submitted (audited) -- then commit;
    3. send each order with its idempotency key as client order id and book the answer
       (fills, position, cash). An answer lost on the way leaves the order submitted, and no
       later tick orders that symbol again until reconciliation settles it.
    On a halted or flattened account (this tick's drawdown guard, or an earlier halt whose
    cancels failed) the open orders are then cancelled on the exchange (`live_orders_cancel`;
    one query when there are none)."""
    account = TradingAccount.objects.get(pk=account_id)
    if exchange is None:
        exchange = live_exchange_session(account_id=account_id)
        if exchange is None:
            return None
    feed = live_feed_poll(exchange=exchange, symbols=account.symbols, cursor=account.feed_cursor + 1, history=HISTORY)
    with transaction.atomic(), audit_batch():
        account = TradingAccount.objects.select_for_update(skip_locked=True).filter(pk=account_id).first()
        if account is None or account.mode != TradingMode.LIVE or account.feed_cursor + 1 != feed.cursor:
            return None  # locked by another tick, switched out of LIVE, or already past this cursor
        to_send: list[Order] = []
        result = _tick_locked(account, exchange, feed=feed, correlation_id=uuid.uuid4().hex, to_send=to_send)
    sent = {}
    for order in to_send:
        sent[order.pk] = order_send_live(order=order, exchange=exchange, actor=ENGINE)
    if account.stop_level in (StopLevel.HALT, StopLevel.FLATTEN):
        live_orders_cancel(
            account_id=account.pk,
            actor=ENGINE,
            reason=f"{account.stop_level}: {account.stop_reason}",
            exchange=exchange,
        )
    result.orders = [sent.get(o.pk, o) for o in result.orders]
    if sent:
        account.refresh_from_db()
        result.state = None  # fills landed after the tick's commit: the push reads them back
    _after_commit(account, result)
    return result


_live_sessions: dict[int, tuple[tuple, LiveExchange]] = {}


def live_exchange_session(*, account_id: int) -> LiveExchange | None:
    """The account's exchange adapter, kept per process (its markets, breaker state and the
    audited credential read are paid once, not every tick) and made again when the
    credential changes. None, logged, when the account has no credential."""
    from django.conf import settings

    from trading.exchanges.live import live_exchange_for
    from trading.models import ExchangeCredential
    from trading.services.credentials import CredentialMissing

    updated = ExchangeCredential.objects.filter(account_id=account_id).values_list("updated_at", flat=True).first()
    key = (updated, settings.GENESIS_EXCHANGE_URL)
    cached = _live_sessions.get(account_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        exchange = live_exchange_for(account_id=account_id, actor=ENGINE)
    except CredentialMissing:
        logger.error("LIVE account without exchange credentials: not ticked", extra={"account": account_id})
        return None
    _live_sessions[account_id] = (key, exchange)
    return exchange


@dataclass(frozen=True)
class AccountConfig:
    """What a tick reads of the account's configuration: its active risk config version and
    policy, its universe, and its strategies that run (enabled, active or paused, by pk)."""

    version: ConfigVersion | None
    policy: RiskPolicy
    universe: Universe | None
    strategies: tuple[Strategy, ...]


_configs: dict[int, tuple[str, AccountConfig]] = {}


def account_config(account: TradingAccount) -> AccountConfig:
    """The account's configuration, kept per process while the account row's config_token
    is the one it was read under. The token is changed by database triggers on every write to
    the account's strategies, universe or config versions (trading migration 0015_tick_config_token), from any
    process, in the writer's transaction; the tick reads it in its account row lock, so a
    pause, an activation or any other change committed before the tick's lock is seen by that
    tick. Stop levels live in the account row, breakers and symbol locks are read every tick.
    The objects are shared between this process's ticks: read them, never change them."""
    cached = _configs.get(account.pk)
    if cached is not None and cached[0] == account.config_token:
        return cached[1]
    version = config_version_active(account_id=account.pk)
    strategies = Strategy.objects.filter(
        account=account, enabled=True, state__in=(StrategyState.ACTIVE, StrategyState.PAUSED)
    ).order_by("pk")
    config = AccountConfig(
        version=version,
        policy=policy_of(version),
        universe=Universe.objects.filter(account=account).first(),
        strategies=tuple(strategies),
    )
    # Read after the token: a change committed in between is in `config` under the old token,
    # so the next tick, reading the new one, reads again (never the reverse).
    _configs[account.pk] = (account.config_token, config)
    return config


def account_feed(account: TradingAccount) -> Feed:
    """The account's market data source: its scenario, or its replay files (SPEC T1)."""
    if account.replay_files:
        return replay_feed_for(account.replay_files)
    return ScenarioFeed(account.scenario, account.scenario_seed)


def _next_cursor(account: TradingAccount, feed: Feed, *, candle_clock: bool = False) -> int | None:
    """The feed index this tick trades on: the next one, or for a replay at a speed the one
    its clock has reached (candles in between are skipped as marks, never as history: the
    strategies read every close). None when no candle is due."""
    if not isinstance(feed, ReplayFeed):
        return account.feed_cursor + 1
    cursor = account.feed_cursor + 1
    if account.replay_speed and account.replay_started_at and not candle_clock:
        elapsed = (timezone.now() - account.replay_started_at) * float(account.replay_speed)
        cursor = min(feed.index_at(feed.ts_of(0) + elapsed), len(feed) - 1)
    return cursor if account.feed_cursor < cursor < len(feed) else None


def _tick_locked(
    account: TradingAccount,
    exchange: PaperExchange | LiveExchange,
    *,
    feed: Feed,
    correlation_id: str,
    cursor: int | None = None,
    to_send: list[Order] | None = None,
    now: datetime | None = None,
) -> TickResult:
    now = now or timezone.now()
    cursor = cursor if cursor is not None else account.feed_cursor + 1
    config = account_config(account)
    version, policy = config.version, config.policy
    candles, rejected = _guarded_candles(feed, account, cursor, policy)
    # A live feed's current kline is still forming: its last closed one is what is stored.
    stored = feed.settled() if isinstance(feed, LiveFeed) else candles
    rows_insert(
        Candle,
        [Candle(source=feed.source, symbol=s, timeframe=TIMEFRAME, **vars(c)) for s, c in stored.items()],
        ignore_conflicts=True,
    )
    tickers = {s: t for s in candles if (t := feed.ticker(s, cursor)) is not None}
    tickers_store(source=feed.source, tickers=tickers)
    universe = _universe_now(account, config.universe, tickers)
    book = _Book(
        account=account,
        positions={p.symbol: p for p in _positions(account)},
        marks={s: c.close for s, c in candles.items()},
    )
    book.stored = {p.pk: (p.mark_price, p.high_water_mark) for p in book.positions.values()}
    book.mark_all()  # before any order, so that an order's save of its position carries the mark
    config_hash = version.sha256 if version else ""
    account.tick_seq += 1
    result = TickResult(
        account_id=account.pk,
        seq=account.tick_seq,
        equity=Decimal("0"),
        marks=book.marks,
        correlation_id=correlation_id,
    )
    result.rejected_ticks = rejected
    equity = book.equity()
    reads = tick_reads(account=account, now=now, policy=policy, positions=book.positions.values())
    book.rejections_unsettled = reads.rejections_unsettled
    bases = reads.bases
    pnl = pnl_summary(account=account, equity=equity, now=now, bases=bases)
    account.peak_equity = max(account.peak_equity or account.starting_balance, equity)
    drawdown = (account.peak_equity - equity) / account.peak_equity * HUNDRED
    _drawdown_guard(account, policy, drawdown, config_hash)
    tick = _Tick(
        now=now,
        feed=feed,
        book=book,
        policy=policy,
        config_hash=config_hash,
        correlation_id=correlation_id,
        cursor=cursor,
        open_breakers=reads.open_breakers,
        locked_symbols=reads.locked_symbols,
        pnl_today_pct=pnl["today_pct"],
        pnl_week_pct=pnl["week_pct"],
        drawdown_pct=drawdown,
        pacing=reads.pacing,
        exchange=exchange,
        result=result,
        in_flight=_in_flight(account) if isinstance(exchange, LiveExchange) else {},
        to_send=to_send if to_send is not None else [],
    )

    exited = _risk_exits(tick)
    # Paused strategies still run, for their exits only (SPEC R6: exits keep working).
    for strategy in config.strategies:
        runner = strategy_load(strategy.kind, strategy.params)
        for symbol in strategy.symbols or account.symbols:
            if symbol not in book.marks:  # no accepted tick for it this tick
                continue
            position = book.positions.get(symbol)
            qty = position.quantity if position and position.is_open else Decimal("0")  # dust: flat
            signal = runner.decide(
                symbol=symbol, closes=feed.closes(symbol, end=cursor, length=HISTORY), position_qty=qty
            )
            if signal is None or (
                signal.side == "buy"
                and (
                    strategy.state == StrategyState.PAUSED
                    or symbol in exited
                    or (universe is not None and not universe.allows(symbol, strategy.tier))
                )
            ):
                continue
            if account.mode == TradingMode.DRY_RUN:
                logger.info("dry run decision", extra={"account": account.pk, "signal": vars(signal)})
                continue
            _act(tick, strategy, signal)

    _marks_save(book)
    result.equity = book.equity()
    open_positions = [p for p in book.positions.values() if p.is_open]
    snapshot = EquitySnapshot(
        account=account,
        ts=now,
        equity=result.equity,
        cash=account.cash_balance,
        positions_value=sum(book.open_values().values(), Decimal("0")),
        realized_pnl=sum((p.realized_pnl for p in book.positions.values()), Decimal("0")),
        unrealized_pnl=sum((p.unrealized_pnl for p in book.positions.values()), Decimal("0")),
    )
    rows_insert(EquitySnapshot, [snapshot])
    account.feed_cursor, account.last_tick_at = cursor, now
    account.peak_equity = max(account.peak_equity, result.equity)
    # The push's stream number is taken here, under the row lock and with the data it shows,
    # instead of by a second statement and commit after this one.
    account.stream_seq += 1
    fields = ["feed_cursor", "last_tick_at", "tick_seq", "peak_equity", "stream_seq"]
    if not tick.live:
        fields.append("cash_balance")  # live cash moves with the exchange's fills only
    row_update(account, fields)
    result.stream_seq = account.stream_seq
    result.state = AccountNow(
        snapshot=snapshot,
        positions=sorted(open_positions, key=lambda p: p.symbol),
        version=version,
        pnl=pnl_summary(account=account, equity=result.equity, now=now, bases=bases),
    )
    return result


def _in_flight(account: TradingAccount) -> dict[str, Decimal]:
    """Symbols with an order not yet final, and the quote value of their open buys."""
    flight: dict[str, Decimal] = {}
    rows = Order.objects.filter(account=account, status__in=OPEN_ORDER_STATUSES)
    for symbol, side, amount, filled, price, avg in rows.values_list(
        "symbol", "side", "amount", "filled_amount", "price", "average_price"
    ):
        value = (amount - filled) * (price or avg or Decimal("0")) if side == "buy" else Decimal("0")
        flight[symbol] = flight.get(symbol, Decimal("0")) + value
    return flight


def _guarded_candles(feed: Feed, account: TradingAccount, cursor: int, policy: RiskPolicy):
    """This tick's candles that pass the market data guards (SPEC R7), and why the others
    failed. A rejected candle is counted and logged, never stored, marked or traded on."""
    accepted, rejected = {}, {}
    for symbol in account.symbols:
        candle = feed.candle(symbol, cursor)
        if candle is None:
            # An exchange outage: nothing to guard, nothing to trade on, the mark stays.
            rejected[symbol] = "no_data: the feed has no candle (exchange outage)"
            metrics.bad_ticks_total.labels(reason="no_data").inc()
            continue
        recent = [Decimal(f"{x:.8f}") for x in feed.closes(symbol, end=cursor - 1, length=20)]
        reason = tick_rejection(
            close=candle.close,
            ts=candle.ts,
            expected_ts=feed.ts_of(cursor),
            previous_ts=feed.ts_of(cursor - 1),
            recent_closes=recent,
            max_deviation_pct=policy.bad_tick_deviation_pct,
            stale_seconds=policy.stale_data_seconds,
        )
        if reason is None:
            accepted[symbol] = candle
        else:
            rejected[symbol] = reason
            metrics.bad_ticks_total.labels(reason=reason.split(":")[0]).inc()
            logger.warning("tick rejected", extra={"symbol": symbol, "cursor": cursor, "reason": reason})
            alert_raise(
                account_id=account.pk,
                type="bad_tick",
                message=f"{symbol}: {reason}",
                details={"symbol": symbol, "cursor": cursor},
            )
    return accepted, rejected


def _universe_now(account: TradingAccount, universe: Universe | None, tickers: dict) -> UniverseNow | None:
    """The account's universe after this tick's volume and spread rules (None: no universe
    configured, every account symbol may be entered). An empty one raises an alert."""
    if universe is None:
        return None
    now = universe_filter(universe, tickers)
    if not now.tradable:
        alert_raise(
            account_id=account.pk,
            type="empty_universe",
            message="no symbol of the universe passes its volume and spread rules: no new entries",
            details={"excluded": now.excluded},
        )
    return now


def _drawdown_guard(account: TradingAccount, policy: RiskPolicy, drawdown: Decimal, config_hash: str) -> None:
    """The kill switch engages by itself on a drawdown from the peak equity (trailing, not from
    the start) at or beyond the policy's limit (SPEC R6), before this tick can place an order."""
    if (
        policy.max_drawdown_pct
        and drawdown >= policy.max_drawdown_pct
        and account.stop_level in ("none", "pause_entries")
    ):
        reason = (
            f"automatic: drawdown {drawdown:.2f} % from peak {account.peak_equity:.2f} "
            f"reached max {policy.max_drawdown_pct} %"
        )
        trading_halt_locked(account, Actor.system("drawdown_guard"), reason)


def _marks_save(book: _Book) -> None:
    """Write the marks that differ from what each position's row holds (`book.stored`). Each
    position is marked again first: an order this tick may have opened or closed it, which
    moves its high water mark. A position no order filled has no row and is not written."""
    book.mark_all()
    changed = [
        p
        for p in book.positions.values()
        if p.pk is not None and book.stored.get(p.pk) != (p.mark_price, p.high_water_mark)
    ]
    if len(changed) == 1:
        row_update(changed[0], ["mark_price", "high_water_mark"])
    elif changed:
        Position.objects.bulk_update(changed, ["mark_price", "high_water_mark"])


def _mark(position: Position, mark: Decimal) -> None:
    position.mark_price = mark
    if position.is_open:
        position.high_water_mark = max(position.high_water_mark or position.average_cost, mark)
    else:
        position.high_water_mark = None


def _risk_exits(tick: _Tick) -> set[str]:
    """Close the positions whose stop loss, take profit or trailing stop is hit at this tick's
    marks (SPEC R4), whatever the strategies say. Returns the symbols exited this tick, which
    may not be re-entered in the same tick."""
    book, exited = tick.book, set()
    for symbol, position in list(book.positions.items()):
        mark = book.marks.get(symbol)
        if mark is None or not position.is_open:
            continue
        reason = exit_reason(
            average_cost=position.average_cost, mark=mark, high_water_mark=position.high_water_mark, policy=tick.policy
        )
        if reason:
            _act(tick, None, Signal(symbol, "sell", reason))
            exited.add(symbol)
    return exited


def _volatility_pct(tick: _Tick, symbol: str) -> Decimal | None:
    """Standard deviation of the last 50 candles' log returns, in percent."""
    closes = tick.feed.closes(symbol, end=tick.cursor, length=51)
    if len(closes) < 3:
        return None
    return Decimal(f"{float(np.std(np.diff(np.log(closes)), ddof=1)) * 100:.6f}")


def _strategy_trade_pnls(strategy: Strategy) -> list[Decimal]:
    """Realized P&L of the strategy's last 100 exits, for Kelly sizing."""
    exits = Order.objects.filter(strategy=strategy, side="sell", status="filled").order_by("-created_at")[:100]
    return list(exits.values_list("realized_pnl", flat=True))


def _pacing_now(tick: _Tick) -> Pacing:
    """The tick's starting pacing, advanced by the orders this tick has already placed."""
    placed = [o for o in tick.result.orders if o.status != "rejected"]
    if not placed:
        return tick.pacing
    since_symbol = {**tick.pacing.seconds_since_symbol_trade, **{o.symbol: 0.0 for o in placed}}
    opened = sum(1 for o in placed if o.side == "buy")
    return replace(
        tick.pacing,
        trades_today=tick.pacing.trades_today + len(placed),
        trades_last_hour=tick.pacing.trades_last_hour + len(placed),
        new_positions_last_hour=tick.pacing.new_positions_last_hour + opened,
        seconds_since_last_trade=0.0,
        seconds_since_symbol_trade=since_symbol,
    )


def _act(tick: _Tick, strategy: Strategy | None, signal: Signal) -> None:
    """Size, gate and execute one signal. `strategy` is None for the risk exits of SPEC R4."""
    book, policy, exchange, result = tick.book, tick.policy, tick.exchange, tick.result
    correlation_id, config_hash = tick.correlation_id, tick.config_hash
    account, symbol = book.account, signal.symbol
    if symbol in tick.in_flight:
        return  # an earlier order on it is not settled yet (LIVE): no second one
    market = exchange.market(symbol) if tick.live else market_get(symbol)
    last = book.marks[symbol]
    price = _quote_price(tick, market, signal.side, last)
    equity = book.equity()
    if signal.side == "buy":
        value = position_value(
            policy=policy,
            equity=equity,
            risk_budget=strategy.risk_budget,
            volatility_pct=_volatility_pct(tick, symbol),
            trade_pnls=_strategy_trade_pnls(strategy) if policy.sizing.method == "kelly" else None,
        )
        if account.mode == TradingMode.LIVE:
            # The capital ladder caps what LIVE positions and open buys hold in total (SPEC T8).
            deployed = sum(book.exposure_values().values(), Decimal("0")) + sum(tick.in_flight.values(), Decimal("0"))
            value = capital_clip(value=value, deployed=deployed, cap=capital_cap(account))
        amount = market.floor_amount(value / price)
    else:
        # A fee charged in coins can leave the position off the lot step: sell what is on it.
        amount = market.floor_amount(book.positions[symbol].quantity)
    if amount <= 0:
        return
    intent = OrderIntent(
        symbol=symbol,
        side=signal.side,
        amount=amount,
        price=price,
        fee_rate=market.taker_fee,
        min_notional=market.min_notional,
    )
    try:
        gate_check(
            intent,
            GateContext(
                policy=policy,
                stop_level=account.stop_level,
                mode=account.mode,
                data_age_seconds=tick.data_age_seconds(symbol),
                pacing=_pacing_now(tick),
                equity=equity,
                position_values=book.exposure_values(),
                open_breakers=tick.open_breakers,
                locked_symbols=tick.locked_symbols,
                pnl_today_pct=tick.pnl_today_pct,
                pnl_week_pct=tick.pnl_week_pct,
                drawdown_pct=tick.drawdown_pct,
            ),
        )
    except RiskRefused as refusal:
        metrics.order_rejections_total.labels(reason=refusal.rule).inc()
        audit_append(
            actor=ENGINE,
            action="risk.refused",
            obj=strategy or account,
            config_hash=config_hash,
            correlation_id=correlation_id,
            payload={
                "account": account.pk,
                "symbol": symbol,
                "side": signal.side,
                "amount": amount,
                "rule": refusal.rule,
                "message": str(refusal),
            },
        )
        result.refusals.append(str(refusal))
        if refusal.rule in ALERTING_RULES:
            alert_raise(
                account_id=account.pk,
                type=refusal.rule,
                message=str(refusal),
                details={"symbol": symbol},
                now=tick.now,
            )
        return
    key = idempotency_key_for(
        account_id=account.pk, tick=account.tick_seq, strategy_id=strategy.pk if strategy else 0, symbol=symbol
    )
    if tick.live:
        _act_live(tick, strategy, signal, amount=amount, price=price, key=key)
        return
    intent = PaperIntent(
        market=market,
        side=signal.side,
        amount=amount,
        last_price=last,
        idempotency_key=key,
        correlation_id=correlation_id,
        strategy=strategy,
        reason=signal.reason,
    )
    # The same set-based path as any batch of paper orders; the tick saves the cash with its
    # other account fields, so the batch does not write it a second time. Its key is new by
    # construction (this tick's number), so the batch does not look for a recorded one.
    position = book.position(symbol)
    [(order, execution)] = paper_orders_execute(
        account=account,
        intents=[intent],
        exchange=exchange,
        config_hash=config_hash,
        actor=ENGINE,
        positions={symbol: position},
        at=tick.now,
        save_cash=False,
        check_replays=False,
        rejections_unsettled=book.rejections_unsettled,
    )
    if execution is None:  # rejected: recorded on the breaker
        metrics.order_rejections_total.labels(reason="exchange").inc()
        book.rejections_unsettled = True
    else:  # the position's row was saved with this tick's mark
        book.stored[position.pk] = (position.mark_price, position.high_water_mark)
    result.orders.append(order)


def _quote_price(tick: _Tick, market, side: str, last: Decimal) -> Decimal:
    """The price a market order would take now: the live ticker's ask or bid polled for this
    tick (no network call inside the transaction), or the paper exchange's book."""
    if tick.live:
        ticker = tick.feed.ticker(market.symbol, tick.cursor)
        return (ticker and (ticker.ask if side == "buy" else ticker.bid)) or last
    return tick.exchange.quote_price(market=market, side=side, last_price=last)


def _act_live(tick: _Tick, strategy: Strategy | None, signal: Signal, *, amount: Decimal, price: Decimal, key: str):
    """Record a gated LIVE order as submitted in this tick's transaction; it is sent to the
    exchange once the transaction commits (`_live_tick`)."""
    order, created = order_prepare_live(
        account=tick.book.account,
        strategy=strategy,
        symbol=signal.symbol,
        side=signal.side,
        amount=amount,
        idempotency_key=key,
        actor=ENGINE,
        correlation_id=tick.correlation_id,
        config_hash=tick.config_hash,
        reason=signal.reason,
    )
    tick.in_flight[signal.symbol] = amount * price if signal.side == "buy" else Decimal("0")
    if created:
        tick.to_send.append(order)
    tick.result.orders.append(order)


def _after_commit(account: TradingAccount, result: TickResult) -> None:
    label = str(account.pk)
    filled = [o for o in result.orders if o.status == "filled"]
    if filled:
        metrics.fills_total.labels(account=label).inc(len(filled))
    event = tick_event(account=account, seq=result.seq, marks=result.marks, orders=result.orders, now=result.state)
    metrics.open_positions.labels(account=label).set(len(event["positions"]))
    metrics.exposure_pct.labels(account=label).set(float(event["exposure_pct"]))
    metrics.total_pnl_usd.labels(account=label).set(float(event["pnl"]["total"]))
    metrics.total_pnl_pct.labels(account=label).set(float(event["pnl"]["total_pct"]))
    metrics.pnl_daily_usd.labels(account=label).set(float(event["pnl"]["today"]))
    account_event_publish(account_id=account.pk, event=event, seq=result.stream_seq)
