"""Fee dust (SPEC T4, T6, R6): a base-asset fee leaves a position off the lot step; a flatten sells
the largest amount the market accepts, and what no order can sell is recorded as dust, closed for
exposure, risk and the flatten's count, its quantity kept on the position."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.services import trading_flatten
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from trading.exchanges.paper import PaperExchange
from trading.markets import market_get
from trading.models import Fill, Order, Position
from trading.positions import is_dust, sellable_amount
from trading.serializers import account_state
from trading.services.live_orders import order_submit_live
from trading.services.manual import ManualTradeRefused, manual_order_place
from trading.services.orders import order_execute_paper

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")
D = Decimal
BTC = market_get("BTC/USDT")  # lot step 0.00001, minimum amount 0.00001, minimum notional 5 USDT


@pytest.mark.parametrize(
    ("quantity", "price", "sellable"),
    [
        ("0.00998001", "59970", "0.00998"),  # a base fee's remainder: 0.00000001 BTC stays
        ("0.0100005", "60000", "0.01"),
        ("0.00000999", "60000", "0"),  # below the lot step
        ("0.00008", "62500", "0"),  # 5.00 USDT, 4.995 after the taker fee: below 5
        ("0.00009", "62500", "0.00009"),  # 5.625 USDT, 5.619375 after the fee
        ("0.0001", "44977.5", "0"),
    ],
)
def test_the_sellable_amount_is_on_the_lot_step_and_above_the_minimums(quantity, price, sellable):
    assert sellable_amount(BTC, quantity=D(quantity), price=D(price)) == D(sellable)
    assert is_dust(BTC, quantity=D(quantity), price=D(price)) == (D(sellable) == 0)
    assert not is_dust(BTC, quantity=D("0"), price=D(price))


# --- LIVE: the real ccxt client against the exchange emulator, fees charged in BTC -------------


def test_a_live_flatten_after_a_base_fee_sells_on_the_step_and_leaves_the_satoshi_as_dust(
    emulator, live_account, live_adapter
):
    emulator.state.buy_fee_in_base = True
    bought = order_submit_live(
        account=live_account,
        exchange=live_adapter,
        symbol="BTC/USDT",
        side="buy",
        amount=D("0.00999"),
        idempotency_key="gen-dust-entry",
        actor=OPS,
    )
    (buy,) = Fill.objects.filter(order=bought)
    assert (buy.price, buy.fee, buy.fee_currency) == (D("60030"), D("0.00000999"), "BTC")
    position = Position.objects.get(account=live_account, symbol="BTC/USDT")
    assert (position.quantity, position.average_cost, position.dust) == (
        D("0.00998001"),
        D("60090.0900900901"),
        False,
    )

    flattened = trading_flatten(
        account_id=live_account.pk, actor=OPS, reason="end of day", wait=True, exchange=live_adapter
    )
    assert flattened.closed_positions == 1

    (exit_order,) = Order.objects.filter(account=live_account, idempotency_key__startswith="flat-")
    assert (exit_order.status, exit_order.amount) == ("filled", D("0.00998"))
    (sell,) = Fill.objects.filter(order=exit_order)
    assert (sell.price, sell.fee, sell.fee_currency) == (D("59970"), D("0.5985006"), "USDT")
    position.refresh_from_db()
    assert position.quantity == D("0.00000001") and position.dust  # one satoshi, kept and shown
    assert position.realized_pnl == exit_order.realized_pnl == D("-1.7969996991")
    live_account.refresh_from_db()
    assert live_account.cash_balance == D("99998.2023994")  # 100000 - 599.6997 + 598.5006 - 0.5985006
    with emulator.state.lock:
        assert emulator.state.accounts["emulator-test-key"].free["BTC"] == D("1.00000001")
    state = account_state(account=live_account)
    assert state["positions"] == [] and state["exposure_pct"] == "0"
    # Flattened again: nothing is left to sell, no order goes out, nothing is "still open".
    flattened = trading_flatten(account_id=live_account.pk, actor=OPS, reason="again", wait=True, exchange=live_adapter)
    assert flattened.closed_positions == 0
    assert Order.objects.filter(account=live_account, side="sell").count() == 1
    assert audit_chain_verify().ok


# --- paper -------------------------------------------------------------------------------------


@pytest.fixture
def account():
    account = TradingAccountFactory(symbols=["BTC/USDT"])
    active_policy(account)
    return account


def hold(account, quantity, mark, average_cost="60000") -> Position:
    return Position.objects.create(
        account=account, symbol="BTC/USDT", quantity=D(quantity), average_cost=D(average_cost), mark_price=D(mark)
    )


def test_a_paper_flatten_records_a_position_worth_less_than_the_minimum_notional_as_dust(account):
    hold(account, "0.0001", "45000")  # sold at 44977.50: 4.50 USDT, below the 5 USDT minimum
    assert trading_flatten(account_id=account.pk, actor=OPS, reason="end of day").closed_positions == 1
    assert not Order.objects.filter(account=account).exists()
    position = Position.objects.get(account=account)
    assert (position.quantity, position.dust, position.realized_pnl) == (D("0.0001"), True, D("0"))
    account.refresh_from_db()
    assert account.cash_balance == D("100000")
    event = AuditEvent.objects.get(action="position.dust")
    assert D(event.payload["quantity"]) == D("0.0001") and D(event.payload["min_notional"]) == 5
    assert account_state(account=account)["positions"] == []
    assert audit_chain_verify().ok


def test_a_paper_flatten_sells_what_is_on_the_step_and_a_re_entry_absorbs_the_dust(account):
    hold(account, "0.0100005", "60000")
    assert trading_flatten(account_id=account.pk, actor=OPS, reason="end of day").closed_positions == 1
    (sell,) = Order.objects.filter(account=account, side="sell")
    assert (sell.status, sell.amount, sell.average_price, sell.fee) == ("filled", D("0.01"), D("59970"), D("0.5997"))
    position = Position.objects.get(account=account)
    assert (position.quantity, position.dust) == (D("0.0000005"), True)
    assert position.realized_pnl == D("-0.8997")  # (59970 - 60000) x 0.01 - 0.5997
    account.refresh_from_db()
    assert account.cash_balance == D("100599.1003")
    assert account_state(account=account)["exposure_pct"] == "0"

    with pytest.raises(ManualTradeRefused, match=r"0\.0000005 of fee dust"):
        manual_order_place(account_id=account.pk, symbol="BTC/USDT", side="sell", actor=OPS, reason="sell the dust")

    order, _ = order_execute_paper(
        account=account,
        strategy=None,
        position=position,
        market=BTC,
        side="buy",
        amount=D("0.01"),
        last_price=D("60000"),
        exchange=PaperExchange(),
        idempotency_key="gen-reentry",
        correlation_id="",
        config_hash="",
        actor=OPS,
    )
    position.refresh_from_db()
    assert order.status == "filled" and not position.dust and position.opened_at == order.created_at
    assert position.quantity == D("0.0100005")
    # The dust's cost (0.0000005 x 60000) and the new entry's (600.30 + fee 0.6003) average together.
    assert position.average_cost == ((D("0.03") + D("600.3") + D("0.6003")) / D("0.0100005")).quantize(D("1e-10"))


def test_the_positions_api_shows_dust_as_closed_with_its_quantity(account):
    hold(account, "0.0000005", "60000").__class__.objects.filter(account=account).update(dust=True)
    user = UserFactory(role="viewer")
    account.members.add(user)
    client = APIClient()
    client.force_login(user)
    (row,) = client.get("/api/v1/positions", {"account": account.pk}).json()["results"]
    assert (row["quantity"], row["dust"]) == ("0.0000005", True)
    assert client.get("/api/v1/positions", {"account": account.pk, "open": "true"}).json()["results"] == []
    assert len(client.get("/api/v1/positions", {"account": account.pk, "open": "false"}).json()["results"]) == 1
