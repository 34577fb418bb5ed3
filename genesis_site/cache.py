"""Django's Redis cache backend with one redis-py client per process.

Django keeps its cache objects in an asgiref Local that is not thread-critical, i.e. per
context: under ASGI every request runs in a fresh copy of the context, so `caches["default"]`
is a new RedisCache for every request, with a new connection pool. Each API request therefore
opened a new TCP connection to Redis, said HELLO to it (redis-py reads its own package version
from disk for the client name on every new connection) and dropped it: ~1.5-2 ms of CPU per
request under uvicorn (py-spy, bench/api.py), invisible in the test client, which runs every
request in one context. Here every RedisCache of the same servers and options shares one
`RedisCacheClient`, whose pools and redis-py clients live as long as the process (redis-py
pools are thread-safe and reset themselves in a forked child).

django.core.cache.backends.redis also made a new `redis.Redis` for every get, set or incr, and
redis-py 8 fills a fresh dict of ~170 response callbacks in each (~0.1 ms of CPU): one client
per pool serves every call.

`incr` is one round trip (Django's asks EXISTS, then INCR), and `incr_window` counts a fixed
window in one round trip for the API throttles (genesis_site.throttling)."""

import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

# INCR only if the key exists, as Django's incr() requires ("Key not found" otherwise), in one
# round trip instead of EXISTS then INCR (which could also race with the key expiring).
_INCR_EXISTING = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end"


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._lock = threading.Lock()

    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        pool = self._pools.get(index)
        if pool is None:
            with self._lock:  # shared by the process's threads: one pool per server
                pool = self._pools.get(index)
                if pool is None:
                    pool = self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
        return pool

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))  # pools live as long as this object
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client

    def incr(self, key, delta):
        value = self.get_client(key, write=True).eval(_INCR_EXISTING, 1, key, delta)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def incr_window(self, key, timeout: int) -> int:
        """Add one to the counter `key`, creating it with `timeout` seconds to live if it does
        not exist: one round trip, atomic (MULTI/EXEC)."""
        pipe = self.get_client(key, write=True).pipeline(transaction=True)
        pipe.set(key, 0, ex=timeout, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]


_shared: dict[tuple, RedisCacheClient] = {}
_shared_lock = threading.Lock()


class RedisCache(DjangoRedisCache):
    # Every process sees the same values (genesis_site.authentication relies on it to end
    # cached token checks everywhere at once).
    shared_between_processes = True

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._shared_key = (tuple(self._servers), repr(sorted(self._options.items())))

    @property
    def _cache(self) -> RedisCacheClient:
        """The process's client for these servers and options (see the module docstring)."""
        client = _shared.get(self._shared_key)
        if client is None:
            with _shared_lock:
                client = _shared.get(self._shared_key)
                if client is None:
                    client = _shared[self._shared_key] = self._class(self._servers, **self._options)
        return client

    def incr_window(self, key: str, timeout: int) -> int:
        return self._cache.incr_window(self.make_and_validate_key(key), timeout)
