"""The first-version recommendation on hand-made curves."""

from __future__ import annotations

from shouldtune.experiment import CurvePoint
from shouldtune.recommend import recommend


def point(strategy, track, n, mean, low, high):
    return CurvePoint(strategy, track, n, "macro_f1", mean, low, high, 3)


def trial(strategy, n, fit, predict):
    return {"strategy": strategy, "n_per_class": n, "fit_seconds": fit, "predict_seconds": predict, "examples_per_second": 100 / predict}


TRIALS = [trial("zero-shot", 0, 0.1, 1.0), trial("setfit", 8, 40.0, 2.0), trial("setfit", 32, 60.0, 2.0), trial("knn", 32, 1.0, 1.0)]


def test_finetune_when_its_interval_is_clear_above():
    curves = [point("zero-shot", "prompt", 0, 0.60, 0.55, 0.65), point("knn", "prompt", 32, 0.70, 0.66, 0.74),
              point("setfit", "finetune", 8, 0.72, 0.68, 0.76), point("setfit", "finetune", 32, 0.85, 0.82, 0.88)]
    decision = recommend(curves, TRIALS, "macro_f1")
    assert decision.choice == "finetune" and decision.strategy == "setfit"
    assert "0.850" in decision.reasons[0] and "0.700" in decision.reasons[0]
    assert "do not overlap" in decision.reasons[1]


def test_either_takes_the_cheaper_when_intervals_overlap():
    curves = [point("knn", "prompt", 32, 0.80, 0.76, 0.84), point("setfit", "finetune", 32, 0.82, 0.78, 0.86)]
    decision = recommend(curves, TRIALS, "macro_f1")
    assert decision.choice == "either" and decision.strategy == "knn"
    assert "cheaper" in decision.summary


def test_zero_example_prompt_counts_at_every_size():
    curves = [point("zero-shot", "prompt", 0, 0.95, 0.93, 0.97), point("setfit", "finetune", 32, 0.70, 0.65, 0.75)]
    decision = recommend(curves, TRIALS, "macro_f1")
    assert decision.choice == "prompt" and decision.strategy == "zero-shot"
