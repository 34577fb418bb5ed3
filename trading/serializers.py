"""Plain-dict shapes of account state, shared by the status API, the dashboard's re-sync and
the live push, so the three can never disagree. Money travels as decimal strings."""

from dataclasses import dataclass
from decimal import Decimal

from trading.models import EquitySnapshot, Order, Position, TradingAccount
from trading.selectors import equity_curve, orders_recent, pnl_summary, prices_latest, state_reads

HUNDRED = Decimal("100")


def dec(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.normalize(), "f") if value else "0"


def account_ref(account: TradingAccount) -> dict:
    return {
        "id": account.pk,
        "name": account.name,
        "exchange": account.exchange_id,
        "quote_currency": account.quote_currency,
    }


def position_data(p: Position) -> dict:
    return {
        "symbol": p.symbol,
        "quantity": dec(p.quantity),
        "average_cost": dec(p.average_cost),
        "mark_price": dec(p.mark_price),
        "market_value": dec(p.market_value),
        "unrealized_pnl": dec(p.unrealized_pnl),
        "realized_pnl": dec(p.realized_pnl),
    }


def order_data(o: Order) -> dict:
    return {
        "id": o.pk,
        "created_at": o.created_at.isoformat(),
        "symbol": o.symbol,
        "side": o.side,
        "amount": dec(o.amount),
        "average_price": dec(o.average_price),
        "fee": dec(o.fee),
        "status": o.status,
        "client_order_id": o.idempotency_key,
        "reject_reason": o.reject_reason,
        "adopted": o.adopted,  # found on the exchange with no local record (SPEC T5)
    }


def snapshot_data(s: EquitySnapshot) -> dict:
    return {"ts": s.ts.isoformat(), "equity": dec(s.equity)}


@dataclass(frozen=True)
class AccountNow:
    """What a tick already holds of the account's state: its push is built from it instead
    of reading it all back after the commit."""

    snapshot: EquitySnapshot
    positions: list[Position]  # open ones, by symbol
    version: object  # the active ConfigVersion or None
    pnl: dict[str, Decimal]


def account_state(*, account: TradingAccount, now: AccountNow | None = None) -> dict:
    """Everything the status API and the overview show, read from the database (or taken
    from `now`, the state a tick has just written)."""
    if now is None:
        reads = state_reads(account=account)
        snapshot, positions, version = reads.snapshot, reads.positions, reads.version
    else:
        snapshot, positions, version = now.snapshot, now.positions, now.version
    equity = snapshot.equity if snapshot else account.cash_balance
    pnl = now.pnl if now is not None else pnl_summary(account=account, equity=equity, bases=reads.bases)
    exposure = sum((p.market_value for p in positions), Decimal("0"))
    return {
        "account": account_ref(account),
        "seq": account.tick_seq,
        "mode": account.mode,
        "stop_level": account.stop_level,
        "stop_reason": account.stop_reason,
        "equity": dec(equity),
        "cash": dec(account.cash_balance),
        "pnl": {k: dec(v) for k, v in pnl.items()},
        "exposure_pct": dec((exposure / equity * HUNDRED).quantize(Decimal("0.01")) if equity else Decimal("0")),
        "positions": [position_data(p) for p in positions],
        "config": {"version": version.version, "sha256": version.sha256} if version else None,
        "last_tick_at": account.last_tick_at.isoformat() if account.last_tick_at else None,
        "snapshot": snapshot_data(snapshot) if snapshot else None,
    }


def tick_event(
    *, account: TradingAccount, seq: int, marks: dict, orders: list[Order], now: AccountNow | None = None
) -> dict:
    """The live push after a tick: the full state plus this tick's prices and orders."""
    return {
        "type": "tick",
        **account_state(account=account, now=now),
        "seq": seq,
        "prices": {symbol: dec(price) for symbol, price in marks.items()},
        "orders": [order_data(o) for o in orders],
    }


def overview_data(*, account: TradingAccount, curve_points: int = 500) -> dict:
    """The overview page's full state for first render and for re-sync after a gap."""
    return {
        **account_state(account=account),
        "curve": [snapshot_data(s) for s in equity_curve(account_id=account.pk, limit=curve_points)],
        "orders": [order_data(o) for o in orders_recent(account_id=account.pk)],
        "prices": {symbol: dec(price) for symbol, price in prices_latest(account=account).items()},
    }
