"""prompt-search on a causal LM: choose the instruction by its score on held-back training examples.

Candidates: the task's instruction, the user's variants, a small library of instruction
styles, and (when `propose_rewrites` > 0) rewrites the model itself proposes. Each is scored,
with k demonstrations, on a validation half of the training examples; model calls (answers
plus rewrites) stay within `budget`. The test set is never looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import NonNegativeInt, PositiveInt

from shouldtune.records import SearchDetails
from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.llm.prompting import LLMStrategy, read_demonstrations, saved_demonstrations
from shouldtune.strategies.llm.prompts import Demonstration, render
from shouldtune.strategies.prompt.search import replacement_margin, wording_spread_p

# Styles that often move small instruction-tuned models; "{instruction}" is the task's instruction.
INSTRUCTION_STYLES: tuple[tuple[str, str], ...] = (
    ("expert", "You are an expert annotator. {instruction}"),
    ("answer-only", "{instruction} Reply with the answer only, on one line, with no explanation."),
    ("careful", "Read the input carefully, then answer. {instruction}"),
)
REWRITE_ASKS = (
    "clearer and more precise",
    "shorter",
    "more specific about the answer format",
)
REWRITE_PROMPT = (
    "Rewrite the following instruction for a language model so that it is {ask}. Keep every label name "
    "and the answer format exactly as they are. Reply with the new instruction only.\n\nInstruction: {instruction}"
)


def most_candidates(instructions: int, variants: int, rewrites: int) -> int:
    """Return the most candidates `_candidates` makes (the same text twice is scored once)."""
    return 1 + instructions + variants + len(INSTRUCTION_STYLES) + rewrites


def search_shape(examples: int, candidates: int, remaining: int) -> tuple[int, int]:
    """Return how many of the candidates a search on `examples` training examples scores, and on
    how many of the validation half each, with `remaining` model calls: at least one answer each."""
    scored = min(candidates, max(1, remaining))
    return scored, min(examples // 2, max(1, remaining // scored))


def search_calls(examples: int, candidates: int, budget: int, rewrites: int = 0) -> int:
    """Return the model calls one search makes: its `rewrites`, then the answers `search_shape` allows."""
    scored, validation = search_shape(examples, candidates, max(budget - rewrites, 0))
    return rewrites + scored * validation


def _halves(train: TrainingSet, seed: int) -> tuple[list[int], list[int]]:
    """Return (build, validation) positions: a seeded random half of the examples held back."""
    order = np.random.default_rng(seed).permutation(len(train)).tolist()
    half = len(order) // 2
    return sorted(order[half:]), sorted(order[:half])


class PromptSearchLLM(LLMStrategy):
    """Scores candidate instructions on held-back training examples; keeps the best."""

    name = "prompt-search"
    selects_on_metric = True  # the candidate kept is the one the task's metric scores best

    def __init__(
        self,
        context: StrategyContext,
        instructions: Sequence[str] = (),
        k: PositiveInt = 4,
        budget: PositiveInt = 200,
        propose_rewrites: NonNegativeInt = 0,
        instruction: str | None = None,
    ) -> None:
        super().__init__(context, instruction)
        self.instructions = instructions
        self.k = k
        self.budget = budget
        self.propose_rewrites = propose_rewrites

    def _candidates(self) -> list[tuple[str, str]]:
        base = self.instruction_
        candidates = [("task", base)]
        candidates += [(f"user {i + 1}", text) for i, text in enumerate(self.instructions)]
        candidates += [
            (f"variant {i + 1}", variant["instruction"])
            for i, variant in enumerate(self.context.prompt_variants)
            if variant.get("instruction")
        ]
        candidates += [(style, pattern.replace("{instruction}", base)) for style, pattern in INSTRUCTION_STYLES]
        if self.propose_rewrites > 0:
            asks = [REWRITE_ASKS[i % len(REWRITE_ASKS)] for i in range(self.propose_rewrites)]
            lm = self.context.llm
            requests = [lm.chat_format(REWRITE_PROMPT.format(ask=ask, instruction=base)) for ask in asks]
            rewrites = lm.generate(requests, max_new_tokens=max(lm.max_new_tokens, 120), stop=("\n\n",))
            self.calls_ += len(requests)
            candidates += [(f"rewrite ({ask})", text) for ask, text in zip(asks, rewrites) if text.strip()]
        unique: dict[str, str] = {}
        for name, text in candidates:
            unique.setdefault(text, name)
        return [(name, text) for text, name in unique.items()]

    def _score(self, gold: Sequence[str], predicted: Sequence[str]) -> float:
        if self.context.validation_score is not None:
            return float(self.context.validation_score(gold, predicted))
        return float(np.mean([g == p for g, p in zip(gold, predicted)]))

    def _random_demonstrations(self, train: TrainingSet, positions: Sequence[int]) -> list[Demonstration]:
        rng = np.random.default_rng(self.context.seed)
        return [(train.texts[i], train.labels[i]) for i in rng.permutation(list(positions))[: self.k]] if len(positions) else []

    def fit(self, train: TrainingSet) -> PromptSearchLLM:
        self._check_train(train)
        self._fit_prompt(train)
        self.calls_ = 0
        self.scores_: dict[str, float] = {}
        candidates = self._candidates()
        build, validation = _halves(train, self.context.seed)
        scored, size = search_shape(len(train), len(candidates), max(self.budget - self.calls_, 0))
        candidates, validation = candidates[:scored], validation[:size]
        self.validated_on_ = len(validation)
        chosen = candidates[0]
        self.margin_ = 0.0
        self.wording_spread_p_ = 1.0
        if validation:
            lm = self.context.llm
            shown = self._random_demonstrations(train, build)
            gold = [train.labels[i] for i in validation]
            answers = {}
            for name, text in candidates:
                prompts = [lm.chat_format(render(text, self.context.template, shown, train.texts[i])) for i in validation]
                answers[name] = self._answer(lm, prompts)
                self.scores_[name] = round(self._score(gold, answers[name]), 6)
                self.calls_ += len(prompts)
            # Each answer scored alone (1 or 0 for a label), so the wordings' answers can be shuffled among them.
            scored_alone = [[self._score([label], [answer]) for label, answer in zip(gold, answers[name])] for name, _ in candidates]
            self.wording_spread_p_ = round(wording_spread_p(np.array(scored_alone).T, self.context.seed), 4)
            # max() keeps the earliest of equal scores: the task's own instruction comes first.
            chosen = max(candidates, key=lambda candidate: self.scores_[candidate[0]])
            users = self.instruction or self.context.instruction
            if users and chosen is not candidates[0]:
                # The user's own instruction stays unless beaten by more than a few examples' noise.
                self.margin_ = replacement_margin(gold, answers[candidates[0][0]], answers[chosen[0]])
                if self.scores_[chosen[0]] - self.scores_[candidates[0][0]] <= self.margin_:
                    chosen = candidates[0]
        self.chosen_ = chosen[0]
        self.instruction_ = chosen[1]
        self.shown_ = self._random_demonstrations(train, range(len(train)))
        return self

    def work(self, examples: int, classes: int = 1) -> float:
        """Return the most model calls its search makes."""
        return float(self.budget)

    def _demonstrations(self, texts: Sequence[str]) -> list[list[Demonstration]]:
        return [self.shown_ for _ in texts]

    def search(self) -> SearchDetails:
        return SearchDetails(self.chosen_, dict(self.scores_))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "chosen": self.chosen_,
            "validation_scores": self.scores_,
            "margin_to_replace_yours": round(self.margin_, 6),
            "validated_on": self.validated_on_,  # held-back examples each candidate was scored on
            "wording_spread_p": self.wording_spread_p_,  # chance of a spread as wide with the wording making no difference
            "search_calls": self.calls_,
            "k": len(self.shown_),
        }

    def _settings(self) -> dict[str, Any]:
        return {"k": self.k, "budget": self.budget, "propose_rewrites": self.propose_rewrites}

    def _learned(self) -> dict[str, Any]:
        # `instruction` above is the chosen candidate; these say how it was chosen.
        return {
            "chosen": self.chosen_,
            "validation_scores": dict(self.scores_),
            "margin_to_replace_yours": round(self.margin_, 6),
            "validated_on": self.validated_on_,  # held-back examples each candidate was scored on
            "wording_spread_p": self.wording_spread_p_,  # chance of a spread as wide with the wording making no difference
            "search_calls": self.calls_,
            "demonstrations": saved_demonstrations(self.shown_),
        }

    def _restore(self, saved: dict[str, Any], folder: Path) -> None:
        self.chosen_ = str(saved.get("chosen", "saved"))
        self.scores_ = dict(saved.get("validation_scores") or {})
        self.margin_ = float(saved.get("margin_to_replace_yours") or 0.0)
        self.calls_ = int(saved.get("search_calls") or 0)
        self.validated_on_ = int(saved.get("validated_on") or 0)
        self.wording_spread_p_ = saved.get("wording_spread_p")  # None in searches saved before it was recorded
        self.shown_ = read_demonstrations(saved["demonstrations"])
