"""Fine-tune track on an API model: a hosted fine-tuning job, then the same prompts answered by
the tuned model."""

from __future__ import annotations

from typing import Any

from pydantic import PositiveInt

from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.llm.prompting import LLMStrategy
from shouldtune.strategies.llm.prompts import render


class HostedFineTune(LLMStrategy):
    """The provider fine-tunes the model on prompt -> output pairs (fixed epochs and seed); predicts with the tuned model."""

    name = "hosted-finetune"
    track = "finetune"
    requires = frozenset({"generate", "hosted-fine-tune"})
    opt_in = True  # a paid job that may take hours: never in the default list

    def __init__(self, context: StrategyContext, n_epochs: PositiveInt = 3, suffix: str | None = None, instruction: str | None = None) -> None:
        super().__init__(context, instruction)
        self.n_epochs = n_epochs
        self.suffix = suffix

    def fit(self, train: TrainingSet) -> HostedFineTune:
        self._check_train(train)
        self._fit_prompt(train)
        lm = self.context.llm
        prompts = [lm.chat_format(render(self.instruction_, self.context.template, [], text)) for text in train.texts]
        self.tuned_ = lm.fine_tune_hosted(prompts, list(train.labels), n_epochs=self.n_epochs, seed=self.context.seed, suffix=self.suffix)
        return self

    def work(self, examples: int, classes: int = 1) -> float:
        """Return the examples trained on, every epoch."""
        return float(examples * self.n_epochs)

    def _answering_model(self) -> Any:
        return self.tuned_.llm

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "job": self.tuned_.job_id, "fine_tuned_model": self.tuned_.model,
                "n_epochs": self.n_epochs, "trained_tokens": self.tuned_.trained_tokens}
