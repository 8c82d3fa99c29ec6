"""The baseline every strategy must beat: always answer the most frequent label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet


class Majority(Strategy):
    """Predicts the most frequent training label (ties: the first in label order)."""

    name = "majority"
    track = "baseline"

    def __init__(self, context: StrategyContext | None = None) -> None:
        self.context = context

    def fit(self, train: TrainingSet) -> Majority:
        self._check_train(train)
        counts = Counter(train.labels)
        self.label_set_ = train.label_set
        self.label_ = max(train.label_set, key=lambda label: (counts[label], -train.label_set.index(label)))
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        self._check_fitted()
        return [self.label_] * len(texts)

    def describe(self) -> dict[str, str]:
        return {"label": self.label_}
