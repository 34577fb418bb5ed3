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
