"""The recommendation on hand-made runs: each choice, a break-even computed by hand, the criteria."""

from __future__ import annotations

import json

import pytest

from shouldtune.analysis.cost import Prices
from shouldtune.analysis.run import analyse
from shouldtune.recommend import Recommendation, decide, money, recommend, toss_up, with_decision
from shouldtune.report.view import headline
from synthetic_runs import curve_document, make_results, right_then_wrong

GOLD = ["A", "B"] * 20  # 40 test examples
LABELS = ("A", "B")
TRACKS = {"zero-shot": "prompt", "knn": "prompt", "probe": "finetune", "majority": "baseline"}
# (fit seconds, predict seconds for the 40 test examples)
TIMINGS = {"knn": (0.0, 0.8), "zero-shot": (0.0, 0.8), "probe": (36.0, 0.4), "majority": (0.0, 0.0)}


def run(
    prompt_wrong: int, finetune_wrong: int, prompt: str = "knn", offset: int = 0, min_gain: float = 0.01
) -> tuple[dict, dict]:
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        (prompt, 0 if prompt == "zero-shot" else 8, 0): right_then_wrong(GOLD, prompt_wrong, LABELS),
        ("probe", 8, 0): right_then_wrong(GOLD, finetune_wrong, LABELS, offset=offset),
    }
    results = make_results(predictions, GOLD, TRACKS, timings=TIMINGS)
    results["task"]["min_gain"] = min_gain
    return results, predictions


def test_finetune_when_it_is_ahead_with_confidence():
    results, predictions = run(prompt_wrong=12, finetune_wrong=0)
    decision = recommend(analyse(results, predictions))
    assert decision.choice == "finetune" and decision.strategy == "probe"
    assert decision.criteria[0].name == "quality" and decision.criteria[0].decisive
    assert "+0.300" in decision.summary  # 1.0 - 0.7


def test_zero_shot_prompt_counts_at_every_size_and_can_win():
    results, predictions = run(prompt_wrong=0, finetune_wrong=12, prompt="zero-shot")
    decision = recommend(analyse(results, predictions))
    assert decision.choice == "prompt" and decision.strategy == "zero-shot"
    assert "Prompt-engineer with zero-shot" in decision.summary


def test_either_takes_the_cheaper_and_break_even_by_hand():
    # knn and probe both wrong on 2 different examples: equal accuracy, undecided.
    # Prices: $3.60 an hour = $0.001 a second.
    #   probe: fit 36 s -> $0.036 once; 0.4 s / 40 = 0.01 s per request -> $0.01 per 1,000.
    #   knn:   fit 0 s  -> $0 once;      0.8 s / 40 = 0.02 s per request -> $0.02 per 1,000.
    # Break-even: $0.036 extra once / $0.00001 saved per request = 3,600 requests.
    # At 100 requests a month for 12 months: probe $0.036 + 12 * $0.001 = $0.048, knn 12 * $0.002 = $0.024: knn cheaper.
    # A difference that matters is 0.1 here: the whole interval lies within ±0.2, so shown close.
    results, predictions = run(prompt_wrong=2, finetune_wrong=2, offset=10, min_gain=0.1)
    analysis = analyse(results, predictions)
    assert analysis.final.verdict == "tie"
    decision = recommend(analysis, requests_per_month=100, prices=Prices(compute_per_hour=3.6))
    assert decision.choice == "either" and decision.strategy == "knn" and decision.confidence == "close"
    cost = next(c for c in decision.criteria if c.name == "cost")
    assert cost.decisive and cost.favours == "prompt"
    assert cost.numbers["break_even_requests"] == pytest.approx(3600)
    assert "3,600 requests" in cost.sentence
    by_name = {c.strategy: c for c in decision.costs}
    assert by_name["probe"].one_time == pytest.approx(0.036) and by_name["probe"].per_1000_requests == pytest.approx(0.01)
    assert by_name["probe"].first_year == pytest.approx(0.048) and by_name["knn"].first_year == pytest.approx(0.024)
    # At 1,000,000 a month the per-request saving dominates: probe is the cheaper.
    busy = recommend(analysis, requests_per_month=1_000_000, prices=Prices(compute_per_hour=3.6))
    assert busy.choice == "either" and busy.strategy == "probe"
    assert "take probe, the cheaper ($" in busy.summary
    assert headline(busy.to_json()) == "Either — take the cheaper"
    # At 300 a month both cost $0.072 in the first year: no cheaper to take. The summary says so and
    # names the prompt (the two score alike too); the headline does not claim a cheaper one.
    level = recommend(analysis, requests_per_month=300, prices=Prices(compute_per_hour=3.6))
    assert (level.choice, level.strategy) == ("either", "knn")
    assert level.summary.endswith(
        "their first-year costs ($0.07 and $0.07 at 300 requests a month) differ by less than the timing noise; "
        "take knn, the prompt, which trains nothing."
    )
    assert headline(level.to_json()) == "Either — the costs alike too"
    assert not any(c.decisive for c in level.criteria)  # the cost decides nothing here


def test_thin_evidence_leans_with_its_odds_and_says_what_would_settle_it():
    # The curves of test_analysis_run's data-need case: undecided at 8 (+0.073, interval spans 0),
    # the fitted fine-tune curve pulls ahead at about 14 per class (6 more, 12 in all).
    curve = [(n, 0.95 - 0.5 * n**-0.5) for n in (2, 4, 8)]
    document = curve_document(
        [("zero-shot", "prompt", 0, 0.70, 0.62, 0.78)] + [("probe", "finetune", n, m, m - 0.08, m + 0.08) for n, m in curve]
    )
    decision = recommend(analyse(document))
    assert decision.choice == "finetune" and decision.strategy == "probe" and decision.confidence == "leaning"
    assert 0.5 < decision.probability < 0.975 and decision.expected_difference == pytest.approx(0.073, abs=0.001)
    assert decision.summary.startswith("Lean towards fine-tuning with probe")
    assert decision.more_examples_per_class == 6
    assert "about 14 examples per class" in decision.summary and "estimate" in decision.summary
    data = next(c for c in decision.criteria if c.name == "data")
    assert data.numbers["more_in_all"] == 12


def test_a_lean_less_likely_than_not_says_the_call_is_too_close_with_both_odds():
    # The two tracks are wrong on 10 of the 40 each, 5 of them the same: no difference, a wide interval.
    results, predictions = run(prompt_wrong=10, finetune_wrong=10, offset=5)
    decision = recommend(analyse(results, predictions))
    assert decision.confidence == "leaning" and decision.choice == "finetune" and decision.probability == 0.456
    assert decision.summary.startswith(
        "Too close to call: fine-tuning with probe is 46% likely to beat knn by more than 0.010 accuracy, "
        "and knn 42% likely to beat it by as much"
    )
    assert "probe is the slightly better bet" in decision.summary and "To settle it:" in decision.summary
    assert "Lean towards" not in decision.summary
    assert headline(decision.to_json()) == "Too close to call (fine-tuning 46% likely ahead)"
    # Odds that round alike are no better bet either way.
    even = recommend(analyse(*run(prompt_wrong=10, finetune_wrong=10, offset=15)))
    assert even.summary.startswith("Too close to call: prompt engineering with knn is 46% likely")
    assert "probe 46% likely to beat it by as much" in even.summary and "; an even bet, knn named." in even.summary
    # A lean that is more likely than not keeps its wording.
    likely = recommend(analyse(*run(prompt_wrong=10, finetune_wrong=7, offset=20)))
    assert likely.confidence == "leaning" and likely.probability == 0.73
    assert likely.summary.startswith("Lean towards fine-tuning with probe: 73% likely")
    assert headline(likely.to_json()) == "Lean towards fine-tuning (73% likely ahead)"


def test_an_even_chance_is_too_close_to_call_and_more_than_even_is_a_lean():
    assert toss_up(0.5) and toss_up(0.0)
    assert not toss_up(0.501) and not toss_up(None)


def test_a_crossover_first_shown_at_the_largest_size_says_so():
    # Equal at 4 per class (the same 12 mistakes); at 8 probe is right on all 40, knn still wrong on 12.
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 4, 0): right_then_wrong(GOLD, 12, LABELS),
        ("probe", 4, 0): right_then_wrong(GOLD, 12, LABELS),
        ("knn", 8, 0): right_then_wrong(GOLD, 12, LABELS),
        ("probe", 8, 0): list(GOLD),
    }
    results = make_results(predictions, GOLD, TRACKS, timings=TIMINGS)
    data = next(c for c in recommend(analyse(results, predictions)).criteria if c.name == "data")
    assert "with confidence at 8 examples per class, the most measured, and not before" in data.sentence
    assert "from 8" not in data.sentence


def growth_run(gold: list[str], probe_wrong: tuple[int, int], knn_wrong: tuple[int, int]) -> str:
    """Return the knowledge-gap sentence of a run with knn and probe at 4 and 8 per class."""
    predictions = {("majority", 0, 0): ["A"] * len(gold)}
    for name, (at_4, at_8) in (("knn", knn_wrong), ("probe", probe_wrong)):
        predictions[(name, 4, 0)] = right_then_wrong(gold, at_4, LABELS)
        predictions[(name, 8, 0)] = right_then_wrong(gold, at_8, LABELS)
    results = make_results(predictions, gold, TRACKS, timings=TIMINGS)
    return next(c for c in recommend(analyse(results, predictions)).criteria if c.name == "knowledge-gap").sentence


def test_a_curve_measured_on_few_examples_is_not_called_a_plateau():
    # 40 examples: probe one example worse at 8 than at 4, knn the same at both. Read from the
    # point estimates both "plateaued" (gains below 0.01), so "more labelled data buys little".
    sentence = growth_run(GOLD, probe_wrong=(9, 10), knn_wrong=(12, 12))
    assert "plateaued" not in sentence and "buys little" not in sentence
    assert "too few to tell whether the prompt track or fine-tuning still gains" in sentence
    assert "fine-tune track -0.025 (95% CI" in sentence  # the gain's interval is shown


def test_a_plateau_and_a_rise_are_said_where_the_examples_show_them():
    gold = ["A", "B"] * 1000  # 2,000 examples: a gain of 0.02 a doubling is within reach
    assert "both tracks have plateaued" in growth_run(gold, probe_wrong=(200, 200), knn_wrong=(300, 300))
    rising = growth_run(gold, probe_wrong=(400, 200), knn_wrong=(300, 300))
    assert "the prompt track has plateaued while fine-tuning keeps rising" in rising
    assert "fine-tune track +0.100 (95% CI" in rising


def simpler_strategy_run(
    full_wrong: int, probe_wrong: int, *, min_gain: float = 0.01, probe_offset: int = 0, work: dict | None = None,
) -> tuple[dict, dict]:
    """A fine-tune track of two: `full` (trains the model) and `probe` (trains nothing through it); knn prompts."""
    tracks = {**TRACKS, "full": "finetune"}
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 8, 0): right_then_wrong(GOLD, 12, LABELS),
        ("full", 8, 0): right_then_wrong(GOLD, full_wrong, LABELS),
        ("probe", 8, 0): right_then_wrong(GOLD, probe_wrong, LABELS, offset=probe_offset),
    }
    work = {"majority": 0, "knn": 0, "probe": 0, "full": 1920} if work is None else work
    results = make_results(predictions, GOLD, tracks, timings={**TIMINGS, "full": (90.0, 0.4)}, work=work)
    results["task"]["min_gain"] = min_gain
    return results, predictions


def test_a_simpler_strategy_shown_as_good_stands_for_the_track():
    # probe errs where full errs and on one more of 40: full's lead's 95% interval stays under a min-gain of 0.1.
    results, predictions = simpler_strategy_run(full_wrong=2, probe_wrong=3, min_gain=0.1)
    analysis = analyse(results, predictions)
    (pick,) = analysis.picks
    assert (pick.track, pick.best_mean, pick.chosen) == ("finetune", "full", "probe")
    assert 0 < pick.difference < pick.ci_high <= 0.1
    assert analysis.final.finetune.strategy == "probe"  # the decision compares what it would hand over
    assert analysis.finetune_curve[-1].strategy == "full"  # the curves still show each size's best mean
    decision = recommend(analysis)
    assert decision.choice == "finetune" and decision.strategy == "probe"
    quality = next(c for c in decision.criteria if c.name == "quality")
    assert "probe stands for the fine-tune track although full has the higher mean" in quality.sentence
    assert "shown to be smaller than 0.100" in quality.sentence and "1,920" in quality.sentence
    assert with_decision(results, predictions)["analysis"]["picks"][0]["chosen"] == "probe"


def test_a_simpler_strategy_is_not_shown_as_good_by_agreeing_on_too_few_examples():
    # full and probe both answer all 40 right: the interval of full's lead is [0, 0], yet 40 agreeing answers
    # can show a difference absent only down to 0.072. Under a min-gain of 0.05 full stands; under 0.1 probe.
    results, predictions = simpler_strategy_run(full_wrong=0, probe_wrong=0, min_gain=0.05)
    analysis = analyse(results, predictions)
    assert analysis.picks == ()
    results, predictions = simpler_strategy_run(full_wrong=0, probe_wrong=0, min_gain=0.1)
    (pick,) = analyse(results, predictions).picks
    assert (pick.chosen, pick.difference, pick.ci_high) == ("probe", 0.0, 0.0)


def test_a_lead_the_measurement_cannot_resolve_keeps_the_best_mean():
    # full 37 of 40 right, probe 35 (errors elsewhere): full's lead (+0.05) is not shown, nor shown to be small.
    # Handing over probe would cost the lead whenever it is real: the best mean stands for the track.
    results, predictions = simpler_strategy_run(full_wrong=3, probe_wrong=5, probe_offset=20)
    analysis = analyse(results, predictions)
    assert analysis.picks == () and analysis.final.finetune.strategy == "full"
    assert recommend(analysis).strategy == "full"


def test_no_pick_without_recorded_work_or_between_two_that_train():
    results, predictions = simpler_strategy_run(full_wrong=2, probe_wrong=3, min_gain=0.1, work={})  # from before `work`
    assert analyse(results, predictions).picks == ()
    results, predictions = simpler_strategy_run(
        full_wrong=2, probe_wrong=3, min_gain=0.1, work={"full": 1920, "probe": 64, "knn": 0}
    )
    assert analyse(results, predictions).picks == ()  # both train: work is how long, not how much they can overfit


def two_trained_strategies_run(sizes: tuple[int, ...], min_gain: float, climbing: bool = False) -> tuple[dict, dict]:
    """full ends one example of 40 ahead of setfit (0.825 against 0.800) after a curve far below setfit's.

    Its last point's 7 errors fall on other examples than its earlier ones (one draw could make
    that jump), unless `climbing`: then they are 7 of its 20 errors at 8 per class, and the 13
    examples it gained are measured, paired, against setfit's 2 (full climbs faster, shown).
    """
    wrong = {"setfit": {4: 14, 8: 10, 16: 8}, "full": {4: 22, 8: 20, 16: 7}, "knn": {4: 16, 8: 15, 16: 14}}
    offsets = {} if climbing else {("full", 16): 20, ("setfit", 16): 10}
    predictions = {("majority", 0, 0): ["A"] * 40}
    for strategy, by_size in wrong.items():
        for n in sizes:
            predictions[(strategy, n, 0)] = right_then_wrong(GOLD, by_size[n], LABELS, offset=offsets.get((strategy, n), 0))
    tracks = {**TRACKS, "full": "finetune", "setfit": "finetune"}
    results = make_results(predictions, GOLD, tracks, work={"majority": 0, "knn": 0, "full": 1920, "setfit": 3200})
    results["task"]["min_gain"] = min_gain
    return results, predictions


def test_a_lead_too_small_to_matter_goes_to_the_higher_fitted_curve():
    # full's last point is one example ahead; its curve (0.45, 0.50, 0.825) fits to 0.742 at 16 per
    # class, setfit's (0.65, 0.75, 0.80) to 0.800. A lead below min-gain is no lead: the fit decides.
    results, predictions = two_trained_strategies_run((4, 8, 16), min_gain=0.05)
    analysis = analyse(results, predictions)
    (pick,) = analysis.picks
    assert (pick.reason, pick.best_mean, pick.chosen) == ("curve", "full", "setfit")
    assert pick.difference == pytest.approx(0.025) and pick.chosen_fitted > pick.best_mean_fitted
    assert analysis.final.finetune.strategy == "setfit"
    # What more data would bring is read from the curve of the strategy handed over.
    assert {e.track: e.strategy for e in analysis.extrapolations}["finetune"] == "setfit"
    decision = recommend(analysis)
    assert decision.strategy == "setfit"
    quality = next(c for c in decision.criteria if c.name == "quality").sentence
    assert "full's lead (+0.025) is smaller than 0.050, and setfit's learning curve, fitted to every size, is higher by that much or more" in quality
    assert with_decision(results, predictions)["analysis"]["picks"][0]["reason"] == "curve"


def test_a_best_mean_measured_climbing_faster_is_not_passed_over_by_the_fitted_curve():
    # The same curves, but full's 13 gains from 8 to 16 per class are on examples it got wrong before, paired
    # against setfit's 2: the power law still fits full below setfit, and the measurements contradict it.
    results, predictions = two_trained_strategies_run((4, 8, 16), min_gain=0.05, climbing=True)
    analysis = analyse(results, predictions)
    assert analysis.picks == () and analysis.final.finetune.strategy == "full"
    (rival,) = [r for r in analysis.rivals if r.track == "finetune"]
    climb = rival.climb
    assert (rival.rival, climb.contestant_sizes, climb.rival_sizes) == ("setfit", (8, 16), (8, 16))
    assert (climb.contestant_gain, climb.rival_gain) == (pytest.approx(13 / 40), pytest.approx(2 / 40))
    assert climb.difference == pytest.approx(-11 / 40) and climb.ci_low <= climb.difference <= climb.ci_high < 0
    summary = recommend(analysis).summary
    assert (
        "full climbs faster, +0.325 a doubling from 8 to 16 examples per class against setfit's +0.050, "
        f"95% CI of the gap {-climb.ci_high:+.3f} to {-climb.ci_low:+.3f}"
    ) in summary
    assert with_decision(results, predictions)["analysis"]["rivals"][0]["climb"]["rival_gain"] == pytest.approx(0.05)


def test_a_climb_the_examples_cannot_tell_apart_is_not_said():
    # full's jump from 8 to 16 per class lands on other examples than its errors before: the interval of the
    # gap in gains reaches zero, so the summary names setfit beside full with no word on which climbs faster.
    results, predictions = two_trained_strategies_run((4, 8, 16), min_gain=0.05)
    analysis = analyse(results, predictions)
    (rival,) = [r for r in analysis.rivals if r.track == "finetune"]
    assert rival.climb is not None and rival.climb.ci_low <= 0 <= rival.climb.ci_high
    assert "climbs faster" not in recommend(analysis).summary


def test_a_lead_that_matters_or_a_curve_too_short_to_fit_keeps_the_best_mean():
    results, predictions = two_trained_strategies_run((4, 8, 16), min_gain=0.01)  # +0.025 matters
    assert analyse(results, predictions).final.finetune.strategy == "full"
    results, predictions = two_trained_strategies_run((8, 16), min_gain=0.05)  # two sizes: no curve to fit
    analysis = analyse(results, predictions)
    assert analysis.picks == () and analysis.final.finetune.strategy == "full"


def test_curves_that_end_level_keep_the_best_mean():
    # full's measured lead (+0.025) and setfit's fitted one (0.800 against 0.742, +0.058) are both
    # below a min-gain of 0.08: neither matters, and a fitted lead is held to the same margin.
    results, predictions = two_trained_strategies_run((4, 8, 16), min_gain=0.08)
    analysis = analyse(results, predictions)
    assert analysis.picks == () and analysis.final.finetune.strategy == "full"


def test_a_strategy_not_told_apart_from_the_one_handed_over_is_named_with_how_to_export_it():
    # full 35 of 40 right, setfit 33 (errors elsewhere), knn 28: full's lead over setfit matters (min-gain 0.01)
    # but is not shown, so setfit may be the better one to hand over, and the user is told how to try it.
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 8, 0): right_then_wrong(GOLD, 12, LABELS),
        ("full", 8, 0): right_then_wrong(GOLD, 5, LABELS),
        ("setfit", 8, 0): right_then_wrong(GOLD, 7, LABELS, offset=20),
    }
    tracks = {**TRACKS, "full": "finetune", "setfit": "finetune"}
    results = make_results(predictions, GOLD, tracks, work={"majority": 0, "knn": 0, "full": 1920, "setfit": 3200})
    analysis = analyse(results, predictions)
    (rival,) = analysis.rivals
    assert (rival.track, rival.contestant, rival.rival, rival.n_per_class) == ("finetune", "full", "setfit", 8)
    assert rival.ci_low < 0 < rival.difference < rival.ci_high and 0 < rival.p_rival_ahead < 0.5
    decision = recommend(analysis)
    assert decision.choice == "finetune" and decision.strategy == "full"
    assert f"Within its track, full is not told apart from setfit (full {rival.difference:+.3f}, 95% CI" in decision.summary
    assert "`shouldtune export RUN --strategy setfit --out DIR`" in decision.summary
    quality = next(c for c in decision.criteria if c.name == "quality").sentence
    assert "Within the fine-tune track, full is not told apart from setfit" in quality
    decided = with_decision({**results, "run_id": "a09cd6dd92d0"}, predictions)
    assert decided["analysis"]["rivals"][0]["rival"] == "setfit"
    assert "`shouldtune export a09cd6dd92d0 --strategy setfit --out DIR`" in decided["recommendation"]["summary"]


def test_a_rival_that_scored_the_same_on_every_example_is_said_so_not_shown_as_a_measured_zero():
    # full and setfit give the same answers on all 40 examples: the interval of full's lead is [0, 0], and 40
    # agreeing answers bound how often they differ only to 7%, more than min-gain: too few to show them equal.
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 8, 0): right_then_wrong(GOLD, 12, LABELS),
        ("full", 8, 0): right_then_wrong(GOLD, 5, LABELS),
        ("setfit", 8, 0): right_then_wrong(GOLD, 5, LABELS),
    }
    tracks = {**TRACKS, "full": "finetune", "setfit": "finetune"}
    results = make_results(predictions, GOLD, tracks, work={"majority": 0, "knn": 0, "full": 1920, "setfit": 3200})
    analysis = analyse(results, predictions)
    (rival,) = analysis.rivals
    assert rival.ci_low == rival.ci_high == 0
    summary = recommend(analysis).summary
    assert "not told apart from setfit (the same score as full on all 40 examples: too few to show them equal)" in summary
    assert "+0.000, 95% CI +0.000 to +0.000" not in summary


def test_a_strategy_shown_behind_the_one_handed_over_is_no_rival():
    # full right on all 40, probe wrong on 12: full's lead is shown, so nothing is named beside it.
    results, predictions = simpler_strategy_run(full_wrong=0, probe_wrong=12, probe_offset=20)
    analysis = analyse(results, predictions)
    assert analysis.final.finetune.strategy == "full"
    assert [r for r in analysis.rivals if r.track == "finetune"] == []
    assert "not told apart" not in recommend(analysis).summary


def test_the_strategy_a_pick_passed_over_is_a_rival_explained_once():
    # setfit stands for the track by its curve although full has the higher mean: full is its rival, and the
    # quality reason says so once (as the pick), while the summary names it beside the hand-over.
    results, predictions = two_trained_strategies_run((4, 8, 16), min_gain=0.05)
    analysis = analyse(results, predictions)
    assert [(r.contestant, r.rival) for r in analysis.rivals if r.track == "finetune"] == [("setfit", "full")]
    decision = recommend(analysis)
    quality = next(c for c in decision.criteria if c.name == "quality").sentence
    assert "Within the fine-tune track" not in quality and "although full has the higher mean" in quality
    assert "Within its track, setfit is not told apart from full (setfit -0.025" in decision.summary


def test_nothing_beats_the_baseline_so_collect_data_naming_the_baseline():
    # Both tracks' best are below always answering "A" on 40 examples (20 right): 18 and 19 right.
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 8, 0): right_then_wrong(GOLD, 22, LABELS),
        ("probe", 8, 0): right_then_wrong(GOLD, 21, LABELS, offset=5),
    }
    analysis = analyse(make_results(predictions, GOLD, TRACKS, timings=TIMINGS), predictions)
    assert analysis.nothing_beats_baseline
    decision = recommend(analysis)
    assert decision.choice == "collect-more-data" and decision.strategy == "majority"
    assert decision.confidence == "baseline" and "no strategy beats always answering" in decision.summary
    assert decision.criteria[0].name == "baseline" and decision.criteria[0].decisive


def test_what_would_settle_a_lean_out_of_reach_also_says_what_ten_times_the_examples_would_resolve():
    # No measured difference on 40 examples (±0.150): a 0.010 gap needs 9,000, so the sentence adds
    # the gap 400 would resolve (the interval shrinks as 1/sqrt(n): 0.150 / sqrt(10)).
    tied = recommend(analyse(*run(prompt_wrong=10, finetune_wrong=10, offset=5)))
    assert tied.settle == (
        "about 9,000 test examples would resolve a gap of 0.010 "
        "(today 40 give ±0.150; 10 times as many, 400, would resolve a gap of 0.047)"
    )
    # A lean within reach (290 for its 0.075) says only that.
    within = recommend(analyse(*run(prompt_wrong=10, finetune_wrong=7, offset=20)))
    assert within.settle == "about 290 test examples would resolve a gap of 0.075 (today 40 give ±0.200)"


def test_likely_but_unproven_better_than_the_baseline_leans_and_says_so():
    # 24 and 25 right of 40 against the baseline's 20: likely better, not shown with confidence.
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 8, 0): right_then_wrong(GOLD, 16, LABELS),
        ("probe", 8, 0): right_then_wrong(GOLD, 15, LABELS, offset=3),
    }
    analysis = analyse(make_results(predictions, GOLD, TRACKS, timings=TIMINGS), predictions)
    assert analysis.baseline_unbeaten and not analysis.nothing_beats_baseline
    decision = recommend(analysis)
    assert decision.confidence == "leaning" and decision.strategy in ("knn", "probe")
    assert "no strategy is shown yet to beat always answering" in decision.summary


def test_either_needs_the_gap_shown_close_not_merely_unresolved():
    # Equal accuracy on 40 examples: the interval spans zero but is far wider than ±2 points.
    results, predictions = run(prompt_wrong=2, finetune_wrong=2, offset=10)
    decision = recommend(analyse(results, predictions))
    assert decision.choice != "either" and decision.confidence == "leaning"
    assert "test examples would resolve" in decision.settle


def test_two_tracks_that_agree_on_every_example_are_not_shown_close_when_the_examples_are_too_few():
    # knn and probe give the same answers on all 40 examples: the bootstrap interval is [0, 0], but 40
    # agreeing answers bound how often the two disagree only to 0.072 (the rule of three), more than ±0.06.
    results, predictions = run(prompt_wrong=2, finetune_wrong=2, min_gain=0.03)
    analysis = analyse(results, predictions)
    assert (analysis.final.ci_low, analysis.final.ci_high) == (0.0, 0.0)
    assert recommend(analysis).choice != "either"
    # Nothing to lean on: the summary says so (not "0% likely" either way), names the cheaper, and says
    # how many examples answered alike would show the two equal (0.95 ** (1/49) is 1 - 0.059).
    decision = recommend(analysis, requests_per_month=100, prices=Prices(compute_per_hour=3.6))
    assert (decision.choice, decision.strategy, decision.confidence) == ("prompt", "knn", "leaning")
    assert decision.summary.startswith(
        "Too close to call: knn and probe scored alike on the 40 examples and on every resample of them "
        "(accuracy 0.950 and 0.950 at 8 examples per class): no difference is measured"
    )
    assert "knn named (the cheaper over the first year)" in decision.summary and "0%" not in decision.summary
    assert decision.settle == (
        "about 49 test examples, all scored alike, would show the two within 0.060 of each other (today 40 show it within 0.072)"
    )
    assert headline(decision.to_json(), analysis.to_json()["comparisons"][-1]) == "Too close to call (no difference measured)"
    busy = recommend(analysis, requests_per_month=1_000_000, prices=Prices(compute_per_hour=3.6))
    assert (busy.choice, busy.strategy) == ("finetune", "probe") and "probe named (the cheaper" in busy.summary
    results, predictions = run(prompt_wrong=2, finetune_wrong=2, min_gain=0.04)  # ±0.08 holds 0.072
    assert recommend(analyse(results, predictions)).choice == "either"


def test_every_reason_is_a_sentence_with_numbers_naming_its_criterion():
    results, predictions = run(prompt_wrong=2, finetune_wrong=2, offset=10)
    decision = recommend(analyse(results, predictions))
    names = [c.name for c in decision.criteria]
    assert {"quality", "data", "cost", "latency", "consistency", "iteration-speed", "baseline"} <= set(names)
    for criterion, reason in zip(decision.criteria, decision.reasons):
        assert criterion.sentence == reason and reason.endswith(".")
        assert any(ch.isdigit() for ch in reason), reason
        assert reason.lower().startswith(criterion.name.replace("-", " ").split()[0]), reason
        assert criterion.favours in {"prompt", "finetune", "neither"}


def test_consistency_over_one_seed_is_said_to_be_unmeasured_not_a_range_of_one_score():
    results, predictions = run(prompt_wrong=2, finetune_wrong=4)
    for trial in results["trials"]:  # knn searched two wordings, each scored on 12 held-back examples
        if trial["strategy"] == "knn":
            trial["details"] = {"chosen": "task", "validation_scores": {"task": 0.75, "plain": 0.5}, "validated_on": 12}
    sentence = next(c for c in recommend(analyse(results, predictions)).criteria if c.name == "consistency").sentence
    assert "ranges" not in sentence and "probe and knn ran on 1 seed each" in sentence and "not measured" in sentence
    assert "the 2 prompt wordings knn tried scored 0.500–0.750 on 12 held-back examples" in sentence


def test_a_strategy_repeated_over_fold_partitions_is_read_as_its_mean_against_one_run_once():
    # Cross-validated: knn (on the frozen vectors) ran three fold partitions, probe one. The difference reads
    # knn's mean, and a spread over three partitions is not held against a spread nobody measured.
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 8, 0): right_then_wrong(GOLD, 2, LABELS),
        ("knn", 8, 1): right_then_wrong(GOLD, 8, LABELS),
        ("knn", 8, 2): right_then_wrong(GOLD, 14, LABELS),
        ("probe", 8, 0): right_then_wrong(GOLD, 6, LABELS, offset=10),
    }
    results = make_results(predictions, GOLD, TRACKS, timings=TIMINGS)
    results["data"].update(validation="cv", folds=5)
    analysis = analyse(results, predictions)
    final = analysis.final
    assert (final.prompt.strategy, final.finetune.strategy, final.seeds) == ("knn", "probe", 3)
    knn_mean = (38 + 32 + 26) / 3 / 40  # right answers over three partitions
    assert final.difference == pytest.approx(34 / 40 - knn_mean)  # not probe's lead over knn's first partition alone
    consistency = next(c for c in recommend(analysis).criteria if c.name == "consistency")
    assert "probe scores 0.850 on 1 seed (its spread is not measured)" in consistency.sentence
    assert "knn ranges 0.650–0.950 over 3 seeds" in consistency.sentence and consistency.favours == "neither"


def test_a_spread_of_prompt_wordings_is_called_a_difference_only_beyond_chance():
    def consistency(p_value: float) -> str:
        results, predictions = run(prompt_wrong=2, finetune_wrong=4)
        for trial in results["trials"]:
            if trial["strategy"] == "knn":
                trial["details"] = {
                    "chosen": "task", "validation_scores": {"task": 0.75, "plain": 0.5}, "validated_on": 12,
                    "wording_spread_p": p_value,
                }
        analysis = analyse(results, predictions)
        assert analysis.prompt_variants[0].p_value == p_value
        return next(c for c in recommend(analysis).criteria if c.name == "consistency").sentence

    chance = consistency(0.31)
    assert "on 12 held-back examples, a spread that chance alone could give (p = 0.31" in chance
    assert "do not show that the wording matters" in chance and "matters by up to" not in chance
    beyond = consistency(0.002)
    assert "so the prompt's wording matters, by up to 0.250 (more than chance: p = 0.002" in beyond


def test_placeholder_prices_are_flagged():
    results, predictions = run(prompt_wrong=2, finetune_wrong=2, offset=10)
    analysis = analyse(results, predictions)
    placeholder = recommend(analysis)
    assert placeholder.assumptions.placeholder_prices and "placeholder prices" in next(
        c.sentence for c in placeholder.criteria if c.name == "cost")
    given = recommend(analysis, prices=Prices(compute_per_hour=2.0), prices_file="prices.yaml")
    assert not given.assumptions.placeholder_prices and given.assumptions.prices_file == "prices.yaml"


def test_decide_reuses_the_stored_analysis_and_keeps_stored_prices():
    results, predictions = run(prompt_wrong=2, finetune_wrong=2, offset=10, min_gain=0.1)
    first = with_decision(results, predictions, requests_per_month=100, prices=Prices(compute_per_hour=3.6))
    stored = json.loads(json.dumps(first))
    # No predictions: the stored analysis is read back; volume and prices default to the stored ones.
    analysis, again = decide(stored)
    assert analysis.to_json() == stored["analysis"]
    assert again.to_json() == stored["recommendation"]
    # A new volume changes the decision's cost, not the analysis.
    _, busy = decide(stored, requests_per_month=1_000_000)
    assert busy.strategy == "probe" and busy.assumptions.prices.compute_per_hour == 3.6
    assert Recommendation.from_json(stored["recommendation"]).choice == "either"


def test_only_one_track():
    predictions = {("knn", 8, 0): right_then_wrong(GOLD, 4, LABELS)}
    decision = recommend(analyse(make_results(predictions, GOLD, TRACKS), predictions))
    assert decision.choice == "prompt" and decision.strategy == "knn"
    assert "Only the prompt track was run" in decision.summary


@pytest.mark.parametrize(("dollars", "text"), [(0, "$0"), (1234.5, "$1,234.50"), (0.29, "$0.29"), (0.0042, "$0.0042"), (3e-7, "< $0.00001")])
def test_money(dollars, text):
    assert money(dollars) == text
