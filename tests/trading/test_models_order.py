import itertools

import pytest
from django.db import IntegrityError, transaction

from tests.trading.factories import OrderFactory
from trading.exceptions import IllegalTransition
from trading.models import ORDER_TRANSITIONS, Order, OrderStatus

pytestmark = pytest.mark.django_db

LEGAL = {(a, b) for a, targets in ORDER_TRANSITIONS.items() for b in targets}
ALL_PAIRS = list(itertools.product(OrderStatus.values, repeat=2))


def test_a_retried_submit_with_the_same_idempotency_key_is_refused_by_the_database():
    first = OrderFactory(idempotency_key="gen-abc")
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(account=first.account, idempotency_key="gen-abc")
    assert Order.objects.filter(idempotency_key="gen-abc").count() == 1


def test_filled_amount_above_the_order_amount_is_refused_by_the_database():
    order = OrderFactory()
    order.filled_amount = order.amount * 2
    with pytest.raises(IntegrityError), transaction.atomic():
        order.save()


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS)
def test_order_state_machine(current, target):
    order = Order(status=current)
    if (current, target) in LEGAL:
        order.check_transition(target)
    else:
        with pytest.raises(IllegalTransition, match=f"{current} -> {target}"):
            order.check_transition(target)


def test_the_spec_lifecycle_is_legal_and_final_states_are_final():
    assert (OrderStatus.NEW, OrderStatus.SUBMITTED) in LEGAL
    assert (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED) in LEGAL
    assert (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED) in LEGAL
    for final in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED):
        assert not ORDER_TRANSITIONS[final]
    assert (OrderStatus.NEW, OrderStatus.FILLED) not in LEGAL
