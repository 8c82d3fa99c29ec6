"""The analysis functions added for the decision: hand-computed cases."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shouldtune.analysis.cost import pareto_front
from shouldtune.analysis.curves import CurveRow, best_of_track, track_curve
from shouldtune.analysis.extrapolate import extrapolate
from shouldtune.analysis.metrics import LabelScoring
from shouldtune.analysis.records import from_json, to_json
from shouldtune.analysis.significance import paired_seeds_bootstrap

LABELS = ("x", "y")


def test_paired_seeds_bootstrap_one_seed_always_ahead():
    # A right on all 6, B wrong on all 6: accuracy difference 1 on every resample.
    gold = ["x", "y"] * 3
    wrong = ["y", "x"] * 3
    result = paired_seeds_bootstrap([("t", gold, gold, wrong)], LabelScoring(LABELS), "accuracy", n_resamples=200)
    assert (result.difference, result.ci_low, result.ci_high, result.p_a_better) == (1.0, 1.0, 1.0, 1.0)


def test_paired_seeds_bootstrap_averages_seeds():
    # Seed 0: A right on 4 of 4, B on 2 -> +0.5. Seed 1: A and B identical -> 0. Mean over seeds +0.25.
    # Resampling seeds gives 0 (both picks seed 1), 0.25 or 0.5, plus example noise on seed 0:
    # the interval must reach from 0 up to at least 0.5, and A is never behind.
    gold = ["x", "y", "x", "y"]
    b = ["x", "y", "y", "x"]
    runs = [("t", gold, gold, b), ("t", gold, b, b)]
    result = paired_seeds_bootstrap(runs, LabelScoring(LABELS), "accuracy", n_resamples=2000, seed=1)
    assert result.difference == pytest.approx(0.25)
    assert result.ci_low == 0.0 and result.ci_high >= 0.5
    assert 0.5 < result.p_a_better < 1.0


def test_paired_seeds_bootstrap_macro_f1_and_validation():
    gold = ["x", "x", "y", "y"]
    a = ["x", "x", "y", "y"]  # macro-F1 1.0
    b = ["x", "x", "x", "x"]  # F1(x) = 2*2/(2+4) = 2/3, F1(y) = 0 -> macro 1/3
    result = paired_seeds_bootstrap([("t", gold, a, b)], LabelScoring(LABELS), "macro_f1", n_resamples=100)
    assert result.difference == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        paired_seeds_bootstrap([], LabelScoring(LABELS), "accuracy")
    with pytest.raises(ValueError, match="one label per test example"):
        paired_seeds_bootstrap([("t", gold, a[:3], b)], LabelScoring(LABELS), "accuracy")


def test_pareto_front_by_hand():
    # (cost, quality): a (1, 0.7), b (2, 0.9), c (3, 0.8) dominated by b, d (0.5, 0.6), e (2, 0.9) equal to b.
    costs = [1, 2, 3, 0.5, 2]
    qualities = [0.7, 0.9, 0.8, 0.6, 0.9]
    assert pareto_front(costs, qualities) == (3, 0, 1, 4)
    assert pareto_front([], []) == ()
    with pytest.raises(ValueError):
        pareto_front([1], [])


def test_extrapolate_with_point_errors_has_a_real_interval_from_three_points():
    # Three exact points: without errors the interval collapses; with errors it does not.
    sizes = [2, 4, 8]
    scores = [0.95 - 0.5 * n**-0.5 for n in sizes]
    exact = extrapolate(sizes, scores, [32], n_boot=100)
    assert exact.points[0].ci_low == pytest.approx(exact.points[0].ci_high, abs=1e-3)
    noisy = extrapolate(sizes, scores, [32], n_boot=300, errors=[0.03] * 3)
    (point,) = noisy.points
    # Same fit (0.95 - 0.5 / sqrt(32) = 0.8616), a genuine interval around it.
    assert point.estimate == pytest.approx(0.8616, abs=1e-3)
    assert point.ci_low < point.estimate - 0.01 and point.ci_high > point.estimate + 0.01
    assert noisy == extrapolate(sizes, scores, [32], n_boot=300, errors=[0.03] * 3)
    with pytest.raises(ValueError):
        extrapolate(sizes, scores, [32], errors=[0.03])


def test_best_of_track_carries_zero_shot_to_every_size():
    rows = [
        CurveRow("zero-shot", "prompt", 0, 0.80, 0.75, 0.85, 2),
        CurveRow("knn", "prompt", 4, 0.70, 0.65, 0.75, 2),
        CurveRow("knn", "prompt", 16, 0.85, 0.80, 0.90, 2),
        CurveRow("probe", "finetune", 4, 0.75, 0.70, 0.80, 2),
    ]
    at_4, at_16 = track_curve(rows, "prompt", [4, 16])
    assert (at_4.strategy, at_4.measured_at, at_4.mean) == ("zero-shot", 0, 0.80)
    assert (at_16.strategy, at_16.measured_at) == ("knn", 16)
    # probe was measured at 4 only: at 16 it counts with its score at 4.
    assert best_of_track(rows, "finetune", 16).measured_at == 4
    assert best_of_track(rows, "finetune", 2) is None


def test_a_tie_at_the_decision_size_goes_to_the_curve_that_scored_higher_before_it():
    # 44 of 64 right for both at 25 per class (macro-F1 0.6875 each), as on a cross-validated sst2 budget.
    rows = [
        CurveRow("full", "finetune", 8, 0.594, 0.47, 0.72, 1),
        CurveRow("full", "finetune", 16, 0.624, 0.49, 0.75, 1),
        CurveRow("full", "finetune", 25, 0.6875, 0.57, 0.80, 1),
        CurveRow("setfit", "finetune", 8, 0.672, 0.56, 0.78, 1),
        CurveRow("setfit", "finetune", 16, 0.734, 0.62, 0.83, 1),
        CurveRow("setfit", "finetune", 25, 0.6875, 0.58, 0.80, 1),
    ]
    assert best_of_track(rows, "finetune", 25).strategy == "setfit"  # not the name's order, which puts full first
    assert best_of_track(rows, "finetune", 16).strategy == "setfit"


@dataclass(frozen=True)
class Inner:
    value: float
    name: str | None = None


@dataclass(frozen=True)
class Outer:
    inner: Inner
    items: tuple[Inner, ...]
    pair: tuple[float, float] | None
    table: dict[str, int]


def test_records_round_trip_through_json():
    record = Outer(Inner(1.0, "a"), (Inner(2.0), Inner(3.5, "b")), (0.1, 0.2), {"k": 3})
    data = to_json(record)
    assert data == {"inner": {"value": 1.0, "name": "a"}, "items": [{"value": 2.0, "name": None}, {"value": 3.5, "name": "b"}],
                    "pair": [0.1, 0.2], "table": {"k": 3}}
    assert from_json(Outer, data) == record
    # An int where a float is declared (JSON writes 1.0 as 1 sometimes) comes back a float; unknown keys are ignored.
    assert from_json(Inner, {"value": 1, "extra": True}) == Inner(1.0)
