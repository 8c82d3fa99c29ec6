"""An encoder wrapped with the store's embedding cache: each distinct text is embedded once."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shouldtune.backends.base import Encoder

if TYPE_CHECKING:
    from shouldtune.store import Store


def text_key(text: str) -> str:
    """Return the cache key of a text: its SHA-256, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEncoder:
    """Keeps `Encoder`'s interface; looks texts up in memory, then the store, then embeds."""

    def __init__(self, encoder: Encoder, store: Store | None = None) -> None:
        self.encoder = encoder
        self.store = store
        self._memory: dict[str, np.ndarray] = {}
        self.texts_requested = 0
        self.texts_embedded = 0

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-length vectors for `texts`, embedding only those never seen before."""
        self.texts_requested += len(texts)
        keys = [text_key(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts) if k not in self._memory}
        if missing and self.store is not None:
            self._memory.update(self.store.get_embeddings(self.model_id, list(missing)))
            missing = {k: t for k, t in missing.items() if k not in self._memory}
        if missing:
            fresh = self.encoder.embed(list(missing.values()))
            self.texts_embedded += len(missing)
            new = dict(zip(missing, fresh))
            self._memory.update(new)
            if self.store is not None:
                self.store.put_embeddings(self.model_id, new)
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._memory[k] for k in keys]).astype(np.float32, copy=False)

    def cached(self) -> tuple[list[str], np.ndarray]:
        """Return every vector held in memory: the texts' cache keys and one row per key."""
        keys = list(self._memory)
        if not keys:
            return keys, np.zeros((0, self.dimension), dtype=np.float32)
        return keys, np.vstack([self._memory[k] for k in keys]).astype(np.float32, copy=False)

    def remember(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Hold `vectors` (rows, by cache key) in memory, as if embedded: how a worker is handed the driver's cache."""
        self._memory.update(zip(keys, vectors))

    def trainable_copy(self) -> Any:
        """Return the wrapped encoder's trainable copy (fine-tuned weights are never cached)."""
        return self.encoder.trainable_copy()  # type: ignore[attr-defined]

    def close(self) -> None:
        self._memory.clear()
        self.encoder.close()
