"""What a backend's model can do, as capabilities and the protocols behind them.

A backend declares its capabilities (`BackendSpec.capabilities`); a strategy declares the
ones it needs (`Strategy.requires`). A strategy asked of a backend that lacks one is refused
before any work, naming what is missing. The protocols are what strategies call:

    embed         Encoder.embed(texts) -> unit vectors            (sentence encoders)
    tune-encoder  TunableEncoder.trainable_copy() -> a model to train (setfit, full)
    score         LanguageModel.score(prompts, continuations)     (log-likelihood; chat APIs often lack it)
    generate      LanguageModel.generate(prompts) -> texts
    fine-tune     TunableLanguageModel.fine_tune(prompts, targets, settings, seed) -> a tuned model
    hosted-fine-tune  fine_tune_hosted(prompts, targets, n_epochs=, seed=) -> a tuned model (a provider's job)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Capability = Literal["embed", "tune-encoder", "score", "generate", "fine-tune", "hosted-fine-tune"]
CAPABILITIES: tuple[Capability, ...] = ("embed", "tune-encoder", "score", "generate", "fine-tune", "hosted-fine-tune")


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to L2-normalised vectors; its weights never change."""

    @property
    def model_id(self) -> str:
        """A stable identity of the weights (used as the embedding-cache key)."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), rows of unit length."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class TunableEncoder(Encoder, Protocol):
    """An encoder whose weights a fine-tune strategy may copy and train."""

    def trainable_copy(self) -> Any:
        """Return a fresh, independent sentence-transformers model with the same weights."""
        ...


@runtime_checkable
class LanguageModel(Protocol):
    """A language model that answers prompts: generates, and (if it can) scores continuations."""

    @property
    def model_id(self) -> str: ...

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Return the summed log-probability of each continuation after its prompt."""
        ...

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """Return one greedy answer per prompt."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class TunableLanguageModel(LanguageModel, Protocol):
    """A language model whose weights a fine-tune strategy may adapt."""

    def fine_tune(
        self, prompts: Sequence[str], targets: Sequence[str], settings: Any, *, seed: int, on_step: Any = None,
        held_back_prompts: Sequence[str] = (), held_back_targets: Sequence[str] = (),
        weights: Sequence[float] | None = None, held_back_weights: Sequence[float] | None = None,
    ) -> Any:
        """Return a tuned model (answers like this one) and its training report (steps, tokens, losses).

        With held-back pairs, the model of the epoch with the lowest loss on them (early stopping);
        `weights`, one per pair, weigh each pair's loss (a label's class weight on imbalanced data),
        and `held_back_weights` the held-back loss the same way."""
        ...
