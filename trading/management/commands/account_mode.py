from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from trading.management.accounts import account_for_command
from trading.models import TradingMode
from trading.services.accounts import ModeChangeRefused, account_mode_set


class Command(BaseCommand):
    help = "Switch a trading account between DRY_RUN, PAPER and LIVE (audited; LIVE needs the go-live gate)."

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument("mode", choices=TradingMode.values)
        parser.add_argument("--reason", required=True)
        parser.add_argument("--actor", default="cli", help="who is switching, recorded in the audit trail")

    def handle(self, *args, account, mode, reason, actor, **options):
        found = account_for_command(account)
        try:
            updated = account_mode_set(account_id=found.pk, mode=mode, actor=Actor("user", actor), reason=reason)
        except ModeChangeRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{updated.name}: {updated.mode}")
