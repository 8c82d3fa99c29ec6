"""The backend protocols strategies are written against.

An encoder backend turns texts into unit-length vectors. Later backends (local causal LMs,
OpenAI-compatible APIs) add `score`/`generate` and `fine_tune`; strategies name the protocol
they need, so the experiment can tell which strategies a backend can run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


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
