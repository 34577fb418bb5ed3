"""Positions rebuilt from the fill history (SPEC T6, §10): the fills are the facts, the
position rows a cache of them that must match exactly."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from compliance.services import Actor, audit_append
from trading.models import Fill, Position, TradingAccount
from trading.positions import PositionState, cash_delta, fee_terms, position_apply_fill, symbol_dust

FIELDS = ("quantity", "average_cost", "realized_pnl")
FILL_FIELDS = ("symbol", "side", "amount", "price", "fee", "fee_currency", "fee_quote")


def fill_trade(f: dict) -> dict:
    """The arguments of position_apply_fill and cash_delta for a stored fill's FILL_FIELDS."""
    return {
        "side": f["side"],
        "amount": f["amount"],
        "price": f["price"],
        **fee_terms(symbol=f["symbol"], fee=f["fee"], fee_currency=f["fee_currency"], fee_quote=f["fee_quote"]),
    }


@dataclass(frozen=True)
class Rebuild:
    positions: dict[str, PositionState]
    cash_balance: Decimal
    differences: list[str]  # empty when the stored rows equal the rebuild

    @property
    def matches(self) -> bool:
        return not self.differences


def positions_from_fills(*, account_id: int) -> tuple[dict[str, PositionState], Decimal]:
    """Every position and the cash balance, replayed from the account's fills in booking
    order with the same arithmetic the engine books them with."""
    account = TradingAccount.objects.get(pk=account_id)
    states: dict[str, PositionState] = {}
    cash = account.starting_balance
    fills = Fill.objects.filter(account_id=account_id).order_by("pk")
    for f in fills.values(*FILL_FIELDS).iterator(chunk_size=2000):
        trade = fill_trade(f)
        states[f["symbol"]] = position_apply_fill(states.get(f["symbol"], PositionState()), **trade)
        cash += cash_delta(**trade)
    return states, cash


def positions_rebuild(*, account_id: int, actor: Actor, reason: str = "", apply: bool = False) -> Rebuild:
    """Compare the stored positions and cash with the rebuild from fills. With `apply`, the
    stored rows are corrected to the rebuild (audited with every difference); without it
    nothing changes. Runs under the account row lock, so no tick books a fill meanwhile."""
    with transaction.atomic():
        account = TradingAccount.objects.select_for_update().get(pk=account_id)
        states, cash = positions_from_fills(account_id=account_id)
        stored = {p.symbol: p for p in Position.objects.filter(account=account)}
        differences = []
        for symbol in sorted(set(states) | set(stored)):
            want, row = states.get(symbol, PositionState()), stored.get(symbol)
            for name in FIELDS:
                have = getattr(row, name) if row else Decimal("0")
                if have != getattr(want, name):
                    differences.append(f"{symbol} {name}: stored {have}, fills give {getattr(want, name)}")
        if account.cash_balance != cash:
            differences.append(f"cash_balance: stored {account.cash_balance}, fills give {cash}")
        if apply and differences:
            _apply(account, stored, states, cash, actor=actor, reason=reason, differences=differences)
    return Rebuild(positions=states, cash_balance=cash, differences=differences)


def _apply(account, stored, states, cash, *, actor, reason, differences) -> None:
    if not reason.strip():
        raise ValueError("reason: correcting positions from fills needs a reason")
    for symbol, state in states.items():
        row = stored.get(symbol) or Position(account=account, symbol=symbol)
        row.quantity, row.average_cost, row.realized_pnl = state.quantity, state.average_cost, state.realized_pnl
        row.dust = symbol_dust(symbol, quantity=state.quantity, price=row.mark_price or state.average_cost)
        row.save()
    account.cash_balance = cash
    account.save(update_fields=["cash_balance"])
    audit_append(
        actor=actor,
        action="positions.rebuilt",
        obj=account,
        payload={"account": account.pk, "differences": differences, "reason": reason},
    )
