"""Settings shared by every environment. Two modes (SPEC §1):

- embedded (default): SQLite under var/, in-memory channel layer, Celery tasks run eagerly
  from an in-process scheduler inside the ASGI server's event loop;
- full stack: DATABASE_URL (PostgreSQL) and REDIS_URL set: PostgreSQL with persistent
  connections, Redis as Celery broker, channels-redis Pub/Sub layer, separate worker and beat.
"""

from pathlib import Path

import dj_database_url

from .env import env_bool, env_list, env_number, env_str, share

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("GENESIS_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not REDIS_URL

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "axes",
    "genesis_site",
    "trading",
    "risk",
    "validation",
    "compliance",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "genesis_site.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "genesis_site.middleware.CorrelationIdMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "genesis_site.urls"
ASGI_APPLICATION = "genesis_site.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
if DATABASE_URL:
    # Reused connections: a new PostgreSQL connection costs ~6 ms here (SPEC §0). Not
    # CONN_MAX_AGE: under ASGI each request's sync code runs on a thread of its own and
    # Django keeps persistent connections per thread, so uvicorn piled them up (88 open after
    # 2,000 requests, then 500s at max_connections). psycopg's pool shares them instead.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["OPTIONS"] = {
            "pool": {"min_size": 1, "max_size": env_number("DATABASE_POOL_MAX", 16), "timeout": 10}
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "genesis.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so two writers queue on the busy
                # timeout instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# HTTP requests run on this many threads per web process (genesis_site.asgi_http); more than
# the pool's DATABASE_POOL_MAX connections would only queue for a connection.
GENESIS_WEB_THREADS = env_number("GENESIS_WEB_THREADS", 8, minimum=1)

# --- Redis: cache, Celery broker, channel layer ----------------------------------------
if REDIS_URL:
    # Django's Redis backend, reusing its redis-py client (genesis_site/cache.py).
    CACHES = {"default": {"BACKEND": "genesis_site.cache.RedisCache", "LOCATION": REDIS_URL}}
    # The Pub/Sub layer fans out 3-5x faster than the core layer and does not drop group
    # messages at a capacity limit (SPEC §0).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None  # nothing latency-critical waits on a Celery result (SPEC §0)
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 30
CELERY_TASK_TIME_LIMIT = 60
# A task not acknowledged within this window is redelivered; it must exceed the longest
# task run time (CELERY_TASK_TIME_LIMIT) so late acks never cause a duplicate run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The kill switch's exchange work has a queue and a worker of its own (docker-compose
# `worker-urgent`, run-full.sh), so its cancels never wait behind ticks or a validation run.
CELERY_TASK_ROUTES = {"risk.stop_enforce_live": {"queue": "urgent"}}

GENESIS_TICK_SECONDS = env_number("GENESIS_TICK_SECONDS", 2.0, cast=float, minimum=0.1)
GENESIS_HEARTBEAT_SECONDS = 10.0
# Heartbeats older than this make /readyz fail.
GENESIS_HEARTBEAT_STALE_SECONDS = env_number("GENESIS_HEARTBEAT_STALE_SECONDS", 60, minimum=1)

# Every periodic schedule lives here, for celery beat and the embedded scheduler alike.
CELERY_BEAT_SCHEDULE = {
    "engine-tick-all": {"task": "trading.engine_tick_all", "schedule": GENESIS_TICK_SECONDS},
    "heartbeat": {"task": "genesis_site.heartbeat_record", "schedule": GENESIS_HEARTBEAT_SECONDS},
    "audit-head-export": {"task": "compliance.audit_head_export", "schedule": 60.0},
    "risk-reports": {"task": "risk.risk_reports_compute", "schedule": 15 * 60.0},
    "retention-apply": {"task": "compliance.retention_apply", "schedule": 6 * 3600.0},
    "alerts-escalate": {"task": "risk.alerts_escalate", "schedule": 30.0},
    "reconcile-all": {"task": "trading.reconcile_all", "schedule": 30.0},
    "fees-price-all": {"task": "trading.fees_price_all", "schedule": 5 * 60.0},
    "error-budget-export": {"task": "genesis_site.error_budget_export", "schedule": 60.0},
}

# Live exchange (SPEC T5). GENESIS_EXCHANGE_URL replaces the exchange's API host, e.g. with the
# exchange emulator's loopback URL for the mock exchange mode; empty means the real exchange.
GENESIS_EXCHANGE_URL = env_str("GENESIS_EXCHANGE_URL")
# An order is failed only after this many consecutive reconciliation passes did not find it.
# OHLCV files the API may name as an account's replay source (SPEC T1b): paths are read under
# this directory only, so an API caller cannot make the server read (and quote) other files.
GENESIS_REPLAY_DIR = Path(env_str("GENESIS_REPLAY_DIR") or VAR_DIR / "replay")
GENESIS_RECONCILE_MAX_MISSES = env_number("GENESIS_RECONCILE_MAX_MISSES", 3, minimum=1)

# The audit chain head is exported, HMAC-signed, outside the database (SPEC C1), so that a
# rewrite of the whole chain is detected. Production has no default key.
GENESIS_AUDIT_HEAD_KEY = env_str("GENESIS_AUDIT_HEAD_KEY")
GENESIS_AUDIT_HEAD_PATH = Path(env_str("GENESIS_AUDIT_HEAD_PATH") or VAR_DIR / "audit_head.json")

# Retention archives (compressed JSON lines + checksum) are written here before any purge.
GENESIS_ARCHIVE_DIR = Path(env_str("GENESIS_ARCHIVE_DIR") or VAR_DIR / "archive")

# --- Auth, sessions, API -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login lockout (SPEC S3): django-axes counts failures per username, whatever the IP, so a
# guessing run against one account locks it at the limit, even for the right password; and
# per IP, so one client spraying many usernames is locked too.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_number("GENESIS_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_number("GENESIS_LOGIN_COOLOFF_MINUTES", 30, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = None
# Failed bot-token uses per client IP per minute before further tries get 429 (SPEC S3).
GENESIS_TOKEN_FAILURE_LIMIT = env_number("GENESIS_TOKEN_FAILURE_LIMIT", 10, minimum=1)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "genesis_site.authentication.BotTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "genesis_site.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "genesis_site.throttling.AnonRateThrottle",
        "genesis_site.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"anon": "60/min", "user": "6000/min"},
    "EXCEPTION_HANDLER": "genesis_site.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Genesis API",
    "DESCRIPTION": "Control plane for the Genesis trading engine (see SPEC O2).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the vendored sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Two "severity" enums: alerts' and errors' (genesis_site.errors.SEVERITIES, SPEC M7).
    "ENUM_NAME_OVERRIDES": {
        "AlertSeverityEnum": ["info", "warning", "critical"],
        "ErrorSeverityEnum": ["warning", "error", "critical"],
        "ModeEnum": ["DRY_RUN", "PAPER", "LIVE"],  # the trading mode keeps its name
        "ValidationModeEnum": ["quick", "standard", "thorough"],  # validation.criteria.MODES
    },
}

# ChatOps (SPEC O3): Slack's signing secret; the slash-command endpoint answers 503 without it.
GENESIS_SLACK_SIGNING_SECRET = env_str("GENESIS_SLACK_SIGNING_SECRET", "")

# --- Static files ------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the finders until collectstatic has run (dev, tests); prod collects.
WHITENOISE_USE_FINDERS = True

# --- Time, language ------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Metrics: worker metrics become visible at the web endpoint through prometheus_client's
# multiprocess directory, shared by web, worker and beat (SPEC M1).
METRICS_TOKEN = env_str("GENESIS_METRICS_TOKEN")

# --- Logging: structured JSON with correlation ids (SPEC M3) -------------------------------
LOG_LEVEL = env_str("GENESIS_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "genesis_site.logconfig.json_formatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json"},
        # Warnings of this process and errors of every process (an ErrorEvent table), served
        # by GET /api/v1/logs (SPEC O2, M7).
        "recent": {"class": "genesis_site.logbuffer.RecentLogHandler", "level": "WARNING"},
        "errors": {"class": "genesis_site.errorlog.ErrorLogHandler", "level": "ERROR"},
    },
    "root": {"handlers": ["console", "recent", "errors"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},  # one line per task every 2 s is noise
        "kombu.connection": {"level": "ERROR"},
    },
}

# Error-level records are stored as ErrorEvent rows (SPEC M7); off only in unit tests.
GENESIS_ERROR_LOG_DB = env_bool("GENESIS_ERROR_LOG_DB", True)
# At most one ErrorEvent per source and error class per this many seconds and process.
GENESIS_ERROR_LOG_THROTTLE_SECONDS = env_number("GENESIS_ERROR_LOG_THROTTLE_SECONDS", 10.0, cast=float, minimum=0)
# The error budget (SPEC M7): the share of engine ticks that must succeed over the window,
# and the windows its burn rate is measured over (failure rate / (1 - SLO)).
GENESIS_TICK_SLO = env_number("GENESIS_TICK_SLO", "0.999", cast=share)
GENESIS_ERROR_BUDGET_DAYS = env_number("GENESIS_ERROR_BUDGET_DAYS", 30, minimum=1)
GENESIS_ERROR_BUDGET_BURN_WINDOWS_HOURS = (1, 6)

# The embedded scheduler runs the beat schedule inside the ASGI server (embedded mode only).
GENESIS_EMBEDDED_SCHEDULER = env_bool("GENESIS_EMBEDDED_SCHEDULER", True)
# Embedded mode: a validation run started from the page or the API runs on the background
# worker's thread and the request returns at once (full stack: a Celery task). Off in the unit
# tests' settings, where a run started by a test must run inside the test's transaction.
GENESIS_VALIDATION_BACKGROUND = env_bool("GENESIS_VALIDATION_BACKGROUND", True)
# Embedded mode: a LIVE halt's or flatten's exchange work (cancels, then a flatten's exits) runs
# on its own background thread once the stop commits, and the request returns at once (full
# stack: a Celery task). Off in the unit tests' settings, as above.
GENESIS_STOP_BACKGROUND = env_bool("GENESIS_STOP_BACKGROUND", True)
# Every web process runs the dead man's switch and the engine-silent check (SPEC R6).
GENESIS_WATCHDOG = env_bool("GENESIS_WATCHDOG", True)
