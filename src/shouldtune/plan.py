"""Know the wait before it starts: the trials a run will make and how long they should take.

`estimate_plan(task)` reads the data and makes the splits as a run would, then times the
encoder on this machine: a forward pass over a sample of the training texts (seconds per
text embedded), and training steps as setfit and full take them (a forward and backward pass
in groups of like length, then the optimiser's step) on batches of 8 and of 32 texts. The two
give a cost per text trained on and a cost per step whatever its size: the optimiser updates
every weight each step, which weighs most when steps are small (a 16-example budget's setfit
steps hold 12 texts). Each strategy's time follows from those: setfit and full train a known
number of steps (their budgets follow the data), and every strategy predicts the test set.
Nothing is written to the store. Estimates for language-model backends are left out: their
cost depends on the model and the hardware far more than on anything a short probe can time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shouldtune.data.checks import counted
from shouldtune.task import TaskConfig

# Texts the probe embeds. Embedding 64 Banking77 questions took 8-10 ms a text, 256 or more about
# 5 ms, as a run embeds its thousands: a small sample overstated the run's embedding time twice.
SAMPLE_TEXTS = 256
TRAIN_BATCH = 32  # setfit's distinct texts of 16 pairs, at most; full trains on 16 at a time
SMALL_BATCH = 8  # with TRAIN_BATCH, the two step sizes timed: their difference is the cost per text


@dataclass(frozen=True)
class StrategyPlan:
    """One strategy's share of a run: its trials, fits and estimated seconds."""

    strategy: str
    track: str
    sizes: tuple[int, ...]
    trials_adaptive: int  # trials on the first seed (the adaptive plan's first pass)
    trials_exhaustive: int  # the whole grid
    fits_per_trial: tuple[int, ...]  # folds fitted at each of `sizes` (one on a hold-out)
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
    seconds_per_step: float = 0.0  # measured: a training step's cost whatever its size (the optimiser's update)
    cross_validated: bool = False  # the default run then runs the other seeds only for strategies on the frozen vectors (seconds)

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
    from shouldtune.data.splits import examples_at, first_pool_counts, largest_size
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
    test_examples = len(splits[0].test)
    distinct: dict[str, None] = dict.fromkeys(splits[0].test.texts)
    for name, n, seed in schedule.grid():
        if "embed" in classes[name].requires:
            for fold in prepared.split_of(seed).folds_at(n, bool(label_set)):
                distinct.update(dict.fromkeys(training_set(fold.pool, label_set, classes[name].track, n, seed).texts))
    # Only the sentence encoder is timed: a language model's cost depends on the model and the
    # hardware far more than on anything a short probe can time.
    timed = next((c.settings for c in contestants.values() if c.kind == "encoder"), None)
    per_text, per_trained_text, per_step = (0.0, 0.0, 0.0)
    if timed is not None:
        # Spread over the data (files are often sorted by label, and labels differ in length).
        sample = _spread(prepared.train.texts, SAMPLE_TEXTS)
        per_text, per_trained_text, per_step = _time_encoder(timed, sample)
    pool, counts = splits[0].fold_list()[0].pool, first_pool_counts(splits, label_set)
    plans = []
    for name, contestant in contestants.items():
        cls = classes[name]
        points = schedule.points[name]
        # n per class (all a smaller class has, or n in all); the baseline (n = 0) learns from the whole pool.
        examples = [examples_at(n, counts) if n else len(pool) for n in points]
        folds = tuple(len(splits[0].folds_at(n, bool(label_set))) for n in points)
        seconds = None
        if contestant.kind == "encoder":
            seconds = _trial_seconds(
                cls, task.params_of(contestant), examples, max(len(label_set), 1), test_examples, folds,
                per_text, per_trained_text, per_step,
            )
        plans.append(StrategyPlan(
            name, cls.track, points, len(points), len(points) * len(seeds), folds, seconds,
        ))
    return RunPlan(
        tuple(plans), sizes, len(seeds), split_text(task, prepared.test, splits, seeds, classes), test_examples, len(distinct),
        per_text, per_trained_text, len(distinct) * per_text, per_step, splits[0].cross_validated,
    )


def _trial_seconds(
    cls: type, params: dict[str, Any], examples: Sequence[int], classes: int, test_examples: int,
    folds: Sequence[int], per_text: float, per_trained_text: float, per_step: float = 0.0,
) -> float:
    """Return the mean estimated seconds of one trial (all its folds) over the strategy's sizes.

    `examples` are the examples each fit at a size trains on (drawn from a fold's training
    part), `folds` the fits each size takes.
    """
    from shouldtune.strategies.base import StrategyContext

    strategy = cls(StrategyContext(encoder=None), **params)
    per_size = []
    for fit_examples, folds in zip(examples, folds):
        seconds = 0.0
        work = strategy.work(max(fit_examples, 1), classes)
        if work and hasattr(strategy, "training_steps"):  # trains encoder weights: texts through forward and backward
            steps = strategy.training_steps(max(fit_examples, 1), classes)
            seconds += folds * (work * per_trained_text + steps * per_step)  # one fit per fold
            seconds += test_examples * per_text  # its own encoders embed the test set afresh (each fold its part)
        elif work:  # embeds texts the cache has not seen (prompt-search's candidate prompts): forward passes only
            seconds += folds * work * per_text
        per_size.append(seconds)
    return sum(per_size) / max(len(per_size), 1)


def _spread(texts: Sequence[str], count: int) -> list[str]:
    """Return at most `count` of the texts, evenly spaced through them."""
    return [texts[i] for i in range(0, len(texts), max(1, len(texts) // count))][:count]


def _time_encoder(settings: Any, sample: list[str]) -> tuple[float, float, float]:
    """Return measured seconds per text embedded, per text trained on and per training step whatever its size, on the
    encoder backend `settings` opens. A step is timed as setfit and full take one: the batch in groups of like length
    through a forward and backward pass, then the optimiser's update of every weight (fused AdamW, as both use)."""
    import torch

    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.finetune.full import adamw

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
        optimiser = adamw([{"params": list(model.parameters())}], next(model.parameters()).device.type)
        large = _spread(sample, TRAIN_BATCH) if len(sample) >= TRAIN_BATCH else (sample * TRAIN_BATCH)[:TRAIN_BATCH]
        small = large[:: TRAIN_BATCH // SMALL_BATCH]  # like texts: the difference is the batch's size, not its lengths
        small_seconds = _seconds_per_step(model, optimiser, small)
        large_seconds = _seconds_per_step(model, optimiser, large)
        del model, optimiser
        torch.set_grad_enabled(True)
        per_trained_text = (large_seconds - small_seconds) / (len(large) - len(small))
        if per_trained_text <= 0:  # the machine's noise swamped the difference: the large step's mean, no fixed part
            return per_text, large_seconds / len(large), 0.0
        return per_text, per_trained_text, max(small_seconds - len(small) * per_trained_text, 0.0)
    finally:
        encoder.close()


def _seconds_per_step(model: Any, optimiser: Any, batch: list[str]) -> float:
    """Return the fastest of three timed training steps on `batch`, after one untimed."""
    import torch

    from shouldtune.strategies.finetune.length_groups import embed_in_length_groups

    prepare = getattr(model, "preprocess", None) or model.tokenize
    timings = []
    for _ in range(4):
        features = prepare(batch)
        start = time.perf_counter()
        embedding = embed_in_length_groups(model, features, torch.arange(len(batch)))
        embedding.pow(2).sum().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # setfit's trainer clips every step
        optimiser.step()
        optimiser.zero_grad()
        timings.append(time.perf_counter() - start)
    return min(timings[1:])


def describe(plan: RunPlan) -> list[str]:
    """Return the plan as lines of text for the terminal."""
    lines = [
        f"test: {plan.split}",
        f"sizes {', '.join(map(str, plan.sizes))}; {plan.seeds} seeds; measured here: {plan.seconds_per_text * 1000:.1f} ms "
        f"to embed a text, {plan.seconds_per_trained_text * 1000:.1f} ms to train on one (forward and backward), "
        f"{plan.seconds_per_step * 1000:.0f} ms a training step besides (the optimiser's update)",
        f"embedding {plan.distinct_texts:,} distinct texts once: about {_minutes(plan.embedding_seconds)}",
    ]
    for row in plan.strategies:
        fits = (
            f", {_fits(row.fits_per_trial)} fits each (folds)" if max(row.fits_per_trial, default=1) > 1 else ""
        )
        time_text = (
            "not estimated (language-model backend)" if row.seconds_per_trial is None
            else f"about {_minutes(row.seconds_adaptive or 0.0)} (all seeds: {_minutes(row.seconds_exhaustive or 0.0)})"
        )
        lines.append(
            f"  {row.strategy:<14} {row.track:<9} {counted(row.trials_adaptive, 'trial')} on the first seed, "
            f"{row.trials_exhaustive} in all{fits}: {time_text}"
        )
    adaptive, exhaustive = _minutes(plan.seconds_adaptive), _minutes(plan.seconds_exhaustive)
    lines.append(
        f"estimated wait: about {adaptive} (cross-validated: the other seeds run only for the strategies that fit on "
        f"the frozen vectors, in seconds; {exhaustive} for every seed of every strategy, --exhaustive)"
        if plan.cross_validated else
        f"estimated wait: about {adaptive} when the first seed settles the decision, up to {exhaustive} for every "
        f"seed (--exhaustive)"
    )
    return lines


def _fits(per_size: Sequence[int]) -> str:
    """Return the fits per trial in words: "5", or "2 to 5" where smaller sizes take fewer folds."""
    low, high = min(per_size), max(per_size)
    return str(high) if low == high else f"{low} to {high}"


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
