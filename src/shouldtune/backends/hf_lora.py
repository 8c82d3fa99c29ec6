"""LoRA supervised fine-tuning of an `HFCausalLM` with peft: prompt -> target, loss on the target only.

The adapter is trained on the backend's own model (peft adds small matrices beside the
frozen weights, so a large model is never copied), saved as safetensors, and removed again.
The tuned model answers with the saved adapter loaded back onto the backend's model, which
holds one adapter at a time and removes it before answering as the plain model.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shouldtune.backends.early_stopping import EarlyStopping, EpochRecord
from shouldtune.backends.hf_inference import continuation_logprobs, encode_pairs, generate_greedy, score_continuations
from shouldtune.errors import BackendError

if TYPE_CHECKING:
    from shouldtune.backends.hf import HFCausalLM


@dataclass(frozen=True)
class LoRASettings:
    """LoRA and optimiser settings; the defaults suit a 0.5–8B model and a few hundred examples."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    learning_rate: float = 2e-4
    epochs: int = 3
    max_steps: int = 200
    batch_size: int = 8
    #: Early stopping: epochs without a lower held-back loss before training stops.
    patience: int = 1
    #: The share of each label's examples held back to stop on.
    held_back: float = 0.1
    #: Hold a slice back only from this many examples of every label (generation: examples); None: never.
    early_stopping_per_class: int | None = None
    #: "all-linear" (every linear layer but the output head), or module names such as ["q_proj", "v_proj"].
    target_modules: str | tuple[str, ...] = "all-linear"
    #: Where to keep the adapter; None: a temporary folder, removed with the tuned model.
    save_to: str | None = None


def train_lora(
    lm: HFCausalLM,
    prompts: Sequence[str],
    targets: Sequence[str],
    settings: LoRASettings,
    *,
    seed: int = 0,
    on_step: Callable[[float], None] | None = None,
    held_back_prompts: Sequence[str] = (),
    held_back_targets: Sequence[str] = (),
    weights: Sequence[float] | None = None,
    held_back_weights: Sequence[float] | None = None,
) -> LoRAModel:
    """Return `lm` with a LoRA adapter trained on (prompt, target) pairs, saved as safetensors.

    The loss is the mean over target tokens; with `weights` (one per pair, e.g. its label's
    class weight) each pair's tokens count by its weight, and the held-back loss by
    `held_back_weights`. With held-back pairs it trains by epochs, keeps the adapter of the
    epoch with the lowest held-back loss and stops after `settings.patience` epochs without a
    lower one.
    """
    import random

    import torch
    from peft import LoraConfig, get_peft_model

    from shouldtune.backends.quiet import quiet_model_libraries

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # The target ends with end-of-sequence, so the tuned model learns where an answer stops.
    eos = lm.tokenizer.eos_token or ""
    pairs = encode_pairs(lm, prompts, [target + eos for target in targets])
    held_pairs = encode_pairs(lm, held_back_prompts, [target + eos for target in held_back_targets]) if held_back_prompts else []
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules if isinstance(settings.target_modules, str) else list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    folder, scratch = _adapter_folder(settings.save_to)
    with quiet_model_libraries():
        peft_model = get_peft_model(lm.model_with_adapter(None), config)
    losses: list[float] = []
    trained_tokens = 0
    try:
        trainable = [p for p in peft_model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate)
        steps_per_epoch = math.ceil(len(pairs) / settings.batch_size)
        total = min(settings.max_steps, settings.epochs * steps_per_epoch)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1.0 - step / max(total, 1))
        generator = np.random.default_rng(seed)
        stopping = EarlyStopping(settings.patience)
        best_adapter: dict[str, Any] | None = None
        held_back_losses: list[float] = []
        epochs_run = 0
        peft_model.train()
        while len(losses) < total and not (held_pairs and stopping.should_stop):
            order = generator.permutation(len(pairs))
            for start in range(0, len(order), settings.batch_size):
                if len(losses) >= total:
                    break
                rows = order[start : start + settings.batch_size]
                batch = [pairs[i] for i in rows]
                try:
                    log_probs = continuation_logprobs(peft_model, batch, lm.tokenizer.pad_token_id, lm.device)
                    # Mean over every target token of the batch: long answers count per token.
                    loss = -token_mean(log_probs, None if weights is None else [weights[i] for i in rows])
                    optimiser.zero_grad()
                    loss.backward()
                except torch.OutOfMemoryError:
                    raise BackendError(
                        f"out of memory while LoRA fine-tuning with batches of {settings.batch_size}; "
                        "lower --param lora.batch_size=2 (or --dtype bfloat16, or fewer demonstrations)"
                    ) from None
                optimiser.step()
                schedule.step()
                losses.append(float(loss.detach()))
                trained_tokens += sum(len(context) + len(target) for context, target in batch)
                if on_step is not None:
                    on_step(losses[-1])
            epochs_run += 1
            if held_pairs:
                held_back_losses.append(_held_back_loss(peft_model, held_pairs, settings.batch_size, lm, held_back_weights))
                if stopping.update(held_back_losses[-1]):
                    best_adapter = {name: p.detach().clone() for name, p in peft_model.named_parameters() if p.requires_grad}
        if best_adapter is not None and stopping.best_epoch < stopping.epochs_run:
            with torch.no_grad():
                for name, parameter in peft_model.named_parameters():
                    if name in best_adapter:
                        parameter.copy_(best_adapter[name])
        record = EpochRecord(
            epochs_run=epochs_run,
            held_back_examples=len(held_pairs),
            held_back_losses=tuple(held_back_losses),
            best_epoch=stopping.best_epoch if held_pairs else None,
            stopped_early=bool(held_pairs) and len(losses) < total,
        )
        peft_model.eval()
        peft_model.save_pretrained(folder, safe_serialization=True)
    finally:
        peft_model.unload()  # the base model gets its own layers back
    lm.usage.training_tokens += trained_tokens
    return LoRAModel(lm, folder, losses, scratch, trained_tokens=trained_tokens, epochs=record)


def token_mean(log_probs: Sequence[Any], weights: Sequence[float] | None = None) -> Any:
    """Return the mean of every pair's token log-probabilities, each pair's tokens counted by its weight (1 without)."""
    total, count = weighted_token_sum(log_probs, weights)
    return total / count


def weighted_token_sum(log_probs: Sequence[Any], weights: Sequence[float] | None = None) -> tuple[Any, float]:
    """Return the sum of every pair's token log-probabilities, each pair's tokens counted by its weight (1
    without), and the weighted count of tokens: a mean over several batches adds both up before dividing."""
    import torch

    if weights is None:
        values = torch.cat(log_probs)
        return values.sum(), float(values.numel())
    token_weights = torch.cat([values.new_full(values.shape, weight) for values, weight in zip(log_probs, weights)])
    return (torch.cat(log_probs) * token_weights).sum(), float(token_weights.sum())


def _held_back_loss(
    peft_model: Any,
    pairs: Sequence[tuple[list[int], list[int]]],
    batch_size: int,
    lm: HFCausalLM,
    weights: Sequence[float] | None = None,
) -> float:
    """Return the loss per target token on the held-back pairs (weighted as in training), dropout off;
    training mode is restored."""
    import torch

    peft_model.eval()
    total, tokens = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            log_probs = continuation_logprobs(peft_model, pairs[start : start + batch_size], lm.tokenizer.pad_token_id, lm.device)
            batch_sum, batch_tokens = weighted_token_sum(log_probs, None if weights is None else weights[start : start + batch_size])
            total -= float(batch_sum)
            tokens += batch_tokens
    peft_model.train()
    return total / max(tokens, 1)


def _adapter_folder(save_to: str | None) -> tuple[Path, Any]:
    if save_to is not None:
        folder = Path(save_to)
        folder.mkdir(parents=True, exist_ok=True)
        return folder, None
    scratch = tempfile.TemporaryDirectory(prefix="shouldtune-lora-")
    return Path(scratch.name), scratch


class LoRAModel:
    """The base model with a saved LoRA adapter: the same `score`/`generate` as `HFCausalLM`."""

    def __init__(
        self,
        base: HFCausalLM,
        folder: Path,
        losses: list[float],
        scratch: Any = None,
        trained_tokens: int = 0,
        epochs: EpochRecord | None = None,
    ) -> None:
        self.base = base
        self.folder = folder
        self.losses = losses
        self.trained_tokens = trained_tokens
        self.epochs = epochs or EpochRecord()
        self._scratch = scratch  # a TemporaryDirectory, removed when this model is closed or collected

    # The base's tokenizer, device and formatting apply unchanged.
    @property
    def tokenizer(self) -> Any:
        return self.base.tokenizer

    @property
    def device(self) -> str:
        return self.base.device

    @property
    def batch_size(self) -> int:
        return self.base.batch_size

    @property
    def progress(self) -> Any:
        return self.base.progress

    @property
    def usage(self) -> Any:
        return self.base.usage

    @property
    def max_new_tokens(self) -> int:
        return self.base.max_new_tokens

    @property
    def uses_chat_template(self) -> bool:
        return self.base.uses_chat_template

    @property
    def answer_prefix(self) -> str:
        return self.base.answer_prefix

    def chat_format(self, text: str) -> str:
        return self.base.chat_format(text)

    def encode(self, text: str) -> list[int]:
        return self.base.encode(text)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.base.count_tokens(texts)

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Return log P(continuation | prompt) under the adapted model, summed over tokens."""
        return score_continuations(self.base.model_with_adapter(self.folder), self, prompts, continuations)

    def generate(self, prompts: Sequence[str], max_new_tokens: int | None = None, stop: Sequence[str] = ()) -> list[str]:
        """Return the adapted model's greedy continuation of each prompt."""
        return generate_greedy(
            self.base.model_with_adapter(self.folder), self, prompts, max_new_tokens or self.max_new_tokens, stop
        )

    def close(self) -> None:
        """Remove the adapter from the backend's model and delete its temporary folder."""
        if self.base.loaded_adapter == self.folder:
            self.base.model_with_adapter(None)
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
