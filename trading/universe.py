"""The per-account universe (SPEC T2): which symbols may be entered this tick, by tier, after
the volume and spread rules. Pure: the engine hands it this tick's tickers."""

from dataclasses import dataclass, field

from trading import feeds
from trading.models import Universe


@dataclass(frozen=True)
class UniverseNow:
    tradable: dict[str, str]  # symbol -> tier
    excluded: dict[str, str] = field(default_factory=dict)  # symbol -> why

    def allows(self, symbol: str, tier: str) -> bool:
        return self.tradable.get(symbol) == tier


def universe_filter(universe: Universe, tickers: dict[str, feeds.Ticker]) -> UniverseNow:
    """Members whose ticker passes the rules now; the others with the rule they failed."""
    tradable, excluded = {}, {}
    for symbol, tier in universe.members.items():
        ticker = tickers.get(symbol)
        if ticker is None:
            excluded[symbol] = "no accepted ticker this tick"
        elif ticker.quote_volume < universe.min_quote_volume:
            excluded[symbol] = f"volume {ticker.quote_volume:.0f} below {universe.min_quote_volume:.0f}"
        elif ticker.spread_bps > universe.max_spread_bps:
            excluded[symbol] = f"spread {ticker.spread_bps:.1f} bps above {universe.max_spread_bps} bps"
        else:
            tradable[symbol] = tier
    return UniverseNow(tradable=tradable, excluded=excluded)
