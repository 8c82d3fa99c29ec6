"""The experiment: strategies × learning-curve sizes × seeds → trials → curves → a decision."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shouldtune.analysis.metrics import METRICS, Estimate, curve_estimate, trial_estimates
from shouldtune.backends.cache import CachedEncoder
from shouldtune.data.load import Examples
from shouldtune.data.splits import Split, largest_size, make_splits, per_class_subset
from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.registry import STRATEGIES, build, strategy_class
from shouldtune.task import TaskConfig

SCHEMA_VERSION = 1
DEFAULT_STRATEGIES = tuple(STRATEGIES)
CALIBRATION_TEXTS = 128

Say = Callable[[str], None]


@dataclass(frozen=True)
class CurvePoint:
    """One point of a learning curve: a strategy's mean score at one size, with its interval."""

    strategy: str
    track: str
    n_per_class: int
    metric: str
    mean: float
    ci_low: float
    ci_high: float
    seeds: int


@dataclass(frozen=True)
class Recommendation:
    """The decision and the reasons for it, each reason with its numbers."""

    choice: str  # "prompt" | "finetune" | "either"
    strategy: str
    summary: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class DataSummary:
    """What was read: sizes, labels, warnings, and how the test set was made."""

    train_size: int
    test_size: int
    labels: tuple[str, ...]
    warnings: tuple[str, ...]
    split: str
    sizes: tuple[int, ...]


@dataclass
class RunResult:
    """Everything a run produced; `to_json()` is the results.json document."""

    run_id: str
    task: TaskConfig
    backend: dict[str, str]
    data: DataSummary
    trials: list[dict[str, Any]]
    curves: list[CurvePoint]
    recommendation: Recommendation
    reused_trials: int = 0
    embedding: dict[str, int] = field(default_factory=dict)
    predictions: dict[tuple[str, int, int], list[str]] = field(default_factory=dict)
    gold: dict[int, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the results.json document (see docs/results-schema.md)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "task": self.task.model_dump(mode="json"),
            "backend": self.backend,
            "data": {
                "train_size": self.data.train_size,
                "test_size": self.data.test_size,
                "labels": list(self.data.labels),
                "warnings": list(self.data.warnings),
                "split": self.data.split,
                "sizes": list(self.data.sizes),
            },
            "trials": self.trials,
            "curves": [vars(point) for point in self.curves],
            "recommendation": {
                "choice": self.recommendation.choice,
                "strategy": self.recommendation.strategy,
                "summary": self.recommendation.summary,
                "reasons": list(self.recommendation.reasons),
            },
            "reused_trials": self.reused_trials,
            "embedding": self.embedding,
        }


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_id_for(task: TaskConfig, model_id: str) -> str:
    """Return the run's identity: a hash of the settings, the data's bytes and the model."""
    identity = {
        "task": task.hash_fields(),
        "data": _file_digest(task.data),
        "test": _file_digest(task.test) if task.test else None,
        "model": model_id,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def load_data(task: TaskConfig) -> tuple[Examples, Examples | None, list[str]]:
    """Return the training examples, the test examples (if a file was given) and data warnings."""
    from shouldtune.data import (
        check_labels,
        check_test_labels,
        duplicate_warnings,
        overlap_warnings,
        read_examples,
    )

    train = read_examples(task.data, task.text_column, task.label_column)
    check_labels(train)
    warnings = duplicate_warnings(train)
    test = None
    if task.test is not None:
        test = read_examples(task.test, task.text_column, task.label_column)
        check_test_labels(train, test)
        warnings += duplicate_warnings(test) + overlap_warnings(train, test)
    return train, test, warnings


def plan_sizes(requested: tuple[int, ...], available: int) -> tuple[tuple[int, ...], list[str]]:
    """Return the sizes to run (capped by the smallest class) and a warning for any dropped."""
    sizes = sorted({min(n, available) for n in requested})
    dropped = [n for n in requested if n > available]
    warnings = []
    if dropped:
        warnings.append(
            f"sizes {', '.join(map(str, dropped))} exceed the {available} examples per class the "
            f"smallest class has in the training pool; capped at {available}"
        )
    return tuple(sizes), warnings


def _open_encoder(task: TaskConfig, store: Any, progress: Any) -> CachedEncoder:
    from shouldtune.backends.encoder import SentenceEncoder

    return CachedEncoder(
        SentenceEncoder(task.backend.model, device=task.backend.device, batch_size=task.backend.batch_size, progress=progress),
        store,
    )


def _seconds_per_text(encoder: CachedEncoder, texts: tuple[str, ...]) -> float:
    """Return the encoder's measured seconds per text, bypassing the cache (after one warm-up)."""
    sample = list(texts[:CALIBRATION_TEXTS])
    encoder.encoder.embed(sample[:8])
    start = time.perf_counter()
    encoder.encoder.embed(sample)
    return (time.perf_counter() - start) / max(len(sample), 1)


def run_experiment(
    task: TaskConfig,
    *,
    store_path: str | Path = ".shouldtune/store.db",
    fresh: bool = False,
    say: Say | None = None,
    progress: Any = None,
) -> RunResult:
    """Run every strategy at every size and seed on the same splits; return the results.

    Trials already in the store for this exact task, data and model are reused; `fresh`
    deletes them first. `say` receives one line per step; `progress` is a Rich Progress.
    """
    from shouldtune.store import Store

    say = say or (lambda line: None)
    train, test, warnings = load_data(task)
    label_set = tuple(sorted(set(train.labels)))
    seeds = [task.seed + i for i in range(task.seeds)]
    splits = make_splits(train, test, seeds, task.test_fraction)
    sizes, size_warnings = plan_sizes(task.sizes, largest_size(splits, label_set))
    warnings += size_warnings
    if test is not None:
        split_text = f"given test file ({len(test)} examples)"
    elif len(splits) > 1 and splits[0] is not splits[1]:
        split_text = f"{len(splits)} stratified hold-out splits, one per seed ({task.test_fraction:.0%} each): small data"
    else:
        split_text = f"one stratified hold-out split ({task.test_fraction:.0%}, seed {seeds[0]})"
    for line in warnings:
        say(f"[yellow]warning:[/] {line}")

    names = task.strategies or DEFAULT_STRATEGIES
    with Store(store_path) as store:
        encoder = _open_encoder(task, store, progress)
        run_id = run_id_for(task, encoder.model_id)
        if fresh:
            store.forget_trials(run_id)
        store.start_run(run_id, task.model_dump(mode="json"))
        done = store.trials(run_id)
        say(
            f"run {run_id}: {len(train)} training examples, {len(label_set)} labels; test: {split_text}; "
            f"sizes {', '.join(map(str, sizes))} per class; {len(seeds)} seeds; model {encoder.model_id}"
        )

        plan = _plan(names, sizes, seeds)
        reused = sum(1 for key in plan if key in done)
        if reused:
            say(f"reusing {reused} of {len(plan)} finished trials from {store.path}")
        seconds_per_text = 0.0
        if reused < len(plan):
            seconds_per_text = _prepare_embeddings(encoder, plan, done, splits, seeds, label_set, say)

        trials: list[dict[str, Any]] = []
        predictions: dict[tuple[str, int, int], list[str]] = {}
        overall = progress.add_task("trials", total=len(plan)) if progress is not None else None
        for strategy_name, n_per_class, seed in plan:
            key = (strategy_name, n_per_class, seed)
            split = splits[seeds.index(seed)]
            if key in done:
                record, predicted = done[key].record, done[key].predictions
            else:
                record, predicted = _run_trial(
                    task, encoder, split, label_set, strategy_name, n_per_class, seed, seconds_per_text, progress
                )
                store.save_trial(run_id, record, predicted)
                say(_trial_line(record, task.metric))
            trials.append(record)
            predictions[key] = predicted
            if overall is not None:
                progress.advance(overall)
        if overall is not None:
            progress.remove_task(overall)

        gold = {seed: list(splits[i].test.labels) for i, seed in enumerate(seeds)}
        test_ids = {seed: splits[i].test_id for i, seed in enumerate(seeds)}
        curves = build_curves(trials, predictions, gold, test_ids, label_set)
        from shouldtune.recommend import recommend

        result = RunResult(
            run_id=run_id,
            task=task,
            backend={"name": task.backend.name, "model": encoder.model_id},
            data=DataSummary(
                train_size=len(train),
                test_size=len(splits[0].test),
                labels=label_set,
                warnings=tuple(warnings),
                split=split_text,
                sizes=sizes,
            ),
            trials=trials,
            curves=curves,
            recommendation=recommend(curves, trials, task.metric),
            reused_trials=reused,
            embedding={"texts_requested": encoder.texts_requested, "texts_embedded": encoder.texts_embedded},
            predictions=predictions,
            gold=gold,
        )
        store.finish_run(run_id, result.to_json())
        encoder.close()
    return result


def _plan(names: tuple[str, ...], sizes: tuple[int, ...], seeds: list[int]) -> list[tuple[str, int, int]]:
    """Return every (strategy, n_per_class, seed) to run, in run order (cheap strategies first)."""
    plan = []
    for name in names:
        cls = strategy_class(name)
        if cls.track == "baseline" or not cls.needs_examples:
            # Baselines and zero-example prompts do not depend on n: one point, at 0.
            plan += [(name, 0, seed) for seed in seeds]
        else:
            plan += [(name, n, seed) for n in sizes if n > 0 for seed in seeds]
    return plan


def _training_set(split: Split, label_set: tuple[str, ...], strategy_name: str, n_per_class: int, seed: int) -> Examples:
    if strategy_class(strategy_name).track == "baseline":
        return split.pool  # the majority label is a property of the whole pool
    return per_class_subset(split.pool, label_set, n_per_class, seed)


def _prepare_embeddings(
    encoder: CachedEncoder,
    plan: list[tuple[str, int, int]],
    done: dict[Any, Any],
    splits: list[Split],
    seeds: list[int],
    label_set: tuple[str, ...],
    say: Say,
) -> float:
    """Embed, once, every distinct text the frozen-encoder trials will need; return seconds per text."""
    texts: dict[str, None] = {}
    for strategy_name, n_per_class, seed in plan:
        if (strategy_name, n_per_class, seed) in done or strategy_class(strategy_name).track == "baseline":
            continue
        split = splits[seeds.index(seed)]
        texts.update(dict.fromkeys(split.test.texts))
        texts.update(dict.fromkeys(_training_set(split, label_set, strategy_name, n_per_class, seed).texts))
    seconds_per_text = _seconds_per_text(encoder, splits[0].test.texts)
    say(f"embedding {len(texts)} distinct texts ({seconds_per_text * 1000:.1f} ms per text)")
    encoder.embed(list(texts))
    return seconds_per_text


def _run_trial(
    task: TaskConfig,
    encoder: CachedEncoder,
    split: Split,
    label_set: tuple[str, ...],
    strategy_name: str,
    n_per_class: int,
    seed: int,
    seconds_per_text: float,
    progress: Any,
) -> tuple[dict[str, Any], list[str]]:
    """Fit and score one strategy on one subset; return its record and test predictions.

    Times are charged as if there were no embedding cache: every text the strategy read from
    the cache costs the encoder's measured seconds per text, so prompt strategies (which
    reuse cached vectors) are not made to look cheaper than fine-tuned ones (which cannot).
    """
    subset = _training_set(split, label_set, strategy_name, n_per_class, seed)
    context = StrategyContext(
        encoder=encoder,
        template=task.template,
        label_descriptions=task.label_descriptions,
        prompt_variants=tuple(task.prompt_variants),
        seed=seed,
        progress=progress,
    )
    strategy = build(strategy_name, context, task.strategy_params.get(strategy_name))
    training = TrainingSet(subset.texts, subset.labels, label_set)

    requested, embedded = encoder.texts_requested, encoder.texts_embedded
    start = time.perf_counter()
    strategy.fit(training)
    fit_seconds = time.perf_counter() - start
    fit_cached = (encoder.texts_requested - requested) - (encoder.texts_embedded - embedded)

    requested, embedded = encoder.texts_requested, encoder.texts_embedded
    start = time.perf_counter()
    predicted = strategy.predict(list(split.test.texts))
    predict_seconds = time.perf_counter() - start
    predict_cached = (encoder.texts_requested - requested) - (encoder.texts_embedded - embedded)

    fit_seconds += fit_cached * seconds_per_text
    predict_seconds += predict_cached * seconds_per_text
    estimates = trial_estimates(split.test.labels, predicted, label_set, seed=seed)
    record = {
        "strategy": strategy_name,
        "track": strategy.track,
        "n_per_class": n_per_class,
        "seed": seed,
        "train_examples": len(subset),
        "metrics": {name: round(estimates[name].mean, 6) for name in METRICS},
        "metrics_ci": {name: [round(estimates[name].ci_low, 6), round(estimates[name].ci_high, 6)] for name in METRICS},
        "fit_seconds": round(fit_seconds, 6),
        "predict_seconds": round(predict_seconds, 6),
        "examples_per_second": round(len(predicted) / predict_seconds, 2) if predict_seconds > 0 else None,
        "details": strategy.describe(),
    }
    return record, predicted


def _trial_line(record: dict[str, Any], metric: str) -> str:
    return (
        f"  {record['strategy']:<14} n={record['n_per_class']:<3} seed={record['seed']}  "
        f"{metric}={record['metrics'][metric]:.3f}  fit {record['fit_seconds']:.2f}s  "
        f"predict {record['predict_seconds']:.2f}s"
    )


def build_curves(
    trials: list[dict[str, Any]],
    predictions: dict[tuple[str, int, int], list[str]],
    gold: dict[int, list[str]],
    test_ids: dict[int, str],
    label_set: tuple[str, ...],
) -> list[CurvePoint]:
    """Return one point per strategy, size and metric: mean over seeds and its 95% interval."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    for trial in trials:
        groups.setdefault((trial["strategy"], trial["track"], trial["n_per_class"]), []).append(trial["seed"])
    points = []
    for (strategy_name, track, n_per_class), seeds in groups.items():
        runs = [(test_ids[s], gold[s], predictions[(strategy_name, n_per_class, s)]) for s in sorted(seeds)]
        for metric in METRICS:
            estimate: Estimate = curve_estimate(runs, label_set, metric, seed=n_per_class)
            points.append(
                CurvePoint(
                    strategy_name, track, n_per_class, metric,
                    round(estimate.mean, 6), round(estimate.ci_low, 6), round(estimate.ci_high, 6), len(seeds),
                )
            )
    return points


