"""Generation and extraction metrics against values computed by hand (the working is in the comments)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shouldtune.analysis import text_metrics as tm
from shouldtune.analysis.metrics import scored_curve, scored_trial, scoring_for, trial_estimates
from shouldtune.errors import TaskFileError


def test_exact_match_normalises_case_punctuation_and_articles():
    # "The Cat!" -> "cat"; "a cat" -> "cat": equal.
    assert tm.exact_match("The Cat!", "a cat") == 1.0
    assert tm.exact_match("the cats", "the cat") == 0.0


def test_token_f1_by_hand():
    # pred tokens after normalisation: cat sat on mat (4); reference: cat sat on red mat (5).
    # shared: 4 -> precision 4/4, recall 4/5, F1 = 2 * 1 * 0.8 / 1.8 = 0.8889.
    assert tm.token_f1("the cat sat on the mat", "a cat sat on a red mat") == pytest.approx(2 * 0.8 / 1.8)
    assert tm.token_f1("dog", "cat") == 0.0
    assert tm.token_f1("", "") == 1.0  # both empty: SQuAD counts that as a match


def test_rouge_l_by_hand():
    # police killed the gunman / police kill the gunman: LCS = police, the, gunman = 3 of 4 each.
    assert tm.rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(0.75)
    # the cat sat on the mat / the cat was on the mat: LCS = the cat on the mat = 5 of 6 each.
    assert tm.rouge_l("the cat sat on the mat", "The cat was on the mat.") == pytest.approx(5 / 6)
    # Different lengths: LCS 2 ("a c"), precision 2/2, recall 2/4: F1 = 2 * 0.5 / 1.5.
    assert tm.rouge_l("a c", "a b c d") == pytest.approx(2 * 0.5 / 1.5)
    assert tm.rouge_l("", "anything") == 0.0


def test_lcs_length():
    assert tm.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4  # the textbook example (BCBA)


def _whole(scoring, gold, predicted):
    statistics = scoring.statistics(gold, predicted)
    return {name: float(v[0]) for name, v in scoring.evaluate(statistics.sum(axis=0, keepdims=True)).items()}


def test_chrf_is_corpus_level_from_summed_statistics():
    chrf = tm.SacreBLEUScoring("chrf")
    # One pair "ab" / "ac": 1-grams a,b vs a,c: 1 match of 2 -> P = R = 0.5; 2-grams ab vs ac: 0 of 1.
    # Orders 3-6 have no n-grams and are left out, so avg P = avg R = (0.5 + 0) / 2 = 0.25 and
    # chrF (beta 2) = 5 * P * R / (4P + R) = 0.25.
    assert _whole(chrf, ["ac"], ["ab"])["chrf"] == pytest.approx(0.25)
    # Adding "abc" / "abc" sums the counts: 1-grams 4 of 5 (0.8), 2-grams 2 of 3, 3-grams 1 of 1;
    # avg P = avg R = (0.8 + 2/3 + 1) / 3 = 0.8222 = chrF.
    assert _whole(chrf, ["ac", "abc"], ["ab", "abc"])["chrf"] == pytest.approx((0.8 + 2 / 3 + 1) / 3)


def test_bleu_by_hand():
    bleu = tm.SacreBLEUScoring("bleu")
    # "a b c d" against "a b c e": 1-grams 3/4, 2-grams 2/3, 3-grams 1/2, 4-grams 0/1, which
    # sacrebleu's default "exp" smoothing makes 1 / (2 * 1) = 1/2. Same length: no brevity penalty.
    # BLEU = (3/4 * 2/3 * 1/2 * 1/2) ** (1/4) = 0.125 ** 0.25 = 0.5946.
    assert _whole(bleu, ["a b c e"], ["a b c d"])["bleu"] == pytest.approx(0.125**0.25)
    assert _whole(bleu, ["the cat sat on the mat"], ["the cat sat on the mat"])["bleu"] == pytest.approx(1.0)


def test_corpus_bleu_and_chrf_match_sacrebleu_and_their_bootstrap_contains_them():
    from sacrebleu.metrics import BLEU, CHRF

    gold = [f"the {w} sat on the mat near {v}" for w, v in zip("cat dog cow pig hen fox".split(), "door wall tree gate road hill".split())]
    predicted = [g.replace("sat", "sits") if i % 2 else g for i, g in enumerate(gold)]
    estimates = scored_trial(scoring_for("generation"), gold, predicted, seed=0)
    assert estimates["bleu"].mean == pytest.approx(BLEU().corpus_score(predicted, [gold]).score / 100)
    assert estimates["chrf"].mean == pytest.approx(CHRF().corpus_score(predicted, [gold]).score / 100)
    for name in ("bleu", "chrf", "rouge_l", "token_f1", "exact_match"):
        assert estimates[name].ci_low <= estimates[name].mean <= estimates[name].ci_high
    assert estimates["exact_match"].mean == pytest.approx(0.5)


def test_field_metrics_by_hand():
    gold = [
        "artist: westbam | album: allergic | service: google music",
        "a: 1",
        "b: 2 | a: 1",
    ]
    predicted = [
        # artist right, album wrong value, playlist not in gold, service right (case and spaces ignored)
        "artist: westbam | album: allergic music | playlist: x | service: Google  Music",
        "",  # nothing predicted: the one gold field is missed
        "a: 1 | b: 2",  # same fields in another order: exact
    ]
    # fields right 2 + 0 + 2 = 4; predicted 4 + 0 + 2 = 6; in gold 3 + 1 + 2 = 6.
    # precision 4/6, recall 4/6, F1 = 2 * 4 / (6 + 6) = 2/3; exact match 1 of 3.
    scores = _whole(scoring_for("extraction"), gold, predicted)
    assert scores["field_precision"] == pytest.approx(4 / 6)
    assert scores["field_recall"] == pytest.approx(4 / 6)
    assert scores["field_f1"] == pytest.approx(2 / 3)
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert tm.field_counts(predicted[0], gold[0]) == (2, 4, 3)


def test_field_metrics_edge_cases():
    field = tm.FieldScoring()
    # Nothing to find and nothing found is perfect; a stray part without a colon counts as a wrong field.
    assert _whole(field, [""], [""]) == {"field_f1": 1.0, "field_precision": 1.0, "field_recall": 1.0}
    assert tm.parse_fields("no colon here | k:v") == [("", "no colon here"), ("k", "v")]
    # A repeated slot is counted as often as it occurs (multiset), as SNIPS outputs allow.
    assert tm.field_counts("k: a | k: a", "k: a") == (1, 2, 1)


def test_label_scoring_agrees_with_the_classification_estimates():
    gold, predicted = ["a", "b", "c", "a"] * 5, ["a", "c", "c", "b"] * 5
    generic = scored_trial(scoring_for("classification", ("a", "b", "c")), gold, predicted, seed=3)
    classic = trial_estimates(gold, predicted, ("a", "b", "c"), seed=3)
    assert generic == classic


def test_curve_estimate_over_seeds_for_text():
    gold = ["one two three", "four five six"] * 10
    runs = [("t", gold, gold), ("t", gold, ["one two"] * 20)]
    estimates = scored_curve(scoring_for("generation"), runs, seed=0)
    # Seed 1: exact 1.0; seed 2: exact 0.0 -> mean 0.5.
    assert estimates["exact_match"].mean == pytest.approx(0.5)
    assert estimates["rouge_l"].ci_low <= estimates["rouge_l"].mean <= estimates["rouge_l"].ci_high


def test_user_metric_from_a_file(tmp_path: Path):
    (tmp_path / "my_metric.py").write_text(
        "def same_length(prediction, reference):\n    return float(len(prediction) == len(reference))\n"
    )
    spec = f"{tmp_path / 'my_metric.py'}:same_length"
    scoring = scoring_for("generation", (), spec)
    assert spec in scoring.metrics
    # lengths: 3 vs 3 (1.0), 2 vs 3 (0.0) -> mean 0.5
    assert _whole(scoring, ["abc", "abc"], ["xyz", "xy"])[spec] == pytest.approx(0.5)


def test_user_metric_errors_are_one_line(tmp_path: Path):
    with pytest.raises(TaskFileError, match="cannot import the metric module"):
        tm.load_user_metric("no_such_module_here:score")
    (tmp_path / "bad.py").write_text("def score(p, r):\n    return 'high'\n")
    function = tm.load_user_metric(f"{tmp_path / 'bad.py'}:score")
    with pytest.raises(TaskFileError, match="expected a finite number"):
        function("a", "b")
    with pytest.raises(TaskFileError, match="has no function"):
        tm.load_user_metric(f"{tmp_path / 'bad.py'}:missing")


def test_empty_test_set_statistics_have_the_right_width():
    scoring = scoring_for("generation")
    assert scoring.statistics([], []).shape[0] == 0
    assert np.isfinite(scoring.statistics(["a b"], ["a b"])).all()


E2E_MR = "name[Blue Spice], eatType[coffee shop], area[riverside]"
E2E_REFERENCES = (
    "There is a coffee shop Blue Spice in the riverside area.",
    "Blue Spice is a coffee shop by the riverside.",
    "At the riverside there is a coffee shop called Blue Spice.",
)


def test_an_input_with_several_references_is_scored_once_against_all_of_them():
    # E2E gives several human references per meaning representation: the output is scored
    # once, against the reference it matches best (exact match, token F1, ROUGE-L) or as
    # sacrebleu's multi-reference corpus BLEU and chrF, not once per reference row.
    import sacrebleu

    scoring = scoring_for("generation")
    predicted = ["Blue Spice is a coffee shop by the riverside.", "Aromi is a pub."]
    gold = [E2E_REFERENCES, "Aromi is a pub in the city centre."]
    summed = scoring.statistics(gold, predicted).sum(axis=0, keepdims=True)
    scores = {name: float(values[0]) for name, values in scoring.evaluate(summed).items()}
    assert scores["exact_match"] == 0.5  # the first output is the second reference word for word
    assert scores["rouge_l"] == pytest.approx((1.0 + tm.rouge_l(predicted[1], gold[1])) / 2)
    streams = [[E2E_REFERENCES[0], gold[1]], [E2E_REFERENCES[1], None], [E2E_REFERENCES[2], None]]
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(predicted, streams).score / 100)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predicted, streams).score / 100)
    assert scoring.statistics(gold, predicted).shape[0] == 2  # one row per input, as the bootstrap resamples them


def test_extraction_takes_the_reference_with_the_best_field_f1():
    scoring = scoring_for("extraction")
    gold = [("city: paris", "city: paris | day: monday")]
    values = scoring.evaluate(scoring.statistics(gold, ["city: paris | day: monday"]).sum(axis=0, keepdims=True))
    assert values["field_f1"][0] == 1.0 and values["exact_match"][0] == 1.0


def test_the_test_set_holds_each_input_once_with_all_its_references():
    from shouldtune.data.load import Examples
    from shouldtune.data.splits import make_splits

    rows = [(E2E_MR, E2E_REFERENCES[0]), ("name[Aromi], eatType[pub]", "Aromi is a pub."),
            (E2E_MR, E2E_REFERENCES[1]), (E2E_MR, E2E_REFERENCES[2])]
    test = Examples(tuple(r[0] for r in rows), tuple(r[1] for r in rows), "test.jsonl", (1, 2, 3, 4))
    train = Examples(("name[Zizzi]",) * 3, ("Zizzi.", "Zizzi!", "Zizzi?"), "train.jsonl", (1, 2, 3))
    split = make_splits(train, test, [0], 0.2, stratify=False)[0]
    assert split.test.texts == (E2E_MR, "name[Aromi], eatType[pub]") and split.test.rows == (1, 2)
    assert split.gold == (E2E_REFERENCES, "Aromi is a pub.")
    # A hold-out from one file groups its test inputs the same way; classification never does.
    pool = Examples(test.texts * 3, test.labels * 3, "all.jsonl", tuple(range(1, 13)))
    held = make_splits(pool, None, [0], 0.5, stratify=False, validation="holdout")[0]
    assert len(set(held.test.texts)) == len(held.test) == 1 and len(held.gold[0]) in (1, 3, 9)
    # So does cross-validation: each input scored once, by the fold that held all its rows out.
    folded = make_splits(pool, None, [0], 0.2, stratify=False)[0]
    assert folded.cross_validated and folded.test.texts == (E2E_MR, "name[Aromi], eatType[pub]")
    assert [len(references) for references in folded.gold] == [9, 3]
    for fold in folded.fold_list():
        assert {folded.test.texts[p] for p in fold.test_positions}.isdisjoint(fold.pool.texts)
    assert make_splits(train, test, [0], 0.2, stratify=True)[0].gold == test.labels
