"""Training progress for the terminal, shared by the strategies that train an encoder."""

from __future__ import annotations

from typing import Any


class StepProgress:
    """A progress-bar task advanced once per optimiser step; does nothing without a Rich Progress."""

    def __init__(self, progress: Any, description: str, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=total) if progress is not None else None

    def step(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def close(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so a fine-tune gives the same weights every time."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
