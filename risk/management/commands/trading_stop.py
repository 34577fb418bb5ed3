from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from risk.services import StopRefused, StopResult, trading_flatten, trading_halt, trading_pause_entries, trading_release
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
        parser.add_argument(
            "--no-wait",
            dest="wait",
            action="store_false",
            help="halt/flatten of a LIVE account: return once the stop commits, leaving the exchange work to a worker",
        )

    def handle(self, *args, action, account, reason, strategy, symbol, minutes, actor, wait, **options):
        found = account_for_command(account)
        who = Actor("user", actor)
        try:
            if action == "pause":
                trading_pause_entries(
                    account_id=found.pk, actor=who, reason=reason, strategy=strategy, symbol=symbol, minutes=minutes
                )
            elif action == "halt":
                self._report(trading_halt(account_id=found.pk, actor=who, reason=reason, wait=wait), wait=wait)
            elif action == "flatten":
                result = trading_flatten(account_id=found.pk, actor=who, reason=reason, wait=wait)
                self._report(result, wait=wait)
                self.stdout.write(f"closed {result.closed_positions} positions")
            else:
                trading_release(account_id=found.pk, actor=who, reason=reason, strategy=strategy, symbol=symbol)
        except (StopRefused, UnknownMarket) as exc:
            raise CommandError(str(exc).strip("'\"")) from None
        found.refresh_from_db()
        self.stdout.write(f"{found.name}: {found.stop_level}")

    def _report(self, result: StopResult, *, wait: bool) -> None:
        if not result.cancel_on_exchange:
            self.stdout.write(f"cancelled {result.cancelled_orders} orders")
        elif not wait:
            self.stdout.write(f"cancelling {result.cancel_on_exchange} orders on the exchange (queued)")
        elif result.cancelled_orders == result.cancel_on_exchange:
            self.stdout.write(f"cancelled {result.cancelled_orders} orders on the exchange")
        else:
            self.stdout.write(
                f"cancelled {result.cancelled_orders} of {result.cancel_on_exchange} orders on the exchange "
                "(the rest filled first, or failed: alerted, and retried by the next tick and reconciliation)"
            )
