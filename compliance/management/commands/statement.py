from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance import reports
from compliance.exceptions import ComplianceError

RENDERERS = {"html": reports.statement_html, "csv": reports.statement_csv, "json": reports.statement_json}


class Command(BaseCommand):
    help = "Monthly P&L statement of an account (SPEC C4) as HTML, CSV or JSON; the month is in UTC."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument("--month", required=True, help="calendar month in UTC, YYYY-MM")
        parser.add_argument("--format", choices=sorted(RENDERERS), default="html", help="default: html")
        parser.add_argument("--output", type=Path, help="file to write (default: standard output)")

    def handle(self, *args, account, month, format, output, **options):
        try:
            statement = reports.monthly_statement(account=reports.account_named(account), month=month)
            text = RENDERERS[format](statement)
            if output is None:
                self.stdout.write(text, ending="")
                return
            reports.report_file_write(output, text)
        except ComplianceError as exc:
            raise CommandError(reports.command_message(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"statement of {account} for {month} written to {output}"))
