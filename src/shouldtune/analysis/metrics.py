"""Task metrics with bootstrap confidence intervals, for one trial or a curve point.

Every metric is a function of sums of per-example statistics (hits and label counts for
accuracy and macro-F1; n-gram counts for corpus BLEU and chrF; field counts for extraction),
so a resample is a weight per example and a thousand bootstrap resamples cost one matrix
product instead of a thousand metric calls. A `Scoring` holds one task type's metrics:
`scoring_for` builds it from `LabelScoring` and the parts in `text_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

METRICS = ("accuracy", "macro_f1")
N_RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A metric's value and its 95% bootstrap interval (median-bias-corrected: see `bootstrap_interval`)."""

    mean: float
    ci_low: float
    ci_high: float


def _codes(labels: Sequence[str], label_set: Sequence[str], unknown: int | None = None) -> np.ndarray:
    """Return each label's position in the label set; `unknown` for one outside it (KeyError if None)."""
    index = {label: i for i, label in enumerate(label_set)}
    if unknown is None:
        return np.array([index[label] for label in labels], dtype=np.int64)
    return np.array([index.get(label, unknown) for label in labels], dtype=np.int64)


class Scoring(Protocol):
    """One task type's metrics, each computed from summed per-example statistics."""

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names, in the order results list them."""
        ...

    def statistics(self, gold: Sequence[str], predicted: Sequence[str]) -> np.ndarray:
        """Return per-example sufficient statistics, shape (N, K)."""
        ...

    def evaluate(self, summed: np.ndarray) -> dict[str, np.ndarray]:
        """Return each metric for every row of `summed` (shape (R, K): weighted sums of the statistics)."""
        ...


class LabelScoring:
    """Accuracy and macro-F1 over a fixed label set."""

    metrics = METRICS

    def __init__(self, label_set: Sequence[str]) -> None:
        self.label_set = tuple(label_set)

    def statistics(self, gold: Sequence[str], predicted: Sequence[str]) -> np.ndarray:
        # Per example: [1 | gold one-hot | predicted one-hot | hit one-hot].
        eye = np.eye(len(self.label_set), dtype=np.float64)
        true = eye[_codes(gold, self.label_set)]
        # A prediction outside the label set (an API answer that named no label) is wrong:
        # a zero row, predicting no class.
        pred = np.vstack([eye, np.zeros((1, len(self.label_set)))])[_codes(predicted, self.label_set, unknown=len(self.label_set))]
        return np.hstack([np.ones((len(gold), 1)), true, pred, true * pred])

    def evaluate(self, summed: np.ndarray) -> dict[str, np.ndarray]:
        """Macro-F1 averages over the labels present in the gold or predicted labels of each
        resample, as scikit-learn's `f1_score(average="macro")` does."""
        n = len(self.label_set)
        summed = np.atleast_2d(summed)
        count, true, pred, tp = summed[:, 0], summed[:, 1 : 1 + n], summed[:, 1 + n : 1 + 2 * n], summed[:, 1 + 2 * n :]
        support = true + pred
        present = support > 0
        f1 = np.divide(2 * tp, support, out=np.zeros_like(tp), where=present)
        macro_f1 = f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
        accuracy = tp.sum(axis=1) / np.maximum(count, 1e-12)
        return {"accuracy": accuracy, "macro_f1": macro_f1}


class CombinedScoring:
    """Several scorings side by side: their statistics are stacked, each evaluates its own columns."""

    def __init__(self, parts: Sequence[Scoring]) -> None:
        self.parts = tuple(parts)
        self.metrics = tuple(name for part in self.parts for name in part.metrics)
        self._widths: list[int] = []

    def statistics(self, gold: Sequence[str], predicted: Sequence[str]) -> np.ndarray:
        blocks = [part.statistics(gold, predicted) for part in self.parts]
        self._widths = [block.shape[1] for block in blocks]
        return np.hstack(blocks)

    def evaluate(self, summed: np.ndarray) -> dict[str, np.ndarray]:
        summed = np.atleast_2d(summed)
        values: dict[str, np.ndarray] = {}
        start = 0
        for part, width in zip(self.parts, self._widths):
            values.update(part.evaluate(summed[:, start : start + width]))
            start += width
        return values


def scoring_for(task_type: str, label_set: Sequence[str] = (), user_metric: str | None = None) -> Scoring:
    """Return the metrics of a task type, with the user's "module:function" metric added if given."""
    from shouldtune.analysis import text_metrics

    if task_type == "classification":
        parts: list[Scoring] = [LabelScoring(label_set)]
    elif task_type == "generation":
        parts = text_metrics.generation_parts()
    elif task_type == "extraction":
        parts = text_metrics.extraction_parts()
    else:
        raise ValueError(f"unknown task type {task_type!r}")
    if user_metric is not None:
        parts.append(text_metrics.MeanScoring(user_metric, text_metrics.load_user_metric(user_metric)))
    return parts[0] if len(parts) == 1 else CombinedScoring(parts)


def weighted_scores(
    y_true: Sequence[str], y_pred: Sequence[str], label_set: Sequence[str], weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Return accuracy and macro-F1 for every row of `weights` (shape (R, N): how often each example counts)."""
    scoring = LabelScoring(label_set)
    return scoring.evaluate(np.atleast_2d(weights).astype(np.float64) @ scoring.statistics(y_true, y_pred))


def scores(y_true: Sequence[str], y_pred: Sequence[str], label_set: Sequence[str]) -> dict[str, float]:
    """Return accuracy and macro-F1 on the whole test set."""
    whole = weighted_scores(y_true, y_pred, label_set, np.ones((1, len(y_true))))
    return {name: float(values[0]) for name, values in whole.items()}


def resample_weights(n_examples: int, seed: int, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """Return bootstrap weights, shape (n_resamples, n_examples): counts of each example drawn."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_examples, np.full(n_examples, 1.0 / n_examples), size=n_resamples)


def bootstrap_interval(
    resampled: np.ndarray, estimate: float, level: float = LEVEL, bounds: tuple[float, float] | None = None
) -> tuple[float, float]:
    """Return the `level` interval of `estimate`: the resamples' percentile interval, moved so their median is the estimate.

    The plain percentile interval assumes the resamples scatter around the estimate. For
    macro-F1 with many classes and few test examples each they do not: a resample leaves
    out about a third of the classes' gold examples, so labels predicted for them count as
    F1 0, and every resample scores lower than the test set itself (1,000 classes with one
    test example each put the estimate above all but 1% of resamples, outside its own
    interval). That shift comes from resampling, not from the estimate, so it is removed:
    the interval keeps the resamples' spread and skew, centred on the estimate by its median.
    When the resamples are centred already (accuracy, most metrics, large test sets) this is
    the percentile interval. (BCa's bias correction would instead move the interval further
    up, taking the shift for the estimate's own bias: it does not hold the estimate here.)

    `bounds` are the values the statistic can take (a score's 0 and 1): moved, the interval
    is cut at them.
    """
    tail = (1 - level) / 2 * 100
    shift = estimate - float(np.median(resampled))
    low, high = np.percentile(resampled, [tail, 100 - tail]) + shift
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return float(min(low, estimate)), float(max(high, estimate))  # min/max: only against rounding


def score_bounds(resampled: np.ndarray, estimate: float, difference: bool = False) -> tuple[float, float] | None:
    """Return (0, 1) for a score, (-1, 1) for a difference of scores, or None for a metric outside them.

    Every built-in metric is a score between 0 and 1; a metric of the user's whose values all
    lie there is taken to be one too.
    """
    low, high = (-1.0, 1.0) if difference else (0.0, 1.0)
    inside = low <= estimate <= high and low <= float(np.min(resampled)) and float(np.max(resampled)) <= high
    return (low, high) if inside else None


def _interval(values: np.ndarray, centre: float) -> Estimate:
    return Estimate(centre, *bootstrap_interval(values, centre, bounds=score_bounds(values, centre)))


def trial_estimates(
    y_true: Sequence[str], y_pred: Sequence[str], label_set: Sequence[str], seed: int = 0
) -> dict[str, Estimate]:
    """Return accuracy and macro-F1 of one trial with their 95% bootstrap intervals over test examples."""
    return scored_trial(LabelScoring(label_set), y_true, y_pred, seed)


def scored_trial(scoring: Scoring, gold: Sequence[str], predicted: Sequence[str], seed: int = 0) -> dict[str, Estimate]:
    """Return each of `scoring`'s metrics of one trial with its 95% bootstrap interval over test examples."""
    statistics = scoring.statistics(gold, predicted)
    whole = scoring.evaluate(statistics.sum(axis=0, keepdims=True))
    resampled = scoring.evaluate(resample_weights(len(gold), seed) @ statistics)
    return {name: _interval(resampled[name], float(whole[name][0])) for name in scoring.metrics}


def curve_estimate(
    runs: Sequence[tuple[str, Sequence[str], Sequence[str]]],
    label_set: Sequence[str],
    metric: str,
    seed: int = 0,
) -> Estimate:
    """Return the mean over seeds of accuracy or macro-F1, with a two-level bootstrap interval."""
    return scored_curve(LabelScoring(label_set), runs, seed)[metric]


def scored_curve(
    scoring: Scoring, runs: Sequence[tuple[str, Sequence[str], Sequence[str]]], seed: int = 0
) -> dict[str, Estimate]:
    """Return, per metric, the mean over seeds with a two-level bootstrap interval.

    `runs` holds one (test-set id, gold, predicted) triple per seed. Each resample draws the seeds with
    replacement and the test examples with replacement, so the interval covers both the luck
    of which examples were labelled and the luck of which were tested. Seeds that share a test
    set share its resampled weights.
    """
    by_test: dict[str, np.ndarray] = {}
    per_seed = {name: np.empty((len(runs), N_RESAMPLES)) for name in scoring.metrics}
    centre: dict[str, list[float]] = {name: [] for name in scoring.metrics}
    for s, (key, gold, predicted) in enumerate(runs):
        if key not in by_test:
            by_test[key] = resample_weights(len(gold), seed + len(by_test))
        statistics = scoring.statistics(gold, predicted)
        resampled = scoring.evaluate(by_test[key] @ statistics)
        whole = scoring.evaluate(statistics.sum(axis=0, keepdims=True))
        for name in scoring.metrics:
            per_seed[name][s] = resampled[name]
            centre[name].append(float(whole[name][0]))
    if len(runs) > 1:
        rng = np.random.default_rng(seed + 10_000)
        picks = rng.integers(len(runs), size=(N_RESAMPLES, len(runs)))
    estimates = {}
    for name in scoring.metrics:
        mean = float(np.mean(centre[name]))
        if len(runs) == 1:
            estimates[name] = _interval(per_seed[name][0], mean)
        else:
            estimates[name] = _interval(per_seed[name][picks, np.arange(N_RESAMPLES)[:, None]].mean(axis=1), mean)
    return estimates
