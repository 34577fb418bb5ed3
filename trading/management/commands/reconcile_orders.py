from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from trading.exceptions import TradingError
from trading.exchanges.live import live_exchange_for
from trading.management.accounts import account_for_command
from trading.services.credentials import CredentialMissing
from trading.services.reconcile import reconcile_account


class Command(BaseCommand):
    help = "Reconcile an account's orders with its exchange by client order id (one audited pass)."

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument("--max-misses", type=int, default=settings.GENESIS_RECONCILE_MAX_MISSES)
        parser.add_argument("--actor", default="cli", help="who runs it, recorded in the audit trail")

    def handle(self, *args, account, max_misses, actor, **options):
        if max_misses < 1:
            raise CommandError("--max-misses must be at least 1")
        found = account_for_command(account)
        who = Actor("user", actor)
        try:
            exchange = live_exchange_for(account_id=found.pk, actor=who)
            report = reconcile_account(account_id=found.pk, exchange=exchange, max_misses=max_misses, actor=who)
        except (CredentialMissing, TradingError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{found.name}: checked {report.checked}, updated {len(report.updated)}, "
            f"failed {len(report.failed)}, adopted {len(report.adopted)}, errors {len(report.errors)}"
        )
        for line in report.errors:
            self.stderr.write(f"  error: {line}")
