"""Know the wait before it starts: the trials a run will make and how long they should take.

`estimate_plan(task)` reads the data and makes the splits as a run would, then times the
encoder on this machine: a forward pass over a sample of the training texts (seconds per
text embedded) and a forward and backward pass over a batch in groups of like length, as
setfit and full train (seconds per text trained on). Each strategy's time follows from those:
setfit and full train a known number of steps (their budgets follow the data), and every
strategy predicts the test set. Nothing is written to the store. Estimates for
language-model backends are left out: their cost depends on the model and the hardware far
more than on anything a short probe can time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shouldtune.task import TaskConfig

# Texts the probe embeds. Embedding 64 Banking77 questions took 8-10 ms a text, 256 or more about
# 5 ms, as a run embeds its thousands: a small sample overstated the run's embedding time twice.
SAMPLE_TEXTS = 256
TRAIN_BATCH = 32  # setfit's distinct texts of 16 pairs, at most; full trains on 16 at a time


@dataclass(frozen=True)
class StrategyPlan:
    """One strategy's share of a run: its trials, fits and estimated seconds."""

    strategy: str
    track: str
    sizes: tuple[int, ...]
    trials_adaptive: int  # trials on the first seed (the adaptive plan's first pass)
    trials_exhaustive: int  # the whole grid
    fits_per_trial: int  # folds
    seconds_per_trial: float | None  # None: not estimated (a language-model backend)

    @property
    def seconds_adaptive(self) -> float | None:
        return None if self.seconds_per_trial is None else self.seconds_per_trial * self.trials_adaptive

    @property
    def seconds_exhaustive(self) -> float | None:
        return None if self.seconds_per_trial is None else self.seconds_per_trial * self.trials_exhaustive


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, before it does it."""

    strategies: tuple[StrategyPlan, ...]
    sizes: tuple[int, ...]
    seeds: int
    split: str
    test_examples: int
    distinct_texts: int  # texts the frozen encoder embeds once, up front
    seconds_per_text: float  # measured: embedding one text (batched)
    seconds_per_trained_text: float  # measured: one text through a forward and backward pass (in groups of like length)
    embedding_seconds: float

    @property
    def seconds_adaptive(self) -> float:
        """Return the estimated wall time of a default run whose decision is clear after the first seed."""
        return self.embedding_seconds + sum(s.seconds_adaptive or 0.0 for s in self.strategies)

    @property
    def seconds_exhaustive(self) -> float:
        """Return the estimated wall time of the whole grid (`--exhaustive`, or every seed needed)."""
        return self.embedding_seconds + sum(s.seconds_exhaustive or 0.0 for s in self.strategies)


def estimate_plan(task: TaskConfig) -> RunPlan:
    """Return the run's trials and their estimated time, from a few timed passes on this machine."""
    from shouldtune.data.splits import largest_size
    from shouldtune.planning import plan_sizes, prepare, split_text, training_set
    from shouldtune.schedule import Schedule
    from shouldtune.strategies.registry import strategy_class
    from shouldtune.threads import use_available_cores

    use_available_cores()  # time the passes on the threads the run will use
    prepared = prepare(task)
    label_set, seeds, splits = prepared.label_set, prepared.seeds, prepared.splits
    sizes, _ = plan_sizes(task.sizes, largest_size(splits, label_set))
    contestants = {c.name: c for c in task.contestants()}
    classes = {name: strategy_class(c.strategy, c.kind) for name, c in contestants.items()}
    schedule = Schedule(tuple(contestants), sizes, seeds, classes, prepared.scoring, task.metric, {}, {}, lambda name, n: 0.0)
    folds = len(splits[0].fold_list())
    test_examples = len(splits[0].test)
    distinct: dict[str, None] = dict.fromkeys(splits[0].test.texts)
    for name, n, seed in schedule.grid():
        if "embed" in classes[name].requires:
            for fold in prepared.split_of(seed).fold_list():
                distinct.update(dict.fromkeys(training_set(fold.pool, label_set, classes[name].track, n, seed).texts))
    # Only the sentence encoder is timed: a language model's cost depends on the model and the
    # hardware far more than on anything a short probe can time.
    timed = next((c.settings for c in contestants.values() if c.kind == "encoder"), None)
    per_text, per_trained_text = (0.0, 0.0)
    if timed is not None:
        texts = prepared.train.texts
        # Spread over the data (files are often sorted by label, and labels differ in length).
        sample = [texts[i] for i in range(0, len(texts), max(1, len(texts) // SAMPLE_TEXTS))][:SAMPLE_TEXTS]
        per_text, per_trained_text = _time_encoder(timed, sample)
    plans = []
    for name, contestant in contestants.items():
        cls = classes[name]
        points = schedule.points[name]
        examples = [_examples_at(n, label_set, splits[0].fold_list()[0].pool) for n in points]
        seconds = None
        if contestant.kind == "encoder":
            seconds = _trial_seconds(
                cls, task.params_of(contestant), name, examples, max(len(label_set), 1), test_examples, folds, per_text, per_trained_text
            )
        plans.append(StrategyPlan(
            name, cls.track, points, len(points), len(points) * len(seeds), folds, seconds,
        ))
    return RunPlan(
        tuple(plans), sizes, len(seeds), split_text(task, prepared.test, splits, seeds), test_examples, len(distinct),
        per_text, per_trained_text, len(distinct) * per_text,
    )


def _examples_at(n: int, label_set: Sequence[str], pool: Any) -> int:
    """Return how many training examples a trial at size n has (n per class, or n in all)."""
    if n == 0:
        return len(pool)
    return n * len(label_set) if label_set else n


def _trial_seconds(
    cls: type, params: dict[str, Any], name: str, examples: Sequence[int], classes: int, test_examples: int, folds: int,
    per_text: float, per_trained_text: float,
) -> float:
    """Return the mean estimated seconds of one trial (all its folds) over the strategy's sizes."""
    from shouldtune.strategies.base import StrategyContext

    strategy = cls(StrategyContext(encoder=None), **params)
    per_size = []
    for n_examples in examples:
        fit_examples = n_examples * (folds - 1) // folds if folds > 1 and name not in ("majority",) else n_examples
        seconds = 0.0
        work = strategy.work(max(fit_examples, 1), classes)
        if work and hasattr(strategy, "planned_steps"):  # trains encoder weights: texts through forward and backward
            seconds += folds * work * per_trained_text  # one fit per fold
            seconds += test_examples * per_text  # its own encoders embed the test set afresh (each fold its part)
        elif work:  # embeds texts the cache has not seen (prompt-search's candidate prompts): forward passes only
            seconds += folds * work * per_text
        per_size.append(seconds)
    return sum(per_size) / max(len(per_size), 1)


def _time_encoder(settings: Any, sample: list[str]) -> tuple[float, float]:
    """Return measured seconds per text embedded, and per text through a training step (in groups of like length, as
    setfit and full train), on the encoder backend `settings` opens."""
    import torch

    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.finetune.length_groups import embed_in_length_groups

    encoder = SentenceEncoder(
        settings.model, device=settings.device or "cpu", batch_size=settings.batch_size, runtime=settings.runtime
    )
    try:
        encoder.embed(sample[:8])  # warm-up
        start = time.perf_counter()
        encoder.embed(sample)
        per_text = (time.perf_counter() - start) / max(len(sample), 1)
        model = encoder.trainable_copy()
        model.train()
        prepare = getattr(model, "preprocess", None) or model.tokenize
        batch = (sample * TRAIN_BATCH)[:TRAIN_BATCH]
        timings = []
        for _ in range(3):  # the first is a warm-up
            features = prepare(batch)
            start = time.perf_counter()
            embedding = embed_in_length_groups(model, features, torch.arange(len(batch)))
            embedding.pow(2).sum().backward()
            model.zero_grad()
            timings.append(time.perf_counter() - start)
        del model
        torch.set_grad_enabled(True)
        return per_text, min(timings[1:]) / TRAIN_BATCH
    finally:
        encoder.close()


def describe(plan: RunPlan) -> list[str]:
    """Return the plan as lines of text for the terminal."""
    lines = [
        f"test: {plan.split}",
        f"sizes {', '.join(map(str, plan.sizes))}; {plan.seeds} seeds; measured here: {plan.seconds_per_text * 1000:.1f} ms "
        f"to embed a text, {plan.seconds_per_trained_text * 1000:.1f} ms to train on one (forward and backward)",
        f"embedding {plan.distinct_texts:,} distinct texts once: about {_minutes(plan.embedding_seconds)}",
    ]
    for row in plan.strategies:
        fits = f", {row.fits_per_trial} fits each (folds)" if row.fits_per_trial > 1 else ""
        time_text = (
            "not estimated (language-model backend)" if row.seconds_per_trial is None
            else f"about {_minutes(row.seconds_adaptive or 0.0)} (all seeds: {_minutes(row.seconds_exhaustive or 0.0)})"
        )
        lines.append(
            f"  {row.strategy:<14} {row.track:<9} {row.trials_adaptive} trials on the first seed, "
            f"{row.trials_exhaustive} in all{fits}: {time_text}"
        )
    lines.append(
        f"estimated wait: about {_minutes(plan.seconds_adaptive)} when the first seed settles the decision, "
        f"up to {_minutes(plan.seconds_exhaustive)} for every seed (--exhaustive)"
    )
    return lines


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
