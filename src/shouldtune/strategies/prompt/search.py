"""prompt-search: choose a template and label descriptions by score on held-back training examples.

Every candidate is scored, with the task's decision metric, on predictions for held-back
examples (two folds: build on one half, predict the other, then swap). With a handful of
examples per label those scores are noisy, so the user's own prompt (their template and
label descriptions, when given) is kept unless a candidate beats it by more than that noise:
1.96 standard errors of the paired difference in accuracy on the same held-back examples.
Whether the candidates differ at all is tested the same way, on their paired answers
(`wording_spread_p`), before the report says that the wording matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shouldtune.records import SearchDetails
from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.prompt.descriptions import keyword_descriptions, medoid_descriptions, readable
from shouldtune.strategies.prompt.zero_shot import ZeroShot
from shouldtune.strategies.saved import PROMPT_FILE, read_yaml, write_yaml

# Generic wrappers; a sentence encoder places "about X" phrasing near descriptions of X.
BUILT_IN_TEMPLATES = ("{text}", "This message is about: {text}")


@dataclass(frozen=True)
class Candidate:
    """One prompt: a template, and how the label descriptions are made."""

    name: str
    template: str
    descriptions: str  # "given" | "readable" | "keywords" | "typical-example" | "variant:<i>"


def _split(train: TrainingSet, seed: int) -> tuple[TrainingSet, TrainingSet]:
    """Return two halves of every label's examples; a label with one example has it in the first."""
    rng = np.random.default_rng(seed)
    build: list[int] = []
    validation: list[int] = []
    for label in train.label_set:
        indices = [i for i, y in enumerate(train.labels) if y == label]
        rng.shuffle(indices)
        half = len(indices) // 2
        validation += indices[:half]
        build += indices[half:]

    def part(indices: list[int]) -> TrainingSet:
        ordered = sorted(indices)
        return TrainingSet(
            tuple(train.texts[i] for i in ordered), tuple(train.labels[i] for i in ordered), train.label_set
        )

    return part(build), part(validation)


def replacement_margin(gold: Sequence[str], yours: Sequence[str], other: Sequence[str]) -> float:
    """Return the lead another prompt needs over the user's to replace it: 1.96 standard errors of the
    paired difference in accuracy between their answers on the same held-back examples."""
    right_yours = np.array([g == p for g, p in zip(gold, yours)])
    right_other = np.array([g == p for g, p in zip(gold, other)])
    n = max(len(gold), 1)
    difference = right_other.astype(float) - right_yours.astype(float)
    return float(1.96 * np.sqrt(max(np.mean(difference**2) - np.mean(difference) ** 2, 1.0 / n) / n))


def wording_spread_p(scores: Any, seed: int, shuffles: int = 1000) -> float:
    """Return how often shuffling each example's scores among the candidates gives a spread as wide
    as the one measured (best candidate's total minus worst's): a permutation p-value.

    `scores` has one row per held-back example and one column per candidate (1 for a right
    answer, 0 for a wrong one, or a per-example score). Were the wording to make no difference,
    which candidate earned an example's score would be chance, and every shuffle of a row as
    likely as the one measured; a small p says the candidates differ by more than their few
    examples explain. Rows where every candidate scored the same do not move under a shuffle
    and are left out of the work. 1.0 with fewer than two candidates or no spread at all.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] < 2:
        return 1.0
    scores = scores[np.ptp(scores, axis=1) > 0]
    totals = scores.sum(axis=0)
    observed = float(totals.max() - totals.min()) if len(scores) else 0.0
    if observed <= 0:
        return 1.0
    rng = np.random.default_rng(seed)
    rows = max(1, 2_000_000 // scores.size)
    wider = 0
    for start in range(0, shuffles, rows):
        count = min(rows, shuffles - start)
        shuffled = rng.permuted(np.broadcast_to(scores, (count, *scores.shape)), axis=2).sum(axis=1)
        wider += int(np.sum(shuffled.max(axis=1) - shuffled.min(axis=1) >= observed - 1e-9))
    return (1 + wider) / (1 + shuffles)


class PromptSearch(Strategy):
    """Scores candidate prompts by two-fold validation on the training examples; keeps the best."""

    name = "prompt-search"
    repeatable = True  # a fit on the cached vectors: every fold partition, in seconds
    track = "prompt"
    selects_on_metric = True  # the candidate kept is the one the task's metric scores best

    def __init__(self, context: StrategyContext, templates: Sequence[str] = ()) -> None:
        self.context = context
        self.templates = templates

    def _candidates(self) -> list[Candidate]:
        templates = list(dict.fromkeys([self.context.template, *self.templates, *BUILT_IN_TEMPLATES]))
        sources = ["readable", "keywords", "typical-example"]
        if self.context.label_descriptions:
            sources.insert(0, "given")
        candidates = [
            Candidate(f"{source} | {template}", template, source) for template in templates for source in sources
        ]
        for i, variant in enumerate(self.context.prompt_variants):
            template = variant.get("template", self.context.template)
            candidates.append(Candidate(f"variant {i + 1}", template, f"variant:{i}"))
        return candidates

    def _descriptions(self, source: str, train: TrainingSet) -> dict[str, str]:
        by_label = train.by_label()
        if source == "given":
            return {label: self.context.label_descriptions.get(label, readable(label)) for label in train.label_set}
        if source == "keywords":
            return keyword_descriptions(by_label)
        if source == "typical-example":
            vectors = {label: self.context.encoder.embed(texts) for label, texts in by_label.items() if texts}
            return medoid_descriptions(by_label, vectors)
        if source.startswith("variant:"):
            variant = self.context.prompt_variants[int(source.split(":")[1])]
            given = variant.get("label_descriptions") or self.context.label_descriptions
            return {label: given.get(label, readable(label)) for label in train.label_set}
        return {label: readable(label) for label in train.label_set}

    def _zero_shot(self, candidate: Candidate, train: TrainingSet) -> ZeroShot:
        return ZeroShot(self.context, candidate.template, self._descriptions(candidate.descriptions, train)).fit(train)

    def _score(self, gold: Sequence[str], predicted: Sequence[str]) -> float:
        if self.context.validation_score is not None:
            return float(self.context.validation_score(gold, predicted))
        from sklearn.metrics import f1_score

        return float(f1_score(gold, predicted, average="macro", zero_division=0))

    def fit(self, train: TrainingSet) -> PromptSearch:
        self._check_train(train)
        first, second = _split(train, self.context.seed)
        # Two folds (build on one half, score on the other, then swap): with a handful of
        # examples per label a single validation half is too noisy to choose on.
        folds = [(build, held) for build, held in ((first, second), (second, first)) if len(build) and len(held)]
        gold = [label for _, held in folds for label in held.labels]
        self.validated_on_ = len(gold)
        self.scores_: dict[str, float] = {}
        held_out: dict[str, list[str]] = {}
        candidates = self._candidates()
        for candidate in candidates:
            if not folds:
                break
            held_out[candidate.name] = [
                label for build, held in folds for label in self._zero_shot(candidate, build).predict(list(held.texts))
            ]
            self.scores_[candidate.name] = self._score(gold, held_out[candidate.name])
        right = [[answer == label for answer, label in zip(answers, gold)] for answers in held_out.values()]
        self.wording_spread_p_ = round(wording_spread_p(np.array(right).T, self.context.seed), 4) if right else 1.0
        # max() keeps the earliest of equal scores: the task's own prompt and simpler candidates come first.
        best = max(candidates, key=lambda c: self.scores_.get(c.name, 0.0)) if self.scores_ else candidates[0]
        users = candidates[0] if self.context.label_descriptions else None
        self.margin_ = 0.0
        if users is not None and best is not users and self.scores_:
            self.margin_ = replacement_margin(gold, held_out[users.name], held_out[best.name])
            if self.scores_[best.name] - self.scores_[users.name] <= self.margin_:
                best = users  # within the noise of a few held-back examples: keep the user's prompt
        self.chosen_ = best
        # Descriptions built from examples are rebuilt from all of them for the final prompt.
        self.prompt_ = self._zero_shot(best, train)
        self.label_set_ = train.label_set
        return self

    def work(self, examples: int, classes: int = 1) -> float:
        """Return the held-back predictions it makes: every candidate on every example."""
        return float(len(self._candidates()) * examples)

    def predict(self, texts: Sequence[str]) -> list[str]:
        self._check_fitted()
        return self.prompt_.predict(texts)

    def search(self) -> SearchDetails:
        return SearchDetails(self.chosen_.name, dict(self.scores_))

    def describe(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen_.name,
            "validation_scores": self.scores_,  # in the task's decision metric
            "margin_to_replace_yours": round(self.margin_, 6),
            "validated_on": self.validated_on_,  # held-back examples each candidate was scored on
            "wording_spread_p": self.wording_spread_p_,  # chance of a spread as wide with the wording making no difference
            **self.prompt_.describe(),
        }

    def save(self, folder: Path) -> None:
        self._check_fitted()
        document = self.prompt_.prompt_document()
        document.update(
            strategy=self.name, chosen=self.chosen_.name, validation_scores=dict(self.scores_), validated_on=self.validated_on_,
            wording_spread_p=self.wording_spread_p_,
        )
        write_yaml(folder / PROMPT_FILE, document)

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> PromptSearch:
        saved = read_yaml(folder / PROMPT_FILE)
        strategy = cls(context)
        strategy.prompt_ = ZeroShot.from_prompt(context, saved["template"], saved["label_descriptions"], saved["labels"])
        strategy.chosen_ = Candidate(str(saved.get("chosen", "saved")), saved["template"], "saved")
        strategy.scores_ = dict(saved.get("validation_scores") or saved.get("validation_macro_f1") or {})
        strategy.margin_ = 0.0
        strategy.validated_on_ = int(saved.get("validated_on") or 0)
        strategy.wording_spread_p_ = saved.get("wording_spread_p")  # None in prompts saved before it was recorded
        strategy.label_set_ = strategy.prompt_.label_set_
        return strategy
