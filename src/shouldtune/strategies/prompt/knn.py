"""few-shot-knn: the labelled examples are the context; the k nearest vote, weighted by similarity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import PositiveInt

from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.saved import PROMPT_FILE, read_yaml, write_yaml


def similarity_weights(distances: np.ndarray) -> np.ndarray:
    """Return vote weights from cosine distances: the similarity, floored just above zero."""
    return np.maximum(1.0 - distances, 1e-6)


class FewShotKNN(Strategy):
    """Similarity-weighted vote of the k training examples nearest to the input."""

    name = "few-shot-knn"
    repeatable = True  # a fit on the cached vectors: every fold partition, in seconds
    track = "prompt"

    def __init__(self, context: StrategyContext, k: PositiveInt = 7) -> None:
        self.context = context
        self.k = k

    def fit(self, train: TrainingSet) -> FewShotKNN:
        from sklearn.neighbors import KNeighborsClassifier

        self._check_train(train)
        self.k_ = min(self.k, len(train))
        self.knn_ = KNeighborsClassifier(
            n_neighbors=self.k_, metric="cosine", algorithm="brute", weights=similarity_weights
        )
        self.knn_.fit(self.context.encoder.embed(list(train.texts)), list(train.labels))
        self.demonstrations_ = train
        self.label_set_ = train.label_set
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        self._check_fitted()
        if len(texts) == 0:
            return []
        return [str(label) for label in self.knn_.predict(self.context.encoder.embed(list(texts)))]

    def describe(self) -> dict[str, int]:
        return {"k": self.k_}

    def save(self, folder: Path) -> None:
        self._check_fitted()
        write_yaml(
            folder / PROMPT_FILE,
            {
                "strategy": self.name,
                "how": "The k demonstrations most similar to the input (cosine similarity of sentence "
                "embeddings) vote for their labels, each vote weighted by its similarity.",
                "k": self.k_,
                "labels": list(self.label_set_),
                "demonstrations": [
                    {"text": text, "label": label}
                    for text, label in zip(self.demonstrations_.texts, self.demonstrations_.labels)
                ],
            },
        )

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> FewShotKNN:
        saved = read_yaml(folder / PROMPT_FILE)
        demonstrations = saved["demonstrations"]
        train = TrainingSet(
            tuple(d["text"] for d in demonstrations), tuple(d["label"] for d in demonstrations), tuple(saved["labels"])
        )
        return cls(context, k=int(saved["k"])).fit(train)
