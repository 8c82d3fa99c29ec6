"""full: end-to-end fine-tuning of the encoder with a classification head (cross-entropy).

It trains `epochs` passes, at least `min_steps` (default 0) and at most `max_steps` steps.
The head starts as torch draws it (`head_init="random"`), or where linear-probe ends
(`head_init="linear-probe"`: its logistic regression on the frozen vectors, then every weight
trains; "LP-FT", Kumar et al., ICLR 2022). On 14 examples 4 epochs are 4 steps, which leave a
random head near its draw: at 7 examples per class the probe's start with `min_steps=25`
scored 8.8 to 21.7 points of macro-F1 above the default (sst2, sms_spam, trec; on trec at 26
per class 9.0; benchmarks/full_start.py). It is not the default: in the decision-quality
benchmark it made `full` a rival of setfit that the cross-validated scores could not rank,
and the strategy handed over was within a point of the best less often (docs/benchmarks.md,
"full's start").

From `early_stopping_per_class` examples of every label (default 200; None: never) it holds
back a stratified slice, keeps the epoch with the lowest held-back loss and stops after
`patience` epochs without a better one. On TREC the slice cost accuracy at 8-64 per class and
not at 200 (see `backends/early_stopping.py`).
Each batch goes through the encoder in groups of like length (`length_groups`), the same
embeddings with less padding. The loss weighs each class inversely to its count in the
training rows (`balanced_class_weights`), as the logistic heads of linear-probe and setfit do:
on imbalanced data an unweighted fit learns to answer the majority; on exactly balanced data
the loss is the plain one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from shouldtune.backends.early_stopping import EarlyStopping, EpochRecord, held_back_positions
from shouldtune.backends.encoder import length_order
from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.class_weights import balanced_class_weights
from shouldtune.strategies.finetune.progress import StepProgress, seed_everything
from shouldtune.strategies.saved import ENCODER_FOLDER, HEAD_FILE, load_arrays, load_encoder, save_arrays, save_encoder


#: Devices whose torch has a fused AdamW: one pass over every weight per step instead of a loop of small operations,
#: the same update. On this project's CPU a step over MiniLM's 22.7M weights takes 11 ms fused against 52 ms
#: (setfit's trainer uses it already: transformers' default optimiser).
FUSED_ADAMW_DEVICES = frozenset({"cpu", "cuda"})

#: How far below the lowest learned bias a label the probe never saw starts (logits): never the answer.
UNSEEN_LABEL_MARGIN = 10.0


def adamw(parameter_groups: list[dict[str, Any]], device_type: str) -> Any:
    """Return AdamW over the parameter groups, fused where the device has it."""
    import torch

    return torch.optim.AdamW(parameter_groups, fused=device_type in FUSED_ADAMW_DEVICES)


class FullFineTune(Strategy):
    """Trains every encoder weight and a linear head on the pooled embedding."""

    name = "full"
    track = "finetune"
    requires = frozenset({"embed", "tune-encoder"})

    def __init__(
        self,
        context: StrategyContext,
        epochs: PositiveInt = 4,
        batch_size: PositiveInt = 16,
        learning_rate: PositiveFloat = 5e-5,
        head_learning_rate: PositiveFloat = 1e-2,
        max_steps: PositiveInt = 300,
        min_steps: NonNegativeInt = 0,
        patience: PositiveInt = 1,
        held_back: Annotated[float, Field(gt=0, lt=1)] = 0.1,
        early_stopping_per_class: PositiveInt | None = 200,
        head_init: Literal["random", "linear-probe"] = "random",
    ) -> None:
        self.context = context
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.max_steps = max_steps
        self.min_steps = min_steps
        self.patience = patience
        self.held_back = held_back
        self.early_stopping_per_class = early_stopping_per_class
        self.head_init = head_init

    def fit(self, train: TrainingSet) -> FullFineTune:
        import torch

        self._check_train(train)
        seed_everything(self.context.seed)
        self.label_set_ = train.label_set
        self.model_ = self.context.encoder.trainable_copy()
        dimension = int(self.model_.get_embedding_dimension())
        self.head_ = torch.nn.Linear(dimension, len(train.label_set))
        optimiser = adamw(
            [
                {"params": self.model_.parameters(), "lr": self.learning_rate},
                {"params": self.head_.parameters(), "lr": self.head_learning_rate},
            ],
            next(self.model_.parameters()).device.type,
        )
        held = held_back_positions(
            train.labels, self.held_back, self.early_stopping_per_class, self.context.seed,
            epochs=self.epochs, patience=self.patience, max_steps=self.max_steps, batch_size=self.batch_size,
        )
        rows = sorted(set(range(len(train))) - set(held))
        texts = [train.texts[i] for i in rows]
        targets = torch.tensor([train.label_set.index(train.labels[i]) for i in rows])
        self.class_weights_ = balanced_class_weights(targets.tolist(), len(train.label_set))
        weights = None if self.class_weights_ is None else torch.tensor(self.class_weights_, dtype=torch.float32)
        if self.head_init == "linear-probe":
            self._start_head_from_probe(TrainingSet(tuple(texts), tuple(train.labels[i] for i in rows), train.label_set))
        held_texts = [train.texts[i] for i in held]
        held_targets = torch.tensor([train.label_set.index(train.labels[i]) for i in held])
        total = self.training_steps(len(rows))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1.0 - step / max(total, 1))
        generator = np.random.default_rng(self.context.seed)
        progress = StepProgress(self.context.progress, f"training {self.name}", total)
        stopping = EarlyStopping(self.patience)
        best_weights: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.losses_: list[float] = []
        held_back_losses: list[float] = []
        epochs_run = 0
        self.model_.train()
        try:
            while len(self.losses_) < total and not (held and stopping.should_stop):
                order = generator.permutation(len(rows))
                for start in range(0, len(order), self.batch_size):
                    if len(self.losses_) >= total:
                        break
                    batch = order[start : start + self.batch_size]
                    logits = self._logits([texts[i] for i in batch])
                    loss = torch.nn.functional.cross_entropy(logits, targets[batch], weight=weights)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    schedule.step()
                    self.losses_.append(float(loss.detach()))
                    progress.step()
                epochs_run += 1
                if held:
                    held_back_losses.append(self._held_back_loss(held_texts, held_targets, weights))
                    if stopping.update(held_back_losses[-1]):
                        best_weights = (_copy(self.model_.state_dict()), _copy(self.head_.state_dict()))
        finally:
            progress.close()
        self.model_.eval()
        if best_weights is not None and stopping.best_epoch < stopping.epochs_run:
            self.model_.load_state_dict(best_weights[0])
            self.head_.load_state_dict(best_weights[1])
        self.epochs_ = EpochRecord(
            epochs_run=epochs_run,
            held_back_examples=len(held),
            held_back_losses=tuple(held_back_losses),
            best_epoch=stopping.best_epoch if held else None,
            stopped_early=bool(held) and len(self.losses_) < total,
        )
        return self

    def _start_head_from_probe(self, train: TrainingSet) -> None:
        """Set the head to linear-probe's logistic regression on the frozen vectors of `train` (LP-FT).

        Labels the probe never saw get no weight and a bias far below the rest: never the answer,
        as a probe would never give them. Binary regression's one row of weights becomes two
        opposite halves, the same probabilities under the softmax. One label: the head stays as
        torch draws it.
        """
        import torch

        from shouldtune.strategies.finetune.linear_probe import LinearProbe

        probe = LinearProbe(self.context).fit(train)
        if probe.head_ is None:
            return
        coef, intercept = probe.head_.coef_, probe.head_.intercept_
        if len(probe.head_.classes_) == 2:
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        weight = np.zeros(tuple(self.head_.weight.shape), dtype=np.float32)
        bias = np.full(len(self.label_set_), float(intercept.min()) - UNSEEN_LABEL_MARGIN, dtype=np.float32)
        for row, label in enumerate(probe.head_.classes_):
            weight[self.label_set_.index(str(label))] = coef[row]
            bias[self.label_set_.index(str(label))] = intercept[row]
        with torch.no_grad():
            self.head_.weight.copy_(torch.from_numpy(weight))
            self.head_.bias.copy_(torch.from_numpy(bias))

    def training_steps(self, examples: int, classes: int = 1) -> int:
        """Return the most optimiser steps a fit on `examples` examples takes: `epochs` passes, at least
        `min_steps`, capped at `max_steps` (the labels do not change it).

        Early stopping trains on fewer examples and may stop sooner: this is an upper bound, the
        same on every run, which the adaptive plan compares.
        """
        return min(self.max_steps, max(self.min_steps, self.epochs * math.ceil(examples / self.batch_size)))

    def work(self, examples: int, classes: int = 1) -> float:
        """Return the texts through a forward and backward pass: every example once an epoch, over the
        steps `training_steps` counts (an epoch of fewer examples than a batch is one step of them all)."""
        per_epoch = max(1, math.ceil(examples / self.batch_size))
        whole, rest = divmod(self.training_steps(examples), per_epoch)
        return float(whole * examples + min(rest * self.batch_size, examples))

    def _held_back_loss(self, texts: Sequence[str], targets: Any, weights: Any = None) -> float:
        """Return the mean cross-entropy on the held-back examples, each weighed as in training (`weights`
        per class, None: alike), dropout off; training mode is restored."""
        import torch

        self.model_.eval()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(texts), 64):
                logits = self._logits(texts[start : start + 64])
                total += float(
                    torch.nn.functional.cross_entropy(logits, targets[start : start + 64], weight=weights, reduction="sum")
                )
        self.model_.train()
        return total / (len(texts) if weights is None else float(weights[targets].sum()))

    def _logits(self, texts: Sequence[str]) -> Any:
        import torch

        from shouldtune.strategies.finetune.length_groups import embed_in_length_groups

        # `preprocess` is the current name of sentence-transformers' `tokenize`.
        prepare = getattr(self.model_, "preprocess", None) or self.model_.tokenize
        features = prepare(list(texts))
        features = {key: value.to(self.model_.device) if hasattr(value, "to") else value for key, value in features.items()}
        # A batch of 16 random texts is a third padding or more: it goes through in groups of like length.
        return self.head_(embed_in_length_groups(self.model_, features, torch.arange(len(texts))))

    def predict(self, texts: Sequence[str]) -> list[str]:
        import torch

        self._check_fitted()
        # Longest first, as the encoder embeds, so each batch pads only to texts of its own length.
        order = length_order(self.model_, texts)
        predicted = [""] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(texts), 64):
                rows = order[start : start + 64]
                logits = self._logits([texts[i] for i in rows])
                for row, label in zip(rows, logits.argmax(dim=1).tolist()):
                    predicted[row] = self.label_set_[label]
        return predicted

    def describe(self) -> dict[str, Any]:
        return {
            "steps": len(self.losses_),
            "final_loss": round(self.losses_[-1], 4) if self.losses_ else None,
            **self.epochs_.describe(),
        }

    def save(self, folder: Path) -> None:
        self._check_fitted()
        save_encoder(self.model_, folder / ENCODER_FOLDER)
        save_arrays(
            folder / HEAD_FILE,
            {"weight": self.head_.weight.detach().cpu().numpy(), "bias": self.head_.bias.detach().cpu().numpy()},
            {"kind": "torch.nn.Linear on the sentence embedding", "labels": list(self.label_set_)},
        )

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> FullFineTune:
        import torch

        arrays, metadata = load_arrays(folder / HEAD_FILE)
        strategy = cls(context)
        strategy.label_set_ = tuple(metadata["labels"])
        strategy.model_ = load_encoder(folder / ENCODER_FOLDER)
        strategy.model_.eval()
        labels, dimension = arrays["weight"].shape
        strategy.head_ = torch.nn.Linear(dimension, labels)
        strategy.head_.load_state_dict({name: torch.from_numpy(arrays[name].copy()) for name in ("weight", "bias")})
        strategy.losses_, strategy.epochs_ = [], EpochRecord()
        return strategy


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a state dict's tensors (a state dict holds the live weights, which training changes)."""
    return {name: tensor.detach().clone() for name, tensor in state.items()}
