from django.core.management.base import BaseCommand, CommandError

from compliance import reports
from compliance.taxlots import TaxLotError, TaxLotMethodUnknown, realized_lots_csv, tax_lots_for_account


class Command(BaseCommand):
    help = "Tax lots (SPEC C3): an account's realized lots as CSV, matched FIFO, LIFO or HIFO."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument("--method", help="FIFO, LIFO or HIFO (default: the account's tax lot method)")

    def handle(self, *args, account, method, **options):
        try:
            report = tax_lots_for_account(account=reports.account_named(account), method=method)
        except reports.ReportInputInvalid as exc:
            raise CommandError(reports.command_message(exc)) from None
        except TaxLotMethodUnknown as exc:
            raise CommandError(f"--method: {exc}") from None
        except TaxLotError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(realized_lots_csv(report.realized), ending="")
