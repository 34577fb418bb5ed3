from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from trading.exchanges.live import live_exchange_for
from trading.management.accounts import account_for_command
from trading.models import TradingMode
from trading.services.credentials import CredentialMissing
from trading.services.fees import fees_price_unpriced


class Command(BaseCommand):
    help = (
        "Price an account's fills whose fee in a third currency (BNB) had no price when booked, at the "
        "currency's price at each fill's time, and correct positions, orders' P&L and cash (audited); "
        "resolves the fee_unpriced alerts when none is left. Also every 5 minutes (trading.fees_price_all)."
    )

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument(
            "--no-exchange", action="store_true", help="use stored tickers and candles only, not the exchange's klines"
        )
        parser.add_argument("--actor", default="cli", help="who runs it, recorded in the audit trail")

    def handle(self, *args, account, no_exchange, actor, **options):
        found = account_for_command(account)
        who = Actor("user", actor)
        exchange = None
        if found.mode == TradingMode.LIVE and not no_exchange:
            try:
                exchange = live_exchange_for(account_id=found.pk, actor=who)
            except CredentialMissing as exc:
                self.stderr.write(f"{exc}: stored prices only")
        result = fees_price_unpriced(account_id=found.pk, exchange=exchange, actor=who)  # exchange errors: no price
        self.stdout.write(
            f"{found.name}: priced {len(result.priced)} fills, {result.unpriced} still unpriced, "
            f"resolved {len(result.alerts_resolved)} fee_unpriced alerts"
        )
        if result.unpriced:
            raise CommandError(f"{found.name}: {result.unpriced} fills have no price for their fee yet")
