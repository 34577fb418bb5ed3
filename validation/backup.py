"""Backups and restores (SPEC M5): PostgreSQL through pg_dump/pg_restore (custom format),
SQLite through its online backup API. Every backup gets a manifest with its SHA-256; a restore
recomputes it first and refuses a file that does not match, so a corrupt, truncated or altered
backup never reaches a database."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from validation.exceptions import BackupError

SQLITE, POSTGRES = "sqlite", "postgresql"
PG_TIMEOUT = 3600


@dataclass(frozen=True)
class BackupInfo:
    path: str
    sha256: str
    engine: str
    size: int
    created_at: str
    duration_seconds: float


@dataclass(frozen=True)
class DbTarget:
    """Where a restore writes: a SQLite file, or a PostgreSQL database on a server."""

    engine: str
    name: str  # file path (SQLite) or database name (PostgreSQL)
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""

    @classmethod
    def from_settings(cls, alias: str = "default") -> "DbTarget":
        db = connections.databases[alias]
        engine = POSTGRES if "postgresql" in db["ENGINE"] or db["ENGINE"] == "tests.pgbackend" else SQLITE
        name = str(db["NAME"])
        if engine == SQLITE and db.get("TEST", {}).get("NAME"):
            name = str(db["TEST"]["NAME"])
        return cls(
            engine,
            name,
            str(db.get("HOST") or ""),
            str(db.get("PORT") or ""),
            str(db.get("USER") or ""),
            str(db.get("PASSWORD") or ""),
        )

    def pg_env(self) -> dict:
        env = dict(os.environ)
        env.update({"PGHOST": self.host or "127.0.0.1", "PGPORT": self.port or "5432", "PGUSER": self.user})
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def url(self) -> str:
        """A DATABASE_URL for a child process (PostgreSQL targets only)."""
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgres://{auth}@{self.host or '127.0.0.1'}:{self.port or '5432'}/{self.name}"


def _engine() -> str:
    return DbTarget.from_settings().engine


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def backup_dir_default() -> Path:
    return Path(settings.VAR_DIR) / "backups"


def backup_create(*, dest_dir: Path | None = None) -> BackupInfo:
    """Back up the configured database into `dest_dir` (var/backups by default) and write
    its manifest. The file appears under its final name only once complete."""
    dest_dir = Path(dest_dir or backup_dir_default())
    dest_dir.mkdir(parents=True, exist_ok=True)
    engine = _engine()
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    final = dest_dir / f"genesis-{stamp}.{'sqlite3' if engine == SQLITE else 'dump'}"
    partial = final.with_name(final.name + ".partial")
    started = time.perf_counter()
    if engine == SQLITE:
        _sqlite_backup(partial)
    else:
        _pg_dump(DbTarget.from_settings(), partial)
    os.replace(partial, final)
    info = BackupInfo(
        path=str(final),
        sha256=sha256_file(final),
        engine=engine,
        size=final.stat().st_size,
        created_at=timezone.now().isoformat(),
        duration_seconds=round(time.perf_counter() - started, 3),
    )
    _manifest_path(final).write_text(json.dumps(asdict(info), indent=2))
    return info


def _sqlite_backup(dest: Path) -> None:
    connection.ensure_connection()
    target = sqlite3.connect(dest)
    try:
        # The online backup API copies a consistent snapshot while others keep writing.
        connection.connection.backup(target)
    finally:
        target.close()


def _pg_dump(source: DbTarget, dest: Path) -> None:
    cmd = ["pg_dump", "--format=custom", "--no-owner", "--file", str(dest), source.name]
    _run(cmd, source.pg_env(), "pg_dump")


def _run(cmd: list[str], env: dict, what: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{what} is not installed: install the PostgreSQL client tools")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise BackupError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[:500]}")


def backup_verify(*, path: Path) -> BackupInfo:
    """The backup's manifest, after checking the file against its recorded SHA-256.
    BackupError, saying what is wrong, for a missing, corrupt or altered backup."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"backup {path} does not exist")
    manifest = _manifest_path(path)
    if not manifest.is_file():
        raise BackupError(f"backup {path.name} has no manifest ({manifest.name}): its checksum cannot be verified")
    try:
        info = BackupInfo(**json.loads(manifest.read_text()))
    except (ValueError, TypeError) as exc:
        raise BackupError(f"manifest {manifest.name} is unreadable: {exc}") from None
    actual = sha256_file(path)
    if actual != info.sha256:
        raise BackupError(
            f"backup {path.name} is corrupt or was altered: SHA-256 {actual[:16]}… does not match "
            f"the recorded {info.sha256[:16]}…; refusing to restore it"
        )
    return info


def backup_restore(*, path: Path, target: DbTarget) -> BackupInfo:
    """Restore a verified backup into `target` (its contents are replaced). Refuses a backup
    whose checksum does not match or whose engine differs from the target's."""
    info = backup_verify(path=path)
    if info.engine != target.engine:
        raise BackupError(f"backup {Path(path).name} is a {info.engine} backup; the target is {target.engine}")
    if target.engine == SQLITE:
        _sqlite_restore(Path(path), Path(target.name))
    else:
        cmd = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--exit-on-error", "-d", target.name, str(path)]
        _run(cmd, target.pg_env(), "pg_restore")
    return info


def _sqlite_restore(source: Path, dest: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        check = src.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"backup {source.name} fails SQLite's integrity check: {check}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(dest)
        try:
            src.backup(target)
        finally:
            target.close()
    finally:
        src.close()


def pg_database_create(target: DbTarget) -> None:
    _run(["createdb", target.name], target.pg_env(), "createdb")


def pg_database_drop(target: DbTarget) -> None:
    _run(["dropdb", "--if-exists", "--force", target.name], target.pg_env(), "dropdb")
