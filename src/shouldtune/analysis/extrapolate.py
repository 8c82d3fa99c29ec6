"""Learning-curve extrapolation: what more labelled data would likely buy.

The curve is the saturating power law ``score(n) = a - b * n**(-c)``: ``a`` is the score
the strategy approaches with unlimited data, ``b`` how far below it one example per class
starts, ``c`` how fast the gap closes. Extrapolated values are estimates, not measurements,
and say so in their label.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

MIN_POINTS = 3  # three parameters need at least three sizes
INTERVAL = 0.95  # percentile interval of the residual bootstrap
# a <= 1 because scores are proportions; b >= 0 (rather than > 0) so a flat curve fits as
# b = 0; c is capped because beyond ~10 the curve is a step and c is no longer identified.
_LOWER = (0.0, 0.0, 1e-6)
_UPPER = (1.0, np.inf, 10.0)


@dataclass(frozen=True)
class ExtrapolatedPoint:
    """The estimated score at one n per class, with its bootstrap interval."""

    n_per_class: int
    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Extrapolation:
    """A fitted learning curve and its estimates at the requested sizes."""

    fitted: bool  # False when there were too few points or the fit failed
    params: tuple[float, float, float] | None  # (a, b, c); None when not fitted
    points: tuple[ExtrapolatedPoint, ...]  # empty when not fitted
    label: str = "estimate"


def power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Return the saturating power-law score at each n (n >= 1)."""
    return a - b * np.power(n, -c)


def extrapolate(
    sizes: Sequence[int],
    scores: Sequence[float],
    targets: Sequence[int],
    n_boot: int = 200,
    seed: int = 0,
    errors: Sequence[float] | None = None,
) -> Extrapolation:
    """Return the fitted curve's estimates at ``targets`` with 95% bootstrap intervals.

    Only points with n >= 1 are used (n = 0 is zero-shot, off the power law). Without
    ``errors`` the interval refits the curve to fitted values plus resampled residuals, so
    with exactly three points (an exact fit, no residuals) it collapses to the estimate and
    means little. With ``errors`` (each score's standard error, e.g. its 95% interval width
    / 3.92) it refits to fitted values plus normal noise of that size: the uncertainty the
    measurements themselves carry, which stays honest with three points.
    Estimates and interval ends are clipped to [0, 1].
    """
    if len(sizes) != len(scores):
        raise ValueError(f"{len(sizes)} sizes but {len(scores)} scores")
    if errors is not None and len(errors) != len(sizes):
        raise ValueError(f"{len(sizes)} sizes but {len(errors)} errors")
    n = np.asarray(sizes, dtype=float)
    y = np.asarray(scores, dtype=float)
    keep = n >= 1
    n, y = n[keep], y[keep]
    noise = None if errors is None else np.asarray(errors, dtype=float)[keep]
    if len(n) < MIN_POINTS:
        return Extrapolation(fitted=False, params=None, points=())
    params = _fit(n, y, _initial_guess(n, y))
    if params is None:
        return Extrapolation(fitted=False, params=None, points=())

    target_n = np.asarray(targets, dtype=float)
    fitted_y = power_law(n, *params)
    # Residuals of a least-squares fit are too small by sqrt((m - p) / m); undo that.
    scale = math.sqrt(len(n) / (len(n) - MIN_POINTS)) if len(n) > MIN_POINTS else 1.0
    residuals = (y - fitted_y) * scale
    rng = np.random.default_rng(seed)
    drawn = (
        np.array([rng.choice(residuals, size=len(n)) for _ in range(n_boot)])
        if noise is None
        else rng.normal(0.0, noise, size=(n_boot, len(n)))
    )
    replicates = _refit_all(n, fitted_y + drawn, params[2], target_n) if n_boot > 0 else np.empty((0, len(target_n)))
    estimates = np.clip(power_law(target_n, *params), 0.0, 1.0)
    if len(replicates):
        tail = (1 - INTERVAL) / 2 * 100
        lows, highs = np.clip(np.percentile(replicates, [tail, 100 - tail], axis=0), 0.0, 1.0)
    else:
        lows, highs = estimates, estimates
    # A percentile interval of a skewed bootstrap can miss the point estimate; widen it to
    # include the estimate so the report never shows an estimate outside its own interval.
    points = tuple(
        ExtrapolatedPoint(int(t), float(e), float(min(lo, e)), float(max(hi, e)))
        for t, e, lo, hi in zip(targets, estimates, lows, highs)
    )
    return Extrapolation(fitted=True, params=params, points=points)


def plateau(sizes: Sequence[int], scores: Sequence[float]) -> float:
    """Return the score gained per doubling of n between the two largest sizes.

    Near 0 means the curve has flattened; it compares tracks measured at different sizes
    on one scale (e.g. 16 -> 64 is two doublings).
    """
    if len(sizes) != len(scores):
        raise ValueError(f"{len(sizes)} sizes but {len(scores)} scores")
    curve = sorted(zip(sizes, scores))
    if len(curve) < 2:
        raise ValueError(f"plateau needs at least two sizes, got {len(curve)}")
    (n_before, score_before), (n_last, score_last) = curve[-2], curve[-1]
    if n_before < 1 or n_last == n_before:
        raise ValueError(f"the two largest sizes must be distinct and >= 1, got {n_before} and {n_last}")
    return float((score_last - score_before) / math.log2(n_last / n_before))


def _refit_all(n: np.ndarray, samples: np.ndarray, fitted_c: float, targets: np.ndarray) -> np.ndarray:
    """Return each bootstrap sample's refitted curve at the targets, shape (samples, targets).

    The refits profile out c on a fine grid (plus the original fit's c): for a fixed c the
    curve is linear in (a, b), solved in closed form and held inside the bounds. It is the
    same least-squares problem as `_fit`, solved for all samples at once in milliseconds
    where a hundred optimiser runs take seconds.
    """
    grid = np.unique(np.append(np.geomspace(_LOWER[2], _UPPER[2], 400), fitted_c))
    x = np.power(n[None, :], -grid[:, None])  # (grid, points)
    x_mean = x.mean(axis=1, keepdims=True)
    x_centred = x - x_mean
    x_var = (x_centred**2).sum(axis=1)  # (grid,)
    y_mean = samples.mean(axis=1)  # (samples,)
    # Unconstrained slope of y on x is -b; then clamp to b >= 0 and 0 <= a <= 1.
    slope = (samples - y_mean[:, None]) @ x_centred.T / np.where(x_var > 0, x_var, np.inf)  # (samples, grid)
    b = np.maximum(-slope, 0.0)
    a = y_mean[:, None] + b * x_mean[:, 0][None, :]
    over = a > 1.0
    if over.any():  # refit b with a held at 1: least squares of (1 - y) on x through the origin
        through_origin = (1.0 - samples) @ x.T / (x**2).sum(axis=1)
        b = np.where(over, np.maximum(through_origin, 0.0), b)
        a = np.where(over, 1.0, a)
    a = np.maximum(a, 0.0)
    predicted = a[:, :, None] - b[:, :, None] * x[None, :, :]  # (samples, grid, points)
    best = np.argmin(((samples[:, None, :] - predicted) ** 2).sum(axis=2), axis=1)
    rows = np.arange(len(samples))
    return power_law(targets[None, :], a[rows, best][:, None], b[rows, best][:, None], grid[best][:, None])


def _power_law_jacobian(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Return d score / d (a, b, c) at each n: an exact Jacobian makes each refit several times faster."""
    decay = np.power(n, -c)
    return np.column_stack([np.ones_like(n), -decay, b * decay * np.log(n)])


def _initial_guess(n: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Return a starting point read off the data: asymptote just above the best score, c = 0.5."""
    a = min(1.0, float(y.max()) + 0.05)
    c = 0.5
    b = max((a - float(y[np.argmin(n)])) * float(n.min()) ** c, 1e-3)
    return a, b, c


def _fit(
    n: np.ndarray, y: np.ndarray, start: tuple[float, float, float]
) -> tuple[float, float, float] | None:
    """Return least-squares (a, b, c) within bounds, or None when the optimiser fails."""
    start = tuple(float(np.clip(s, lo + 1e-9, hi - 1e-9)) for s, lo, hi in zip(start, _LOWER, _UPPER))
    with warnings.catch_warnings():
        # A flat curve leaves c unidentified, so the covariance cannot be estimated; we
        # never use the covariance, so that warning is noise here.
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            found, _ = curve_fit(
                power_law, n, y, p0=start, bounds=(_LOWER, _UPPER), jac=_power_law_jacobian, maxfev=5000
            )
        except (RuntimeError, ValueError):
            return None
    a, b, c = (float(v) for v in found)
    return a, b, c
