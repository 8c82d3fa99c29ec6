"""Hand-made results.json documents for the analysis, recommendation and report tests.

Predictions are written out by hand; trials and curves are scored from them with the same
metric code a real run uses, so the documents look exactly like a run's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shouldtune.analysis.metrics import curve_estimate, scores

Key = tuple[str, int, int]


def right_then_wrong(gold: Sequence[str], wrong: int, labels: Sequence[str], offset: int = 0) -> list[str]:
    """Return predictions right on every example except `wrong` of them (starting at `offset`)."""
    predicted = list(gold)
    for i in range(offset, offset + wrong):
        predicted[i] = next(label for label in labels if label != gold[i])
    return predicted


def make_results(
    predictions: Mapping[Key, Sequence[str]],
    gold: Sequence[str],
    tracks: Mapping[str, str],
    *,
    metric: str = "accuracy",
    labels: Sequence[str] = ("A", "B"),
    texts: Sequence[str] | None = None,
    timings: Mapping[str, tuple[float, float]] | None = None,
    details: Mapping[str, dict[str, Any]] | None = None,
    pool_per_class: int | None = 40,
    name: str = "synthetic",
    work: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Return a results.json document for hand-written predictions on one shared test set.

    `timings[strategy] = (fit_seconds, predict_seconds for the whole test set)`; `work[strategy]`
    is the training work its trials record (left out, as releases before it did, when None).
    """
    timings = timings or {}
    seeds = sorted({seed for _, _, seed in predictions})
    trials = []
    for (strategy, n, seed), predicted in predictions.items():
        fit, predict = timings.get(strategy, (1.0, 0.4))
        values = scores(gold, predicted, labels)
        trials.append({
            "strategy": strategy, "track": tracks[strategy], "n_per_class": n, "seed": seed,
            "train_examples": n * len(labels),
            "metrics": values, "metrics_ci": {k: [v, v] for k, v in values.items()},
            "fit_seconds": fit, "predict_seconds": predict,
            "examples_per_second": len(gold) / predict if predict else None,
            "details": dict((details or {}).get(strategy, {})),
            **({"work": float(work[strategy])} if work is not None and strategy in work else {}),
        })
    curves = []
    for strategy, n in sorted({(s, n) for s, n, _ in predictions}):
        runs = [("t", gold, predictions[(strategy, n, seed)]) for seed in seeds if (strategy, n, seed) in predictions]
        for name_ in ("accuracy", "macro_f1"):
            estimate = curve_estimate(runs, labels, name_, seed=n)
            curves.append({"strategy": strategy, "track": tracks[strategy], "n_per_class": n, "metric": name_,
                           "mean": estimate.mean, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high, "seeds": len(runs)})
    return {
        "schema_version": 1,
        "run_id": "synthetic0001",
        "task": {"name": name, "metric": metric, "seeds": len(seeds), "task_type": "classification"},
        "backend": {"name": "encoder", "model": "test"},
        "data": {"train_size": 200, "test_size": len(gold), "labels": list(labels), "warnings": [],
                 "split": "given test file", "sizes": sorted({n for _, n, _ in predictions}), "pool_per_class": pool_per_class},
        "trials": trials,
        "curves": curves,
        "test": {"text_chars": 300, "sets": [{"id": "t", "seeds": seeds, "gold": list(gold),
                                               "texts": list(texts) if texts is not None else [f"example {i}" for i in range(len(gold))]}]},
    }


def curve_document(rows: Sequence[tuple[str, str, int, float, float, float]], labels: Sequence[str] = ("A", "B")) -> dict[str, Any]:
    """Return a document with curves only (no test section, no predictions): rows of (strategy, track, n, mean, low, high)."""
    trials = [
        {"strategy": s, "track": t, "n_per_class": n, "seed": 0, "metrics": {"accuracy": m, "macro_f1": m},
         "fit_seconds": 1.0, "predict_seconds": 1.0, "examples_per_second": 100.0, "details": {}}
        for s, t, n, m, _, _ in rows
    ]
    curves = [
        {"strategy": s, "track": t, "n_per_class": n, "metric": "accuracy", "mean": m, "ci_low": lo, "ci_high": hi, "seeds": 1}
        for s, t, n, m, lo, hi in rows
    ]
    return {
        "run_id": "curves0001", "task": {"name": "curves", "metric": "accuracy", "seeds": 1},
        "backend": {"name": "encoder", "model": "test"},
        "data": {"train_size": 100, "test_size": 100, "labels": list(labels), "warnings": [], "split": "given",
                 "sizes": sorted({r[2] for r in rows}), "pool_per_class": 8},
        "trials": trials, "curves": curves,
    }
