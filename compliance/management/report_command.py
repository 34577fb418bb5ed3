from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance import reports
from compliance.exceptions import ComplianceError


class ReportCommand(BaseCommand):
    """A compliance report command: `report(**options)` builds (text, summary); the text goes
    to --output or standard output, and bad input becomes a CommandError naming the option."""

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account name")
        self.add_report_arguments(parser)
        parser.add_argument("--output", type=Path, help="file to write (default: standard output)")

    def add_report_arguments(self, parser):
        pass

    def report(self, *, account: str, **options) -> tuple[str, str]:
        raise NotImplementedError

    def handle(self, *args, output, **options):
        try:
            text, summary = self.report(**options)
            if output is None:
                self.stdout.write(text, ending="")
                return
            reports.report_file_write(output, text)
        except ComplianceError as exc:
            raise CommandError(reports.command_message(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{summary} written to {output}"))
