from decimal import Decimal

import pytest

from risk.exceptions import ConfigInvalid
from risk.policy import default_policy_yaml, policy_parse


def test_the_default_policy_is_the_conservative_profile_of_the_spec():
    p = policy_parse(default_policy_yaml())
    assert p.max_total_exposure_pct == Decimal("25")
    assert (p.max_open_positions, p.max_position_pct, p.max_asset_pct) == (5, Decimal("3"), Decimal("5"))
    assert (p.stop_loss_pct, p.take_profit_pct) == (Decimal("10"), Decimal("12"))
    assert (p.daily_stop_pct, p.weekly_stop_pct, p.max_drawdown_pct) == (Decimal("3"), Decimal("7"), Decimal("10"))
    assert (p.max_trades_per_day, p.max_trades_per_hour, p.max_new_positions_per_hour) == (15, 5, 3)
    assert (p.min_seconds_between_trades, p.min_seconds_per_symbol, p.pyramiding) == (180, 900, False)


def test_every_problem_is_listed_at_once_naming_its_key():
    with pytest.raises(ConfigInvalid) as caught:
        policy_parse("max_open_positions: -1\nmax_position_pct: 300\nsurprise_key: 1\n")
    assert caught.value.errors == [
        "surprise_key: unknown key",
        "max_position_pct: 300 % is more than 100 %",
        "max_open_positions: -1 is negative",
        "max_position_pct: 300 % exceeds the total cap max_total_exposure_pct 25 %",
    ]


def test_a_wrong_type_is_named():
    with pytest.raises(ConfigInvalid, match="max_open_positions: Input should be a valid integer"):
        policy_parse("max_open_positions: lots\n")


def test_malformed_yaml_is_refused_with_its_line():
    with pytest.raises(ConfigInvalid, match="line 2"):
        policy_parse("max_open_positions: 5\n  bad: [indent\n")


def test_a_non_mapping_is_refused():
    with pytest.raises(ConfigInvalid, match="mapping"):
        policy_parse("- 1\n- 2\n")
