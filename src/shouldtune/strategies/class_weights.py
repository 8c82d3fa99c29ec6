"""Class weights for the fine-tunes: on imbalanced data each class counts inversely to its examples.

An unweighted fit on 56 ham and 8 spam messages learns to answer "ham"; the logistic heads of
linear-probe and setfit use scikit-learn's `class_weight="balanced"`, and the fine-tunes that
write their own loss (`full`, LoRA) weigh it with the same formula. Exactly balanced data gets
no weights, so it trains with the plain loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def balanced_class_weights(targets: Sequence[int], classes: int) -> list[float] | None:
    """Return each class's loss weight, inversely proportional to its count among `targets` (scikit-learn's
    "balanced": examples / (classes present × count)), or None when every present class has the same count.

    A class absent from `targets` gets 1: no example carries it, so its weight changes nothing.
    """
    counts = np.bincount(np.asarray(targets, dtype=int), minlength=classes)
    present = counts > 0
    if not present.any() or counts[present].min() == counts[present].max():
        return None
    weights = np.ones(classes)
    weights[present] = len(targets) / (present.sum() * counts[present])
    return [float(weight) for weight in weights]
