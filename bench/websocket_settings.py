"""Settings for bench/websocket.py: the full-stack settings with the channel layer's Redis
Pub/Sub channels under a prefix of the run's own, because Pub/Sub channels are shared by every
Redis database number and other processes may use the same group names."""

import os

from genesis_site.settings.dev import *  # noqa: F403
from genesis_site.settings.dev import CHANNEL_LAYERS

CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["GENESIS_BENCH_CHANNEL_PREFIX"]
