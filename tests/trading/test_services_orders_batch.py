"""The set-based paper order path: a batch gives exactly what one call per order gives."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.models import CircuitBreakerState
from tests.compliance.tamper import as_table_owner
from tests.trading.factories import TradingAccountFactory
from trading.exceptions import IdempotencyConflict
from trading.exchanges.paper import BookDepth, PaperExchange
from trading.markets import market_get
from trading.models import Fill, Order, Position
from trading.services.orders import PaperIntent, order_execute_paper, paper_orders_execute

pytestmark = pytest.mark.django_db

BTC, ETH = market_get("BTC/USDT"), market_get("ETH/USDT")
ACTOR = Actor.system("test")
THIN = PaperExchange(
    depth=BookDepth(levels=3, half_spread_bps=Decimal("5"), step_bps=Decimal("10"), level_notional=Decimal("1000"))
)
ORDER_FIELDS = (
    "symbol", "side", "amount", "status", "filled_amount", "average_price", "fee", "fee_currency",
    "realized_pnl", "reject_reason", "created_at",
)  # fmt: skip
POSITION_FIELDS = ("quantity", "average_cost", "realized_pnl", "opened_at")


def account_with_positions():
    """100,000 USDT and open positions to sell from: 5 BTC at 50,000 and 50 ETH at 3,000."""
    account = TradingAccountFactory(symbols=["BTC/USDT", "ETH/USDT"])
    Position.objects.create(account=account, symbol="BTC/USDT", quantity=Decimal("5"), average_cost=Decimal("50000"))
    Position.objects.create(account=account, symbol="ETH/USDT", quantity=Decimal("50"), average_cost=Decimal("3000"))
    return account


def intent(tag: str, i: int, market, side: str, amount: Decimal, last: Decimal, reason: str = "") -> PaperIntent:
    return PaperIntent(
        market=market,
        side=side,
        amount=amount,
        last_price=last,
        idempotency_key=f"{tag}-{i}",
        correlation_id=f"{tag}-c{i}",
        reason=reason,
    )


def one_by_one(account, intents, exchange, at):
    positions = {p.symbol: p for p in Position.objects.filter(account=account)}
    for it in intents:
        with transaction.atomic():
            order_execute_paper(
                account=account,
                strategy=None,
                position=positions[it.market.symbol],
                market=it.market,
                side=it.side,
                amount=it.amount,
                last_price=it.last_price,
                exchange=exchange,
                idempotency_key=it.idempotency_key,
                correlation_id=it.correlation_id,
                config_hash="",
                actor=ACTOR,
                reason=it.reason,
                at=at,
            )


def recorded(account, tag: str) -> dict:
    """Everything the orders left, with the keys and ids that differ between two runs taken out."""
    account.refresh_from_db()
    orders = list(Order.objects.filter(account=account).order_by("pk"))
    key_of = {str(o.pk): o.idempotency_key.removeprefix(tag) for o in orders}
    events = [
        (
            e.action,
            e.actor,
            e.config_hash,
            e.object_type,
            key_of[e.object_id],
            e.correlation_id.removeprefix(tag),
            {k: v for k, v in e.payload.items() if k not in ("account", "client_order_id")},
        )
        for e in AuditEvent.objects.filter(correlation_id__startswith=f"{tag}-").order_by("sequence")
    ]
    breaker = CircuitBreakerState.objects.filter(account=account).values("state", "failures", "trips").first()
    return {
        "cash": account.cash_balance,
        "orders": [tuple(getattr(o, f) for f in ORDER_FIELDS) for o in orders],
        "keys": [o.idempotency_key.removeprefix(tag) for o in orders],
        "fills": list(
            Fill.objects.filter(account=account)
            .order_by("pk")
            .values_list("order__idempotency_key", "amount", "price", "fee", "fee_currency", "liquidity", "created_at")
        ),
        "positions": list(Position.objects.filter(account=account).order_by("symbol").values_list(*POSITION_FIELDS)),
        "events": events,
        "breaker": breaker,
    }


def strip_fill_keys(rows, tag):
    return [(key.removeprefix(tag), *rest) for key, *rest in rows]


orders_strategy = st.lists(
    st.tuples(
        st.sampled_from(["BTC", "ETH"]),
        st.sampled_from(["buy", "sell"]),
        st.one_of(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=40_000)),
        st.decimals(min_value=Decimal("0.9"), max_value=Decimal("1.1"), places=4),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(steps=orders_strategy, exchange=st.sampled_from([PaperExchange(), THIN]))
def test_a_batch_records_exactly_what_one_call_per_order_records(steps, exchange):
    """Random sides, amounts (some below the minimum notional, some beyond the cash) and prices,
    on the fixed-slippage and the thin depth book: orders, fills, positions, cash and fees to
    the last digit, and the audit events in the same order with the same content."""
    at = timezone.now()
    run = uuid.uuid4().hex[:8]
    single, batch = account_with_positions(), account_with_positions()
    plans = {}
    for tag in (f"s{run}", f"b{run}"):
        plans[tag] = [
            intent(
                tag,
                i,
                BTC if base == "BTC" else ETH,
                side,
                n * (BTC if base == "BTC" else ETH).amount_step,
                ((Decimal("60000") if base == "BTC" else Decimal("3000")) * move).quantize(Decimal("0.01")),
                reason=f"step {i}",
            )
            for i, (base, side, n, move) in enumerate(steps)
        ]
    s_tag, b_tag = plans
    one_by_one(single, plans[s_tag], exchange, at)
    with transaction.atomic():
        results = paper_orders_execute(
            account=batch, intents=plans[b_tag], exchange=exchange, config_hash="", actor=ACTOR, at=at
        )
    assert [o.idempotency_key for o, _ in results] == [i.idempotency_key for i in plans[b_tag]]
    assert all((o.status == "rejected") == (e is None) for o, e in results)
    got_single, got_batch = recorded(single, s_tag), recorded(batch, b_tag)
    got_single["fills"] = strip_fill_keys(got_single["fills"], s_tag)
    got_batch["fills"] = strip_fill_keys(got_batch["fills"], b_tag)
    assert got_batch == got_single
    assert audit_chain_verify().ok


def test_a_rejected_order_in_the_middle_is_recorded_and_the_others_still_go():
    account = account_with_positions()
    last = Decimal("60000")
    intents = [
        intent("mid", 0, BTC, "buy", Decimal("0.01"), last),
        intent("mid", 1, BTC, "buy", Decimal("0.00005"), last),  # 3.00 USDT, below the 5 USDT minimum
        intent("mid", 2, ETH, "sell", Decimal("1"), Decimal("3000")),
    ]
    with transaction.atomic():
        results = paper_orders_execute(
            account=account, intents=intents, exchange=PaperExchange(), config_hash="", actor=ACTOR
        )
    assert [o.status for o, _ in results] == ["filled", "rejected", "filled"]
    rejected = Order.objects.get(idempotency_key="mid-1")
    assert rejected.status == "rejected" and "below the minimum 5" in rejected.reject_reason
    assert not rejected.fills.exists() and rejected.exchange_order_id == ""
    actions = list(
        AuditEvent.objects.filter(object_id=str(rejected.pk), object_type="trading.order").values_list(
            "action", flat=True
        )
    )
    assert actions == ["order.new", "order.submitted", "order.rejected"]
    # 0.01 BTC bought at 60,030 (5 bps up) with a 0.60030 fee; 1 ETH sold at 2,998.50 less 2.9985.
    account.refresh_from_db()
    assert account.cash_balance == Decimal("100000") - Decimal("600.30") - Decimal("0.6003") + Decimal(
        "2998.50"
    ) - Decimal("2.9985")
    assert Position.objects.get(account=account, symbol="BTC/USDT").quantity == Decimal("5.01")
    assert Position.objects.get(account=account, symbol="ETH/USDT").quantity == Decimal("49")
    breaker = CircuitBreakerState.objects.get(account=account, source="order_rejection_burst")
    assert (breaker.state, breaker.failures) == ("closed", 0)  # the acceptance after forgave it


def test_a_replayed_batch_creates_nothing_and_returns_the_recorded_orders():
    account = account_with_positions()
    intents = [intent("rep", i, BTC, "buy", Decimal("0.01"), Decimal("60000")) for i in range(5)]
    with transaction.atomic():
        first = paper_orders_execute(
            account=account, intents=intents, exchange=PaperExchange(), config_hash="", actor=ACTOR
        )
    account.refresh_from_db()
    cash, events, fills = account.cash_balance, AuditEvent.objects.count(), Fill.objects.count()
    more = [*intents, intent("rep", 5, BTC, "buy", Decimal("0.02"), Decimal("60000"))]  # a retry with one new
    with transaction.atomic():
        again = paper_orders_execute(
            account=account, intents=more, exchange=PaperExchange(), config_hash="", actor=ACTOR
        )
    assert [o.pk for o, _ in again[:5]] == [o.pk for o, _ in first] and all(e is None for _, e in again[:5])
    assert again[5][1] is not None and Order.objects.filter(account=account).count() == 6
    assert Fill.objects.count() == fills + 1 and AuditEvent.objects.count() == events + 3
    account.refresh_from_db()
    assert account.cash_balance == cash - again[5][1].notional - again[5][1].fee
    assert Position.objects.get(account=account, symbol="BTC/USDT").quantity == Decimal("5.07")


def test_a_key_used_for_another_order_or_twice_in_a_batch_is_refused_and_nothing_is_written():
    account = account_with_positions()
    with transaction.atomic():
        paper_orders_execute(
            account=account,
            intents=[intent("dup", 0, BTC, "buy", Decimal("0.01"), Decimal("60000"))],
            exchange=PaperExchange(),
            config_hash="",
            actor=ACTOR,
        )
    events = AuditEvent.objects.count()
    for intents in (
        [
            intent("dup", 1, BTC, "buy", Decimal("0.01"), Decimal("60000")),
            intent("dup", 0, BTC, "sell", Decimal("0.01"), Decimal("60000")),
        ],
        [intent("dup", 2, BTC, "buy", Decimal("0.01"), Decimal("60000"))] * 2,
    ):
        with pytest.raises(IdempotencyConflict, match="idempotency_key"), transaction.atomic():
            paper_orders_execute(
                account=account, intents=intents, exchange=PaperExchange(), config_hash="", actor=ACTOR
            )
    assert Order.objects.count() == 1 and AuditEvent.objects.count() == events


def test_the_chain_verifies_after_batches_and_a_tampered_order_event_is_found_at_its_row():
    account = account_with_positions()
    for b in range(3):
        intents = [
            intent(
                f"chain{b}",
                i,
                BTC if i % 2 else ETH,
                "buy" if i % 3 else "sell",
                Decimal("0.01") if i % 2 else Decimal("0.1"),
                Decimal("60000") if i % 2 else Decimal("3000"),
            )
            for i in range(10)
        ]
        with transaction.atomic():
            paper_orders_execute(
                account=account, intents=intents, exchange=PaperExchange(), config_hash="", actor=ACTOR
            )
    assert audit_chain_verify().ok and audit_chain_verify().checked == AuditEvent.objects.count() >= 90
    target = AuditEvent.objects.filter(action="order.filled", correlation_id="chain1-c4").get()
    as_table_owner(
        "UPDATE compliance_auditevent SET payload = %s WHERE sequence = %s",
        ['{"account": 1, "amount": "100", "status": "filled"}', target.sequence],
    )
    result = audit_chain_verify()
    assert not result.ok and result.first_broken_sequence == target.sequence


def test_a_batch_costs_the_same_statements_whatever_its_size():
    def statements(n: int, tag: str) -> int:
        account = account_with_positions()
        intents = [
            intent(
                tag, i, BTC if i % 2 else ETH, "buy", Decimal("0.01"), Decimal("60000") if i % 2 else Decimal("3000")
            )
            for i in range(n)
        ]
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            paper_orders_execute(
                account=account, intents=intents, exchange=PaperExchange(), config_hash="", actor=ACTOR
            )
        assert Order.objects.filter(account=account, status="filled").count() == n
        return len(queries.captured_queries)

    statements(1, "warm")  # the first event ever also creates the chain head row
    # (20: SQLite's bound parameters allow every row of each table in one statement)
    assert statements(2, "size2") == statements(20, "size20") <= 14
