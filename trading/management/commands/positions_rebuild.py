from django.core.management.base import BaseCommand, CommandError

from compliance.services import Actor
from trading.management.accounts import account_for_command
from trading.services.positions import positions_rebuild


class Command(BaseCommand):
    help = "Compare an account's positions and cash with the rebuild from its fills; --apply corrects them (audited)."

    def add_arguments(self, parser):
        parser.add_argument("account", help="account name")
        parser.add_argument("--apply", action="store_true", help="correct the stored rows to the rebuild")
        parser.add_argument("--reason", default="", help="required with --apply")
        parser.add_argument("--actor", default="cli")

    def handle(self, *args, account, apply, reason, actor, **options):
        found = account_for_command(account)
        if apply and not reason.strip():
            raise CommandError("--reason: correcting positions from fills needs a reason")
        result = positions_rebuild(account_id=found.pk, actor=Actor("user", actor), reason=reason, apply=apply)
        for line in result.differences:
            self.stdout.write(line)
        if result.matches:
            self.stdout.write(f"{found.name}: positions and cash match the fills")
        elif not apply:
            raise CommandError(f"{found.name}: {len(result.differences)} differences (not applied)")
        else:
            self.stdout.write(f"{found.name}: {len(result.differences)} differences corrected")
