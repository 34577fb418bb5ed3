from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.retention import (
    NOT_PURGED,
    PURGED,
    WOULD_PURGE,
    RetentionError,
    RetentionOutcome,
    retention_apply,
    retention_restore,
)
from compliance.services import Actor


class Command(BaseCommand):
    help = (
        "Apply the retention policies (archive, then purge expired records; --dry-run only counts), "
        "or restore a purge archive after verifying its checksum."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{apply,restore}")
        apply = actions.add_parser("apply", help="archive and purge expired records")
        apply.add_argument("--dry-run", action="store_true", help="print what would be purged, change nothing")
        restore = actions.add_parser("restore", help="re-insert the rows of a purge archive")
        restore.add_argument("file", type=Path, help="the .jsonl.gz archive (its .sha256 file must be next to it)")
        restore.add_argument("--actor", default="cli", help="who is restoring, recorded in the audit trail")

    def handle(self, *args, action, **options):
        try:
            if action == "apply":
                self._apply(dry_run=options["dry_run"])
            else:
                self._restore(path=options["file"], actor=options["actor"])
        except RetentionError as exc:
            raise CommandError(str(exc)) from None

    def _apply(self, *, dry_run: bool) -> None:
        for outcome in retention_apply(dry_run=dry_run):
            line = f"{outcome.record_type}: {_describe(outcome)}"
            if outcome.status == NOT_PURGED:
                self.stderr.write(self.style.WARNING(line))
            else:
                self.stdout.write(line)

    def _restore(self, *, path: Path, actor: str) -> None:
        outcome = retention_restore(path=path, actor=Actor("user", actor))
        self.stdout.write(
            self.style.SUCCESS(f"restored {_rows(outcome.rows)} from {outcome.archive_path} ({outcome.archive_sha256})")
        )


def _describe(outcome: RetentionOutcome) -> str:
    older = f"older than {outcome.cutoff:%Y-%m-%d %H:%M:%S} UTC" if outcome.cutoff else ""
    if outcome.status == PURGED:
        return f"purged {_rows(outcome.rows)} {older} -> {outcome.archive_path} (sha256 {outcome.archive_sha256})"
    if outcome.status == WOULD_PURGE:
        return f"would purge {_rows(outcome.rows)} {older} (dry run, nothing changed)"
    if outcome.status == NOT_PURGED:
        return f"not purged, nothing deleted: {outcome.reason}"
    if outcome.reason:
        return f"skipped ({outcome.reason})"
    return f"nothing {older}"


def _rows(rows: dict[str, int]) -> str:
    return ", ".join(f"{count} {table}" for table, count in rows.items())
