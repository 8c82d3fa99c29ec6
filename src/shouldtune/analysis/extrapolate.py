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
) -> Extrapolation:
    """Return the fitted curve's estimates at ``targets`` with 95% residual-bootstrap intervals.

    Only points with n >= 1 are used (n = 0 is zero-shot, off the power law). The interval
    refits the curve to fitted values plus resampled residuals, so with exactly three points
    (an exact fit, no residuals) it collapses to the estimate and means little.
    Estimates and interval ends are clipped to [0, 1].
    """
    if len(sizes) != len(scores):
        raise ValueError(f"{len(sizes)} sizes but {len(scores)} scores")
    n = np.asarray(sizes, dtype=float)
    y = np.asarray(scores, dtype=float)
    keep = n >= 1
    n, y = n[keep], y[keep]
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
    replicates = []
    for _ in range(n_boot):
        refit = _fit(n, fitted_y + rng.choice(residuals, size=len(n)), params)
        if refit is not None:  # a failed refit carries no information; skip it
            replicates.append(power_law(target_n, *refit))
    estimates = np.clip(power_law(target_n, *params), 0.0, 1.0)
    if replicates:
        tail = (1 - INTERVAL) / 2 * 100
        lows, highs = np.clip(np.percentile(np.array(replicates), [tail, 100 - tail], axis=0), 0.0, 1.0)
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
            found, _ = curve_fit(power_law, n, y, p0=start, bounds=(_LOWER, _UPPER), maxfev=5000)
        except (RuntimeError, ValueError):
            return None
    a, b, c = (float(v) for v in found)
    return a, b, c
