from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from risk.services import StopRefused, trading_flatten, trading_halt, trading_pause_entries, trading_release
from trading.management.accounts import account_for_command
from trading.markets import UnknownMarket


class Command(BaseCommand):
    help = "Pause entries, halt (kill switch), flatten, or release a trading account, with a reason (audited)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["pause", "halt", "flatten", "release"])
        parser.add_argument("account", help="account name")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--strategy", help="pause or release one strategy")
        parser.add_argument("--symbol", help="pause (with --minutes) or release one symbol")
        parser.add_argument("--minutes", type=int, help="how long a symbol lock lasts")
        parser.add_argument("--actor", default="cli", help="who acts, recorded in the audit trail")

    def handle(self, *args, action, account, reason, strategy, symbol, minutes, actor, **options):
        found = account_for_command(account)
        who = Actor("user", actor)
        try:
            if action == "pause":
                trading_pause_entries(
                    account_id=found.pk, actor=who, reason=reason, strategy=strategy, symbol=symbol, minutes=minutes
                )
            elif action == "halt":
                self.stdout.write(f"cancelled {trading_halt(account_id=found.pk, actor=who, reason=reason)} orders")
            elif action == "flatten":
                self.stdout.write(f"closed {trading_flatten(account_id=found.pk, actor=who, reason=reason)} positions")
            else:
                trading_release(account_id=found.pk, actor=who, reason=reason, strategy=strategy, symbol=symbol)
        except (StopRefused, UnknownMarket) as exc:
            raise CommandError(str(exc).strip("'\"")) from None
        found.refresh_from_db()
        self.stdout.write(f"{found.name}: {found.stop_level}")
