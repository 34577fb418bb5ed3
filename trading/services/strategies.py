"""Strategy lifecycle (SPEC T2): creation with validated parameters, parameter changes, the
feature flag, disable/enable, and the account's universe. Pause and resume are stop levels
(risk.services.stops: trading_pause_entries / trading_release with strategy=...).

Every change takes the account row lock the engine tick takes, so a tick sees a change
entirely or not at all, and is audited with its reason."""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from compliance.services import Actor, audit_append
from trading.exceptions import TradingError
from trading.markets import UnknownMarket, market_get
from trading.models import Strategy, StrategyState, StrategyTier, TradingAccount, Universe
from trading.strategies import strategy_load


class StrategyChangeRefused(TradingError):
    code = "strategy_change_refused"


def _locked(account_id: int, reason: str) -> TradingAccount:
    if not reason.strip():
        raise StrategyChangeRefused("reason: a reason is required")
    return TradingAccount.objects.select_for_update().get(pk=account_id)


def _strategy(account: TradingAccount, name: str) -> Strategy:
    strategy = Strategy.objects.filter(account=account, name=name).first()
    if strategy is None:
        raise StrategyChangeRefused(f"strategy: no strategy {name!r} on account {account.name}")
    return strategy


def _audit(account: TradingAccount, actor: Actor, action: str, obj, **payload) -> None:
    audit_append(actor=actor, action=action, obj=obj, payload={"account": account.pk, **payload})


def _budget(value) -> Decimal:
    try:
        budget = Decimal(str(value))
    except InvalidOperation:
        raise StrategyChangeRefused(f"risk_budget: {value!r} is not a number") from None
    if not (budget.is_finite() and 0 <= budget <= 1):
        raise StrategyChangeRefused(f"risk_budget: {value} must be a share of equity between 0 and 1")
    return budget


def strategy_create(
    *,
    account_id: int,
    name: str,
    kind: str,
    params: dict,
    actor: Actor,
    reason: str,
    tier: str = StrategyTier.HUNTER,
    risk_budget: Decimal | str = Decimal("0.03"),
    symbols: list[str] | None = None,
    enabled: bool = True,
) -> Strategy:
    """Add a strategy (or a variant of one, under another name). Parameters are validated by
    the kind's schema: StrategyConfigInvalid names the bad field and nothing is created."""
    strategy_load(kind, params)
    if tier not in StrategyTier.values:
        raise StrategyChangeRefused(f"tier: {tier!r} is not one of {', '.join(StrategyTier.values)}")
    budget = _budget(risk_budget)
    with transaction.atomic():
        account = _locked(account_id, reason)
        for symbol in symbols or []:
            if symbol not in account.symbols:
                raise StrategyChangeRefused(f"symbols: {symbol} is not traded by account {account.name}")
        if Strategy.objects.filter(account=account, name=name).exists():
            raise StrategyChangeRefused(f"name: account {account.name} already has a strategy {name!r}")
        strategy = Strategy.objects.create(
            account=account,
            name=name,
            kind=kind,
            params=params,
            tier=tier,
            risk_budget=budget,
            symbols=symbols or [],
            enabled=enabled,
        )
        _audit(account, actor, "strategy.created", strategy, name=name, kind=kind, params=params, reason=reason)
    return strategy


def strategy_params_set(*, account_id: int, name: str, params: dict, actor: Actor, reason: str) -> Strategy:
    """Replace a strategy's parameters; a bad one is refused naming the field."""
    with transaction.atomic():
        account = _locked(account_id, reason)
        strategy = _strategy(account, name)
        strategy_load(strategy.kind, params)
        previous, strategy.params = strategy.params, params
        strategy.save(update_fields=["params"])
        _audit(
            account, actor, "strategy.params_set", strategy, name=name, previous=previous, params=params, reason=reason
        )
    return strategy


def strategy_budget_set(*, account_id: int, name: str, risk_budget, actor: Actor, reason: str) -> Strategy:
    """Set the strategy's risk budget: the share of equity one of its entries may use."""
    budget = _budget(risk_budget)
    with transaction.atomic():
        account = _locked(account_id, reason)
        strategy = _strategy(account, name)
        previous, strategy.risk_budget = strategy.risk_budget, budget
        strategy.save(update_fields=["risk_budget"])
        _audit(
            account,
            actor,
            "strategy.budget_set",
            strategy,
            name=name,
            previous=previous,
            risk_budget=budget,
            reason=reason,
        )
    return strategy


def strategy_flag_set(*, account_id: int, name: str, enabled: bool, actor: Actor, reason: str) -> Strategy:
    """Turn the strategy's feature flag on or off. Off, the engine does not run it at all
    (not even its exits: the risk exits still protect its positions)."""
    with transaction.atomic():
        account = _locked(account_id, reason)
        strategy = _strategy(account, name)
        if strategy.enabled != enabled:
            strategy.enabled = enabled
            strategy.save(update_fields=["enabled"])
            _audit(account, actor, "strategy.flag_set", strategy, name=name, enabled=enabled, reason=reason)
    return strategy


def strategy_disable(*, account_id: int, name: str, actor: Actor, reason: str) -> Strategy:
    """Disable a strategy: it stops running, and pause/release no longer touch it."""
    return _state_set(account_id, name, StrategyState.DISABLED, actor, reason, allowed_from=None)


def strategy_enable(*, account_id: int, name: str, actor: Actor, reason: str) -> Strategy:
    """Bring a disabled strategy back as active."""
    return _state_set(account_id, name, StrategyState.ACTIVE, actor, reason, allowed_from=StrategyState.DISABLED)


def _state_set(account_id: int, name: str, state: str, actor: Actor, reason: str, *, allowed_from) -> Strategy:
    with transaction.atomic():
        account = _locked(account_id, reason)
        strategy = _strategy(account, name)
        if strategy.state == state or (allowed_from and strategy.state != allowed_from):
            raise StrategyChangeRefused(f"strategy: {name!r} is {strategy.state}, cannot become {state}")
        previous, strategy.state = strategy.state, state
        strategy.save(update_fields=["state"])
        _audit(account, actor, f"strategy.{state}", strategy, name=name, previous=previous, reason=reason)
    return strategy


def universe_set(
    *,
    account_id: int,
    members: dict[str, str],
    min_quote_volume: Decimal | str,
    max_spread_bps: Decimal | str,
    actor: Actor,
    reason: str,
) -> Universe:
    """Set the account's universe: symbol -> tier, and the volume and spread rules."""
    try:
        volume, spread = Decimal(str(min_quote_volume)), Decimal(str(max_spread_bps))
    except InvalidOperation:
        raise StrategyChangeRefused("min_quote_volume / max_spread_bps: not a number") from None
    if not (volume.is_finite() and volume >= 0):
        raise StrategyChangeRefused(f"min_quote_volume: {min_quote_volume} must be 0 or more")
    if not (spread.is_finite() and spread > 0):
        raise StrategyChangeRefused(f"max_spread_bps: {max_spread_bps} must be positive")
    with transaction.atomic():
        account = _locked(account_id, reason)
        for symbol, tier in members.items():
            try:
                market_get(symbol)
            except UnknownMarket as exc:
                raise StrategyChangeRefused(f"members: {exc.args[0]}") from None
            if symbol not in account.symbols:
                raise StrategyChangeRefused(f"members: {symbol} is not traded by account {account.name}")
            if tier not in StrategyTier.values:
                raise StrategyChangeRefused(
                    f"members: tier {tier!r} of {symbol} is not one of {', '.join(StrategyTier.values)}"
                )
        universe, _ = Universe.objects.update_or_create(
            account=account,
            defaults={"members": members, "min_quote_volume": volume, "max_spread_bps": spread},
        )
        _audit(
            account, actor, "universe.set", universe,
            members=members, min_quote_volume=volume, max_spread_bps=spread, reason=reason,
        )  # fmt: skip
    return universe
