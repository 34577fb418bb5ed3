from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from compliance.services import Actor
from trading.management.accounts import account_for_command
from trading.models import CapitalLadder
from trading.services.ladder import (
    CapitalStepRefused,
    capital_cap,
    capital_promotion_blockers,
    capital_step_lower,
    capital_step_raise,
)


class Command(BaseCommand):
    help = "Show, raise or lower a LIVE account's capital-ladder step (raises need the criteria and sign-offs)."

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument("action", choices=("status", "raise", "lower"))
        parser.add_argument("--reason", default="")
        parser.add_argument("--step", default=None, help="lower to this step (default: one step down)")
        parser.add_argument("--actor", default="cli")

    def handle(self, *args, account, action, reason, step, actor, **options):
        found = account_for_command(account)
        if action == "status":
            ladder = CapitalLadder.objects.filter(account=found).first()
            self.stdout.write(f"{found.name}: cap ${capital_cap(found):,.0f} ({found.mode})")
            for blocker in capital_promotion_blockers(found, ladder, now=timezone.now()) if ladder else []:
                self.stdout.write(f"  not yet: {blocker}")
            return
        try:
            target = Decimal(step) if step is not None else None
        except InvalidOperation:
            raise CommandError(f"--step: {step!r} is not a number") from None
        try:
            if action == "raise":
                ladder = capital_step_raise(account_id=found.pk, actor=Actor("user", actor), reason=reason)
            else:
                ladder = capital_step_lower(account_id=found.pk, actor=Actor("user", actor), reason=reason, step=target)
        except CapitalStepRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{found.name}: cap ${ladder.step:,.0f}")
