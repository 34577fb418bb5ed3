"""Account-level state changes: the safety ladder's mode switch (SPEC T8) and the market
data source (SPEC T1)."""

from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from compliance.services import Actor, audit_append
from risk.selectors import config_version_active
from trading.exceptions import TradingError
from trading.models import ExchangeCredential, TradingAccount, TradingMode


class ModeChangeRefused(TradingError):
    code = "mode_change_refused"


def live_blockers(account: TradingAccount) -> list[str]:
    """Every reason the account may not trade LIVE now. The go-live gate (SPEC V5) must hold a
    GO decision for the account's active configuration hash: a new version needs a new one."""
    from validation.golive import golive_live_blocker

    reasons = []
    if blocker := golive_live_blocker(account_id=account.pk):
        reasons.append(blocker)
    if account.exchange_id == "paper":
        reasons.append("no exchange credentials: the account trades on the paper exchange")
    elif not ExchangeCredential.objects.filter(account=account).exists():
        reasons.append(f"no exchange credentials stored for {account.exchange_id} (trading.services.credentials)")
    if account.read_only:
        reasons.append("the account is read-only")
    return reasons


def account_mode_set(*, account_id: int, mode: str, actor: Actor, reason: str) -> TradingAccount:
    """Switch the account's mode, audited with the reason. LIVE is refused with every blocker."""
    if mode not in TradingMode.values:
        raise ModeChangeRefused(f"mode: {mode!r} is not one of {', '.join(TradingMode.values)}")
    if not reason.strip():
        raise ModeChangeRefused("reason: a reason is required for a mode change")
    with transaction.atomic():
        # The row lock orders the change against a running tick of this account.
        account = TradingAccount.objects.select_for_update().get(pk=account_id)
        if mode == TradingMode.LIVE and (blockers := live_blockers(account)):
            raise ModeChangeRefused("LIVE refused: " + "; ".join(blockers))
        previous = account.mode
        if previous == mode:
            return account
        account.mode = mode
        account.save(update_fields=["mode"])
        if mode == TradingMode.LIVE:
            # LIVE always runs under the capital ladder, from its first step (SPEC T8).
            from trading.services.ladder import capital_ladder_start

            capital_ladder_start(account)
        version = config_version_active(account_id=account.pk)
        audit_append(
            actor=actor,
            action="account.mode_changed",
            obj=account,
            payload={"from": previous, "to": mode, "reason": reason},
            config_hash=version.sha256 if version else "",
        )
    return account


def account_replay_set(
    *, account_id: int, files: dict, speed: Decimal | str | int, actor: Actor, reason: str, root: Path | None = None
) -> TradingAccount:
    """Make the account's market data the replay of `files` ({symbol: path}, CSV or ccxt
    JSON) at `speed` times real time (0: one candle per tick), from the files' first candle;
    an empty `files` returns it to its scenario. Every file is read and checked first: a
    malformed one is refused (ReplaySourceRefused, a MarketDataInvalid, with its line number
    and reason) and nothing changes. Audited. `root` (the API passes
    settings.GENESIS_REPLAY_DIR): the files are read under that directory only."""
    from trading.replay import MarketDataInvalid, ReplaySourceRefused, replay_files_check

    try:
        speed = Decimal(str(speed))
    except InvalidOperation:
        raise MarketDataInvalid(f"replay_speed: {speed!r} is not a number") from None
    if not speed.is_finite() or speed < 0:
        raise MarketDataInvalid(f"replay_speed: must be 0 (one candle per tick) or positive, got {speed}")
    if not reason.strip():
        raise MarketDataInvalid("reason: a reason is required to change the market data source")
    with transaction.atomic():
        # The row lock orders the change against a running tick of this account.
        account = TradingAccount.objects.select_for_update().get(pk=account_id)
        try:
            checked = replay_files_check(files or {}, symbols=account.symbols, root=root)
        except MarketDataInvalid as exc:
            raise ReplaySourceRefused(str(exc)) from None
        previous = account.replay_files
        account.replay_files, account.replay_speed = checked, speed
        account.replay_started_at = timezone.now() if checked else None
        account.feed_cursor = 0  # index 0 is the first candle: history for the first tick
        account.save(update_fields=["replay_files", "replay_speed", "replay_started_at", "feed_cursor"])
        audit_append(
            actor=actor,
            action="account.market_data_changed",
            obj=account,
            payload={"account": account.pk, "from": previous, "to": checked, "speed": speed, "reason": reason},
        )
    return account
