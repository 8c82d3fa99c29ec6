"""The results document: curves from trials, and `RunResult`, whose `to_json()` is results.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shouldtune.analysis.metrics import Estimate, LabelScoring, Scoring, scored_curve
from shouldtune.recommend import Recommendation
from shouldtune.task import TaskConfig

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CurvePoint:
    """One point of a learning curve: a strategy's mean score at one size, with its interval."""

    strategy: str
    track: str
    n_per_class: int
    metric: str
    mean: float
    ci_low: float
    ci_high: float
    seeds: int


@dataclass(frozen=True)
class DataSummary:
    """What was read: sizes, labels, warnings, and how the test set was made."""

    train_size: int
    test_size: int
    labels: tuple[str, ...]
    warnings: tuple[str, ...]
    split: str
    sizes: tuple[int, ...]
    pool_per_class: int | None = None  # examples the smallest class has in every fold's training pool
    largest_per_class: int | None = None  # the size at which a trial trains on the whole pool (sizes stop there)
    validation: str = "holdout"  # "holdout" (a test file or a held-out share) | "cv" (k-fold cross-validation)
    folds: int = 1


@dataclass
class RunResult:
    """Everything a run produced; `to_json()` is the results.json document."""

    run_id: str
    task: TaskConfig
    backend: dict[str, Any]  # the default backend's kind and model, and every backend used, by name
    data: DataSummary
    trials: list[dict[str, Any]]
    curves: list[CurvePoint]
    recommendation: Recommendation
    reused_trials: int = 0
    embedding: dict[str, int] = field(default_factory=dict)
    predictions: dict[tuple[str, int, int], list[str]] = field(default_factory=dict)
    gold: dict[int, list[str]] = field(default_factory=dict)
    analysis: Any = None  # shouldtune.analysis.Analysis
    test: dict[str, Any] = field(default_factory=dict)  # the test sets' gold labels and texts
    skipped: list[dict[str, Any]] = field(default_factory=list)  # trials the adaptive plan did not run, and why

    def to_json(self) -> dict[str, Any]:
        """Return the results.json document (see docs/results-schema.md)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "task": self.task.model_dump(mode="json"),
            "backend": self.backend,
            "data": {
                "train_size": self.data.train_size,
                "test_size": self.data.test_size,
                "labels": list(self.data.labels),
                "warnings": list(self.data.warnings),
                "split": self.data.split,
                "sizes": list(self.data.sizes),
                "pool_per_class": self.data.pool_per_class,
                "largest_per_class": self.data.largest_per_class,
                "validation": self.data.validation,
                "folds": self.data.folds,
            },
            "trials": self.trials,
            "curves": [vars(point) for point in self.curves],
            "analysis": self.analysis.to_json() if self.analysis is not None else None,
            "recommendation": self.recommendation.to_json(),
            "reused_trials": self.reused_trials,
            "embedding": self.embedding,
            "test": self.test,
            "skipped": self.skipped,
        }


def build_curves(
    trials: list[dict[str, Any]],
    predictions: dict[tuple[str, int, int], list[str]],
    gold: dict[int, list[str]],
    test_ids: dict[int, str],
    label_set: tuple[str, ...],
    scoring: Scoring | None = None,
) -> list[CurvePoint]:
    """Return one point per strategy, size and metric: mean over seeds and its 95% interval."""
    scoring = scoring or LabelScoring(label_set)
    groups: dict[tuple[str, str, int], list[int]] = {}
    for trial in trials:
        groups.setdefault((trial["strategy"], trial["track"], trial["n_per_class"]), []).append(trial["seed"])
    points = []
    for (strategy_name, track, n_per_class), seeds in groups.items():
        runs = [(test_ids[s], gold[s], predictions[(strategy_name, n_per_class, s)]) for s in sorted(seeds)]
        estimates = scored_curve(scoring, runs, seed=n_per_class)
        for metric in scoring.metrics:
            estimate: Estimate = estimates[metric]
            points.append(
                CurvePoint(
                    strategy_name, track, n_per_class, metric,
                    round(estimate.mean, 6), round(estimate.ci_low, 6), round(estimate.ci_high, 6), len(seeds),
                )
            )
    return points
