"""Settings for bench/api.py: the production settings (same middleware, bot-token authentication,
throttles, DEBUG off, JSON logging, psycopg pool) plus the plain baseline views of
bench/api_site.py. With REDIS_URL the cache (throttle counters, token failures) and the channel
layer are Redis, as in a deployment; cache keys and Pub/Sub channels get the run's own prefix,
because other processes may use the same Redis (Pub/Sub channels ignore database numbers)."""

import os

from genesis_site.settings.prod import *  # noqa: F403
from genesis_site.settings.prod import CACHES, CHANNEL_LAYERS

ROOT_URLCONF = "bench.api_site"
# No engine runs during the benchmark: nothing ticks, and the watchdog would only halt the
# bench account for a silent engine in the middle of the run.
GENESIS_EMBEDDED_SCHEDULER = False
GENESIS_WATCHDOG = False

_prefix = os.environ["GENESIS_BENCH_PREFIX"]
CACHES["default"]["KEY_PREFIX"] = _prefix
if "CONFIG" in CHANNEL_LAYERS["default"]:
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = _prefix
