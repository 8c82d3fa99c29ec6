"""Fine-tune track on a causal LM: LoRA supervised fine-tuning, then the same prompts answered
by the tuned model; `lora+few-shot` shows it demonstrations too, in training and after.

Saved, each is its prompt.yaml (as the prompt strategies write it, with the LoRA settings and
training losses) and the adapter peft wrote (`adapter/`: adapter_config.json and
adapter_model.safetensors). The base model is not copied: the export's manifest names it,
and `load` attaches the adapter to the model it is handed.

Training stops early on a held-back slice as `full` does (`backends/early_stopping.py`). For
classification each example's loss is weighed by its label's balanced class weight in the
training rows (`class_weights.py`), as the encoder fine-tunes do: on imbalanced data an
unweighted fit learns to answer the common label; balanced data trains with the plain loss.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

from shouldtune.backends.early_stopping import held_back_positions
from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.class_weights import balanced_class_weights
from shouldtune.strategies.finetune.progress import StepProgress
from shouldtune.strategies.saved import missing_from_export
from shouldtune.strategies.llm.prompting import LLMStrategy, read_demonstrations, saved_demonstrations
from shouldtune.strategies.llm.prompts import Demonstration, render

#: The folder an exported LoRA strategy's adapter is saved in (peft's save_pretrained layout).
ADAPTER_FOLDER = "adapter"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

if TYPE_CHECKING:
    from shouldtune.backends.hf_lora import LoRASettings


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
        patience: PositiveInt = 1,
        held_back: Annotated[float, Field(gt=0, lt=1)] = 0.1,
        early_stopping_per_class: PositiveInt | None = None,
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
        self.patience = patience
        self.held_back = held_back
        self.early_stopping_per_class = early_stopping_per_class

    def _training_demonstrations(self, train: TrainingSet) -> list[list[Demonstration]]:
        """Return the demonstrations shown before each training example (none for plain LoRA)."""
        return [[] for _ in train.texts]

    def fit(self, train: TrainingSet) -> LoRA:
        self._check_train(train)
        self._fit_prompt(train)
        self._fit_demonstrations(train)
        lm = self.context.llm
        prompts = [
            lm.chat_format(render(self.instruction_, self.context.template, shown, text))
            for text, shown in zip(train.texts, self._training_demonstrations(train))
        ]
        targets = [lm.answer_prefix + output for output in train.labels]
        settings = self._lora_settings(len(train))
        # Classification holds back a share of each label; generation a random slice (one "label").
        held = set(held_back_positions(
            train.labels if train.label_set else [""] * len(train), settings.held_back, settings.early_stopping_per_class,
            self.context.seed, epochs=settings.epochs, patience=settings.patience, max_steps=settings.max_steps,
            batch_size=settings.batch_size,
        ))
        rows = [i for i in range(len(train)) if i not in held]
        held_rows = sorted(held)
        # Classification weighs each label inversely to its count in the training rows, as the encoder fine-tunes do.
        self.class_weights_ = None
        weights = held_weights = None
        if train.label_set:
            label_indices = [train.label_set.index(label) for label in train.labels]
            self.class_weights_ = balanced_class_weights([label_indices[i] for i in rows], len(train.label_set))
        if self.class_weights_ is not None:
            weights = [self.class_weights_[label_indices[i]] for i in rows]
            held_weights = [self.class_weights_[label_indices[i]] for i in held_rows]
        total = min(self.max_steps, self.epochs * math.ceil(len(rows) / self.batch_size))
        steps = StepProgress(self.context.progress, f"training {self.name}", total)
        try:
            self.tuned_ = lm.fine_tune(
                [prompts[i] for i in rows], [targets[i] for i in rows], settings, seed=self.context.seed,
                on_step=lambda loss: steps.step(),
                held_back_prompts=[prompts[i] for i in held_rows], held_back_targets=[targets[i] for i in held_rows],
                weights=weights, held_back_weights=held_weights,
            )
        finally:
            steps.close()
        return self

    def _lora_settings(self, examples: int) -> LoRASettings:
        """Return the backend's LoRA settings: this strategy's settings of the same names."""
        from shouldtune.backends.hf_lora import LoRASettings

        same = {f.name: getattr(self, f.name) for f in fields(LoRASettings) if hasattr(self, f.name)}
        return LoRASettings(**{
            **same,
            "target_modules": self.target_modules if isinstance(self.target_modules, str) else tuple(self.target_modules),
            "save_to": f"{self.save_adapter_to}/{self.name}-{examples}-examples-seed{self.context.seed}" if self.save_adapter_to else None,
        })

    def work(self, examples: int, classes: int = 1) -> float:
        """Return the most examples through a forward and backward pass (a batch per step): early stopping may use fewer."""
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
            **self.tuned_.epochs.describe(),
        }
        if self.save_adapter_to:
            described["adapter"] = str(self.tuned_.folder)
        return described

    def save(self, folder: Path) -> None:
        """Write prompt.yaml and copy the adapter peft saved (safetensors) into `adapter/`."""
        super().save(folder)
        shutil.copytree(self.tuned_.folder, folder / ADAPTER_FOLDER)

    def _settings(self) -> dict[str, Any]:
        """Return the settings prompt.yaml records: the LoRA settings, named once in LoRASettings."""
        from shouldtune.backends.hf_lora import LoRASettings

        settings = {f.name: getattr(self, f.name) for f in fields(LoRASettings) if hasattr(self, f.name)}
        if not isinstance(self.target_modules, str):
            settings["target_modules"] = list(self.target_modules)
        return settings

    def _learned(self) -> dict[str, Any]:
        return {
            "adapter": f"{ADAPTER_FOLDER}/",
            "trained_tokens": self.tuned_.trained_tokens,
            "losses": [round(loss, 6) for loss in self.tuned_.losses],  # one per optimiser step
            "epochs": self.tuned_.epochs.describe(),  # epochs run, the held-back slice and the epoch kept
        }

    def _restore(self, saved: dict[str, Any], folder: Path) -> None:
        from shouldtune.backends.hf_lora import LoRAModel

        adapter = folder / ADAPTER_FOLDER
        # Only safetensors: without them peft would fall back to a pickled adapter_model.bin.
        for required in ("adapter_config.json", ADAPTER_WEIGHTS):
            if not (adapter / required).is_file():
                raise missing_from_export(adapter / required)
        from shouldtune.backends.early_stopping import EpochRecord

        losses = [float(loss) for loss in saved.get("losses") or []]
        epochs = dict(saved.get("epochs") or {})
        record = EpochRecord(
            epochs_run=int(epochs.get("epochs_run", 0)),
            held_back_examples=int(epochs.get("held_back_examples", 0)),
            held_back_losses=tuple(float(loss) for loss in epochs.get("held_back_losses") or ()),
            best_epoch=epochs.get("best_epoch"),
            stopped_early=bool(epochs.get("stopped_early", False)),
        )
        self.tuned_ = LoRAModel(
            self.context.llm, adapter, losses, trained_tokens=int(saved.get("trained_tokens") or 0), epochs=record
        )


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
        patience: PositiveInt = 1,
        held_back: Annotated[float, Field(gt=0, lt=1)] = 0.1,
        early_stopping_per_class: PositiveInt | None = None,
    ) -> None:
        super().__init__(
            context, rank, alpha, dropout, learning_rate, epochs, max_steps, batch_size, target_modules, save_adapter_to,
            instruction, patience, held_back, early_stopping_per_class,
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

    def _settings(self) -> dict[str, Any]:
        return {"k": self.k, **super()._settings()}

    def _learned(self) -> dict[str, Any]:
        return {**super()._learned(), "demonstrations": saved_demonstrations(self.shown_)}

    def _restore(self, saved: dict[str, Any], folder: Path) -> None:
        super()._restore(saved, folder)
        self.shown_ = read_demonstrations(saved["demonstrations"])
