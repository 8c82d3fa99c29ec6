"""linear-probe: a logistic-regression head trained on the frozen encoder's embeddings.

The head weighs the classes inversely to their counts (`class_weight="balanced"`): on 56
messages of one class and 8 of the other an unweighted head answers the majority to nearly
everything, and on exactly balanced data the weights are all 1, the same fit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from pydantic import PositiveFloat, PositiveInt

from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.saved import HEAD_FILE, load_arrays, load_logistic_head, save_arrays, save_logistic_head


#: The start of scikit-learn's warning for few examples of many classes (the message it is filtered by).
UNIQUE_CLASSES_WARNING = "The number of unique classes is greater than 50%"


class LinearProbe(Strategy):
    """Frozen encoder + logistic regression: the cheapest weights to train."""

    name = "linear-probe"
    repeatable = True  # a fit on the cached vectors: every fold partition, in seconds
    track = "finetune"

    def __init__(self, context: StrategyContext, C: PositiveFloat = 10.0, max_iter: PositiveInt = 2000) -> None:
        self.context = context
        self.C = C
        self.max_iter = max_iter

    def fit(self, train: TrainingSet) -> LinearProbe:
        from sklearn.linear_model import LogisticRegression

        self._check_train(train)
        self.label_set_ = train.label_set
        self.classes_ = sorted(set(train.labels))
        vectors = self.context.encoder.embed(list(train.texts))
        if len(self.classes_) == 1:  # a head needs two classes; one class is its own answer
            self.head_ = None
            return self
        self.head_ = LogisticRegression(
            C=self.C, max_iter=self.max_iter, class_weight="balanced", random_state=self.context.seed
        )
        with warnings.catch_warnings():
            # scikit-learn guesses "a regression?" when classes outnumber half the examples: at
            # one or two examples per class, the first points of a learning curve, they always do.
            warnings.filterwarnings("ignore", message=UNIQUE_CLASSES_WARNING, category=UserWarning)
            self.head_.fit(vectors, list(train.labels))
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        self._check_fitted()
        if len(texts) == 0:
            return []
        if self.head_ is None:
            return [self.classes_[0]] * len(texts)
        return [str(label) for label in self.head_.predict(self.context.encoder.embed(list(texts)))]

    def describe(self) -> dict[str, float]:
        return {"C": self.C}

    def save(self, folder: Path) -> None:
        self._check_fitted()
        if self.head_ is None:  # one class: no weights, the class is the answer
            save_arrays(folder / HEAD_FILE, {}, {"kind": "constant", "classes": self.classes_, "labels": list(self.label_set_)})
        else:
            save_logistic_head(self.head_, folder / HEAD_FILE, labels=list(self.label_set_), C=self.C)

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> LinearProbe:
        _, metadata = load_arrays(folder / HEAD_FILE)
        strategy = cls(context, C=float(metadata.get("C", 10.0)))
        strategy.label_set_ = tuple(metadata["labels"])
        strategy.classes_ = list(metadata["classes"])
        strategy.head_ = None if metadata["kind"] == "constant" else load_logistic_head(folder / HEAD_FILE)[0]
        return strategy
