"""zero-shot: the input, wrapped in the template, is matched to each label's description."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.prompt.descriptions import readable
from shouldtune.strategies.saved import PROMPT_FILE, read_yaml, write_yaml


def fill(template: str, text: str) -> str:
    """Return the template with the text in place of {text} (other braces left alone)."""
    return template.replace("{text}", text)


class ZeroShot(Strategy):
    """Cosine similarity between the templated input and each label description; no examples used."""

    name = "zero-shot"
    track = "prompt"
    needs_examples = False

    def __init__(
        self,
        context: StrategyContext,
        template: str | None = None,
        label_descriptions: dict[str, str] | None = None,
    ) -> None:
        self.context = context
        self.template = template
        self.label_descriptions = label_descriptions

    def fit(self, train: TrainingSet) -> ZeroShot:
        given = self.label_descriptions if self.label_descriptions is not None else self.context.label_descriptions
        self.template_ = self.template or self.context.template
        self.descriptions_ = {label: given.get(label) or readable(label) for label in train.label_set}
        self.label_set_ = train.label_set
        self.label_vectors_ = self.context.encoder.embed([self.descriptions_[label] for label in self.label_set_])
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Return cosine similarities, shape (len(texts), number of labels)."""
        self._check_fitted()
        inputs = self.context.encoder.embed([fill(self.template_, text) for text in texts])
        return inputs @ self.label_vectors_.T

    def predict(self, texts: Sequence[str]) -> list[str]:
        if len(texts) == 0:
            return []
        return [self.label_set_[i] for i in np.argmax(self.scores(texts), axis=1)]

    def describe(self) -> dict[str, object]:
        return {"template": self.template_, "label_descriptions": self.descriptions_}

    @classmethod
    def from_prompt(
        cls, context: StrategyContext, template: str, descriptions: dict[str, str], labels: Sequence[str]
    ) -> ZeroShot:
        """Return a fitted zero-shot prompt with this template and these label descriptions."""
        return cls(context, template, descriptions).fit(TrainingSet((), (), tuple(labels)))

    def prompt_document(self) -> dict[str, Any]:
        """Return the prompt as the YAML document `save` writes."""
        self._check_fitted()
        return {
            "strategy": self.name,
            "how": "The input, written into the template, gets the label whose description it is most "
            "similar to (cosine similarity of sentence embeddings).",
            "template": self.template_,
            "labels": list(self.label_set_),
            "label_descriptions": dict(self.descriptions_),
        }

    def save(self, folder: Path) -> None:
        write_yaml(folder / PROMPT_FILE, self.prompt_document())

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> ZeroShot:
        saved = read_yaml(folder / PROMPT_FILE)
        return cls.from_prompt(context, saved["template"], saved["label_descriptions"], saved["labels"])
