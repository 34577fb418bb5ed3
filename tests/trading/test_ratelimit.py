"""The shared request-weight budget: a token bucket in Redis (one Lua script), cancels first."""

import os
import threading
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from trading.exceptions import RateLimited
from trading.exchanges.ratelimit import RateBudget


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = []
    yield client, keys
    for key in keys:
        client.delete(f"genesis:ratebudget:{key}")


def budget_in_redis(redis_client, **kwargs) -> RateBudget:
    client, keys = redis_client
    key = f"test-{uuid.uuid4().hex[:8]}"
    keys.append(key)
    return RateBudget(key=key, redis_client=client, **kwargs)


def check_cancels_come_first(budget: RateBudget):
    # capacity 100, 10 % reserved for cancels: orders may take 90, cancels the rest.
    assert budget.try_take(60, priority="order")[0]
    assert budget.try_take(30, priority="read")[0]
    allowed, tokens, wait_ms = budget.try_take(1, priority="order")
    assert not allowed and 9 <= tokens < 10.5 and wait_ms > 0
    assert budget.try_take(10, priority="cancel")[0]


def test_in_memory_cancels_come_first():
    check_cancels_come_first(RateBudget(key="local-1", capacity=100, per_seconds=600))


def test_an_unknown_priority_is_refused():
    with pytest.raises(ValueError, match="priority must be one of cancel, order, read"):
        RateBudget(key="local-2").try_take(1, priority="urgent")


def test_acquire_waits_for_refill_then_gives_up_with_rate_limited():
    budget = RateBudget(key="local-3", capacity=10, per_seconds=1, cancel_reserve=0, max_wait=0.5)
    budget.acquire(10)
    started = time.monotonic()
    budget.acquire(5)  # 5 tokens refill in 0.5 s
    assert 0.3 < time.monotonic() - started < 0.9
    slow = RateBudget(key="local-4", capacity=10, per_seconds=600, cancel_reserve=0, max_wait=0.05)
    slow.acquire(10)
    with pytest.raises(RateLimited, match="budget of key local-4 exhausted: order call of weight 1"):
        slow.acquire(1)


def test_usage_is_exported_as_a_metric():
    budget = RateBudget(key="local-5", capacity=100, per_seconds=6000)
    budget.try_take(25)
    used = REGISTRY.get_sample_value("exchange_rate_budget_used_ratio", {"key": "local-5"})
    assert 0.24 < used <= 0.25


@pytest.mark.redis
def test_in_redis_cancels_come_first(redis_client):
    check_cancels_come_first(budget_in_redis(redis_client, capacity=100, per_seconds=600))


@pytest.mark.redis
def test_two_workers_share_one_bucket(redis_client):
    first = budget_in_redis(redis_client, capacity=100, per_seconds=6000, cancel_reserve=0)
    second = RateBudget(key=first.key, redis_client=redis_client[0], capacity=100, per_seconds=6000, cancel_reserve=0)
    assert first.try_take(70)[0]
    assert not second.try_take(40)[0]  # only ~30 left, whoever asks
    assert second.try_take(30)[0]
    assert 0.99 <= second.usage() <= 1


@pytest.mark.redis
def test_concurrent_consumers_never_exceed_the_budget(redis_client):
    import redis

    capacity, per_seconds = 50, 1.0  # 50 weight, refilling 50 per second
    key = budget_in_redis(redis_client, capacity=capacity, per_seconds=per_seconds).key
    granted, lock = [], threading.Lock()
    started = time.monotonic()
    stop_at = started + 1.0

    def worker():
        budget = RateBudget(
            key=key,
            redis_client=redis.Redis.from_url(os.environ["REDIS_URL"]),
            capacity=capacity,
            per_seconds=per_seconds,
            cancel_reserve=0,
        )
        while time.monotonic() < stop_at:
            if budget.try_take(2)[0]:
                with lock:
                    granted.append(2)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    allowed = capacity + capacity / per_seconds * elapsed
    assert sum(granted) <= allowed + 2
    assert sum(granted) >= capacity  # the bucket was really used, not refused outright


@pytest.mark.django_db
def test_usage_per_api_key_for_the_system_page():
    from compliance.services import Actor
    from tests.trading.factories import TradingAccountFactory
    from trading.exchanges.ratelimit import rate_budget_for
    from trading.selectors import rate_budget_usage
    from trading.services.credentials import credential_fingerprint, credential_store

    first, second = TradingAccountFactory(), TradingAccountFactory()
    for account in (first, second):  # two accounts, one API key: one budget
        credential_store(account=account, api_key="shared-key", secret="s", actor=Actor.system("test"))
    fingerprint = credential_fingerprint("shared-key")
    rate_budget_for(fingerprint).try_take(600)
    (row,) = rate_budget_usage()
    assert row["key"] == fingerprint and row["accounts"] == sorted([first.pk, second.pk])
    assert 0.09 < row["used"] <= 0.1
