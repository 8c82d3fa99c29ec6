"""Task validation, metrics, splits, the store and the embedding cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from shouldtune.analysis.metrics import curve_estimate, scores, trial_estimates, weighted_scores
from shouldtune.backends.cache import CachedEncoder
from shouldtune.data.load import Examples
from shouldtune.data.splits import examples_at, largest_size, make_splits, per_class_subset, smallest_class
from shouldtune.errors import TaskFileError
from shouldtune.records import TrialRecord
from shouldtune.experiment import plan_sizes
from shouldtune.store import Store
from shouldtune.task import load_task


def test_task_file_paths_are_relative_to_the_file(tmp_path: Path):
    (tmp_path / "train.csv").write_text("text,label\na,x\n")
    task_path = tmp_path / "task.yaml"
    task_path.write_text("data: train.csv\nsizes: [8, 0, 8]\n")
    task = load_task(task_path)
    assert task.data == tmp_path / "train.csv"
    assert task.sizes == (0, 8)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("data: x.csv\nsizez: [1]\n", "did you mean 'sizes'?"),
        ("data: x.csv\nsizes: [-1]\n", "sizes must be 0 or more"),
        ("data: x.csv\ntemplate: 'no placeholder'\n", "must contain {text}"),
        ("data: x.csv\nstrategies: [zero-shoot]\n", "did you mean 'zero-shot'?"),
        ("data: x.csv\nstrategy_params: {full: {epoch: 2}}\n", None),
        ("- just\n- a list\n", "expected a mapping"),
        ("sizes: [1]\n", "no training data"),
    ],
)
def test_bad_task_files(tmp_path: Path, yaml_text: str, message: str | None):
    path = tmp_path / "task.yaml"
    path.write_text(yaml_text)
    if message is None:  # valid task; the unknown strategy setting is caught when the strategy is built
        from shouldtune.strategies.registry import build

        with pytest.raises(TaskFileError, match="did you mean 'epochs'"):
            build("full", None, load_task(path).strategy_params["full"])
        return
    with pytest.raises(TaskFileError) as caught:
        load_task(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels = ("a", "b", "c", "d")
    gold = [labels[i] for i in rng.integers(4, size=300)]
    pred = [g if rng.random() < 0.6 else labels[rng.integers(4)] for g in gold]
    ours = scores(gold, pred, labels)
    assert ours["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert ours["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    # A resample that drops every "d" must average over the labels present, as scikit-learn does.
    weights = np.array([[0 if g == "d" or p == "d" else 1 for g, p in zip(gold, pred)]])
    kept = [i for i, w in enumerate(weights[0]) if w]
    expected = f1_score([gold[i] for i in kept], [pred[i] for i in kept], average="macro")
    assert weighted_scores(gold, pred, labels, weights)["macro_f1"][0] == pytest.approx(expected)


def test_trial_interval_contains_the_estimate_and_narrows_with_more_data():
    gold_small, pred_small = ["a", "b"] * 20, ["a", "a"] * 20
    gold_large, pred_large = ["a", "b"] * 500, ["a", "a"] * 500
    small = trial_estimates(gold_small, pred_small, ("a", "b"))["accuracy"]
    large = trial_estimates(gold_large, pred_large, ("a", "b"))["accuracy"]
    assert small.ci_low <= 0.5 <= small.ci_high
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low)


def test_curve_interval_widens_when_seeds_disagree():
    gold = ["a", "b"] * 100
    agree = [("t", gold, gold), ("t", gold, gold)]
    disagree = [("t", gold, gold), ("t", gold, ["a"] * 200)]
    tight = curve_estimate(agree, ("a", "b"), "accuracy")
    wide = curve_estimate(disagree, ("a", "b"), "accuracy")
    assert tight.mean == 1.0 and tight.ci_low == 1.0
    assert wide.mean == pytest.approx(0.75) and wide.ci_low <= 0.55 and wide.ci_high == 1.0


def _examples(n_per_label: int, labels=("x", "y")) -> Examples:
    texts = tuple(f"{label} text {i}" for label in labels for i in range(n_per_label))
    return Examples(texts, tuple(label for label in labels for _ in range(n_per_label)), "mem", tuple(range(1, len(texts) + 1)))


def test_subsets_are_per_class_nested_and_seeded():
    pool = _examples(20)
    four = per_class_subset(pool, ("x", "y"), 4, seed=1)
    eight = per_class_subset(pool, ("x", "y"), 8, seed=1)
    assert four.label_counts() == {"x": 4, "y": 4}
    assert set(four.texts) <= set(eight.texts)
    assert per_class_subset(pool, ("x", "y"), 4, seed=1) == four
    assert per_class_subset(pool, ("x", "y"), 4, seed=2) != four


def test_small_data_is_cross_validated_every_example_scored_once_per_repeat():
    data = _examples(50)
    small = make_splits(data, None, [0, 1, 2], 0.2)
    assert all(split.cross_validated and len(split.fold_list()) == 5 for split in small)
    assert len({s.test_id for s in small}) == 1  # every repeat scores the same examples: paired across seeds
    for split in small:
        positions = [p for fold in split.fold_list() for p in fold.test_positions]
        assert sorted(positions) == list(range(len(data)))  # each example in exactly one fold's test part
        for fold in split.fold_list():
            held = {split.test.texts[p] for p in fold.test_positions}
            assert held.isdisjoint(fold.pool.texts)  # never scored by a model that saw it
            assert fold.pool.label_counts() == {"x": 40, "y": 40}  # stratified
    assert small[0].folds != small[1].folds  # each repeat its own fold assignment
    large = make_splits(_examples(600), None, [0, 1], 0.2)
    assert large[0].test_id == large[1].test_id and not large[0].cross_validated
    held_out = make_splits(data, None, [0, 1], 0.2, validation="holdout")
    assert not held_out[0].cross_validated and len(held_out[0].test) == 20


def test_a_size_that_fits_in_fewer_folds_is_fitted_on_fewer_and_still_scores_every_example_once():
    data = _examples(50)  # 50 of each label: training parts hold 25 of each in 2 folds, 33 or 34 in 3, 37 or 38 in 4, 40 in 5
    (split,) = make_splits(data, None, [0], 0.2)

    def fits(n_per_class: int) -> int:
        folds = split.folds_at(n_per_class)
        positions = sorted(p for fold in folds for p in fold.test_positions)
        assert positions == list(range(len(data)))  # every example scored once
        for fold in folds:
            assert {split.test.texts[p] for p in fold.test_positions}.isdisjoint(fold.pool.texts)
            assert min(fold.pool.label_counts().values()) >= min(n_per_class, 40)  # the subset drawn is whole
        return len(folds)

    assert [fits(n) for n in (4, 25, 26, 33, 34, 40)] == [2, 2, 3, 3, 4, 5]
    assert fits(0) == 5  # nothing learned per class (the baseline learns from the whole pool): every fold
    # Without labels (free-text outputs) n counts examples: 40 fit in half of the 100.
    assert len(split.folds_at(40, by_label=False)) == 2 and len(split.folds_at(60, by_label=False)) == 3
    (every,) = make_splits(data, None, [0], 0.2, fewer_folds=False)
    assert len(every.folds_at(4)) == 5
    assert split.folds == every.folds  # the k folds themselves are the same either way


def test_a_size_a_small_class_cannot_fill_in_fewer_folds_keeps_every_fold():
    # 30 of one label and 6 of the other: 4 of the rare label fit in three folds' training parts (4 of 6), not in two.
    texts = tuple(f"common {i}" for i in range(30)) + tuple(f"rare {i}" for i in range(6))
    data = Examples(texts, ("common",) * 30 + ("rare",) * 6, "mem", tuple(range(1, 37)))
    (split,) = make_splits(data, None, [0], 0.2)
    assert [len(split.folds_at(n)) for n in (3, 4, 5, 8)] == [2, 3, 5, 5]


def test_on_imbalanced_data_the_largest_size_trains_on_the_whole_pool():
    # 30 of one label and 6 of the other, as a user who labels what arrives has: 5 folds.
    texts = tuple(f"common {i}" for i in range(30)) + tuple(f"rare {i}" for i in range(6))
    data = Examples(texts, ("common",) * 30 + ("rare",) * 6, "mem", tuple(range(1, 37)))
    splits = make_splits(data, None, [0], 0.2)
    label_set = ("common", "rare")
    largest = largest_size(splits, label_set)
    assert largest == 24 and smallest_class(splits, label_set) == 4  # a fold trains on 4/5: 24 and 4 or 5
    for fold in splits[0].fold_list():
        whole = per_class_subset(fold.pool, label_set, largest, seed=0)
        assert sorted(whole.texts) == sorted(fold.pool.texts)  # the pool in its own proportions
        eight = per_class_subset(fold.pool, label_set, 8, seed=0)
        rare = fold.pool.labels.count("rare")
        assert eight.labels.count("common") == 8 and eight.labels.count("rare") == rare  # all a smaller class has
        assert examples_at(8, fold.pool.label_counts()) == len(eight) == 8 + rare
    assert examples_at(8, {}) == 8  # free-text outputs: n in all


def test_sizes_are_capped_where_a_trial_trains_on_the_whole_pool():
    sizes, warnings = plan_sizes((0, 4, 64, 128), available=40)
    assert sizes == (0, 4, 40)
    assert "64, 128" in warnings[0] and "40" in warnings[0]
    # The default sizes reach past most datasets: capping them is said only in the sizes run.
    assert plan_sizes((0, 4, 64, 128), available=40, asked=False) == ((0, 4, 40), [])


def test_store_keeps_trials_and_embeddings(tmp_path: Path):
    path = tmp_path / "deep" / "store.db"
    with Store(path) as store:
        store.start_run("r1", {"name": "t"})
        record = TrialRecord("s", "prompt", 4, 0, 8, {"accuracy": 0.5}, {"accuracy": (0.2, 0.8)}, 0.1, 0.2, 10.0, backend="encoder")
        store.save_trial("r1", record, ["a", "b"], trial_key="k1")
        store.put_embeddings("m", {"h1": np.ones(3, dtype=np.float32)})
    with Store(path) as store:
        trials = store.trials("r1")
        assert trials[("s", 4, 0)].predictions == ["a", "b"] and trials[("s", 4, 0)].record == record
        assert store.find_trials(["k1", "k2"]) == {"k1": trials[("s", 4, 0)]}
        assert store.get_embeddings("m", ["h1", "h2"])["h1"].tolist() == [1.0, 1.0, 1.0]
        assert store.forget_trials("r1") == 1


class CountingEncoder:
    model_id = "counting"
    dimension = 2

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen += list(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    def close(self) -> None:
        pass


def test_cache_embeds_each_distinct_text_once_across_store_reopen(tmp_path: Path):
    inner = CountingEncoder()
    with Store(tmp_path / "s.db") as store:
        cached = CachedEncoder(inner, store)
        first = cached.embed(["a", "bb", "a"])
        cached.embed(["bb", "ccc"])
        assert inner.seen == ["a", "bb", "ccc"]
        assert first.tolist() == [[1, 1], [2, 1], [1, 1]]
    with Store(tmp_path / "s.db") as store:
        again = CachedEncoder(inner, store)
        again.embed(["ccc", "a"])
        assert inner.seen == ["a", "bb", "ccc"] and again.texts_embedded == 0
