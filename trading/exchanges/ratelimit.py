"""One request-weight budget per exchange API key, shared by every worker using it (SPEC T5).

A token bucket in Redis, taken from atomically by one Lua script (read, refill, take, write in
one step, clocked by Redis's own TIME so workers' clocks do not matter). Capacity and refill
follow the exchange's REQUEST_WEIGHT limit (Binance spot: 6,000 per minute) and each call costs
its endpoint's documented weight. Cancels are served first: every other call must leave a
reserved share of the bucket untouched, so when the budget runs low only cancels still go.

Without Redis (embedded mode: one process) the same rule runs in memory under a lock.
"""

import math
import threading
import time
from collections.abc import Callable

from trading import metrics
from trading.exceptions import RateLimited

# Binance spot request weights (GET /api/v3/exchangeInfo etc.), per (method, endpoint).
BINANCE_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "ping"): 1,
    ("GET", "time"): 1,
    ("GET", "exchangeInfo"): 20,
    ("GET", "ticker/24hr"): 2,
    ("GET", "klines"): 2,
    ("GET", "account"): 20,
    ("POST", "order"): 1,
    ("DELETE", "order"): 1,
    ("GET", "order"): 4,
    ("GET", "openOrders"): 6,  # 80 without a symbol
    ("GET", "myTrades"): 20,
}
OPEN_ORDERS_ALL_SYMBOLS_WEIGHT = 80
BINANCE_WEIGHT_PER_MINUTE = 6000
PRIORITIES = ("cancel", "order", "read")

_TAKE = """
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * refill)
local allowed, wait = 0, 0
if tokens - cost >= floor then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost + floor - tokens) / refill)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / refill) + 1000)
return {allowed, tostring(tokens), wait}
"""


class RateBudget:
    """The bucket of one API key. `capacity` weight refills evenly over `per_seconds`;
    calls other than cancels must leave `cancel_reserve` (a share of capacity) in it."""

    def __init__(
        self,
        *,
        key: str,
        redis_client=None,
        capacity: int = BINANCE_WEIGHT_PER_MINUTE,
        per_seconds: float = 60.0,
        cancel_reserve: float = 0.1,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.key, self.capacity = key, capacity
        self.refill_per_ms = capacity / (per_seconds * 1000)
        self.reserve = math.ceil(capacity * cancel_reserve)
        self.max_wait, self.sleep = max_wait, sleep
        self._redis = redis_client
        self._script = redis_client.register_script(_TAKE) if redis_client is not None else None
        self._lock = threading.Lock()
        self._local = {"tokens": float(capacity), "ts": time.monotonic() * 1000}

    def _floor(self, priority: str) -> int:
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
        return 0 if priority == "cancel" else self.reserve

    def _take_local(self, cost: int, floor: int) -> tuple[bool, float, int]:
        with self._lock:
            now = time.monotonic() * 1000
            tokens = min(self.capacity, self._local["tokens"] + (now - self._local["ts"]) * self.refill_per_ms)
            self._local["ts"] = now
            if tokens - cost >= floor:
                self._local["tokens"] = tokens - cost
                return True, tokens - cost, 0
            self._local["tokens"] = tokens
            return False, tokens, math.ceil((cost + floor - tokens) / self.refill_per_ms)

    def try_take(self, weight: int, *, priority: str = "order") -> tuple[bool, float, int]:
        """One attempt: (taken, tokens left, milliseconds until it could succeed)."""
        floor = self._floor(priority)
        if self._script is None:
            allowed, tokens, wait = self._take_local(weight, floor)
        else:
            allowed, tokens, wait = self._script(
                keys=[f"genesis:ratebudget:{self.key}"], args=[self.capacity, self.refill_per_ms, weight, floor]
            )
            allowed, tokens, wait = bool(allowed), float(tokens), int(wait)
        metrics.exchange_rate_budget_used_ratio.labels(key=self.key).set(1 - tokens / self.capacity)
        return allowed, tokens, wait

    def acquire(self, weight: int, *, priority: str = "order") -> None:
        """Take `weight` from the bucket, waiting for it to refill; RateLimited after
        `max_wait` seconds (the caller backs off and tries later)."""
        deadline = time.monotonic() + self.max_wait
        waited = False
        while True:
            allowed, _, wait_ms = self.try_take(weight, priority=priority)
            if allowed:
                return
            if not waited:
                metrics.exchange_rate_budget_waits_total.labels(key=self.key, priority=priority).inc()
                waited = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RateLimited(
                    f"request-weight budget of key {self.key} exhausted: {priority} call of weight {weight} "
                    f"waited {self.max_wait:.1f} s"
                )
            self.sleep(min(wait_ms / 1000, remaining))

    def usage(self) -> float:
        """Share of the budget in use now, 0..1 (for the system page)."""
        if self._redis is None:
            with self._lock:
                now = time.monotonic() * 1000
                tokens = min(self.capacity, self._local["tokens"] + (now - self._local["ts"]) * self.refill_per_ms)
            return 1 - tokens / self.capacity
        tokens, ts = self._redis.hmget(f"genesis:ratebudget:{self.key}", "tokens", "ts")
        if tokens is None:
            return 0.0
        seconds, micros = self._redis.time()
        elapsed = max(0, seconds * 1000 + micros // 1000 - int(ts))
        return 1 - min(self.capacity, float(tokens) + elapsed * self.refill_per_ms) / self.capacity


_budgets: dict[str, RateBudget] = {}
_budgets_lock = threading.Lock()


def rate_budget_for(key: str) -> RateBudget:
    """The shared budget of API key `key` (a fingerprint, never the key itself): in Redis
    when REDIS_URL is set, so every worker takes from the same bucket."""
    from django.conf import settings

    with _budgets_lock:
        if key not in _budgets:
            client = None
            if getattr(settings, "REDIS_URL", None):
                import redis

                client = redis.Redis.from_url(settings.REDIS_URL)
            _budgets[key] = RateBudget(key=key, redis_client=client)
        return _budgets[key]
