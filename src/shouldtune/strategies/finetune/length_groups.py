"""Texts through the encoder in groups of like length, each padded only to its own longest.

The encoder pads every text of a call to the longest one and computes on the padding as on
real tokens. In 32 texts of sst2, SMS or Banking77 questions, a third to a half of the tokens
are padding; in 16, nearly as many. So the fine-tunes that train the encoder (setfit's pair
loss, full's batches) send a batch through in groups of similar length. The grouping is exact:
padding is masked out of attention and of the mean pooling, so embeddings, loss and gradients
are the same, up to dropout sampling. Imported only where torch is loaded anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

# What one more call through the encoder costs, in padded tokens. Timed on this project's 2-core
# machine with MiniLM (forward and backward of 12 and 32 texts of sst2, trec, sms_spam and
# Banking77), 64 to 128 tokens were best on every set and never slower than one padded call.
GROUP_OVERHEAD_TOKENS = 96
# Per token and layer, a transformer's projections and feed-forward take 12 * hidden^2
# multiplications and its attention 2 * hidden * length. For MiniLM (hidden 384) a token of a
# 100-token text costs about 1 + 100 / 2304 of one in a very short text.
ATTENTION_TOKENS = 6 * 384


def length_groups(lengths: Sequence[int], overhead_tokens: float | None = None) -> list[list[int]]:
    """Return the indices of `lengths` in groups, shortest texts first, that minimise the padded tokens through the
    encoder plus `overhead_tokens` per group (default `GROUP_OVERHEAD_TOKENS`).

    Each group is padded to its own longest text. Sorted by length, the best split into runs is
    found exactly by dynamic programming over the cut points (n is a batch's texts, 32 at most
    by default).
    """
    overhead = GROUP_OVERHEAD_TOKENS if overhead_tokens is None else overhead_tokens
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sizes = [lengths[i] for i in order]
    best = [0.0] + [math.inf] * len(sizes)  # best[j]: the cheapest split of the j shortest texts
    cut = [0] * (len(sizes) + 1)
    for end in range(1, len(sizes) + 1):
        longest = sizes[end - 1]
        per_text = longest * (1 + longest / ATTENTION_TOKENS)
        for start in range(end):
            cost = best[start] + (end - start) * per_text + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups = []
    end = len(sizes)
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]


def embed_in_length_groups(model: Any, features: dict[str, Any], rows: Tensor, overhead_tokens: float | None = None) -> Tensor:
    """Return the sentence embeddings of `features`' rows `rows`, in that order, the rows run through `model` in groups
    of like length.

    `features` is a tokenized batch; metadata that is not one row per text passes through as it
    is. Padded on the left (some tokenizers are), the rows go through in one call, as they came:
    cutting a group's padding there would move its texts' positions.
    """
    mask = features["attention_mask"]
    lengths = mask[rows].sum(dim=1).tolist()
    right_padded = bool((mask[:, :-1] >= mask[:, 1:]).all())  # every row: its tokens, then its padding
    groups = length_groups(lengths, overhead_tokens) if right_padded else [list(range(len(lengths)))]
    parts = []
    for group in groups:
        picked = rows[torch.tensor(group)]
        width = max(lengths[i] for i in group) if right_padded else mask.shape[1]  # where the group's longest text ends
        parts.append(model({key: _rows(value, picked, mask.shape[0], width) for key, value in features.items()})["sentence_embedding"])
    order = torch.tensor([i for group in groups for i in group])
    position = torch.empty_like(order).scatter_(0, order, torch.arange(len(order)))  # row i of `rows` -> its row in parts
    return torch.cat(parts)[position]


def _rows(value: Any, index: Tensor, rows: int, width: int) -> Any:
    """Return `value`'s rows at `index`, its token axis cut to `width`; batch metadata as it is."""
    if not isinstance(value, Tensor) or value.ndim == 0 or value.shape[0] != rows:
        return value
    picked = value[index]
    return picked[:, :width] if picked.ndim >= 2 else picked
