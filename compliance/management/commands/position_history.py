from compliance import reports
from compliance.management.report_command import ReportCommand


class Command(ReportCommand):
    help = "Position history (SPEC C4): the position after each fill of an account, as CSV."

    def add_report_arguments(self, parser):
        parser.add_argument("--symbol", help="only this market, e.g. BTC/USDT (default: all)")

    def report(self, *, account, symbol, **options):
        steps = reports.position_history(account=reports.account_named(account), symbol=symbol)
        return reports.position_history_csv(steps), f"{len(steps)} fills of {account}"
