"""Cross-validated intervals hold their promise: a simulation with a known truth.

A small labelled budget is drawn again and again from one synthetic population; each draw is
cross-validated as a run would (the product's folds, strategies and paired bootstrap), and
the 95% interval of the difference between two strategies is checked against the difference
the same two strategies, fitted on the whole budget, show on a large test set from the
population. Nominal coverage is 95%; the issue asks for at least 90%.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from shouldtune.analysis.metrics import LabelScoring
from shouldtune.analysis.significance import cv_inflation, paired_seeds_bootstrap
from shouldtune.data.load import Examples
from shouldtune.data.splits import make_splits, per_class_subset
from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.finetune.linear_probe import LinearProbe
from shouldtune.strategies.prompt.knn import FewShotKNN

LABELS = ("a", "b", "c")
DIMENSION = 12


class TableEncoder:
    """An encoder whose texts are keys of a table of unit vectors (the synthetic population)."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors
        self.model_id = "table"
        self.dimension = DIMENSION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self.vectors[text] for text in texts]) if texts else np.zeros((0, DIMENSION), np.float32)

    def close(self) -> None:
        pass


def _population(size_per_label: int, rng: np.random.Generator) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    centres = rng.normal(size=(len(LABELS), DIMENSION))
    texts, labels, vectors = [], [], {}
    for k, label in enumerate(LABELS):
        points = centres[k] * 0.55 + rng.normal(size=(size_per_label, DIMENSION))
        for i, point in enumerate(points):
            text = f"{label}-{i}"
            texts.append(text)
            labels.append(label)
            vectors[text] = (point / np.linalg.norm(point)).astype(np.float32)
    return texts, labels, vectors


def _fit(cls: type, encoder: TableEncoder, train: Examples, seed: int):
    return cls(StrategyContext(encoder=encoder, seed=seed)).fit(TrainingSet(train.texts, train.labels, LABELS))


def test_cross_validated_intervals_cover_the_large_set_difference():
    rng = np.random.default_rng(0)
    texts, labels, vectors = _population(1200, rng)
    encoder = TableEncoder(vectors)
    everything = Examples(tuple(texts), tuple(labels), "population", tuple(range(1, len(texts) + 1)))
    scoring = LabelScoring(LABELS)
    draws, covered = 60, 0
    for draw in range(draws):
        order = rng.permutation(len(texts))
        budget = per_class_subset(everything.subset(order[:1800].tolist()), LABELS, 8, seed=draw)
        large = everything.subset(order[1800:].tolist())  # never part of any budget of this draw
        splits = make_splits(budget, None, [draw], 0.2)
        (split,) = splits
        assert split.cross_validated
        predicted = {"probe": [""] * len(budget), "knn": [""] * len(budget)}
        for fold in split.fold_list():
            held = [split.test.texts[p] for p in fold.test_positions]
            for name, cls in (("probe", LinearProbe), ("knn", FewShotKNN)):
                for position, label in zip(fold.test_positions, _fit(cls, encoder, fold.pool, draw).predict(held)):
                    predicted[name][position] = label
        interval = paired_seeds_bootstrap(
            [(split.test_id, split.test.labels, predicted["probe"], predicted["knn"])], scoring, "macro_f1", seed=draw,
            inflate=cv_inflation(len(split.fold_list())),  # as the analysis of a cross-validated run does
        )
        truth = []
        for cls in (LinearProbe, FewShotKNN):
            on_large = _fit(cls, encoder, budget, draw).predict(list(large.texts))
            statistics = scoring.statistics(large.labels, on_large)
            truth.append(float(scoring.evaluate(statistics.sum(axis=0, keepdims=True))["macro_f1"][0]))
        covered += interval.ci_low <= truth[0] - truth[1] <= interval.ci_high
    assert covered / draws >= 0.9, f"95% intervals covered the large-set difference in {covered} of {draws} draws"
