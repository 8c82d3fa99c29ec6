"""Paired significance tests for two strategies scored on the same test examples.

Both tests pair examples: each test example is scored by both strategies, so the
comparison looks only at where they differ, which is far more sensitive than comparing
two independent accuracies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from shouldtune.analysis.metrics import N_RESAMPLES, Scoring, bootstrap_interval, resample_weights, score_bounds

# Below this many discordant pairs the chi-square approximation is poor (a common rule
# of thumb), so the exact binomial test is used instead.
EXACT_BELOW = 25
# Resample indices are drawn a chunk at a time, about this many per chunk, so memory stays
# bounded (~16 MB) however large the test set.
_INDICES_PER_CHUNK = 2_000_000

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on the discordant pairs of two strategies."""

    b: int  # examples A got right and B got wrong
    c: int  # examples A got wrong and B got right
    statistic: float  # exact test: min(b, c); chi-square test: the corrected chi-square
    p_value: float  # two-sided
    exact: bool  # True when the exact binomial test was used


@dataclass(frozen=True)
class PairedComparison:
    """Metric of A minus metric of B with a 95% paired-bootstrap interval that holds the difference."""

    difference: float
    ci_low: float
    ci_high: float
    p_a_better: float  # share of resamples (centred on the difference, as the interval) in which A scored higher
    p_a_ahead: float = 0.0  # share of (centred) resamples in which A is ahead by more than the margin asked for
    p_b_ahead: float = 0.0  # ...and in which B is


def mcnemar(correct_a: ArrayLike, correct_b: ArrayLike) -> McNemarResult:
    """Return McNemar's test of whether A and B differ in per-example correctness."""
    a = _as_1d(correct_a, "correct_a").astype(bool)
    b_ = _as_1d(correct_b, "correct_b").astype(bool)
    _same_length(a, b_)
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    if b + c == 0:  # no disagreement at all: no evidence of a difference
        return McNemarResult(b=b, c=c, statistic=0.0, p_value=1.0, exact=True)
    if b + c < EXACT_BELOW:
        p_value = stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
        return McNemarResult(b=b, c=c, statistic=float(min(b, c)), p_value=float(p_value), exact=True)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    p_value = stats.chi2.sf(statistic, df=1)
    return McNemarResult(b=b, c=c, statistic=float(statistic), p_value=float(p_value), exact=False)


def paired_bootstrap(
    y_true: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    metric: Metric | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PairedComparison:
    """Return metric(A) - metric(B) with a 95% interval over resampled test examples (see `bootstrap_interval`).

    Each resample draws test examples with replacement and scores both strategies on the
    same draw, so the interval reflects only which examples were in the test set.
    ``metric=None`` means accuracy, computed vectorised; any other ``metric(y_true, y_pred)``
    is called once per strategy per resample (4000 calls at the default): a plain numpy
    metric keeps that near a second, where sklearn's ``f1_score`` takes ~15 s.
    """
    truth = _as_1d(y_true, "y_true")
    a = _as_1d(pred_a, "pred_a")
    b = _as_1d(pred_b, "pred_b")
    _same_length(truth, a)
    _same_length(truth, b)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    if metric is None:
        correct_a = (a == truth).astype(float)
        correct_b = (b == truth).astype(float)
        difference = float(correct_a.mean() - correct_b.mean())
        diffs = np.concatenate(
            [correct_a[idx].mean(axis=1) - correct_b[idx].mean(axis=1)
             for idx in _resample_chunks(len(truth), n_resamples, rng)]
        )
    else:
        difference = float(metric(truth, a) - metric(truth, b))
        diffs = np.array(
            [metric(truth[row], a[row]) - metric(truth[row], b[row])
             for idx in _resample_chunks(len(truth), n_resamples, rng) for row in idx],
            dtype=float,
        )
    ci_low, ci_high = bootstrap_interval(diffs, difference, bounds=score_bounds(diffs, difference, difference=True))
    return PairedComparison(
        difference=difference,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        p_a_better=float(np.mean(diffs - np.median(diffs) + difference > 0)),  # centred as the interval is
    )


def paired_seeds_bootstrap(
    runs: Sequence[tuple[str, Sequence[str], Sequence[str], Sequence[str]]],
    scoring: Scoring,
    metric: str,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    margin: float = 0.0,
    inflate: float = 1.0,
) -> PairedComparison:
    """Return the mean over seeds of metric(A) - metric(B) with a 95% two-level paired interval.

    `p_a_ahead` and `p_b_ahead` are the shares of resamples in which one leads by more than
    `margin` (the smallest difference that matters): the odds a decision weighs. `inflate`
    widens the resampled spread around the estimate (see `cv_inflation`).

    ``runs`` holds one (test-set id, gold, predicted by A, predicted by B) per seed; A and B
    of one seed were trained on the same subset. Each resample draws the test examples with
    replacement (A and B always scored on the same draw, seeds sharing a test set sharing
    it too) and, with several seeds, the seeds with replacement, so the interval covers
    both which examples were tested and which were labelled, as the curve intervals do.
    ``scoring`` computes ``metric`` (e.g. ``LabelScoring(labels)`` for accuracy or macro_f1).
    """
    if not runs:
        raise ValueError("paired_seeds_bootstrap needs at least one seed")
    for s, (_, gold, pred_a, pred_b) in enumerate(runs):
        if not len(gold) == len(pred_a) == len(pred_b) or len(gold) == 0:
            raise ValueError(f"seed {s}: gold and both predictions must have one label per test example")
    return paired_contrast_bootstrap(
        [(key, gold, (pred_a, pred_b)) for key, gold, pred_a, pred_b in runs], (1.0, -1.0),
        scoring, metric, n_resamples, seed, margin, inflate,
    )


def paired_contrast_bootstrap(
    runs: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]],
    weights: Sequence[float],
    scoring: Scoring,
    metric: str,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    margin: float = 0.0,
    inflate: float = 1.0,
) -> PairedComparison:
    """Return the mean over seeds of sum(weight * metric(predictions)) with a 95% two-level paired interval.

    The general form of `paired_seeds_bootstrap` (weights 1 and -1: A minus B): every set of
    predictions of one seed is scored on the same resampled test examples, so a contrast of
    several, such as one strategy's gain between two sizes minus another's, is paired as a
    difference is. ``runs`` holds one (test-set id, gold, predictions...) per seed, as many
    predictions as weights; "A" of the result is the contrast, "B" its negation.
    """
    if not runs:
        raise ValueError("paired_contrast_bootstrap needs at least one seed")
    by_test: dict[str, np.ndarray] = {}
    per_seed = np.zeros((len(runs), n_resamples))
    centre = []
    for s, (key, gold, predicted) in enumerate(runs):
        if len(predicted) != len(weights) or len(gold) == 0 or any(len(p) != len(gold) for p in predicted):
            raise ValueError(f"seed {s}: gold and each of {len(weights)} predictions must have one label per test example")
        if key not in by_test:
            by_test[key] = resample_weights(len(gold), seed + len(by_test), n_resamples)
        draws = by_test[key]
        whole = 0.0
        for weight, answers in zip(weights, predicted):
            statistics = scoring.statistics(gold, answers)
            per_seed[s] += weight * scoring.evaluate(draws @ statistics)[metric]
            whole += weight * scoring.evaluate(statistics.sum(axis=0, keepdims=True))[metric][0]
        centre.append(float(whole))
    if len(runs) == 1:
        values = per_seed[0]
    else:
        rng = np.random.default_rng(seed + 10_000)
        picks = rng.integers(len(runs), size=(n_resamples, len(runs)))
        values = per_seed[picks, np.arange(n_resamples)[:, None]].mean(axis=1)
    difference = float(np.mean(centre))
    values = values - np.median(values) + difference  # centred as the interval is (see bootstrap_interval)
    if inflate != 1.0:
        values = difference + (values - difference) * inflate
    # A score lies in [0, 1], so the contrast lies between its negative and its positive weights' sums.
    low, high = sum(min(w, 0.0) for w in weights), sum(max(w, 0.0) for w in weights)
    inside = low <= difference <= high and low <= float(np.min(values)) and float(np.max(values)) <= high
    ci_low, ci_high = bootstrap_interval(values, difference, bounds=(low, high) if inside else None)
    return PairedComparison(
        difference=difference,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        p_a_better=float(np.mean(values > 0)),
        p_a_ahead=float(np.mean(values > margin)),
        p_b_ahead=float(np.mean(values < -margin)),
    )


def cv_inflation(folds: int) -> float:
    """Return the factor by which k-fold cross-validation's resampled spread is widened.

    Resampling the scored examples covers which examples were tested, but not that the k
    models trained on overlapping data (nor that the model put to use trains on all of it).
    Nadeau and Bengio's correction (Machine Learning, 2003) multiplies the naive variance by
    1 + J * n_test / n_train; for k folds, J = k and n_test / n_train = 1 / (k - 1), so the
    spread grows by sqrt(1 + k / (k - 1)): 1.5 at 5 folds. In this project's simulation
    (tests/test_cv_coverage.py, 8 examples per class) the uncorrected 95% intervals covered
    the large-test-set difference in 85% of draws, the corrected ones in 96–99%.
    """
    return float(np.sqrt(1 + folds / (folds - 1))) if folds > 1 else 1.0


def resolution(examples: int, confidence: float = 0.95) -> float:
    """Return the smallest difference `examples` paired test examples can show to be absent.

    Two strategies that agree on every one of n examples may still disagree on up to
    1 - (1 - confidence)^(1/n) of the examples they will meet (the exact binomial bound with no
    event seen, about 3 / n: the rule of three), and differ in score by as much. Resamples of n
    agreeing answers all agree, so a bootstrap interval of their difference is [0, 0] however
    small n is; a claim that two are equal needs this bound below the margin as well. 0.171 on
    16 examples, 0.023 on 128, 0.003 on 1,000. Unknown (0 examples): 0.
    """
    return 1.0 - (1.0 - confidence) ** (1.0 / examples) if examples > 0 else 0.0


def _resample_chunks(n: int, n_resamples: int, rng: np.random.Generator) -> Iterator[NDArray[np.intp]]:
    """Yield (chunk, n) arrays of bootstrap indices, n_resamples rows in all."""
    rows = max(1, _INDICES_PER_CHUNK // n)
    for start in range(0, n_resamples, rows):
        yield rng.integers(0, n, size=(min(rows, n_resamples - start), n))


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    """Return values as a non-empty 1-D array."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    return array


def _same_length(first: np.ndarray, second: np.ndarray) -> None:
    """Raise ValueError unless both arrays score the same test examples."""
    if len(first) != len(second):
        raise ValueError(f"paired inputs differ in length: {len(first)} vs {len(second)}")
