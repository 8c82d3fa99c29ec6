"""Fine-tune track on a causal LM: LoRA supervised fine-tuning, then the same prompts answered
by the tuned model; `lora+few-shot` shows it demonstrations too, in training and after."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.finetune.progress import StepProgress
from shouldtune.strategies.llm.prompting import LLMStrategy
from shouldtune.strategies.llm.prompts import Demonstration, render


class LoRA(LLMStrategy):
    """peft LoRA on prompt -> output pairs (loss on the output tokens only); predicts with the adapter loaded."""

    name = "lora"
    track = "finetune"
    requires = frozenset({"generate", "fine-tune"})

    def __init__(
        self,
        context: StrategyContext,
        rank: PositiveInt = 8,
        alpha: PositiveInt = 16,
        dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05,
        learning_rate: PositiveFloat = 2e-4,
        epochs: PositiveInt = 3,
        max_steps: PositiveInt = 200,
        batch_size: PositiveInt = 8,
        target_modules: str | Sequence[str] = "all-linear",
        save_adapter_to: str | None = None,
        instruction: str | None = None,
    ) -> None:
        super().__init__(context, instruction)
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.target_modules = target_modules
        self.save_adapter_to = save_adapter_to

    def _training_demonstrations(self, train: TrainingSet) -> list[list[Demonstration]]:
        """Return the demonstrations shown before each training example (none for plain LoRA)."""
        return [[] for _ in train.texts]

    def fit(self, train: TrainingSet) -> LoRA:
        from shouldtune.backends.hf_lora import LoRASettings

        self._check_train(train)
        self._fit_prompt(train)
        self._fit_demonstrations(train)
        lm = self.context.llm
        prompts = [
            lm.chat_format(render(self.instruction_, self.context.template, shown, text))
            for text, shown in zip(train.texts, self._training_demonstrations(train))
        ]
        targets = [lm.answer_prefix + output for output in train.labels]
        settings = LoRASettings(
            rank=self.rank,
            alpha=self.alpha,
            dropout=self.dropout,
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            max_steps=self.max_steps,
            batch_size=self.batch_size,
            target_modules=self.target_modules if isinstance(self.target_modules, str) else tuple(self.target_modules),
            save_to=f"{self.save_adapter_to}/{self.name}-{len(train)}-examples-seed{self.context.seed}" if self.save_adapter_to else None,
        )
        total = min(self.max_steps, self.epochs * math.ceil(len(train) / self.batch_size))
        steps = StepProgress(self.context.progress, f"training {self.name}", total)
        try:
            self.tuned_ = lm.fine_tune(prompts, targets, settings, seed=self.context.seed, on_step=lambda loss: steps.step())
        finally:
            steps.close()
        return self

    def work(self, examples: int, classes: int = 1) -> float:
        """Return the examples through a forward and backward pass: a batch per step."""
        return float(min(self.max_steps, self.epochs * math.ceil(examples / self.batch_size)) * self.batch_size)

    def _fit_demonstrations(self, train: TrainingSet) -> None:
        """Choose the demonstrations shown at prediction (none for plain LoRA)."""

    def _answering_model(self) -> Any:
        return self.tuned_

    def describe(self) -> dict[str, Any]:
        losses = self.tuned_.losses
        described = {
            **super().describe(),
            "steps": len(losses),
            "first_loss": round(losses[0], 4) if losses else None,
            "final_loss": round(losses[-1], 4) if losses else None,
            "rank": self.rank,
            "alpha": self.alpha,
            "learning_rate": self.learning_rate,
            "trained_tokens": self.tuned_.trained_tokens,
        }
        if self.save_adapter_to:
            described["adapter"] = str(self.tuned_.folder)
        return described


class LoRAFewShot(LoRA):
    """LoRA trained and used with k random demonstrations before each input."""

    name = "lora+few-shot"

    def __init__(
        self,
        context: StrategyContext,
        k: PositiveInt = 4,
        rank: PositiveInt = 8,
        alpha: PositiveInt = 16,
        dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05,
        learning_rate: PositiveFloat = 2e-4,
        epochs: PositiveInt = 3,
        max_steps: PositiveInt = 200,
        batch_size: PositiveInt = 8,
        target_modules: str | Sequence[str] = "all-linear",
        save_adapter_to: str | None = None,
        instruction: str | None = None,
    ) -> None:
        super().__init__(
            context, rank, alpha, dropout, learning_rate, epochs, max_steps, batch_size, target_modules, save_adapter_to, instruction
        )
        self.k = k

    def _training_demonstrations(self, train: TrainingSet) -> list[list[Demonstration]]:
        # Each training example sees k others (never itself), drawn with the trial's seed.
        rng = np.random.default_rng(self.context.seed + 1)
        shown = []
        for i in range(len(train)):
            others = [j for j in rng.permutation(len(train)) if j != i][: self.k]
            shown.append([(train.texts[j], train.labels[j]) for j in others])
        return shown

    def _fit_demonstrations(self, train: TrainingSet) -> None:
        order = np.random.default_rng(self.context.seed).permutation(len(train))[: self.k]
        self.shown_ = [(train.texts[i], train.labels[i]) for i in order]

    def _demonstrations(self, texts: Sequence[str]) -> list[list[Demonstration]]:
        return [self.shown_ for _ in texts]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": len(self.shown_)}
