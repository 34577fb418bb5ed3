"""Test settings: PostgreSQL when DATABASE_URL is set (CI always sets it), SQLite otherwise.

Celery tasks run eagerly and the channel layer is in-memory for unit tests; the end-to-end
tests start real web, worker and beat processes against real PostgreSQL and Redis.
"""

from .base import *  # noqa: F403

SECRET_KEY = "test-only-not-secret"  # noqa: S105
GENESIS_AUDIT_HEAD_KEY = "test-audit-head-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405
GENESIS_EMBEDDED_SCHEDULER = False
GENESIS_WATCHDOG = False
GENESIS_VALIDATION_BACKGROUND = False  # runs execute inside the test (tests that need the thread enable it)
GENESIS_STOP_BACKGROUND = False  # a stop's exchange work runs inside the test (after its commit callbacks)
STATIC_ROOT = None  # WhiteNoise serves from the finders; nothing is collected in tests
# Connections opened by database_sync_to_async threads must close after each use, or the
# test database cannot be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.pgbackend"  # noqa: F405
    # Tests hold each connection in a transaction of their own; the servers the e2e tests
    # start run with the pool (dev settings).
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
GENESIS_SLACK_SIGNING_SECRET = "test-slack-signing-secret"  # noqa: S105
# The error log's writer thread has its own connection, outside each test's transaction;
# the tests of the error log turn it on (with a transactional database).
GENESIS_ERROR_LOG_DB = False
