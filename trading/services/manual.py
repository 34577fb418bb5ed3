"""Manual trading (SPEC O2): an operator's force entry or force exit of a position.

A manual order goes the engine's way: under the account row lock the engine tick takes,
through the same pre-trade gate (so a halt, a symbol lock, the deny list, the caps and the
pacing refuse it just as they refuse a strategy's order), then `order_execute_paper`, which
audits every state change. The order is also audited as a manual trade with its reason, and
signs of operator tilt (SPEC R10) raise an alert; they do not block the trade."""

import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from compliance.services import Actor, audit_append
from genesis_site.domain_errors import Conflict
from risk.alerts import alert_raise
from risk.exceptions import RiskRefused
from risk.gate import GateContext, OrderIntent, gate_check
from risk.selectors import breakers_open, config_version_active, policy_of, symbols_locked
from risk.tilt import manual_trade_tilt
from trading.exceptions import TradingError
from trading.exchanges.paper import PaperExchange
from trading.markets import market_get
from trading.models import Order, Position, TradingAccount, TradingMode
from trading.selectors import pnl_summary, prices_latest, trading_pacing
from trading.serializers import dec
from trading.services.orders import order_execute_paper

HUNDRED = Decimal("100")


class ManualTradeRefused(TradingError):
    code = "manual_trade_refused"


class ManualTradeConflict(ManualTradeRefused, Conflict):
    """Well-formed, but the account's state refuses it now: no position to exit, no price yet,
    a LIVE account (409)."""

    code = "manual_trade_conflict"


def _mark(account: TradingAccount, position: Position | None, symbol: str) -> Decimal:
    price = (position.mark_price if position else None) or prices_latest(account=account).get(symbol)
    if not price:
        raise ManualTradeConflict(f"symbol: no market price for {symbol} yet; wait for the engine's next tick")
    return price


def _gate(account: TradingAccount, intent: OrderIntent, positions: list[Position], now) -> None:
    policy = policy_of(config_version_active(account_id=account.pk))
    held = {p.symbol: p.quantity * (p.mark_price or p.average_cost) for p in positions if p.quantity > 0}
    equity = account.cash_balance + sum(held.values(), Decimal("0"))
    values = {p.symbol: held[p.symbol] for p in positions if p.is_open}  # dust is no exposure
    pnl = pnl_summary(account=account, equity=equity, now=now)
    peak = max(account.peak_equity or account.starting_balance, equity)
    gate_check(
        intent,
        GateContext(
            policy=policy,
            stop_level=account.stop_level,
            mode=account.mode,
            equity=equity,
            position_values=values,
            open_breakers=tuple(breakers_open(account_id=account.pk, now=now)),
            locked_symbols=symbols_locked(account_id=account.pk, now=now),
            pnl_today_pct=pnl["today_pct"],
            pnl_week_pct=pnl["week_pct"],
            drawdown_pct=(peak - equity) / peak * HUNDRED,
            pacing=trading_pacing(account_id=account.pk, now=now),
        ),
    )


def _refusal_audit(account: TradingAccount, actor: Actor, refusal: RiskRefused, **payload) -> None:
    # Its own transaction: the caller's is rolled back by the refusal, the record must stay.
    with transaction.atomic():
        audit_append(
            actor=actor,
            action="risk.refused",
            obj=account,
            payload={"account": account.pk, "rule": refusal.rule, "message": str(refusal), "manual": True, **payload},
        )


def manual_order_place(
    *,
    account_id: int,
    symbol: str,
    side: str,
    actor: Actor,
    reason: str,
    amount: Decimal | None = None,
    exchange: PaperExchange | None = None,
) -> Order:
    """Force an entry (`buy` of `amount`) or an exit (`sell` of `amount`, or of the whole
    position when omitted). Raises ManualTradeRefused for bad input and RiskRefused when the
    gate refuses (audited). Returns the order: filled, or rejected by the exchange."""
    if side not in ("buy", "sell"):
        raise ManualTradeRefused(f"side: {side!r} is not buy or sell")
    if not reason.strip():
        raise ManualTradeRefused("reason: every manual trade needs a reason")
    if amount is not None and amount <= 0:
        raise ManualTradeRefused("amount: must be positive")
    if side == "buy" and amount is None:
        raise ManualTradeRefused("amount: a force entry needs an amount")
    market = market_get(symbol)
    exchange = exchange or PaperExchange()
    now = timezone.now()
    try:
        with transaction.atomic():
            return _place_locked(account_id, market, side, amount, actor, reason, exchange, now)
    except RiskRefused as refusal:
        _refusal_audit(
            TradingAccount.objects.get(pk=account_id), actor, refusal, symbol=symbol, side=side, amount=amount
        )
        raise


def _place_locked(account_id, market, side, amount, actor, reason, exchange, now) -> Order:
    # The row lock the engine tick takes: a manual order and a tick never interleave, and a
    # halt that committed first is seen by the gate.
    account = TradingAccount.objects.select_for_update().get(pk=account_id)
    if account.mode == TradingMode.LIVE:
        raise ManualTradeConflict("mode: manual orders on a LIVE account are not supported by the paper path")
    positions = list(Position.objects.select_for_update().filter(account=account))
    position = next((p for p in positions if p.symbol == market.symbol), None)
    held = position.quantity if position and position.is_open else Decimal("0")
    if side == "sell":
        if held <= 0:
            dust = position is not None and position.dust and f" ({dec(position.quantity)} of fee dust: unsellable)"
            raise ManualTradeConflict(f"symbol: no open {market.symbol} position to exit{dust or ''}")
        amount = market.floor_amount(min(amount or held, held))  # fee dust off the lot step stays
        if amount <= 0:
            raise ManualTradeRefused(f"amount: below the {market.symbol} step {market.amount_step}")
    else:
        amount = market.floor_amount(amount)
        if amount <= 0:
            raise ManualTradeRefused(f"amount: below the {market.symbol} step {market.amount_step}")
    last = _mark(account, position, market.symbol)
    price = exchange.quote_price(market=market, side=side, last_price=last)
    intent = OrderIntent(
        symbol=market.symbol,
        side=side,
        amount=amount,
        price=price,
        fee_rate=market.taker_fee,
        min_notional=market.min_notional,
    )
    _gate(account, intent, positions, now)
    policy = policy_of(config_version_active(account_id=account.pk))
    tilt = manual_trade_tilt(account_id=account.pk, actor_name=actor.name, side=side, policy=policy, now=now)
    if position is None:
        position = Position.objects.create(account=account, symbol=market.symbol)
    order, _fill = order_execute_paper(
        account=account,
        strategy=None,
        position=position,
        market=market,
        side=side,
        amount=amount,
        last_price=last,
        exchange=exchange,
        idempotency_key=f"man-{uuid.uuid4().hex[:32]}",
        correlation_id=uuid.uuid4().hex,
        config_hash="",
        actor=actor,
        reason=f"manual: {reason}",
    )
    action = "manual.force_entry" if side == "buy" else "manual.force_exit"
    audit_append(
        actor=actor,
        action=action,
        obj=order,
        payload={"account": account.pk, "symbol": market.symbol, "side": side, "amount": amount, "reason": reason},
    )
    for sign in tilt:
        alert_raise(
            account_id=account.pk,
            type="operator_tilt",
            message=f"{actor.name}: {sign}",
            details={"actor": actor.name, "order": order.pk},
        )
    return order
