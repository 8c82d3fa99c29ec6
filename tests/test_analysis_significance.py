import math

import numpy as np
import pytest

from shouldtune.analysis.significance import mcnemar, paired_bootstrap, resolution


def _table(b: int, c: int, both_right: int = 5, both_wrong: int = 3) -> tuple[list[bool], list[bool]]:
    """Return per-example correctness of A and B with the given discordant counts."""
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    other = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return a, other


def test_mcnemar_exact_small_table():
    # b=10, c=2, n=12. Under H0 X ~ Bin(12, 1/2):
    # P(X <= 2) = (C(12,0) + C(12,1) + C(12,2)) / 2^12 = (1 + 12 + 66) / 4096 = 79/4096
    # two-sided p = 2 * 79/4096 = 158/4096 = 0.0385742...
    result = mcnemar(*_table(10, 2))
    assert (result.b, result.c) == (10, 2)
    assert result.exact
    assert result.statistic == 2.0
    assert result.p_value == pytest.approx(158 / 4096, rel=1e-12)


def test_mcnemar_chi_square_large_table():
    # b=60, c=30: statistic = (|60 - 30| - 1)^2 / 90 = 841/90 = 9.3444...
    # p = P(chi2_1 > 9.3444) = erfc(sqrt(9.3444 / 2)) = 0.002236...
    result = mcnemar(*_table(60, 30))
    assert not result.exact
    assert result.statistic == pytest.approx(841 / 90)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(841 / 90 / 2)), rel=1e-9)
    assert result.p_value == pytest.approx(0.00224, abs=1e-5)


def test_mcnemar_no_disagreement_is_no_evidence():
    result = mcnemar([True, False, True], [True, False, True])
    assert (result.b, result.c, result.p_value) == (0, 0, 1.0)


def test_mcnemar_rejects_unpaired_inputs():
    with pytest.raises(ValueError, match="length"):
        mcnemar([True, False], [True])


def test_bootstrap_identical_predictions_give_zero_difference():
    # Same predictions: every resample has metric(a) - metric(b) = 0 exactly.
    y = np.array(["x", "y", "x", "y", "z"])
    pred = np.array(["x", "x", "x", "y", "y"])
    result = paired_bootstrap(y, pred, pred, n_resamples=500, seed=1)
    assert (result.difference, result.ci_low, result.ci_high, result.p_a_better) == (0.0, 0.0, 0.0, 0.0)


def test_bootstrap_a_always_right_b_always_wrong():
    # A right on all 6, B wrong on all 6: accuracy 1 - 0 = 1 on every resample.
    y = np.array(["x", "y"] * 3)
    wrong = np.array(["y", "x"] * 3)
    result = paired_bootstrap(y, y, wrong, n_resamples=300)
    assert (result.difference, result.ci_low, result.ci_high, result.p_a_better) == (1.0, 1.0, 1.0, 1.0)


def test_bootstrap_custom_metric_matches_vectorised_accuracy():
    # Both paths draw the same indices from the same seed, so they must agree exactly.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 80)
    a = np.where(rng.random(80) < 0.8, y, (y + 1) % 3)
    b = np.where(rng.random(80) < 0.6, y, (y + 1) % 3)

    def accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
        return float(np.mean(truth == pred))

    fast = paired_bootstrap(y, a, b, n_resamples=600, seed=7)
    slow = paired_bootstrap(y, a, b, accuracy, n_resamples=600, seed=7)
    assert fast.difference == pytest.approx(slow.difference)
    assert (fast.ci_low, fast.ci_high, fast.p_a_better) == pytest.approx((slow.ci_low, slow.ci_high, slow.p_a_better))
    assert fast.ci_low < fast.difference < fast.ci_high


def test_bootstrap_is_deterministic_given_seed():
    y = np.arange(30) % 2
    a = np.where(np.arange(30) % 3 == 0, 1 - y, y)
    b = np.where(np.arange(30) % 4 == 0, 1 - y, y)
    assert paired_bootstrap(y, a, b, seed=5) == paired_bootstrap(y, a, b, seed=5)


def _many_classes(n_classes: int = 1000, seed: int = 2026):
    """Return gold (one test example per class) and two strategies' predictions, as in the issue's run.

    A (a linear probe) is right on half and spreads its mistakes over every label; B (zero-shot)
    is right on a tenth and gives its mistakes to the few labels it favours.
    """
    rng = np.random.default_rng(seed)
    labels = [f"lab{i}" for i in range(n_classes)]
    gold = list(labels)

    def predictions(share_right: float, favoured: int) -> list[str]:
        right = rng.random(n_classes) < share_right
        return [g if ok else labels[rng.integers(favoured)] for g, ok in zip(gold, right)]

    return labels, gold, predictions(0.5, n_classes), predictions(0.1, 30)


def test_many_classes_few_examples_interval_holds_its_macro_f1():
    # 1,000 classes, one test example each (the issue's `k.csv`): every bootstrap resample
    # drops a third of the classes' gold examples, so its macro-F1 is lower than the test set's
    # own; a plain percentile interval then lies wholly below the estimate.
    from shouldtune.analysis.metrics import LabelScoring, resample_weights, scored_curve, scored_trial
    from shouldtune.analysis.significance import paired_seeds_bootstrap

    labels, gold, pred_a, pred_b = _many_classes()
    scoring = LabelScoring(labels)
    comparison = paired_seeds_bootstrap([("test", gold, pred_a, pred_b)], scoring, "macro_f1")
    assert comparison.ci_low <= comparison.difference <= comparison.ci_high
    assert comparison.ci_low > 0.05  # still a clear interval: A is well ahead

    # The plain percentile interval of the same resamples misses the estimate: the test bites.
    weights = resample_weights(len(gold), 0)
    resampled = (scoring.evaluate(weights @ scoring.statistics(gold, pred_a))["macro_f1"]
                 - scoring.evaluate(weights @ scoring.statistics(gold, pred_b))["macro_f1"])
    assert np.percentile(resampled, 97.5) < comparison.difference

    for estimate in (scored_trial(scoring, gold, pred_a)["macro_f1"],
                     scored_curve(scoring, [("test", gold, pred_a), ("test", gold, pred_a)])["macro_f1"]):
        assert estimate.ci_low <= estimate.mean <= estimate.ci_high
        assert estimate.ci_high - estimate.ci_low > 0.01  # an interval, not the point pinned in place


def test_interval_is_the_percentile_interval_when_resamples_are_centred():
    from shouldtune.analysis.metrics import bootstrap_interval

    resampled = np.random.default_rng(0).normal(0.5, 0.05, 4001)
    low, high = bootstrap_interval(resampled, float(np.median(resampled)))
    assert (low, high) == pytest.approx(tuple(np.percentile(resampled, [2.5, 97.5])))


def test_linear_probe_on_many_classes_warns_nothing(encoder):
    # scikit-learn warns "could represent a regression problem" at one example per class;
    # a learning curve's first points always look like that, so it must not reach the terminal.
    import warnings

    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    texts = tuple(f"item {i} example" for i in range(12))
    labels = tuple(f"lab{i}" for i in range(12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build("linear-probe", StrategyContext(encoder=encoder)).fit(TrainingSet(texts, labels, labels))


def test_resolution_is_the_exact_bound_on_disagreements_never_seen():
    # 16 agreeing examples leave a 5% chance of agreeing on all 16 when the two disagree on 17.1% of cases.
    assert resolution(16) == pytest.approx(0.1707, abs=1e-4)
    assert (1 - resolution(16)) ** 16 == pytest.approx(0.05)
    assert resolution(1000) == pytest.approx(3 / 1000, rel=0.01)  # the rule of three
    assert resolution(16) > resolution(128) > resolution(1000) > 0 == resolution(0)


def test_a_contrast_of_two_gains_is_paired_like_a_difference():
    # A gains 12 examples of 60 between two sizes, B gains 2: A's gain minus B's is +10/60 on the same
    # examples. With weights 1 and -1 the contrast is the difference, to the last bit.
    from shouldtune.analysis.metrics import LabelScoring
    from shouldtune.analysis.significance import paired_contrast_bootstrap, paired_seeds_bootstrap

    gold = ["A", "B", "C"] * 20
    labels = ("A", "B", "C")

    def wrong_on(*ranges: range) -> list[str]:
        wrong = {i for r in ranges for i in r}
        return [labels[(labels.index(g) + 1) % 3] if i in wrong else g for i, g in enumerate(gold)]

    a_before, a_after = wrong_on(range(0, 20)), wrong_on(range(0, 8))
    b_before, b_after = wrong_on(range(30, 40)), wrong_on(range(30, 38))
    scoring = LabelScoring(labels)
    gains = paired_contrast_bootstrap(
        [("test", gold, (a_after, a_before, b_after, b_before))], (1, -1, -1, 1), scoring, "accuracy"
    )
    assert gains.difference == pytest.approx(10 / 60)
    assert 0 < gains.ci_low < gains.difference < gains.ci_high < 20 / 60
    assert gains.p_a_better > 0.975

    plain = paired_seeds_bootstrap([("test", gold, a_after, b_after)], scoring, "macro_f1", margin=0.01)
    assert paired_contrast_bootstrap(
        [("test", gold, (a_after, b_after))], (1.0, -1.0), scoring, "macro_f1", margin=0.01
    ) == plain
    with pytest.raises(ValueError, match="each of 4 predictions"):
        paired_contrast_bootstrap([("test", gold, (a_after, a_before))], (1, -1, -1, 1), scoring, "accuracy")
