from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from trading.management.accounts import account_for_command
from trading.replay import MarketDataInvalid
from trading.services.accounts import account_replay_set


class Command(BaseCommand):
    help = (
        "Make an account's market data the replay of OHLCV files (CSV or ccxt JSON) at a speed, "
        "or return it to its scenario with no --file (audited; a malformed file is refused with its line)."
    )

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument(
            "--file", action="append", default=[], metavar="SYMBOL=PATH", help="e.g. BTC/USDT=data/btc.csv"
        )
        parser.add_argument(
            "--speed", default="0", help="replay time per real time (60: a minute per second); 0: a candle per tick"
        )
        parser.add_argument("--reason", required=True)
        parser.add_argument("--actor", default="cli", help="who is changing it, recorded in the audit trail")

    def handle(self, *args, account, file, speed, reason, actor, **options):
        found = account_for_command(account)
        files = {}
        for item in file:
            symbol, sep, path = item.partition("=")
            if not sep or not symbol or not path:
                raise CommandError(f"--file: expected SYMBOL=PATH, got {item!r}")
            files[symbol] = path
        try:
            updated = account_replay_set(
                account_id=found.pk, files=files, speed=speed, actor=Actor("user", actor), reason=reason
            )
        except MarketDataInvalid as exc:
            raise CommandError(str(exc)) from None
        source = ", ".join(f"{s}={p}" for s, p in updated.replay_files.items()) or f"scenario {updated.scenario}"
        self.stdout.write(f"{updated.name}: {source} at speed {updated.replay_speed}")
