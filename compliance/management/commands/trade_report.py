from compliance import reports
from compliance.management.report_command import ReportCommand


class Command(ReportCommand):
    help = (
        "Trade report (SPEC C4): an account's fills with start <= time < end as CSV, "
        "columns as documented in compliance/reports.py."
    )

    def add_report_arguments(self, parser):
        parser.add_argument("--start", required=True, help="ISO 8601 date or date-time, included; UTC if no offset")
        parser.add_argument("--end", required=True, help="ISO 8601 date or date-time, excluded; at most 366 days on")

    def report(self, *, account, start, end, **options):
        rows = reports.trade_report_rows(
            account=reports.account_named(account),
            start=reports.moment_parse(start, field="start"),
            end=reports.moment_parse(end, field="end"),
        )
        return reports.trade_report_csv(rows), f"{len(rows)} fills of {account}"
