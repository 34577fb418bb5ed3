import json

from django.core.management.base import BaseCommand, CommandError

from trading.management.accounts import account_for_command
from trading.markets import UnknownMarket
from trading.selectors import strategy_variants_compare
from trading.strategies import StrategyConfigInvalid

COLUMNS = (
    "variant",
    "trades",
    "return_pct",
    "sharpe",
    "max_drawdown_pct",
    "fees",
    "mean_trade_diff",
    "welch_t",
    "p_value",
)


class Command(BaseCommand):
    help = (
        "Run variants of a strategy side by side on the paper exchange over the account's feed and "
        "report return, Sharpe, drawdown and a significance test against the strategy as configured."
    )

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument("strategy", help="strategy name on that account (the baseline)")
        parser.add_argument(
            "--variant",
            action="append",
            default=[],
            metavar="NAME=JSON",
            help="a variant: its name and parameter overrides, e.g. slow40='{\"slow\": 40}' (repeatable)",
        )
        parser.add_argument("--candles", type=int, default=20_000)
        parser.add_argument("--symbol", default=None)
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")

    def handle(self, *args, account, strategy, variant, candles, symbol, as_json, **options):
        overrides = dict(_variant(v) for v in variant)
        found = account_for_command(account)
        try:
            report = strategy_variants_compare(
                account_id=found.pk, strategy=strategy, overrides=overrides, candles=candles, symbol=symbol
            )
        except (StrategyConfigInvalid, UnknownMarket) as exc:
            raise CommandError(str(exc)) from None
        rows = report.as_rows()
        if as_json:
            self.stdout.write(json.dumps(rows, default=str, indent=1))
            return
        self.stdout.write(f"{report.symbol}: {report.candles} candles from #{report.start}")
        self.stdout.write("  ".join(f"{c:>16}" for c in COLUMNS))
        for row in rows:
            self.stdout.write("  ".join(f"{'' if row[c] is None else row[c]!s:>16}" for c in COLUMNS))
            if row["note"] and row["note"] != "baseline":
                self.stdout.write(f"    note: {row['note']}")


def _variant(text: str) -> tuple[str, dict]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise CommandError(f"--variant: expected NAME=JSON, got {text!r}")
    try:
        overrides = json.loads(raw)
    except ValueError as exc:
        raise CommandError(f"--variant {name}: invalid JSON: {exc}") from None
    if not isinstance(overrides, dict):
        raise CommandError(f"--variant {name}: the overrides must be a JSON object")
    return name.strip(), overrides
