from celery import shared_task

from genesis_site.services import heartbeat_record
from trading.models import TradingAccount, TradingMode
from trading.selectors import accounts_to_tick
from trading.services.engine import engine_tick


@shared_task(name="trading.engine_tick_all", ignore_result=True)
def engine_tick_all_task() -> None:
    """Fan out one tick task per tradable account (the beat entry): every paper and dry-run
    account, and every LIVE account with exchange credentials."""
    for account_id in accounts_to_tick():
        engine_tick_task.delay(account_id)


@shared_task(name="trading.engine_tick", bind=True, ignore_result=True)
def engine_tick_task(self, account_id: int) -> None:
    """Tick one account. Safe to deliver twice: the account row lock lets one run at a time,
    and each order's deterministic client order id makes a repeated tick a no-op."""
    heartbeat_record(name=f"worker:{self.request.hostname or 'embedded'}")
    engine_tick(account_id=account_id)


@shared_task(name="trading.reconcile_all", ignore_result=True)
def reconcile_all_task() -> None:
    """Fan out one reconciliation per LIVE account with credentials (the beat entry; also
    what brings the database back in line with the exchange after a restart)."""
    accounts = TradingAccount.objects.filter(mode=TradingMode.LIVE, exchange_credential__isnull=False)
    for account_id in accounts.values_list("pk", flat=True):
        reconcile_task.delay(account_id)


@shared_task(name="trading.reconcile", ignore_result=True)
def reconcile_task(account_id: int) -> None:
    """One reconciliation pass for an account. Idempotent: a repeated pass changes nothing."""
    from django.conf import settings

    from trading.services.engine import live_exchange_session
    from trading.services.reconcile import reconcile_account

    exchange = live_exchange_session(account_id=account_id)  # the engine's own session
    if exchange is not None:
        reconcile_account(account_id=account_id, exchange=exchange, max_misses=settings.GENESIS_RECONCILE_MAX_MISSES)


@shared_task(name="trading.fees_price_all", ignore_result=True)
def fees_price_all_task() -> None:
    """Fan out one late fee pricing per account with a fill whose third-currency fee has no
    price yet, or with a fee_unpriced alert still open (the beat entry)."""
    from trading.selectors import accounts_with_unpriced_fees

    for account_id in accounts_with_unpriced_fees():
        fees_price_task.delay(account_id)


@shared_task(name="trading.fees_price", ignore_result=True)
def fees_price_task(account_id: int) -> None:
    """Price an account's unpriced fees at their fills' time (stored prices, else the klines of
    the account's exchange when it has credentials) and correct positions, orders and cash.
    Idempotent: a fill is priced once, and a repeated run changes nothing."""
    from trading.services.engine import live_exchange_session
    from trading.services.fees import fees_price_unpriced

    accounts = TradingAccount.objects.filter(pk=account_id, mode=TradingMode.LIVE, exchange_credential__isnull=False)
    exchange = live_exchange_session(account_id=account_id) if accounts.exists() else None
    fees_price_unpriced(account_id=account_id, exchange=exchange)
