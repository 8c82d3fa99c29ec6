import math

import pytest

from shouldtune.analysis.extrapolate import extrapolate, plateau

SIZES = [1, 2, 4, 8, 16, 32]


def test_recovers_exact_power_law():
    # score(n) = 0.9 - 0.5 * n^-0.5; at 64: 0.9 - 0.5 / 8 = 0.8375.
    scores = [0.9 - 0.5 * n**-0.5 for n in SIZES]
    result = extrapolate(SIZES, scores, targets=[64], n_boot=50)
    assert result.fitted and result.label == "estimate"
    assert result.params == pytest.approx((0.9, 0.5, 0.5), abs=1e-3)
    (point,) = result.points
    assert point.n_per_class == 64
    assert point.estimate == pytest.approx(0.8375, abs=1e-3)
    # Residuals are zero, so every bootstrap refit is the same curve.
    assert point.ci_low == pytest.approx(0.8375, abs=1e-3) and point.ci_high == pytest.approx(0.8375, abs=1e-3)


def test_zero_shot_point_is_ignored():
    # n = 0 is off the power law (n^-c is infinite) and must not break the fit.
    scores = [0.3] + [0.9 - 0.5 * n**-0.5 for n in SIZES]
    result = extrapolate([0, *SIZES], scores, targets=[64], n_boot=20)
    assert result.points[0].estimate == pytest.approx(0.8375, abs=1e-3)


def test_flat_curve_extrapolates_flat():
    # A constant 0.7 fits as a = 0.7, b = 0: the estimate anywhere is 0.7.
    result = extrapolate([1, 2, 4, 8], [0.7] * 4, targets=[16, 128], n_boot=20)
    assert result.fitted
    assert [p.estimate for p in result.points] == pytest.approx([0.7, 0.7], abs=1e-4)


def test_noisy_curve_interval_contains_estimate_and_is_deterministic():
    noise = [0.01, -0.02, 0.015, -0.01, 0.005, -0.005]
    scores = [0.85 - 0.4 * n**-0.6 + e for n, e in zip(SIZES, noise)]
    first = extrapolate(SIZES, scores, targets=[64, 256], n_boot=100, seed=3)
    assert first == extrapolate(SIZES, scores, targets=[64, 256], n_boot=100, seed=3)
    for point in first.points:
        assert 0.0 <= point.ci_low <= point.estimate <= point.ci_high <= 1.0
        assert point.ci_high > point.ci_low


def test_too_few_points_is_not_fitted():
    # Only two points with n >= 1 (the n = 0 point does not count).
    result = extrapolate([0, 4, 8], [0.5, 0.6, 0.7], targets=[64])
    assert (result.fitted, result.params, result.points) == (False, None, ())


def test_plateau_gain_per_doubling():
    # Largest two sizes 16 -> 64 are log2(64/16) = 2 doublings; gain 0.80 - 0.70 = 0.10;
    # per doubling 0.10 / 2 = 0.05.
    assert plateau([64, 8, 16], [0.80, 0.60, 0.70]) == pytest.approx(0.05)


def test_plateau_needs_two_positive_sizes():
    with pytest.raises(ValueError):
        plateau([8], [0.5])
    with pytest.raises(ValueError):
        plateau([0, 8], [0.5, 0.6])
    assert math.isfinite(plateau([1, 2], [0.5, 0.5]))
