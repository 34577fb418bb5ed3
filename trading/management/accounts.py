from django.core.management.base import CommandError

from trading.models import TradingAccount


def account_for_command(name: str) -> TradingAccount:
    """The account an operator's command names; a clear CommandError if there is none."""
    account = TradingAccount.objects.filter(name=name).first()
    if account is None:
        raise CommandError(f"unknown account {name!r}")
    return account
