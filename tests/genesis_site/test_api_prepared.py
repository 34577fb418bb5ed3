"""The API's lists through statements compiled once per shape (genesis_site.prepared) answer
exactly what the ORM path answers, for every kind of user and filter, request after request
with other values in the same statement; and still in one query."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from genesis_site import prepared as prepared_module
from genesis_site.api import AccountScopedViewSet
from genesis_site.prepared import Prepared, Unpreparable, prepared, sentinel
from tests.genesis_site.factories import UserFactory
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory
from trading.api.views import OrderViewSet
from trading.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    member, other_member, stranger = UserFactory(role="viewer"), UserFactory(role="viewer"), UserFactory(role="viewer")
    admin = UserFactory(role="viewer", is_superuser=True)
    mine, theirs = TradingAccountFactory(members=[member]), TradingAccountFactory(members=[other_member])
    strategy = StrategyFactory(account=mine)
    now = timezone.now()
    for i in range(7):
        OrderFactory(
            account=mine,
            symbol=("BTC/USDT", "ETH/USDT")[i % 2],
            side=("buy", "sell")[i % 3 == 0],
            status=("filled", "rejected")[i == 3],
            strategy=strategy if i < 4 else None,
            amount=Decimal("0.0100000000") * (i + 1),
            created_at=now - timedelta(minutes=i),
        )
    for i in range(3):
        OrderFactory(account=theirs, symbol="BTC/USDT", created_at=now - timedelta(seconds=i))
    return {"member": member, "other": other_member, "stranger": stranger, "admin": admin}, mine, theirs, strategy


def answer(user, url, *, orm: bool, monkeypatch) -> tuple[int, dict]:
    client = APIClient()
    client.force_authenticate(user)
    with monkeypatch.context() as patch:
        if orm:
            patch.setattr(AccountScopedViewSet, "_page_prepared", lambda self, request: None)
        response = client.get(url)
    return response.status_code, response.json()


def test_every_user_and_filter_reads_what_the_orm_path_reads(world, monkeypatch):
    users, mine, theirs, strategy = world
    queries = [
        "",
        f"account={mine.pk}",
        f"account={theirs.pk}",
        f"account={mine.pk}&limit=2",
        f"account={mine.pk}&limit=2&offset=2",
        f"account={mine.pk}&limit=3&offset=6",
        f"account={mine.pk}&limit=2&offset=50",  # past the end
        "symbol=ETH/USDT",
        "symbol=DOGE/USDT",  # nothing
        "side=sell&status=filled",
        f"strategy={strategy.pk}&account={mine.pk}",
        "since=2020-01-01T00:00:00Z",  # a date: the ORM path
        "status=bogus",  # 400, the same
        "account=0",  # 400, the same
    ]
    # Every user twice: the second round runs the statements the first one kept, for other values.
    for user in [*users.values(), *users.values()]:
        for query in queries:
            url = f"/api/v1/orders?{query}"
            prepared = answer(user, url, orm=False, monkeypatch=monkeypatch)
            assert prepared == answer(user, url, orm=True, monkeypatch=monkeypatch), (user.username, query)
    status, page = answer(
        users["member"], f"/api/v1/orders?account={mine.pk}&side=sell", orm=False, monkeypatch=monkeypatch
    )
    assert status == 200 and page["count"] == 3
    assert {r["id"] for r in page["results"]} == set(
        Order.objects.filter(account=mine, side="sell").values_list("pk", flat=True)
    )
    assert (
        answer(users["stranger"], f"/api/v1/orders?account={mine.pk}", orm=False, monkeypatch=monkeypatch)[1]["count"]
        == 0
    )


def test_a_prepared_page_is_still_one_query(world, django_assert_num_queries):
    users, mine, _, _ = world
    client = APIClient()
    client.force_authenticate(users["member"])
    client.get(f"/api/v1/orders?account={mine.pk}&limit=2")  # the statement is compiled here
    with django_assert_num_queries(1):
        page = client.get(f"/api/v1/orders?account={mine.pk}&limit=2").json()
    assert page["count"] == 7 and len(page["results"]) == 2 and "_page_total" not in page["results"][0]
    kept = [k for k, statement in prepared_module._kept.items() if statement is not None]
    assert any(key[1] is OrderViewSet and key[3] == ("account",) for key in kept)  # it was the prepared path


def test_a_value_the_orm_transforms_cannot_be_a_slot():
    marker = sentinel(str, 1)
    with pytest.raises(Unpreparable):
        Prepared.compile(Order.objects.filter(symbol__icontains=marker), {"symbol": marker})
    statement = Prepared.compile(
        Order.objects.filter(symbol=marker, account_id=sentinel(int, 2)),
        {
            "symbol": marker,
            "account": sentinel(int, 2),
        },
    )
    assert sorted(s for s in statement.slots if s) == ["account", "symbol"]


def test_a_statement_that_would_not_take_every_value_is_not_kept():
    account = sentinel(int, 1)
    with pytest.raises(Unpreparable):  # compiled without the value: it would answer the same for all
        Prepared.compile(Order.objects.all(), {"account": account})
    # The ORM compiles a lookup on an empty queryset away: that shape is refused, and remembered.
    build = lambda: (Order.objects.none().filter(account_id=account), {"account": account})  # noqa: E731
    assert prepared(("test", "empty"), build) is None
    assert prepared(("test", "empty"), lambda: pytest.fail("compiled twice")) is None
