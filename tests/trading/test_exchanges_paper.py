from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.exceptions import OrderRejected
from trading.exchanges.paper import BookDepth, PaperExchange
from trading.markets import market_get

BTC = market_get("BTC/USDT")
ETH = market_get("ETH/USDT")
EXCHANGE = PaperExchange(slippage_bps=Decimal("5"))


def test_buy_pays_slippage_and_taker_fee_to_the_cent():
    fill = EXCHANGE.execute_market(market=BTC, side="buy", amount=Decimal("0.01"), last_price=Decimal("60000.00"))
    assert fill.price == Decimal("60030.00")  # +5 bps
    assert fill.notional == Decimal("600.3000")
    assert fill.fee == Decimal("0.60030000")  # 0.1 % taker
    assert fill.fee_currency == "USDT"


def test_sell_receives_slippage_below_the_last_price():
    fill = EXCHANGE.execute_market(market=BTC, side="sell", amount=Decimal("0.5"), last_price=Decimal("60000.00"))
    assert fill.price == Decimal("59970.00")
    assert fill.fee == Decimal("29.98500000")


def test_slippage_rounds_against_us_to_the_tick():
    # 3000.37 x 1.0005 = 3001.870185 -> up to 3001.88; x 0.9995 = 2998.869815 -> down to 2998.86
    assert EXCHANGE.quote_price(market=ETH, side="buy", last_price=Decimal("3000.37")) == Decimal("3001.88")
    assert EXCHANGE.quote_price(market=ETH, side="sell", last_price=Decimal("3000.37")) == Decimal("2998.86")


def test_fee_rounds_up_at_the_eighth_decimal():
    # 0.0001 ETH x 3001.88 = 0.300188; fee 0.000300188 -> 0.00030019
    fill = EXCHANGE.execute_market(market=ETH, side="buy", amount=Decimal("0.0017"), last_price=Decimal("3000.37"))
    assert fill.notional == Decimal("5.103196")
    assert fill.fee == Decimal("0.00510320")


def test_below_minimum_notional_is_rejected_naming_the_numbers():
    with pytest.raises(OrderRejected, match=r"notional 4\.80 USDT .* below the minimum 5 USDT"):
        EXCHANGE.execute_market(market=BTC, side="buy", amount=Decimal("0.00008"), last_price=Decimal("59970.00"))


def test_minimum_notional_is_fee_adjusted():
    # 0.0001 BTC at 50000.00 (sell: 49975.00 after slippage) = 4.9975 -> under 5 even before the fee
    # 0.00011 BTC sells at 49975.00 = 5.49725, fee 0.00549725 -> 5.4917 net: accepted.
    EXCHANGE.execute_market(market=BTC, side="sell", amount=Decimal("0.00011"), last_price=Decimal("50000.00"))
    # 5.002 gross but 4.997 after the fee: refused.
    eth_last = Decimal("2502.25")  # sells at 2501.00
    with pytest.raises(OrderRejected, match="after fee"):
        EXCHANGE.execute_market(market=ETH, side="sell", amount=Decimal("0.0020"), last_price=eth_last)


def test_amount_off_the_step_or_below_the_minimum_is_rejected():
    with pytest.raises(OrderRejected, match="off the step"):
        EXCHANGE.execute_market(market=BTC, side="buy", amount=Decimal("0.000015"), last_price=Decimal("60000"))
    with pytest.raises(OrderRejected, match="below the minimum"):
        EXCHANGE.execute_market(market=BTC, side="buy", amount=Decimal("0"), last_price=Decimal("60000"))


def test_a_buy_needs_cash_for_notional_and_fee():
    with pytest.raises(OrderRejected, match=r"insufficient funds: 600\.90 USDT needed, 600\.50 available"):
        EXCHANGE.execute_market(
            market=BTC,
            side="buy",
            amount=Decimal("0.01"),
            last_price=Decimal("60000"),
            available_quote=Decimal("600.50"),
        )


prices = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("200000.00"), places=2)
steps = st.integers(min_value=1, max_value=10_000_000)


@settings(max_examples=2000, deadline=None)
@given(last=prices, steps=steps, side=st.sampled_from(["buy", "sell"]))
def test_fill_price_and_fee_properties(last, steps, side):
    amount = BTC.amount_step * steps
    try:
        fill = EXCHANGE.execute_market(market=BTC, side=side, amount=amount, last_price=last)
    except OrderRejected:
        assert amount * last * Decimal("1.0005") - amount * last * Decimal("0.0015") < BTC.min_notional + 1
        return
    assert isinstance(fill.price, Decimal) and isinstance(fill.fee, Decimal)
    assert (fill.price / BTC.price_step) == (fill.price / BTC.price_step).to_integral_value()
    assert fill.price >= last if side == "buy" else fill.price <= last
    assert abs(fill.price - last) <= last * Decimal("0.0005") + BTC.price_step
    exact_fee = fill.notional * BTC.taker_fee
    assert exact_fee <= fill.fee < exact_fee + Decimal("0.00000001")


# --- depth model, partial fills, limit orders and maker fees ----------------------------------

THIN = PaperExchange(
    depth=BookDepth(levels=3, half_spread_bps=Decimal("5"), step_bps=Decimal("10"), level_notional=Decimal("1000"))
)


def test_the_depth_book_levels_are_tick_rounded_and_lot_floored():
    assert THIN.book(market=BTC, side="buy", last_price=Decimal("60000")) == [
        (Decimal("60030.00"), Decimal("0.01665")),  # 1000 / 60030 = 0.016658.. floored to the lot
        (Decimal("60090.00"), Decimal("0.01664")),
        (Decimal("60150.00"), Decimal("0.01662")),
    ]
    assert THIN.book(market=BTC, side="sell", last_price=Decimal("60000"))[0] == (
        Decimal("59970.00"),
        Decimal("0.01667"),
    )


def test_a_market_buy_walks_the_book_one_fill_per_level():
    execution = THIN.execute_market(market=BTC, side="buy", amount=Decimal("0.04"), last_price=Decimal("60000"))
    assert [(f.price, f.amount, f.fee) for f in execution.fills] == [
        (Decimal("60030.00"), Decimal("0.01665"), Decimal("0.99949950")),
        (Decimal("60090.00"), Decimal("0.01664"), Decimal("0.99989760")),
        (Decimal("60150.00"), Decimal("0.00671"), Decimal("0.40360650")),
    ]
    assert execution.complete and execution.amount == Decimal("0.04")
    assert execution.notional == Decimal("2403.0036")
    assert execution.fee == Decimal("2.40300360")
    assert execution.price == Decimal("60075.09")
    assert {f.liquidity for f in execution.fills} == {"taker"} and execution.fee_currency == "USDT"


def test_an_order_larger_than_the_book_fills_partially():
    execution = THIN.execute_market(market=BTC, side="buy", amount=Decimal("0.06"), last_price=Decimal("60000"))
    assert not execution.complete
    assert execution.amount == Decimal("0.04991")
    assert execution.notional == Decimal("2999.0901")


def test_the_depth_model_still_rejects_below_the_minimum_notional():
    with pytest.raises(OrderRejected, match=r"notional 4\.80 USDT after fee 0\.00480240 is below the minimum 5 USDT"):
        THIN.execute_market(market=BTC, side="buy", amount=Decimal("0.00008"), last_price=Decimal("60000"))


def test_amount_above_the_lot_maximum_is_rejected():
    with pytest.raises(OrderRejected, match=r"amount 9000\.00001 BTC is above the maximum 9000"):
        EXCHANGE.execute_market(market=BTC, side="buy", amount=Decimal("9000.00001"), last_price=Decimal("60000"))


def test_a_limit_order_takes_what_is_marketable_and_rests_the_rest():
    execution = THIN.execute_limit(
        market=BTC, side="buy", amount=Decimal("0.03"), price=Decimal("60050.00"), last_price=Decimal("60000")
    )
    assert [(f.price, f.amount) for f in execution.fills] == [(Decimal("60030.00"), Decimal("0.01665"))]
    assert execution.resting == Decimal("0.01335")


def test_a_resting_limit_order_fills_at_its_price_with_the_maker_fee_once_crossed():
    assert (
        THIN.fill_resting(
            market=BTC, side="buy", amount=Decimal("0.01335"), price=Decimal("60050.00"), last_price=Decimal("60050.01")
        ).fills
        == ()
    )
    maker = PaperExchange().fill_resting(
        market=BTC, side="buy", amount=Decimal("0.01335"), price=Decimal("60050.00"), last_price=Decimal("60000")
    )
    (fill,) = maker.fills
    assert (fill.price, fill.amount, fill.liquidity) == (Decimal("60050.00"), Decimal("0.01335"), "maker")
    assert fill.fee == Decimal("0.80166750")  # 801.6675 x 0.1 % maker


def test_a_limit_price_off_the_tick_is_rejected():
    with pytest.raises(OrderRejected, match=r"price 60000\.005 is off the tick 0\.01"):
        THIN.execute_limit(
            market=BTC, side="buy", amount=Decimal("0.01"), price=Decimal("60000.005"), last_price=Decimal("60000")
        )


@pytest.mark.django_db
def test_a_partial_fill_books_each_level_and_expires_the_rest():
    from compliance.services import Actor
    from tests.trading.factories import TradingAccountFactory
    from trading.models import Fill, Position
    from trading.services.orders import order_execute_paper

    account = TradingAccountFactory()
    position = Position.objects.create(account=account, symbol="BTC/USDT")
    order, execution = order_execute_paper(
        account=account,
        strategy=None,
        position=position,
        market=BTC,
        side="buy",
        amount=Decimal("0.06"),
        last_price=Decimal("60000"),
        exchange=THIN,
        idempotency_key="partial-1",
        correlation_id="c1",
        config_hash="",
        actor=Actor.system("test"),
    )
    assert order.status == "expired"
    assert order.filled_amount == Decimal("0.04991") and order.amount == Decimal("0.06")
    assert Fill.objects.filter(order=order).count() == 3
    position.refresh_from_db()
    assert position.quantity == Decimal("0.04991")
    assert account.cash_balance == Decimal("100000") - Decimal("2999.0901") - execution.fee


@settings(max_examples=1000, deadline=None)
@given(
    last=prices,
    steps=st.integers(min_value=1, max_value=5_000_000),
    side=st.sampled_from(["buy", "sell"]),
    levels=st.integers(min_value=1, max_value=8),
    level_notional=st.decimals(min_value=Decimal("10"), max_value=Decimal("100000"), places=2),
)
def test_depth_fills_stay_on_the_grid_get_worse_level_by_level_and_never_overfill(
    last, steps, side, levels, level_notional
):
    exchange = PaperExchange(depth=BookDepth(levels=levels, level_notional=level_notional))
    amount = BTC.amount_step * steps
    try:
        execution = exchange.execute_market(market=BTC, side=side, amount=amount, last_price=last)
    except OrderRejected:
        return
    assert 0 < execution.amount <= amount
    assert execution.notional - execution.fee >= BTC.min_notional
    previous = None
    for fill in execution.fills:
        assert fill.price == BTC.round_price(fill.price, up=False) and fill.amount == BTC.floor_amount(fill.amount)
        assert fill.price > last if side == "buy" else fill.price < last
        if previous is not None:
            assert fill.price >= previous if side == "buy" else fill.price <= previous
        previous = fill.price
        exact_fee = fill.notional * BTC.taker_fee
        assert exact_fee <= fill.fee < exact_fee + Decimal("0.00000001")


@pytest.mark.django_db
def test_paper_rejections_feed_the_order_rejection_breaker_and_an_acceptance_resets_it():
    from compliance.services import Actor
    from risk.models import Alert, CircuitBreakerState
    from tests.risk.factories import active_policy
    from tests.trading.factories import TradingAccountFactory
    from trading.models import Position
    from trading.services.orders import order_execute_paper

    account = TradingAccountFactory()
    active_policy(account)  # order_rejection_burst: 5 failures open it
    position = Position.objects.create(account=account, symbol="BTC/USDT")

    def order(key: str, amount: str):
        return order_execute_paper(
            account=account,
            strategy=None,
            position=position,
            market=BTC,
            side="buy",
            amount=Decimal(amount),
            last_price=Decimal("60000"),
            exchange=PaperExchange(),
            idempotency_key=key,
            correlation_id="c",
            config_hash="",
            actor=Actor.system("test"),
        )[0]

    breaker = lambda: CircuitBreakerState.objects.get(account=account, source="order_rejection_burst")  # noqa: E731
    for i in range(4):
        assert order(f"tiny-{i}", "0.00001").status == "rejected"  # 0.60 USDT, below the minimum notional
    assert (breaker().state, breaker().failures) == ("closed", 4)
    assert order("fine-1", "0.01").status == "filled"
    assert breaker().failures == 0  # consecutive rejections only
    for i in range(5):
        order(f"tiny-again-{i}", "0.00001")
    assert breaker().state == "open"
    assert Alert.objects.filter(account=account, type="breaker_trip", details__source="order_rejection_burst").exists()


@pytest.mark.django_db
def test_a_healthy_order_writes_no_breaker_row():
    from compliance.services import Actor
    from risk.models import CircuitBreakerState
    from tests.trading.factories import TradingAccountFactory
    from trading.models import Position
    from trading.services.orders import order_execute_paper

    account = TradingAccountFactory()
    order_execute_paper(
        account=account,
        strategy=None,
        position=Position.objects.create(account=account, symbol="BTC/USDT"),
        market=BTC,
        side="buy",
        amount=Decimal("0.01"),
        last_price=Decimal("60000"),
        exchange=PaperExchange(),
        idempotency_key="ok-1",
        correlation_id="c",
        config_hash="",
        actor=Actor.system("test"),
    )
    assert not CircuitBreakerState.objects.filter(account=account).exists()
