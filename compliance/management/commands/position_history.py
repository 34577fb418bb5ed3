from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance import reports
from compliance.exceptions import ComplianceError


class Command(BaseCommand):
    help = "Position history (SPEC C4): the position after each fill of an account, as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument("--symbol", help="only this market, e.g. BTC/USDT (default: all)")
        parser.add_argument("--output", type=Path, help="file to write (default: standard output)")

    def handle(self, *args, account, symbol, output, **options):
        try:
            steps = reports.position_history(account=reports.account_named(account), symbol=symbol)
            text = reports.position_history_csv(steps)
            if output is None:
                self.stdout.write(text, ending="")
                return
            reports.report_file_write(output, text)
        except ComplianceError as exc:
            raise CommandError(reports.command_message(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{len(steps)} fills of {account} written to {output}"))
