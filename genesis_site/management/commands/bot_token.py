from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from genesis_site.models import BotToken
from genesis_site.roles import ROLES
from genesis_site.services import bot_token_create, bot_token_revoke
from trading.models import TradingAccount


class Command(BaseCommand):
    help = "Create or revoke a ChatOps bot token. The token is printed once and stored hashed."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--role", choices=ROLES, default="viewer")
        create.add_argument("--days", type=int, default=90)
        create.add_argument("--account", action="append", default=[], help="account name the bot may see (repeatable)")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("name")

    def handle(self, *args, action, name, **options):
        if action == "revoke":
            if not bot_token_revoke(name=name):
                raise CommandError(f"no active token named {name!r}")
            self.stdout.write(f"revoked {name}")
            return
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        if BotToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} exists; revoke it or choose another name")
        accounts = list(TradingAccount.objects.filter(name__in=options["account"]))
        missing = set(options["account"]) - {a.name for a in accounts}
        if missing:
            raise CommandError(f"unknown account(s): {', '.join(sorted(missing))}")
        user, _ = get_user_model().objects.get_or_create(username=f"bot:{name}")
        user.set_unusable_password()
        user.save()
        user.groups.set([Group.objects.get_or_create(name=options["role"])[0]])
        for account in accounts:
            account.members.add(user)
        raw = bot_token_create(name=name, user=user, days=options["days"])
        self.stdout.write(raw)
