from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from validation.backup import POSTGRES, SQLITE, DbTarget, backup_restore, backup_verify
from validation.exceptions import BackupError


class Command(BaseCommand):
    help = (
        "Restore a backup after verifying its SHA-256. By default into the configured database "
        "(needs --yes: its contents are replaced); --sqlite-file or --pg-database restore elsewhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("backup", type=Path)
        parser.add_argument("--sqlite-file", type=Path, help="restore into this SQLite file instead")
        parser.add_argument("--pg-database", help="restore into this (existing) database on the configured server")
        parser.add_argument("--verify-only", action="store_true", help="check the checksum and stop")
        parser.add_argument("--yes", action="store_true", help="confirm replacing the configured database")

    def handle(self, *args, backup, sqlite_file, pg_database, verify_only, yes, **options):
        try:
            info = backup_verify(path=backup)
            if verify_only:
                self.stdout.write(self.style.SUCCESS(f"backup {backup.name} verified: sha256 {info.sha256}"))
                return
            target = self._target(sqlite_file, pg_database, yes)
            connections.close_all()
            backup_restore(path=backup, target=target)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"restored {backup.name} (sha256 {info.sha256[:16]}…) into {target.name}"))

    def _target(self, sqlite_file, pg_database, yes) -> DbTarget:
        configured = DbTarget.from_settings()
        if sqlite_file:
            return DbTarget(SQLITE, str(sqlite_file))
        if pg_database:
            if configured.engine != POSTGRES:
                raise CommandError("--pg-database needs DATABASE_URL to name a PostgreSQL server")
            return DbTarget(
                POSTGRES, pg_database, configured.host, configured.port, configured.user, configured.password
            )
        if not yes:
            raise CommandError(f"restoring replaces the contents of {configured.name}: pass --yes to confirm")
        return configured
