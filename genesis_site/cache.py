"""Django's Redis cache backend with one redis-py client per connection pool.

django.core.cache.backends.redis makes a new `redis.Redis` for every get, set or incr, and
redis-py 8 fills a fresh dict of ~170 response callbacks in each: ~0.1 ms of CPU, as much as
the round trip to Redis itself, paid two or three times per API request (token-failure
counter, throttle history). A client holds nothing but its pool and is thread-safe, so one
per pool serves every call."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))  # pools live as long as this object
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
