# syntax=docker/dockerfile:1
#
# One image for web, worker and beat (SPEC M4):
#   web (default CMD)  uvicorn genesis_site.asgi:application on 0.0.0.0:8000
#   worker             celery -A genesis_site worker --loglevel=INFO
#   beat               celery -A genesis_site beat --loglevel=INFO --schedule=/app/var/celerybeat-schedule
#   migrations         python manage.py migrate --noinput   (once per deploy, before the above)
#
# The CMD does not migrate (unlike `manage.py serve`): several web replicas starting together
# would race on the migrations, so they run once, as a one-shot job (see docker-compose.yml).
#
# Build: docker build -t genesis .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: a self-contained virtualenv with the pinned runtime requirements -------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Every pin in requirements/prod.txt ships manylinux wheels for amd64 and arm64 (psycopg[binary]
# bundles libpq), so this stage needs no compiler. Should a future pin need one, install
# build-essential here, never in the runtime stage.
COPY requirements/ /tmp/requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r /tmp/requirements/prod.txt

# Not needed at run time, and removed here so they never reach a layer of the final image:
# pip and setuptools; the installed packages' own test suites (never imported); translation
# sources (*.po; Django reads the compiled *.mo). About 50 MB, which keeps the image < 500 MB.
RUN /opt/venv/bin/python -m pip uninstall --yes pip setuptools \
 && find /opt/venv -type d -name tests -prune -exec rm -rf {} + \
 && find /opt/venv -type f -name '*.po' -delete

# ---- runtime: the slim base, the virtualenv and the code; no build tools --------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="genesis" \
      org.opencontainers.image.description="Genesis control plane: web, Celery worker and beat"

# Fixed ids, so volume ownership is the same across rebuilds and hosts.
RUN groupadd --system --gid 10001 genesis \
 && useradd --system --uid 10001 --gid genesis --no-create-home --home-dir /app \
      --shell /usr/sbin/nologin genesis

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=genesis_site.settings.prod \
    GENESIS_VAR_DIR=/app/var

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY . .

# Static files are collected at build time into $GENESIS_VAR_DIR/static (whitenoise serves
# them). Production settings refuse to load without DJANGO_SECRET_KEY, so this one step gets a
# throwaway key; it is not part of the image's environment and signs nothing.
# The code and static files stay owned by root (read-only to the app); only var/ (SQLite in the
# embedded mode, the beat schedule) and the Prometheus multiprocess directory are writable.
# /metrics-data exists in the image so that a fresh named volume mounted there inherits the
# app user's ownership (Docker copies it on first mount).
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput \
 && python -m compileall -q /app \
 && mkdir -p /app/var /metrics-data \
 && chown genesis:genesis /app/var /metrics-data

# Numeric, so orchestrators that enforce runAsNonRoot can verify it.
USER 10001:10001

EXPOSE 8000

# Liveness of the web process. Worker and beat containers serve no HTTP: override or disable this
# check for them (docker-compose.yml does). Host: localhost must be in DJANGO_ALLOWED_HOSTS (it
# is by default). X-Forwarded-Proto: https (trusted through SECURE_PROXY_SSL_HEADER) keeps the
# HTTPS redirect of production settings from answering 301 to a loopback probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost', 'X-Forwarded-Proto': 'https'}), timeout=4)"]

# `exec` so uvicorn replaces the shell as PID 1 and gets SIGTERM directly for a graceful stop.
# uvicorn reads WEB_CONCURRENCY (worker processes) and FORWARDED_ALLOW_IPS (proxies whose
# X-Forwarded-* it trusts) from the environment. No per-message deflate on WebSockets: each
# event would be compressed once per dashboard; the WebSocket implementation is the one
# `manage.py serve` pins (see there and bench/README.md).
CMD ["sh", "-c", "exec uvicorn genesis_site.asgi:application --host 0.0.0.0 --port 8000 --lifespan on --ws websockets-sansio --ws-per-message-deflate false"]
