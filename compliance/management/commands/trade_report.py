from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance import reports
from compliance.exceptions import ComplianceError


class Command(BaseCommand):
    help = (
        "Trade report (SPEC C4): an account's fills with start <= time < end as CSV, "
        "columns as documented in compliance/reports.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument("--start", required=True, help="ISO 8601 date or date-time, included; UTC if no offset")
        parser.add_argument("--end", required=True, help="ISO 8601 date or date-time, excluded; at most 366 days on")
        parser.add_argument("--output", type=Path, help="file to write (default: standard output)")

    def handle(self, *args, account, start, end, output, **options):
        try:
            rows = reports.trade_report_rows(
                account=reports.account_named(account),
                start=reports.moment_parse(start, field="start"),
                end=reports.moment_parse(end, field="end"),
            )
            text = reports.trade_report_csv(rows)
            if output is None:
                self.stdout.write(text, ending="")
                return
            reports.report_file_write(output, text)
        except ComplianceError as exc:
            raise CommandError(reports.command_message(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{len(rows)} fills of {account} written to {output}"))
