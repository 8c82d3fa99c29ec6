"""SetFit's pair loss, embedding each distinct text of a batch once, in groups of like length.

SetFit trains on pairs of the user's examples: a batch of 16 pairs is 32 texts through the
encoder. With few examples most of them repeat — a fold of 12 texts fills every batch from
those 12 — and the library embeds every occurrence. This loss embeds each distinct text of
the batch once and reads the pairs' cosine similarities from those embeddings. The distinct
texts go through the encoder in groups of similar length, each padded only to its own longest
(`length_groups`).

The loss and its gradients are the library's, up to dropout sampling: a text repeated in a
batch gets one dropout mask instead of one per occurrence (the expected loss of every pair is
unchanged: its two texts' masks stay independent). It is imported only by the setfit
strategy, where torch is loaded anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from sentence_transformers.base.losses.merged_forward import merge_feature_batches
from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
from torch import Tensor

from shouldtune.strategies.finetune.length_groups import embed_in_length_groups


class DistinctTextsCosineSimilarityLoss(CosineSimilarityLoss):
    """CosineSimilarityLoss (SetFit's default) that runs each distinct text of a batch through the model once,
    in groups of similar length."""

    def forward(self, sentence_features: Iterable[dict[str, Any]], labels: Tensor) -> Tensor:
        columns = list(sentence_features)
        merged = merge_feature_batches(columns)  # both sides padded to one width, column-major
        if merged is None or "attention_mask" not in merged:
            return super().forward(columns, labels)
        mask = merged["attention_mask"]
        rows = mask.shape[0]
        # Token ids where the mask is set, and the mask: equal rows are equal texts, whatever the pad id.
        _, inverse = torch.unique(torch.cat([merged["input_ids"] * mask, mask], dim=1), dim=0, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), rows, dtype=torch.long)
        first = first.scatter_reduce(0, inverse, torch.arange(rows), reduce="amin")
        embeddings = embed_in_length_groups(self.model, merged, first)[inverse]
        return self.compute_loss_from_embeddings(list(embeddings.reshape(len(columns), -1, embeddings.shape[-1]).unbind(0)), labels)
