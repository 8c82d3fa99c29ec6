"""setfit: contrastive fine-tuning of the encoder body, then a logistic-regression head (SetFit library).

The training budget follows the data as the SetFit library's own defaults do: its
"oversampling" of pairs — as many positive pairs (same label) as there are distinct negative
ones, or the other way round, one epoch, batches of 16 — up to `max_steps`. With 4 examples
of each of 6 labels that is 30 steps, with 6 of each 68, from 8 of each the cap of 100.
The default keeps a floor of `min_steps` = 100 all the same: on TREC at 4 per class the
library's 30 steps scored macro-F1 0.42 (0.34–0.51) against 0.54 (0.45–0.63) for 100 steps,
outside the interval, so following the data costs accuracy below about 8 examples per
class. `min_steps=0` follows the library's budget (faster, for a first look). (`num_iterations`, the
older default, makes 2 × num_iterations pairs per example instead.) A fixed step count would
spend the same time on 16 examples as on 1,600.

Pairs are scored with SetFit's own loss (cosine similarity against 1 or 0, mean squared
error), but each distinct text of a batch goes through the encoder once
(`distinct_texts.DistinctTextsCosineSimilarityLoss`): with few examples a batch of 16 pairs
holds the same few texts many times over. On sst2 at 6 examples per class a fit takes 0.44
of the library's time. The distinct texts go through in groups of like length, each padded to
its own longest: on Banking77 a fit takes 0.64 of the time of one padded call
(benchmarks/setfit_distinct_texts.py, docs/benchmarks.md).

The head weighs the classes inversely to their counts, as linear-probe's does.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

from shouldtune.backends.encoder import encode
from shouldtune.backends.quiet import quiet_model_libraries
from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet
from shouldtune.strategies.finetune.progress import StepProgress, seed_everything
from shouldtune.strategies.saved import ENCODER_FOLDER, HEAD_FILE, load_encoder, load_logistic_head, save_encoder, save_logistic_head


class SetFit(Strategy):
    """SetFit (Tunstall et al. 2022) via the `setfit` library, on a copy of the backend's encoder."""

    name = "setfit"
    track = "finetune"
    requires = frozenset({"embed", "tune-encoder"})

    def __init__(
        self,
        context: StrategyContext,
        num_iterations: PositiveInt | None = None,
        num_epochs: PositiveInt = 1,
        batch_size: PositiveInt = 16,
        max_steps: PositiveInt = 100,
        min_steps: NonNegativeInt = 100,
        body_learning_rate: PositiveFloat = 2e-5,
    ) -> None:
        self.context = context
        self.num_iterations = num_iterations
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.min_steps = min_steps
        self.body_learning_rate = body_learning_rate

    def fit(self, train: TrainingSet) -> SetFit:
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
        from sklearn.linear_model import LogisticRegression
        from transformers import PrinterCallback, TrainerCallback

        from shouldtune.strategies.finetune.distinct_texts import DistinctTextsCosineSimilarityLoss

        self._check_train(train)
        seed_everything(self.context.seed)
        self.label_set_ = train.label_set
        body = self.context.encoder.trainable_copy()
        head = LogisticRegression(max_iter=2000, class_weight="balanced")
        self.model_ = SetFitModel(model_body=body, model_head=head, labels=list(train.label_set))
        self.steps_ = self.planned_steps(list(Counter(train.labels).values()))
        steps = StepProgress(self.context.progress, f"training {self.name}", self.steps_)

        class _Advance(TrainerCallback):
            def on_step_end(self, *args: Any, **kwargs: Any) -> None:
                steps.step()

        with tempfile.TemporaryDirectory(prefix="shouldtune-setfit-") as scratch:
            arguments = TrainingArguments(
                output_dir=scratch,
                batch_size=self.batch_size,
                num_epochs=self.num_epochs,
                num_iterations=self.num_iterations,
                max_steps=self.steps_,
                body_learning_rate=self.body_learning_rate,
                loss=DistinctTextsCosineSimilarityLoss,
                seed=self.context.seed,
                report_to="none",
                save_strategy="no",
                logging_strategy="no",
                logging_first_step=False,
                show_progress_bar=False,
            )
            dataset = Dataset.from_dict({"text": list(train.texts), "label": list(train.labels)})
            try:
                with quiet_model_libraries():
                    trainer = Trainer(model=self.model_, args=arguments, train_dataset=dataset, callbacks=[_Advance()])
                    # Without its own bar the trainer prints each log dict; our bar shows progress instead.
                    trainer.remove_callback(PrinterCallback)
                    trainer.train()
            finally:
                steps.close()
        return self

    def planned_steps(self, label_counts: Sequence[int]) -> int:
        """Return the optimiser steps a fit on examples with these label counts takes: its pairs over the
        batch size, per epoch, capped at `max_steps`."""
        examples = sum(label_counts)
        if self.num_iterations is not None:
            pairs = 2 * self.num_iterations * examples
        else:  # SetFit's oversampling: the larger of the distinct positive and negative pairs, twice
            positive = sum(count * (count - 1) // 2 for count in label_counts)
            negative = examples * (examples - 1) // 2 - positive
            pairs = 2 * max(positive, negative)
        return max(1, min(self.max_steps, max(self.min_steps, math.ceil(pairs / self.batch_size) * self.num_epochs)))

    def training_steps(self, examples: int, classes: int = 1) -> int:
        """Return the optimiser steps a fit on `examples` examples, spread evenly over `classes` labels, takes."""
        return self.planned_steps([examples // max(classes, 1)] * max(classes, 1))

    def work(self, examples: int, classes: int = 1) -> float:
        """Return the texts through a forward and backward pass: per step, the distinct texts of its pairs."""
        return float(self.training_steps(examples, classes) * min(2 * self.batch_size, max(examples, 1)))

    def predict(self, texts: Sequence[str]) -> list[str]:
        self._check_fitted()
        if len(texts) == 0:
            return []
        # The fine-tuned body embeds with its own weights (never the shared cache).
        vectors = encode(self.model_.model_body, texts, 64, self.context.progress)
        return [str(label) for label in self._labels(self.model_.model_head.predict(vectors))]

    def _labels(self, predicted: Any) -> list[str]:
        # The head was fitted on label ids or on strings depending on the setfit version.
        return [self.label_set_[int(p)] if not isinstance(p, str) else p for p in predicted]

    def describe(self) -> dict[str, Any]:
        return {"steps": self.steps_, "max_steps": self.max_steps, "num_iterations": self.num_iterations, "batch_size": self.batch_size}

    def save(self, folder: Path) -> None:
        self._check_fitted()
        save_encoder(self.model_.model_body, folder / ENCODER_FOLDER)
        save_logistic_head(self.model_.model_head, folder / HEAD_FILE, labels=list(self.label_set_))

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> SetFit:
        from setfit import SetFitModel

        head, metadata = load_logistic_head(folder / HEAD_FILE)
        strategy = cls(context)
        strategy.label_set_ = tuple(metadata["labels"])
        strategy.steps_ = 0  # trained elsewhere: the export's manifest tells how
        body = load_encoder(folder / ENCODER_FOLDER)
        strategy.model_ = SetFitModel(model_body=body, model_head=head, labels=list(strategy.label_set_))
        return strategy
