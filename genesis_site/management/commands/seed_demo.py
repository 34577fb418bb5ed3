import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from compliance.services import Actor
from genesis_site.roles import ROLES
from risk.policy import default_policy_yaml
from risk.services import config_version_activate, config_version_create
from trading.models import Strategy, StrategyTier, TradingAccount, TradingMode

DEMO_ACCOUNT = "demo-paper"
DEMO_SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
DEMO_STRATEGIES = [
    ("btc-momentum", "ma_crossover", "BTC/USDT", {"fast": 5, "slow": 20}, StrategyTier.HUNTER),
    ("eth-mean-reversion", "mean_reversion", "ETH/USDT", {"period": 20, "rsi_period": 14}, StrategyTier.STRATEGIST),
    ("sol-breakout", "breakout", "SOL/USDT", {"entry_period": 20, "exit_period": 10}, StrategyTier.SNIPER),
]


class Command(BaseCommand):
    help = (
        "Create the demo: roles, an operator login, a paper account with three strategies "
        "and the default risk policy. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scenario", default="bull", help="market scenario of the demo feed")
        parser.add_argument("--username", default="operator")

    def handle(self, *args, scenario, username, **options):
        for role in ROLES:
            Group.objects.get_or_create(name=role)
        password = self._operator_password(username)
        with transaction.atomic():
            account = self._account(scenario)
            user = get_user_model().objects.get(username=username)
            account.members.add(user)
        self.stdout.write(f"demo ready: account {account.name!r}, login {username} / {password}")

    def _operator_password(self, username: str) -> str:
        """A random password per checkout, kept in var/demo_login (git-ignored, mode 0600)."""
        path = settings.VAR_DIR / "demo_login"
        password = path.read_text().strip() if path.exists() else secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name="operator"))
        if not user.check_password(password):
            user.set_password(password)
            user.save()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password)
        path.chmod(0o600)
        return password

    def _account(self, scenario: str) -> TradingAccount:
        account, created = TradingAccount.objects.get_or_create(
            name=DEMO_ACCOUNT,
            defaults={
                "mode": TradingMode.PAPER,
                "starting_balance": Decimal("100000"),
                "cash_balance": Decimal("100000"),
                "scenario": scenario,
                "symbols": DEMO_SYMBOLS,
                "feed_cursor": 60,
            },
        )
        if not created:
            return account
        for name, kind, symbol, params, tier in DEMO_STRATEGIES:
            Strategy.objects.create(
                account=account,
                name=name,
                kind=kind,
                tier=tier,
                params=params,
                symbols=[symbol],
                risk_budget=Decimal("0.03"),
            )
        system = Actor.system("seed_demo")
        version = config_version_create(
            account=account,
            content=default_policy_yaml(),
            author=None,
            reason="conservative default profile",
            actor=system,
        )
        config_version_activate(version=version, actor=system, reason="initial policy")
        return account
