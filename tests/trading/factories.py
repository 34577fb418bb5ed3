from decimal import Decimal

import factory

from trading.models import Fill, Order, Strategy, TradingAccount


class TradingAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TradingAccount
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"account-{n}")
    starting_balance = Decimal("100000")
    cash_balance = Decimal("100000")
    scenario = "bull"
    scenario_seed = 7
    symbols = factory.LazyFunction(lambda: ["BTC/USDT"])
    feed_cursor = 60

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.add(*extracted)


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    account = factory.SubFactory(TradingAccountFactory)
    name = factory.Sequence(lambda n: f"strategy-{n}")
    kind = "ma_crossover"
    params = factory.LazyFunction(lambda: {"fast": 5, "slow": 20})
    risk_budget = Decimal("0.03")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    account = factory.SubFactory(TradingAccountFactory)
    symbol = "BTC/USDT"
    side = "buy"
    amount = Decimal("0.01")
    idempotency_key = factory.Sequence(lambda n: f"test-{n}")


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    account = factory.SelfAttribute("order.account")
    symbol = factory.SelfAttribute("order.symbol")
    side = factory.SelfAttribute("order.side")
    amount = factory.SelfAttribute("order.amount")
    price = Decimal("60000")
    fee = Decimal("0")
    fee_currency = "USDT"
    exchange_trade_id = factory.Sequence(lambda n: f"trade-{n}")
