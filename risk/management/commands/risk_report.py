import json

from django.core.management.base import BaseCommand

from risk.services.reports import risk_report_compute
from trading.management.accounts import account_for_command


class Command(BaseCommand):
    help = "Compute and store an account's risk report now (SPEC R9) and print its figures as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account name")

    def handle(self, *args, account, **options):
        found = account_for_command(account)
        report = risk_report_compute(account_id=found.pk, trigger="on_demand")
        self.stdout.write(json.dumps(report.figures, indent=2, sort_keys=True))
