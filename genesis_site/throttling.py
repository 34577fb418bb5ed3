"""API rate limits (REST_FRAMEWORK's DEFAULT_THROTTLE_RATES) counted in fixed windows.

DRF's SimpleRateThrottle keeps the timestamp of every request of the last window in one cache
value, read, trimmed and written back whole on every request: O(rate) work. A bot at 1,000
requests a minute paid ~0.6 ms of CPU per request for it, growing to ~3 ms at the 6,000/min
limit. These throttles keep one counter per client and window instead: O(1), an increment (and
once per window an add) on the cache; on Redis (genesis_site.cache) both in one round trip. A
fixed window lets a client spend up to twice its rate across a window boundary, which is fine
for a limit that is there to stop runaway clients.
"""

from rest_framework import throttling


class WindowCounterMixin:
    """Replaces SimpleRateThrottle's history with a counter per (client, window)."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.key = f"{key}:{window}"
        self.wait_seconds = (window + 1) * self.duration - now
        incr_window = getattr(self.cache, "incr_window", None)
        if incr_window is not None:
            count = incr_window(self.key, self.duration + 1)
        else:
            try:
                count = self.cache.incr(self.key)
            except ValueError:  # the window's first request (or its counter just expired)
                count = 1 if self.cache.add(self.key, 1, self.duration + 1) else self.cache.incr(self.key)
        return count <= self.num_requests

    def wait(self):
        return self.wait_seconds


class AnonRateThrottle(WindowCounterMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(WindowCounterMixin, throttling.UserRateThrottle):
    pass
