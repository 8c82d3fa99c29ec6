"""How much a strategy's result depends on the seed or the prompt variant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class Spread:
    """Summary of one strategy's score across seeds."""

    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for a single seed
    min: float
    max: float
    range: float  # max - min


def seed_spread(scores_by_seed: Sequence[float]) -> Spread:
    """Return the mean, sample std, min, max and range of scores across seeds."""
    scores = np.asarray(scores_by_seed, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores_by_seed must be a non-empty 1-D sequence, got shape {scores.shape}")
    std = float(scores.std(ddof=1)) if scores.size > 1 else 0.0
    low, high = float(scores.min()), float(scores.max())
    return Spread(mean=float(scores.mean()), std=std, min=low, max=high, range=high - low)


def prediction_agreement(predictions: Sequence[Sequence[str]]) -> float:
    """Return the mean, over pairs of runs, of the share of test examples they label alike.

    Two runs with the same accuracy can still be right on different examples; this shows
    how much the individual predictions, not just the score, depend on the seed or prompt.
    """
    if len(predictions) == 0:
        raise ValueError("prediction_agreement needs at least one run")
    runs = [np.asarray(run, dtype=object) for run in predictions]
    lengths = {len(run) for run in runs}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"every run must label the same non-empty test set, got lengths {sorted(lengths)}")
    if len(runs) == 1:
        return 1.0
    return float(np.mean([np.mean(first == second) for first, second in combinations(runs, 2)]))
