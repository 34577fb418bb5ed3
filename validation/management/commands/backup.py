from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from validation.backup import backup_create
from validation.exceptions import BackupError


class Command(BaseCommand):
    help = "Back up the database (pg_dump custom format, or SQLite's backup API) with a SHA-256 manifest."

    def add_arguments(self, parser):
        parser.add_argument("--output-dir", type=Path, help="directory for the backup (default var/backups)")

    def handle(self, *args, output_dir, **options):
        try:
            info = backup_create(dest_dir=output_dir)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(f"backup {info.path} ({info.engine}, {info.size} bytes, {info.duration_seconds} s)")
        )
        self.stdout.write(f"sha256 {info.sha256}")
