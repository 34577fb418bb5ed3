"""Settings for bench/api.py: the real site plus the plain baseline views of bench/api_site.py."""

from genesis_site.settings.dev import *  # noqa: F403

ROOT_URLCONF = "bench.api_site"
GENESIS_EMBEDDED_SCHEDULER = False
GENESIS_WATCHDOG = False
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
