"""Probes measure the engine in a scratch database, in a child process, so a soak, a load test
or a scenario suite never writes into the real database (or holds its audit lock) and the
child's memory is a worker's memory, not the validator's. The scratch database follows the
configured engine: a temporary SQLite file, or a temporary PostgreSQL database on the same
server (created and dropped around the probe)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from validation.backup import POSTGRES, SQLITE, DbTarget, pg_database_create, pg_database_drop


class ProbeFailed(Exception):
    pass


@contextmanager
def scratch_environment() -> Iterator[tuple[dict, DbTarget]]:
    """Environment variables for a child process whose database is a fresh scratch one."""
    configured = DbTarget.from_settings()
    tmp = Path(tempfile.mkdtemp(prefix="genesis-validation-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["GENESIS_VAR_DIR"] = str(tmp)
    env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    env["GENESIS_LOG_LEVEL"] = "ERROR"
    if configured.engine == POSTGRES:
        name = f"{configured.name[:30]}_vscratch_{uuid.uuid4().hex[:10]}"
        target = DbTarget(POSTGRES, name, configured.host, configured.port, configured.user, configured.password)
        pg_database_create(target)
        env["DATABASE_URL"] = target.url()
    else:
        target = DbTarget(SQLITE, str(tmp / "genesis.sqlite3"))
    try:
        yield env, target
    finally:
        if configured.engine == POSTGRES:
            pg_database_drop(target)
        shutil.rmtree(tmp, ignore_errors=True)


def manage(args: list[str], *, env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def probe_run(kind: str, *, params: dict, timeout: float) -> dict:
    """Run `manage.py validation_probe` in a scratch database; returns its JSON figures.
    ProbeFailed with the child's error when it crashes or prints no result."""
    with scratch_environment() as (env, _target):
        proc = manage(["validation_probe", kind, "--params", json.dumps(params)], env=env, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise ProbeFailed(f"probe {kind} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return json.loads(lines[-1])
