"""genesis_site.cache: Django's Redis cache, one redis-py client per pool (against real Redis)."""

import os
import uuid

import pytest

from genesis_site.cache import RedisCache

pytestmark = pytest.mark.redis


@pytest.fixture
def cache():
    backend = RedisCache(os.environ.get("REDIS_URL", ""), {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}"})
    yield backend
    backend.delete_many(["a", "n", "gone"])


def test_get_set_add_incr_and_delete_behave_as_djangos_backend(cache):
    assert cache.get("a") is None
    cache.set("a", {"x": [1, 2]}, 60)
    assert cache.get("a") == {"x": [1, 2]}
    assert cache.add("n", 1, 60) and not cache.add("n", 5, 60)
    assert cache.incr("n") == 2 and cache.get("n") == 2
    cache.set("gone", 1, 60)
    cache.delete("gone")
    assert cache.get("gone", "default") == "default"


def test_one_client_serves_every_call(cache):
    client = cache._cache.get_client(write=True)
    cache.set("a", 1, 60)
    assert cache._cache.get_client() is client and cache._cache.get_client(write=True) is client


def test_every_cache_object_of_the_same_settings_shares_one_client(cache):
    # Django makes a new cache object per request context under ASGI: each must reuse the
    # process's pools instead of opening a new connection to Redis.
    again = RedisCache(os.environ.get("REDIS_URL", ""), {"KEY_PREFIX": cache.key_prefix})
    assert again._cache is cache._cache
    cache.set("a", 1, 60)
    assert again.get("a") == 1


def test_incr_of_a_missing_key_is_refused_as_djangos_backend_does(cache):
    with pytest.raises(ValueError):
        cache.incr("gone")
    assert cache.get("gone") is None


def test_incr_window_counts_from_one_and_sets_the_expiry(cache):
    assert [cache.incr_window("n", 60) for _ in range(3)] == [1, 2, 3]
    client = cache._cache.get_client(write=True)
    assert 0 < client.ttl(cache.make_key("n")) <= 60
