"""SPEC R9 analytics against closed-form answers and hand-computed examples."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import analytics as a


def normal_sample(mean: float, stdev: float, n: int = 400_000, seed: int = 1) -> np.ndarray:
    return np.random.Generator(np.random.PCG64(seed)).normal(mean, stdev, n)


@settings(max_examples=25, deadline=None)
@given(mean=st.floats(-0.01, 0.01), stdev=st.floats(0.001, 0.08), confidence=st.sampled_from([0.95, 0.99]))
def test_historical_var_and_es_converge_to_the_gaussian_closed_form(mean, stdev, confidence):
    sample = normal_sample(mean, stdev)
    assert a.var_historical(sample, confidence) == pytest.approx(
        a.var_parametric(mean, stdev, confidence), abs=0.02 * stdev
    )
    assert a.expected_shortfall(sample, confidence) == pytest.approx(
        a.expected_shortfall_parametric(mean, stdev, confidence), abs=0.03 * stdev
    )


def test_closed_form_values_at_95_and_99():
    assert a.var_parametric(0.0, 0.02, 0.95) == pytest.approx(0.0328971, abs=1e-6)  # 1.644854 x 2 %
    assert a.var_parametric(0.0, 0.02, 0.99) == pytest.approx(0.0465270, abs=1e-6)  # 2.326348 x 2 %
    assert a.expected_shortfall_parametric(0.0, 0.02, 0.95) == pytest.approx(0.0412543, abs=1e-6)


def test_historical_var_on_a_known_discrete_distribution():
    returns = [x / 100 for x in range(-50, 50)]  # -50 % .. +49 %, 100 equally likely outcomes
    assert a.var_historical(returns, 0.95) == pytest.approx(0.46)  # 5th lowest is -46 %
    assert a.expected_shortfall(returns, 0.95) == pytest.approx(0.48)  # mean of -50..-46


def test_monte_carlo_var_is_seeded_reproducible_and_near_the_closed_form():
    history = normal_sample(0.001, 0.02, n=5_000, seed=3)
    first = a.var_monte_carlo(history, 0.99, seed=42)
    assert a.var_monte_carlo(history, 0.99, seed=42) == first
    assert a.var_monte_carlo(history, 0.99, seed=43) != first
    fitted = a.var_parametric(history.mean(), history.std(ddof=1), 0.99)
    assert first == pytest.approx(fitted, rel=0.02)


def test_max_drawdown_is_measured_from_the_running_peak_with_its_recovery():
    equity = [100, 120, 90, 95, 130, 104, 110]
    dd = a.max_drawdown(equity)
    assert dd.max_drawdown == pytest.approx(0.25)  # 120 -> 90
    assert (dd.peak_index, dd.trough_index, dd.recovery_index, dd.recovery_periods) == (1, 2, 4, 2)


def test_an_unrecovered_drawdown_has_no_recovery():
    dd = a.max_drawdown([100, 80, 90])
    assert (dd.max_drawdown, dd.recovery_index, dd.recovery_periods) == (pytest.approx(0.2), None, None)


def test_sharpe_and_sortino_by_hand():
    returns = [0.01, -0.02, 0.03, 0.00]
    mean, stdev = 0.005, math.sqrt((0.005**2 + 0.025**2 + 0.025**2 + 0.005**2) / 3)
    assert a.sharpe(returns, periods_per_year=252) == pytest.approx(mean / stdev * math.sqrt(252))
    downside = math.sqrt(0.02**2 / 4)
    assert a.sortino(returns, periods_per_year=252) == pytest.approx(mean / downside * math.sqrt(252))


def test_win_rate_and_profit_factor():
    pnls = [50, -20, 30, -10, 0]
    assert a.win_rate(pnls) == pytest.approx(0.4)
    assert a.profit_factor(pnls) == pytest.approx(80 / 30)
    assert a.profit_factor([10, 5]) == math.inf and a.profit_factor([]) == 0.0


def test_correlation_matrix_of_held_assets():
    x = [0.01, -0.02, 0.03, 0.01]
    matrix = a.correlation_matrix({"BTC": x, "ETH": [2 * v for v in x], "INV": [-v for v in x]})
    assert matrix["BTC"]["ETH"] == pytest.approx(1.0) and matrix["BTC"]["INV"] == pytest.approx(-1.0)
    assert a.correlation_matrix({"BTC": x}) == {"BTC": {"BTC": 1.0}}


@pytest.mark.parametrize("bad", [[], [0.1], [0.1, float("nan")], [[0.1, 0.2]]])
def test_bad_series_are_refused(bad):
    with pytest.raises(ValueError, match="finite 1-D series"):
        a.var_historical(bad, 0.95)
