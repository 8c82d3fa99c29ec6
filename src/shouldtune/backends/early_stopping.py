"""Early stopping on a held-back slice: which examples are held back, and when training stops.

A fine-tune trains by epochs and, after each, measures its cross-entropy on a slice of the
training examples it does not train on (smoother than accuracy on a few examples). It keeps
the weights of the best epoch and stops when `patience` epochs in a row did not improve on
it. A slice costs examples the model needs, so it is held back only from `min_per_class`
examples of every label (None: never), and only where stopping can save a step. On TREC with
`full`'s defaults (4 epochs, the learning rate decaying to 0) the held-back loss fell after
every epoch at 8, 32 and 64 per class and the slice cost accuracy; at 200 per class epochs 3
and 4 were level and it scored as well with 9% fewer steps (docs/benchmarks.md, "Early
stopping"): `full` applies it from 200 per class, `lora` (not measured) only when asked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def held_back_positions(
    labels: Sequence[str], fraction: float, min_per_class: int | None, seed: int, *, epochs: int, patience: int, max_steps: int, batch_size: int
) -> tuple[int, ...]:
    """Return the positions of the examples held back to stop on, sorted; none where stopping cannot pay.

    The slice is stratified and seeded: `fraction` of each label's examples, at least one.
    None is held back when `min_per_class` is None, when a label has fewer examples, or when fewer
    than `patience + 2` whole epochs fit under `max_steps` (the earliest stop, after epoch
    `patience + 1`, would then save no step). For generation, pass one label for all (a
    random slice).
    """
    by_label: dict[str, list[int]] = {}
    for position, label in enumerate(labels):
        by_label.setdefault(label, []).append(position)
    groups = list(by_label.values())
    if min_per_class is None or not groups or min(len(group) for group in groups) < min_per_class:
        return ()
    held = [max(1, round(fraction * len(group))) for group in groups]
    kept = len(labels) - sum(held)
    epochs_under_cap = min(epochs, max_steps // math.ceil(kept / batch_size)) if kept > 0 else 0
    if epochs_under_cap < patience + 2:
        return ()
    rng = np.random.default_rng([seed, 7])  # its own stream: the training order's stays as it was without a slice
    chosen = [int(p) for group, n in zip(groups, held) for p in rng.permutation(group)[:n]]
    return tuple(sorted(chosen))


@dataclass
class EarlyStopping:
    """The best held-back loss so far, its epoch, and whether `patience` epochs in a row failed to improve on it."""

    patience: int
    best_loss: float = math.inf
    best_epoch: int = 0
    epochs_run: int = 0

    def update(self, loss: float) -> bool:
        """Record one epoch's held-back loss; return whether it is the best so far (keep these weights)."""
        self.epochs_run += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epochs_run
            return True
        return False

    @property
    def should_stop(self) -> bool:
        return self.epochs_run - self.best_epoch >= self.patience


@dataclass(frozen=True)
class EpochRecord:
    """What a fit by epochs did: epochs run, the held-back slice's size and losses, the epoch kept."""

    epochs_run: int = 0
    held_back_examples: int = 0
    held_back_losses: tuple[float, ...] = ()
    best_epoch: int | None = None
    stopped_early: bool = False

    def describe(self) -> dict[str, object]:
        """Return the record for a strategy's `describe()` (JSON-safe, losses rounded)."""
        return {
            "epochs_run": self.epochs_run,
            "held_back_examples": self.held_back_examples,
            "held_back_losses": [round(loss, 4) for loss in self.held_back_losses],
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }
