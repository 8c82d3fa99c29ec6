"""The baseline every strategy must beat: always answer the most frequent label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.saved import read_yaml, write_yaml

FILE = "baseline.yaml"


class Majority(Strategy):
    """Predicts the most frequent training label (ties: the first in label order)."""

    name = "majority"
    track = "baseline"
    requires = frozenset()

    def __init__(self, context: StrategyContext | None = None) -> None:
        self.context = context

    def fit(self, train: TrainingSet) -> Majority:
        self._check_train(train)
        counts = Counter(train.labels)
        self.label_set_ = train.label_set
        # Free-text outputs have no label set: the most frequent output, first seen wins ties.
        candidates = train.label_set or tuple(counts)
        self.label_ = max(candidates, key=lambda label: (counts[label], -candidates.index(label)))
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        self._check_fitted()
        return [self.label_] * len(texts)

    def describe(self) -> dict[str, str]:
        return {"label": self.label_}

    def save(self, folder: Path) -> None:
        self._check_fitted()
        write_yaml(folder / FILE, {"strategy": self.name, "label": self.label_, "labels": list(self.label_set_)})

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> Majority:
        saved = read_yaml(folder / FILE)
        strategy = cls(context)
        strategy.label_set_ = tuple(saved["labels"])
        strategy.label_ = saved["label"]
        return strategy
