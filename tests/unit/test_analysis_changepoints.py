"""E-divisive change points on series with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from dtf.analysis.changepoints import Settings, e_divisive, energy_statistics


def _steps(levels: list[tuple[float, int]], noise: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for level, n in levels for v in rng.normal(level, noise, n)]


@pytest.mark.parametrize("seed", range(5))
def test_planted_regression_is_found_at_the_run_where_it_starts(seed: int) -> None:
    series = _steps([(100.0, 25), (120.0, 15)], noise=3.0, seed=seed)
    [change] = e_divisive(series)
    assert change.index == 25
    assert change.relative == pytest.approx(0.20, abs=0.03)
    assert change.confidence >= 0.999


def test_two_changes_are_both_found_in_order() -> None:
    series = _steps([(10.0, 15), (13.0, 15), (9.0, 15)], noise=0.3, seed=3)
    changes = e_divisive(series)
    assert [c.index for c in changes] == [15, 30]
    assert changes[0].after == pytest.approx(changes[1].before)
    assert changes[0].relative > 0 > changes[1].relative


@pytest.mark.parametrize("noise", [1.0, 5.0, 20.0])
def test_stable_noisy_series_raise_nothing(noise: float) -> None:
    alerts = [
        seed
        for seed in range(20)
        if e_divisive(_steps([(100.0, 40)], noise=noise, seed=seed), Settings(seed=seed))
    ]
    assert alerts == []


def test_false_alarms_on_stable_series_stay_near_the_significance_level() -> None:
    # Under "no change" the permutation p-value is uniform: about alpha (0.5%) of stable
    # series alert, whatever their noise. 400 series: expect about 2, allow up to 6 (1.5%).
    alerts = sum(
        bool(e_divisive(_steps([(100.0, 30)], noise=noise, seed=1000 + s), Settings(seed=s)))
        for noise in (5.0, 20.0)
        for s in range(200)
    )
    assert alerts <= 6


def test_a_single_outlier_is_not_a_change() -> None:
    series = _steps([(100.0, 40)], noise=2.0, seed=7)
    series[20] = 400.0
    assert e_divisive(series) == []


def test_a_shift_smaller_than_min_relative_is_not_reported() -> None:
    # 3% shift, very low noise: statistically clear, but below the 5% threshold by default.
    series = _steps([(100.0, 20), (103.0, 20)], noise=0.2, seed=1)
    assert e_divisive(series) == []
    [change] = e_divisive(series, Settings(min_relative=0.01))
    assert change.index == 20


def test_a_change_needs_a_few_runs_after_it_before_it_is_confirmed() -> None:
    base = _steps([(100.0, 30)], noise=2.0, seed=11)
    assert e_divisive([*base, 150.0]) == []  # one high run could be an outlier
    confirmed = e_divisive([*base, 150.0, 151.0, 149.0, 150.5, 152.0])
    assert [c.index for c in confirmed] == [30]


def test_short_and_constant_series_are_quiet() -> None:
    assert e_divisive([]) == []
    assert e_divisive([1.0, 2.0, 3.0]) == []
    assert e_divisive([5.0] * 30) == []


def test_energy_statistic_peaks_at_the_step() -> None:
    x = np.array([0.0] * 10 + [1.0] * 10)
    q = energy_statistics(x, 2)
    assert int(np.nanargmax(q)) == 10
    assert np.isnan(q[:2]).all() and np.isnan(q[19:]).all()


def test_results_are_reproducible_for_a_seed() -> None:
    series = _steps([(50.0, 12), (56.0, 6)], noise=2.5, seed=5)
    assert e_divisive(series, Settings(seed=9)) == e_divisive(series, Settings(seed=9))


def test_a_series_narrower_than_min_absolute_has_no_change_and_a_wider_one_does() -> None:
    step = [0.001] * 15 + [0.004] * 15  # a clear 4x step, but only 3 ms
    assert e_divisive(step, Settings(min_absolute=0.01)) == []
    [change] = e_divisive(step, Settings(min_absolute=0.002))
    assert change.index == 15
