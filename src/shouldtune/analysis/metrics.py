"""Accuracy and macro-F1 with bootstrap confidence intervals, for one trial or a curve point.

Both metrics are computed from per-resample example weights, so a thousand bootstrap
resamples cost a few matrix products instead of a thousand scikit-learn calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRICS = ("accuracy", "macro_f1")
N_RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A metric's value and its 95% bootstrap interval."""

    mean: float
    ci_low: float
    ci_high: float


def _codes(labels: Sequence[str], label_set: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(label_set)}
    return np.array([index[label] for label in labels], dtype=np.int64)


def weighted_scores(
    y_true: Sequence[str], y_pred: Sequence[str], label_set: Sequence[str], weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Return each metric for every row of `weights` (shape (R, N): how often each example counts).

    Macro-F1 averages over the labels present in the gold or predicted labels of each resample,
    as scikit-learn's `f1_score(average="macro")` does.
    """
    true = np.eye(len(label_set), dtype=np.float64)[_codes(y_true, label_set)]
    pred = np.eye(len(label_set), dtype=np.float64)[_codes(y_pred, label_set)]
    hits = true * pred
    weights = np.atleast_2d(weights).astype(np.float64)
    tp = weights @ hits
    support = weights @ true + weights @ pred
    present = support > 0
    f1 = np.divide(2 * tp, support, out=np.zeros_like(tp), where=present)
    macro_f1 = f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    accuracy = tp.sum(axis=1) / weights.sum(axis=1)
    return {"accuracy": accuracy, "macro_f1": macro_f1}


def scores(y_true: Sequence[str], y_pred: Sequence[str], label_set: Sequence[str]) -> dict[str, float]:
    """Return accuracy and macro-F1 on the whole test set."""
    whole = weighted_scores(y_true, y_pred, label_set, np.ones((1, len(y_true))))
    return {name: float(values[0]) for name, values in whole.items()}


def resample_weights(n_examples: int, seed: int, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """Return bootstrap weights, shape (n_resamples, n_examples): counts of each example drawn."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_examples, np.full(n_examples, 1.0 / n_examples), size=n_resamples)


def _interval(values: np.ndarray, centre: float) -> Estimate:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Estimate(centre, float(min(low, centre)), float(max(high, centre)))


def trial_estimates(
    y_true: Sequence[str], y_pred: Sequence[str], label_set: Sequence[str], seed: int = 0
) -> dict[str, Estimate]:
    """Return each metric of one trial with its 95% bootstrap interval over test examples."""
    whole = scores(y_true, y_pred, label_set)
    resampled = weighted_scores(y_true, y_pred, label_set, resample_weights(len(y_true), seed))
    return {name: _interval(resampled[name], whole[name]) for name in METRICS}


def curve_estimate(
    runs: Sequence[tuple[str, Sequence[str], Sequence[str]]],
    label_set: Sequence[str],
    metric: str,
    seed: int = 0,
) -> Estimate:
    """Return the mean over seeds of one metric, with a two-level bootstrap interval.

    `runs` holds one (test-set id, gold, predicted) triple per seed. Each resample draws the seeds with
    replacement and the test examples with replacement, so the interval covers both the luck
    of which examples were labelled and the luck of which were tested. Seeds that share a test
    set share its resampled weights.
    """
    by_test: dict[str, np.ndarray] = {}
    per_seed = np.empty((len(runs), N_RESAMPLES))
    centre = []
    for s, (key, gold, predicted) in enumerate(runs):
        if key not in by_test:
            by_test[key] = resample_weights(len(gold), seed + len(by_test))
        per_seed[s] = weighted_scores(gold, predicted, label_set, by_test[key])[metric]
        centre.append(scores(gold, predicted, label_set)[metric])
    mean = float(np.mean(centre))
    if len(runs) == 1:
        return _interval(per_seed[0], mean)
    rng = np.random.default_rng(seed + 10_000)
    picks = rng.integers(len(runs), size=(N_RESAMPLES, len(runs)))
    values = per_seed[picks, np.arange(N_RESAMPLES)[:, None]].mean(axis=1)
    return _interval(values, mean)
