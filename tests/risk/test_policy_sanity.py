"""SPEC R2: one test per sanity check, each with its exact reason; several at once."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from risk.policy import default_policy_yaml, policy_check


def check(yaml_text: str):
    return policy_check(default_policy_yaml() + yaml_text)


def test_the_default_profile_has_no_errors_and_no_warnings():
    result = policy_check(default_policy_yaml())
    assert (result.errors, result.warnings) == ([], [])


ERRORS = [
    ("pyramiding: true\n", "pyramiding: on, but max_pyramid_adds is 0, so no add could ever be made"),
    (
        "max_pyramid_adds: 2\npyramid_add_scale: 0.5\n",
        "max_pyramid_adds: pyramid limits set (adds 2, scale 0.5) while pyramiding is off",
    ),
    (
        "pyramiding: true\nmax_pyramid_adds: 2\npyramid_add_scale: 0.5\n",
        "sizing: max_size_pct 3 % with 2 adds of 0.5 grows a position to 6.0 %, above max_position_pct 3 %",
    ),
    ("stop_loss_pct: 12\n", "stop_loss_pct: stop loss 12 % is not below take profit 12 %"),
    ("stop_loss_pct: -5\n", "stop_loss_pct: -5 is negative; percentages must be zero or more"),
    ("max_position_pct: 30\n", "max_position_pct: 30 % exceeds the total cap max_total_exposure_pct 25 %"),
    ("max_open_positions: 10\n", "max_open_positions: 10 positions x 3 % = 30 % exceeds max_total_exposure_pct 25 %"),
    ("daily_stop_pct: 7\n", "daily_stop_pct: daily stop 7 % is not below weekly stop 7 %"),
    (
        "sizing: {min_order_usd: 500, max_order_usd: 100}\n",
        "sizing.min_order_usd: 500 exceeds sizing.max_order_usd 100",
    ),
    ("sizing: {min_size_pct: 4, max_size_pct: 3}\n", "sizing.min_size_pct: 4 % exceeds sizing.max_size_pct 3 %"),
    ("max_spread_pct: 12\n", "max_spread_pct: 12 % exceeds the 10 % limit"),
    ("max_slippage_pct: 6\n", "max_slippage_pct: 6 % exceeds the 5 % limit"),
    ("stop_loss: 10\n", "stop_loss: deprecated key, renamed to stop_loss_pct"),
    ("max_leverage: 3\n", "max_leverage: deprecated key, leverage is not supported on spot accounts; remove it"),
]


@pytest.mark.parametrize(
    ("override", "reason"), ERRORS, ids=[r.split(":")[0] + str(i) for i, (_, r) in enumerate(ERRORS)]
)
def test_each_sanity_check_refuses_with_its_reason(override, reason):
    result = check(override)
    assert reason in result.errors, result.errors


def test_the_pass_side_of_the_boundaries():
    # positions x size exactly at the cap; stop just below take profit; spread and slippage at the limits
    result = check(
        "max_open_positions: 5\nmax_position_pct: 5\nstop_loss_pct: 11.99\nmax_spread_pct: 10\nmax_slippage_pct: 5\n"
    )
    assert result.errors == []


WARNINGS = [
    ("max_total_exposure_pct: 60\n", "max_total_exposure_pct: exposure cap 60 % is above 50 %"),
    ("stale_data_seconds: 600\n", "stale_data_seconds: 600 s lets prices older than the 5 min limit be traded on"),
]


@pytest.mark.parametrize(("override", "warning"), WARNINGS)
def test_mode_specific_risks_warn_without_refusing(override, warning):
    result = check(override)
    assert result.errors == [] and warning in result.warnings


def test_missing_circuit_breaker_configuration_warns():
    result = policy_check("max_open_positions: 5\n")
    assert result.warnings == ["circuit_breakers: no circuit breaker configuration; built-in defaults apply"]


def test_a_policy_with_several_errors_lists_them_all():
    result = check("stop_loss_pct: 15\ndaily_stop_pct: 8\nmax_spread_pct: 20\nstop_loss: 3\nfoo: 1\n")
    assert result.errors == [
        "stop_loss: deprecated key, renamed to stop_loss_pct",
        "foo: unknown key",
        "stop_loss_pct: stop loss 15 % is not below take profit 12 %",
        "daily_stop_pct: daily stop 8 % is not below weekly stop 7 %",
        "max_spread_pct: 20 % exceeds the 10 % limit",
    ]
    assert result.policy is not None


@given(positions=st.integers(0, 30), size=st.decimals(Decimal("0"), Decimal("30"), places=2))
def test_the_position_count_rule_refuses_exactly_when_the_product_exceeds_the_cap(positions, size):
    result = check(f"max_open_positions: {positions}\nmax_position_pct: {size}\n")
    refused = any(e.startswith("max_open_positions:") for e in result.errors)
    assert refused == (positions * size > Decimal("25"))
