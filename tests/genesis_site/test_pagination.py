"""genesis_site.pagination: limit/offset as DRF documents them, bad values refused by name."""

import pytest
from rest_framework.test import APIClient

from tests.genesis_site.factories import UserFactory
from tests.trading.factories import OrderFactory, TradingAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    user = UserFactory(role="viewer")
    account = TradingAccountFactory(members=[user])
    for _ in range(3):
        OrderFactory(account=account)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_limit_and_offset_page_through_the_list(client):
    first = client.get("/api/v1/orders?limit=2").json()
    rest = client.get("/api/v1/orders?limit=2&offset=2").json()
    assert first["count"] == rest["count"] == 3 and len(first["results"]) == 2 and len(rest["results"]) == 1
    assert first["next"] and not rest["next"]
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in rest["results"])
    assert len(client.get("/api/v1/orders").json()["results"]) == 3  # the default page size


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("offset=null", "offset"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("offset=1&offset=2", "offset"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=1001", "limit"),
    ],
)
def test_a_bad_limit_or_offset_is_a_400_naming_it(client, query, field):
    response = client.get(f"/api/v1/orders?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_page_and_its_count_come_in_one_query_and_past_the_end_the_count_still_holds(
    client, django_assert_num_queries
):
    with django_assert_num_queries(1):
        page = client.get("/api/v1/orders?limit=2&offset=1").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["previous"] and not page["next"]
    assert "_page_total" not in page["results"][0]
    past = client.get("/api/v1/orders?limit=2&offset=7").json()
    assert past["count"] == 3 and past["results"] == []
    other = UserFactory(role="viewer")  # sees no account: nothing, counted 0
    client.force_authenticate(other)
    assert client.get("/api/v1/orders").json() == {"count": 0, "next": None, "previous": None, "results": []}
