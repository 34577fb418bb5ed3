"""genesis_site.throttling: the API's rate limits, one counter per client and window."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from genesis_site.throttling import AnonRateThrottle, UserRateThrottle
from tests.genesis_site.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def throttle(cls, rate: str, clock: Clock):
    instance = cls()
    instance.rate = rate
    instance.num_requests, instance.duration = instance.parse_rate(rate)
    instance.timer = clock
    return instance


def request_as(user=None, ip="203.0.113.5"):
    request = APIRequestFactory().get("/api/v1/status", REMOTE_ADDR=ip)
    if user is not None:
        force_authenticate(request, user=user)
    return APIView().initialize_request(request)


def test_a_user_gets_the_rate_then_waits_for_the_next_window():
    user, clock = UserFactory(), Clock(6000.0 + 15)  # 15 s into a minute
    allowed = [throttle(UserRateThrottle, "3/min", clock).allow_request(request_as(user), None) for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    refused = throttle(UserRateThrottle, "3/min", clock)
    assert not refused.allow_request(request_as(user), None) and refused.wait() == pytest.approx(45)
    clock.now += 45
    assert throttle(UserRateThrottle, "3/min", clock).allow_request(request_as(user), None)


def test_users_are_counted_apart_and_anonymous_clients_by_ip():
    clock = Clock(6000.0)
    first, second = UserFactory(), UserFactory()
    for _ in range(3):
        throttle(UserRateThrottle, "3/min", clock).allow_request(request_as(first), None)
    assert not throttle(UserRateThrottle, "3/min", clock).allow_request(request_as(first), None)
    assert throttle(UserRateThrottle, "3/min", clock).allow_request(request_as(second), None)
    # An authenticated user is not counted by the anonymous limit, and IPs are apart.
    assert throttle(AnonRateThrottle, "1/min", clock).allow_request(request_as(first), None)
    assert throttle(AnonRateThrottle, "1/min", clock).allow_request(request_as(ip="198.51.100.1"), None)
    assert not throttle(AnonRateThrottle, "1/min", clock).allow_request(request_as(ip="198.51.100.1"), None)
    assert throttle(AnonRateThrottle, "1/min", clock).allow_request(request_as(ip="198.51.100.2"), None)


class TwoPerMinute(UserRateThrottle):
    rate = "2/min"


def test_the_api_answers_429_with_retry_after_past_the_rate(monkeypatch):
    # The test settings turn throttles off; DRF reads the classes when the views are defined.
    monkeypatch.setattr(APIView, "throttle_classes", [TwoPerMinute])
    client = APIClient()
    client.force_authenticate(UserFactory(role="viewer"))
    codes = [client.get("/api/v1/accounts") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert 0 < int(codes[2]["Retry-After"]) <= 60
    assert codes[2].json()["error"]["code"]
