"""Prompt track on a causal LM: zero-shot, few-shot (random demonstrations) and few-shot-knn
(the demonstrations most similar to the input). The model's weights never change.

Saved, each is its prompt.yaml: the instruction, the template, the labels, where an answer
stops, and the demonstrations it shows (few-shot-knn: the pool it picks them from).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import PositiveInt

from shouldtune.errors import ExportError, TaskFileError
from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.llm.prompts import Demonstration, answer, default_instruction, render, stop_sequences
from shouldtune.strategies.saved import PROMPT_FILE, read_yaml, write_yaml


def saved_demonstrations(demonstrations: Sequence[Demonstration]) -> list[dict[str, str]]:
    """Return demonstrations as prompt.yaml lists them: `{input, output}`, in the order shown."""
    return [{"input": text, "output": output} for text, output in demonstrations]


def read_demonstrations(saved: list[dict[str, str]]) -> list[Demonstration]:
    """Return the demonstrations `saved_demonstrations` wrote."""
    return [(str(item["input"]), str(item["output"])) for item in saved]


class LLMStrategy(Strategy):
    """What every LLM strategy shares: the instruction, the prompt format, and reading answers.

    Subclasses choose the demonstrations (`_demonstrations`) and the model that answers
    (`_answering_model`): the backend's model for prompts, a tuned copy for LoRA.
    """

    track = "prompt"
    requires = frozenset({"generate"})

    def __init__(self, context: StrategyContext, instruction: str | None = None) -> None:
        self.context = context
        self.instruction = instruction

    def _fit_prompt(self, train: TrainingSet) -> None:
        """Set the instruction, labels and stop sequences every prompt of this strategy uses."""
        self.label_set_ = train.label_set
        self.instruction_ = (
            self.instruction
            or self.context.instruction
            or default_instruction(self.context.task_type, train.label_set, self.context.label_descriptions)
        )
        self.stop_ = stop_sequences(train.labels)

    def _demonstrations(self, texts: Sequence[str]) -> list[list[Demonstration]]:
        """Return the demonstrations to show before each input (none by default)."""
        return [[] for _ in texts]

    def _answering_model(self) -> Any:
        return self.context.llm

    def prompts(self, texts: Sequence[str]) -> list[str]:
        """Return the formatted prompt (chat template applied) for each input."""
        lm = self.context.llm
        demonstrations = self._demonstrations(texts)
        return [
            lm.chat_format(render(self.instruction_, self.context.template, shown, text))
            for text, shown in zip(texts, demonstrations)
        ]

    def _answer(self, lm: Any, prompts: Sequence[str]) -> list[str]:
        return answer(
            lm,
            prompts,
            task_type=self.context.task_type,
            label_set=self.label_set_,
            classify_by=self.context.classify_by,
            stop=self.stop_,
        )

    def predict(self, texts: Sequence[str]) -> list[str]:
        self._check_fitted()
        if len(texts) == 0:
            return []
        return self._answer(self._answering_model(), self.prompts(texts))

    def describe(self) -> dict[str, Any]:
        return {"instruction": self.instruction_}

    def save(self, folder: Path) -> None:
        """Write prompt.yaml: the prompt's parts, then the settings and what `fit` chose."""
        self._check_fitted()
        how = " ".join((inspect.getdoc(type(self)) or "").split("\n\n")[0].split())
        write_yaml(
            folder / PROMPT_FILE,
            {
                "strategy": self.name,
                "how": how,
                "instruction": self.instruction_,
                "template": self.context.template,
                "labels": list(self.label_set_),
                # Where an answer is cut, escaped so that a new line reads '\n' and not as a blank line.
                "stop": [stop.encode("unicode_escape").decode("ascii") for stop in self.stop_],
                "settings": self._settings(),
                **self._learned(),
            },
        )

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> LLMStrategy:
        """Return the strategy `save` wrote, answering with `context.llm` (its template is the saved one)."""
        from shouldtune.strategies.registry import check_params

        saved = read_yaml(folder / PROMPT_FILE)
        try:  # the file may have been edited: its settings are checked as a task's are
            settings = check_params(cls.name, saved.get("settings"), "hf")
        except TaskFileError as err:
            key = f"settings{(err.column or '').removeprefix(f'strategy_params.{cls.name}')}"
            raise ExportError(
                f"{key}: {err.problem}", file=folder / PROMPT_FILE, fix=f"{err.fix}; or export the run again"
            ) from None
        strategy = cls(replace(context, template=str(saved["template"])), **settings)
        strategy.instruction_ = str(saved["instruction"])
        strategy.label_set_ = tuple(str(label) for label in saved["labels"])
        strategy.stop_ = tuple(str(stop).encode("ascii").decode("unicode_escape") for stop in saved["stop"])
        strategy._restore(saved, folder)
        return strategy

    def _settings(self) -> dict[str, Any]:
        """Return the hyperparameters `load` passes to `__init__` again (JSON-safe)."""
        return {}

    def _learned(self) -> dict[str, Any]:
        """Return what `fit` chose beyond the instruction (demonstrations...), as prompt.yaml holds it."""
        return {}

    def _restore(self, saved: dict[str, Any], folder: Path) -> None:
        """Set again, from prompt.yaml (and files beside it), what `_learned` wrote."""


class ZeroShotLLM(LLMStrategy):
    """The instruction (with the label list or the output format) and the input; no examples."""

    name = "zero-shot"
    needs_examples = False

    def fit(self, train: TrainingSet) -> ZeroShotLLM:
        self._fit_prompt(train)
        return self


class FewShotLLM(LLMStrategy):
    """The instruction, k training examples drawn at random (the same for every input), the input."""

    name = "few-shot"

    def __init__(self, context: StrategyContext, k: PositiveInt = 4, instruction: str | None = None) -> None:
        super().__init__(context, instruction)
        self.k = k

    def fit(self, train: TrainingSet) -> FewShotLLM:
        self._check_train(train)
        self._fit_prompt(train)
        order = np.random.default_rng(self.context.seed).permutation(len(train))[: self.k]
        self.shown_ = [(train.texts[i], train.labels[i]) for i in order]
        return self

    def _demonstrations(self, texts: Sequence[str]) -> list[list[Demonstration]]:
        return [self.shown_ for _ in texts]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": len(self.shown_)}

    def _settings(self) -> dict[str, Any]:
        return {"k": self.k}

    def _learned(self) -> dict[str, Any]:
        return {"demonstrations": saved_demonstrations(self.shown_)}

    def _restore(self, saved: dict[str, Any], folder: Path) -> None:
        self.shown_ = read_demonstrations(saved["demonstrations"])


class FewShotKNNLLM(LLMStrategy):
    """The instruction, the k training examples most similar to the input (the encoder's cosine
    similarity; the most similar last, next to the input), the input."""

    name = "few-shot-knn"
    requires = frozenset({"generate", "embed"})

    def __init__(self, context: StrategyContext, k: PositiveInt = 4, instruction: str | None = None) -> None:
        super().__init__(context, instruction)
        self.k = k

    def fit(self, train: TrainingSet) -> FewShotKNNLLM:
        self._check_train(train)
        self._fit_prompt(train)
        self.train_ = train
        self.vectors_ = self.context.encoder.embed(list(train.texts))
        return self

    def _demonstrations(self, texts: Sequence[str]) -> list[list[Demonstration]]:
        similarity = self.context.encoder.embed(list(texts)) @ self.vectors_.T
        k = min(self.k, len(self.train_))
        shown = []
        for row in similarity:
            nearest = np.argsort(-row, kind="stable")[:k][::-1]
            shown.append([(self.train_.texts[i], self.train_.labels[i]) for i in nearest])
        return shown

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": min(self.k, len(self.train_))}

    def _settings(self) -> dict[str, Any]:
        return {"k": self.k}

    def _learned(self) -> dict[str, Any]:
        # The pool the k nearest are picked from, for each input, by the bundled encoder.
        return {"demonstrations": saved_demonstrations(list(zip(self.train_.texts, self.train_.labels)))}

    def _restore(self, saved: dict[str, Any], folder: Path) -> None:
        pool = read_demonstrations(saved["demonstrations"])
        self.train_ = TrainingSet(
            tuple(text for text, _ in pool), tuple(output for _, output in pool), self.label_set_
        )
        self.vectors_ = self.context.encoder.embed(list(self.train_.texts))
