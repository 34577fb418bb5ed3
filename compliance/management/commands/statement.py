from compliance import reports
from compliance.management.report_command import ReportCommand

RENDERERS = {"html": reports.statement_html, "csv": reports.statement_csv, "json": reports.statement_json}


class Command(ReportCommand):
    help = "Monthly P&L statement of an account (SPEC C4) as HTML, CSV or JSON; the month is in UTC."

    def add_report_arguments(self, parser):
        parser.add_argument("--month", required=True, help="calendar month in UTC, YYYY-MM")
        parser.add_argument("--format", choices=sorted(RENDERERS), default="html", help="default: html")

    def report(self, *, account, month, format, **options):
        statement = reports.monthly_statement(account=reports.account_named(account), month=month)
        return RENDERERS[format](statement), f"statement of {account} for {month}"
