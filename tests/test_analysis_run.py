"""analyse() on hand-made runs: a known crossover, a known McNemar table, a known data need."""

from __future__ import annotations

import json

import pytest

from shouldtune.analysis.run import MAX_DISAGREEMENTS, Analysis, analyse
from synthetic_runs import curve_document, make_results, right_then_wrong

GOLD = ["A", "B"] * 20  # 40 test examples
TRACKS = {"zero-shot": "prompt", "knn": "prompt", "probe": "finetune", "majority": "baseline"}


def crossover_run() -> tuple[dict, dict]:
    """knn and probe: equal at 2 per class, probe right on 10 more examples at 4, equal again at 8."""
    labels = ("A", "B")
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("zero-shot", 0, 0): right_then_wrong(GOLD, 20, labels),  # accuracy 0.5
        ("knn", 2, 0): right_then_wrong(GOLD, 10, labels),  # 0.75
        ("probe", 2, 0): right_then_wrong(GOLD, 10, labels),  # 0.75, the same mistakes
        ("knn", 4, 0): right_then_wrong(GOLD, 10, labels),  # 0.75
        ("probe", 4, 0): list(GOLD),  # 1.0: right where knn is wrong
        ("knn", 8, 0): list(GOLD),
        ("probe", 8, 0): list(GOLD),
    }
    return make_results(predictions, GOLD, TRACKS), predictions


def test_best_of_each_track_and_paired_differences():
    results, predictions = crossover_run()
    analysis = analyse(results, predictions)
    assert analysis.paired and analysis.decision_size == 8
    # At every size the best prompt is knn (0.75 > zero-shot's 0.5), the best fine-tune probe.
    assert [(c.n_per_class, c.prompt.strategy, c.finetune.strategy) for c in analysis.comparisons] == [
        (2, "knn", "probe"), (4, "knn", "probe"), (8, "knn", "probe")
    ]
    two, four, eight = analysis.comparisons
    # Identical predictions: every resample differs by exactly 0.
    assert (two.difference, two.ci_low, two.ci_high) == (0.0, 0.0, 0.0)
    # probe right on all 40, knn wrong on 10: 1.0 - 0.75 = +0.25, and never negative in a resample.
    assert four.difference == pytest.approx(0.25)
    assert 0 < four.ci_low < 0.25 < four.ci_high <= 0.5
    assert four.verdict == "finetune" and two.verdict == "tie" and eight.verdict == "tie"
    assert analysis.baseline == pytest.approx(0.5)


def test_mcnemar_on_a_known_table():
    # At 4 per class: probe alone right on 10 examples, knn alone right on none.
    # Exact two-sided binomial test: p = 2 * (1/2)^10 = 1/512.
    results, predictions = crossover_run()
    (test,) = analyse(results, predictions).comparisons[1].mcnemar
    assert (test.finetune_only_right, test.prompt_only_right, test.exact) == (10, 0, True)
    assert test.p_value == pytest.approx(1 / 512)


def test_crossover_is_the_first_size_where_fine_tuning_is_ahead_with_confidence():
    results, predictions = crossover_run()
    crossover = analyse(results, predictions).crossover
    assert crossover.reached and crossover.n_per_class == 4


def test_confusion_matrix_counts_and_disagreements():
    results, predictions = crossover_run()
    analysis = analyse(results, predictions)
    knn, probe = analysis.confusions
    # knn at 8 and probe at 8 are both perfect: 20 A and 20 B on the diagonal.
    assert knn.strategy == "knn" and knn.counts == ((20, 0), (0, 20))
    assert probe.counts == ((20, 0), (0, 20))
    assert analysis.disagreements is not None and analysis.disagreements.total == 0


def test_disagreements_are_capped_and_show_both_sides():
    # 100 examples; the prompt is wrong on the first 60, the fine-tune on the last 30.
    gold = ["A", "B"] * 50
    labels = ("A", "B")
    prompt = right_then_wrong(gold, 60, labels)
    finetune = right_then_wrong(gold, 30, labels, offset=70)
    results = make_results({("knn", 4, 0): prompt, ("probe", 4, 0): finetune}, gold, TRACKS,
                           texts=[f"<b>text {i}</b>" for i in range(100)])
    found = analyse(results, {("knn", 4, 0): prompt, ("probe", 4, 0): finetune}).disagreements
    assert (found.total, found.finetune_right, found.prompt_right, found.neither_right) == (90, 60, 30, 0)
    assert len(found.examples) == MAX_DISAGREEMENTS
    # Taken in turn from each side: 25 fine-tune wins and 25 prompt wins, not the first 50.
    assert sum(e.finetune == e.gold for e in found.examples) == 25
    assert found.examples[0].text == "<b>text 0</b>"  # kept as data; escaping is the report's job


def test_without_predictions_the_comparison_is_unpaired_from_the_intervals():
    # prompt 0.70 (0.66-0.74), fine-tune 0.80 (0.77-0.83) at 8: difference 0.10;
    # error = hypot(0.08, 0.06) / (2 * 1.96) = 0.1 / 3.92; CI = 0.10 +- 0.10 / 2 = 0.05 to 0.15.
    document = curve_document([("knn", "prompt", 8, 0.70, 0.66, 0.74), ("probe", "finetune", 8, 0.80, 0.77, 0.83)])
    analysis = analyse(document)
    (comparison,) = analysis.comparisons
    assert not analysis.paired and not comparison.paired
    assert comparison.difference == pytest.approx(0.10)
    assert (comparison.ci_low, comparison.ci_high) == pytest.approx((0.05, 0.15), abs=1e-3)
    assert analysis.confusions == () and analysis.disagreements is None and analysis.notes


def test_data_need_from_the_extrapolated_curves():
    # Prompt: zero-shot, flat at 0.70 (0.62-0.78). Fine-tune: 0.95 - 0.5 n^-0.5 at 2, 4, 8
    # (0.5964, 0.70, 0.7732), each +-0.08. At 8: unpaired error hypot(0.16, 0.16) / 3.92 = 0.0577,
    # half-width 1.96 * 0.0577 = 0.113, so the CI (-0.04 to 0.19) spans 0: undecided.
    # The fitted gap 0.25 - 0.5 n^-0.5 first exceeds 0.113 when n^-0.5 < 0.274, n > 13.3: n = 14,
    # 6 more per class, 12 more in all for 2 labels.
    curve = [(n, 0.95 - 0.5 * n**-0.5) for n in (2, 4, 8)]
    document = curve_document(
        [("zero-shot", "prompt", 0, 0.70, 0.62, 0.78)] + [("probe", "finetune", n, m, m - 0.08, m + 0.08) for n, m in curve]
    )
    analysis = analyse(document)
    assert analysis.final.verdict == "tie"
    prompt, finetune = analysis.extrapolation("prompt"), analysis.extrapolation("finetune")
    assert prompt.model == "flat" and [p.estimate for p in prompt.points] == pytest.approx([0.70, 0.70])
    assert finetune.model == "power-law" and finetune.params == pytest.approx((0.95, 0.5, 0.5), abs=1e-3)
    assert [p.n_per_class for p in finetune.points] == [16, 32] and finetune.label == "estimate"
    need = analysis.data_need
    assert need is not None and need.leader == "finetune"
    assert (need.n_per_class, need.more_per_class, need.more_in_all) == (14, 6, 12)
    assert need.chance >= 0.75


def test_no_data_need_when_both_tracks_are_flat():
    document = curve_document([("zero-shot", "prompt", 0, 0.70, 0.62, 0.78),
                               *[("probe", "finetune", n, 0.72, 0.64, 0.80) for n in (2, 4, 8)]])
    analysis = analyse(document)
    assert analysis.final.verdict == "tie" and analysis.data_need is None
    assert analysis.extrapolation("finetune").gain_per_doubling == pytest.approx(0.0)


def test_consistency_across_seeds_and_prompt_variants():
    labels = ("A", "B")
    predictions = {
        ("knn", 4, 0): right_then_wrong(GOLD, 4, labels),  # 0.9
        ("knn", 4, 1): right_then_wrong(GOLD, 8, labels),  # 0.8
        ("probe", 4, 0): list(GOLD),
        ("probe", 4, 1): list(GOLD),
    }
    details = {"knn": {"validation_macro_f1": {"plain": 0.60, "about": 0.75, "keywords": 0.90}}}
    results = make_results(predictions, GOLD, TRACKS, details=details)
    analysis = analyse(results, predictions)
    knn = next(c for c in analysis.consistency if c.strategy == "knn")
    assert (knn.low, knn.high, knn.seeds) == pytest.approx((0.8, 0.9, 2))
    assert knn.agreement == pytest.approx(36 / 40)  # the seeds differ on 4 of 40 examples
    (variants,) = analysis.prompt_variants
    assert (variants.candidates, variants.low, variants.high, variants.mean_range) == pytest.approx((3, 0.60, 0.90, 0.30))


def test_timings_fall_back_to_the_batch_average_and_round_trip_through_json():
    results, predictions = crossover_run()
    for trial in results["trials"]:
        if trial["strategy"] == "probe":
            trial["latency_ms"] = {"p50": 3.0, "p95": 9.0, "requests": 32}
    analysis = analyse(results, predictions)
    knn, probe = analysis.timing("knn"), analysis.timing("probe")
    # knn: 0.4 s for 40 examples = 10 ms per request, used for both percentiles.
    assert (knn.latency_p50_ms, knn.latency_p95_ms, knn.latency_measured) == pytest.approx((10.0, 10.0, False))
    assert (probe.latency_p50_ms, probe.latency_p95_ms, probe.latency_measured) == (3.0, 9.0, True)
    assert Analysis.from_json(json.loads(json.dumps(analysis.to_json()))) == analysis


def test_an_accelerating_curve_is_not_extrapolated():
    # TREC's full fine-tune: 0.333, 0.435, 0.549, 0.666, 0.867 at 4..64 per class. A saturating
    # power law fitted to it predicts about 0.80 at 64, below the measured interval 0.82–0.90,
    # and would draw the track falling after 64: no extrapolation is made instead.
    from shouldtune.analysis.curves import CurveRow, track_curve
    from shouldtune.analysis.run import _extrapolate_track

    means = {4: 0.333, 8: 0.435, 16: 0.549, 32: 0.666, 64: 0.867}
    rows = [CurveRow("full", "finetune", n, m, m - 0.04, m + 0.04, 3) for n, m in means.items()]
    extrapolation = _extrapolate_track(rows, track_curve(rows, "finetune", means), "finetune", seed=0)
    assert extrapolation.model == "poor-fit" and extrapolation.points == () and extrapolation.params is None

    saturating = {n: 0.9 - 0.5 * n**-0.5 for n in means}
    rows = [CurveRow("full", "finetune", n, m, m - 0.04, m + 0.04, 3) for n, m in saturating.items()]
    extrapolation = _extrapolate_track(rows, track_curve(rows, "finetune", saturating), "finetune", seed=0)
    assert extrapolation.model == "power-law" and extrapolation.points[0].n_per_class == 128


def test_data_need_starts_from_the_measured_gap_not_from_where_the_fit_puts_it():
    # The fitted curves put fine-tuning 0.113 ahead at 25 per class, where the measured difference
    # is 0.064 (as when the contestant is not the strategy whose curve was fitted, or the fit misses
    # today's point). Only the change the curves predict counts: from 0.064 they add too little to
    # pass the resolvable gap (0.107) within 4x the data, so no size is named; the fit alone would
    # have named 26 per class, one more than measured.
    from dataclasses import replace

    from shouldtune.analysis.curves import TrackPoint
    from shouldtune.analysis.extrapolate import ExtrapolatedPoint
    from shouldtune.analysis.run import Comparison, TrackExtrapolation, _data_need

    def extrapolation(track: str, params: tuple[float, float, float]) -> TrackExtrapolation:
        fitted = TrackExtrapolation(track, track, "power-law", params, (4, 8, 16, 25), (), 0.01)
        return replace(fitted, points=tuple(ExtrapolatedPoint(n, fitted.at(n), fitted.at(n) - 0.02, fitted.at(n) + 0.02) for n in (50, 100)))

    prompt = extrapolation("prompt", (1.0, 0.385, 0.246))  # 0.825 at 25, still rising
    finetune = extrapolation("finetune", (0.939, 2.95, 2.47))  # 0.938 at 25, flat
    final = Comparison(
        25, TrackPoint(25, "knn", 25, 0.842, 0.75, 0.92), TrackPoint(25, "probe", 25, 0.906, 0.84, 0.96),
        0.064, -0.043, 0.171, 0.85, True, 1, (), 0.01, 0.8, 0.05,
    )
    assert finetune.at(25) - prompt.at(25) == pytest.approx(0.113, abs=0.002)
    assert _data_need(final, (prompt, finetune), 2, 32, 64) is None
    # A fine-tune curve still rising (1 - 0.5 n^-0.5: 0.900 at 25) against a flat prompt (0.840): from the
    # measured 0.064 the gap grows by (0.16 - 0.5 n^-0.5) - 0.06 and first passes 0.107 at 77 per class.
    prompt, finetune = extrapolation("prompt", (0.84, 0.0, 1.0)), extrapolation("finetune", (1.0, 0.5, 0.5))
    need = _data_need(final, (prompt, finetune), 2, 32, 64)
    assert need is not None and need.leader == "finetune"
    assert (need.n_per_class, need.more_per_class, need.more_in_all) == (77, 52, 104)
    assert need.estimated_gap == pytest.approx(0.164 - 0.5 / 77**0.5, abs=1e-6)


def test_a_cross_validated_difference_is_widened_for_the_folds_its_trials_were_fitted_on():
    # Cross-validated: the k models trained on overlapping data, which resampling the examples does not see
    # (cv_inflation). A size fitted on 2 folds is widened by sqrt(3), one fitted on 5 by sqrt(2.25).
    results, predictions = crossover_run()
    held_out = analyse(results, predictions).comparisons[1]  # 4 per class: probe right on 10 more of 40
    results["data"].update({"validation": "cv", "folds": 5})
    for trial in results["trials"]:
        trial["folds"] = 2 if trial["n_per_class"] == 4 else 5
    widened = analyse(results, predictions).comparisons[1]

    def half_width(c):
        return c.ci_high - c.ci_low

    assert widened.difference == held_out.difference
    assert half_width(widened) == pytest.approx(half_width(held_out) * 3 ** 0.5, rel=0.02)
    for trial in results["trials"]:
        trial["folds"] = 5
    assert half_width(analyse(results, predictions).comparisons[1]) == pytest.approx(half_width(held_out) * 1.5, rel=0.02)
