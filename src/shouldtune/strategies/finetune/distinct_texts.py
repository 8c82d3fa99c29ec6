"""SetFit's pair loss, embedding each distinct text of a batch once, in groups of like length.

SetFit trains on pairs of the user's examples: a batch of 16 pairs is 32 texts through the
encoder. With few examples most of them repeat — a fold of 12 texts fills every batch from
those 12 — and the library embeds every occurrence. This loss embeds each distinct text of
the batch once and reads the pairs' cosine similarities from those embeddings.

The library pads every text of a batch to its longest, and the encoder computes on the
padding as on real tokens. In 32 texts of sst2, SMS or Banking77 questions, a third to a half
of the tokens are padding. So the distinct texts go through the encoder in groups of similar
length, each padded only to its own longest (`length_groups`). The grouping is exact: padding
is masked out of attention and of the mean pooling.

The loss and its gradients are the library's, up to dropout sampling: a text repeated in a
batch gets one dropout mask instead of one per occurrence (the expected loss of every pair is
unchanged: its two texts' masks stay independent). It is imported only by the setfit
strategy, where torch is loaded anyway.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from sentence_transformers.base.losses.merged_forward import merge_feature_batches
from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
from torch import Tensor


# What one more call through the encoder costs, in padded tokens. Timed on this project's 2-core
# machine with MiniLM (forward and backward of 12 and 32 texts of sst2, trec, sms_spam and
# Banking77), 64 to 128 tokens were best on every set and never slower than one padded call.
GROUP_OVERHEAD_TOKENS = 96
# Per token and layer, a transformer's projections and feed-forward take 12 * hidden^2
# multiplications and its attention 2 * hidden * length. For MiniLM (hidden 384) a token of a
# 100-token text costs about 1 + 100 / 2304 of one in a very short text.
ATTENTION_TOKENS = 6 * 384


class DistinctTextsCosineSimilarityLoss(CosineSimilarityLoss):
    """CosineSimilarityLoss (SetFit's default) that runs each distinct text of a batch through the model once,
    in groups of similar length."""

    group_overhead_tokens = GROUP_OVERHEAD_TOKENS

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
        lengths = mask[first].sum(dim=1).tolist()
        groups = length_groups(lengths, self.group_overhead_tokens)
        parts = []
        for group in groups:
            picked = first[torch.tensor(group)]
            width = max(lengths[i] for i in group)  # padding is on the right: the group's longest text ends here
            parts.append(self.model({key: _rows(value, picked, rows, width) for key, value in merged.items()})["sentence_embedding"])
        order = torch.tensor([i for group in groups for i in group])
        distinct = torch.empty_like(order).scatter_(0, order, torch.arange(len(order)))  # distinct text -> its row in parts
        embeddings = torch.cat(parts)[distinct][inverse]
        return self.compute_loss_from_embeddings(list(embeddings.reshape(len(columns), -1, embeddings.shape[-1]).unbind(0)), labels)


def length_groups(lengths: Sequence[int], overhead_tokens: int = GROUP_OVERHEAD_TOKENS) -> list[list[int]]:
    """Return the indices of `lengths` in groups, shortest texts first, that minimise the padded tokens through the
    encoder plus `overhead_tokens` per group.

    Each group is padded to its own longest text. Sorted by length, the best split into runs is
    found exactly by dynamic programming over the cut points (n is a batch's distinct texts, 32
    at most by default).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sizes = [lengths[i] for i in order]
    best = [0.0] + [math.inf] * len(sizes)  # best[j]: the cheapest split of the j shortest texts
    cut = [0] * (len(sizes) + 1)
    for end in range(1, len(sizes) + 1):
        longest = sizes[end - 1]
        per_text = longest * (1 + longest / ATTENTION_TOKENS)
        for start in range(end):
            cost = best[start] + (end - start) * per_text + overhead_tokens
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups = []
    end = len(sizes)
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]


def _rows(value: Any, index: Tensor, rows: int, width: int) -> Any:
    """Return `value`'s rows at `index`, its token axis cut to `width`; batch metadata as it is."""
    if not isinstance(value, Tensor) or value.ndim == 0 or value.shape[0] != rows:
        return value
    picked = value[index]
    return picked[:, :width] if picked.ndim >= 2 else picked
