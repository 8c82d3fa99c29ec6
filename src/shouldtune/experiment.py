"""The experiment: strategies × learning-curve sizes × seeds → trials → curves → a decision."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shouldtune.analysis.cost import Prices, latency_percentiles
from shouldtune.analysis.metrics import Estimate, LabelScoring, Scoring, scored_curve, scored_trial, scoring_for
from shouldtune.backends.cache import CachedEncoder
from shouldtune.data.load import Examples
from shouldtune.data.splits import Split, largest_size, make_splits, per_class_subset, random_subset
from shouldtune.recommend import Recommendation, decide
from shouldtune.schedule import Schedule
from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.registry import BACKEND_STRATEGIES, build, check_params, strategy_class
from shouldtune.task import METRICS_BY_TYPE, TaskConfig

SCHEMA_VERSION = 1
CALIBRATION_TEXTS = 128
LATENCY_REQUESTS = 32  # single-text predictions timed per trial for latency p50/p95
LATENCY_BUDGET_SECONDS = 1.0  # ...or fewer (at least 3) when a trial's single predictions are slow
TEST_TEXT_CHARS = 300  # test texts are kept in results.json cut to this length

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
class DataSummary:
    """What was read: sizes, labels, warnings, and how the test set was made."""

    train_size: int
    test_size: int
    labels: tuple[str, ...]
    warnings: tuple[str, ...]
    split: str
    sizes: tuple[int, ...]
    pool_per_class: int | None = None  # examples the smallest class has in every fold's training pool
    validation: str = "holdout"  # "holdout" (a test file or a held-out share) | "cv" (k-fold cross-validation)
    folds: int = 1


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
    analysis: Any = None  # shouldtune.analysis.Analysis
    test: dict[str, Any] = field(default_factory=dict)  # the test sets' gold labels and texts
    skipped: list[dict[str, Any]] = field(default_factory=list)  # trials the adaptive plan did not run, and why

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
                "pool_per_class": self.data.pool_per_class,
                "validation": self.data.validation,
                "folds": self.data.folds,
            },
            "trials": self.trials,
            "curves": [vars(point) for point in self.curves],
            "analysis": self.analysis.to_json() if self.analysis is not None else None,
            "recommendation": self.recommendation.to_json(),
            "reused_trials": self.reused_trials,
            "embedding": self.embedding,
            "test": self.test,
            "skipped": self.skipped,
        }


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_id_for(task: TaskConfig, model_id: str) -> str:
    """Return the run's identity: a hash of the settings, the data's bytes, the model and the release."""
    from shouldtune import __version__

    identity = {
        "shouldtune": __version__,  # another release may train or score differently: no reuse across it
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

    classification = task.task_type == "classification"
    train = read_examples(task.data, task.text_column, task.label_column)
    if classification:  # free-text outputs have no label set to check
        check_labels(train)
    # Several outputs for one input are references, not conflicting labels, outside classification.
    warnings = duplicate_warnings(train, conflicts=classification)
    test = None
    if task.test is not None:
        test = read_examples(task.test, task.text_column, task.label_column)
        if classification:
            check_test_labels(train, test)
        warnings += duplicate_warnings(test, conflicts=classification) + overlap_warnings(train, test)
    return train, test, warnings


def unknown_label_warnings(descriptions: dict[str, str], label_set: tuple[str, ...]) -> list[str]:
    """Return a warning, with a did-you-mean, for each described label the data does not have (it would be ignored)."""
    import difflib

    warnings = []
    for label in descriptions:
        if label_set and label not in label_set:
            close = difflib.get_close_matches(label, label_set, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the labels are {', '.join(label_set[:8])}{', ...' if len(label_set) > 8 else ''}"
            warnings.append(f"the label description for {label!r} is ignored: the data has no such label ({hint})")
        elif not label_set:
            warnings.append(f"the label description for {label!r} is ignored: free-text outputs have no labels to describe")
            break
    return warnings


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
    """Return the sentence encoder: the backend itself, or (hf backend) the bundled one few-shot-knn uses."""
    from shouldtune.backends.encoder import SentenceEncoder

    if task.backend.name != "encoder":
        return CachedEncoder(SentenceEncoder(progress=progress), store)
    return CachedEncoder(
        SentenceEncoder(
            task.backend.model,
            device=task.backend.device or "cpu",
            batch_size=task.backend.batch_size,
            progress=progress,
            runtime=task.backend.runtime,
        ),
        store,
    )


def _open_llm(task: TaskConfig, progress: Any) -> Any:
    """Return the hf backend's language model (loaded on first use), or None for the encoder backend."""
    if task.backend.name != "hf":
        return None
    from shouldtune.backends.hf import HFCausalLM

    settings = task.backend
    return HFCausalLM(
        settings.model or "",
        device=settings.device,
        dtype=settings.dtype,
        batch_size=settings.batch_size,
        max_new_tokens=settings.max_new_tokens,
        use_chat_template=settings.use_chat_template,
        trust_remote_code=settings.trust_remote_code,
        allow_pickle=settings.allow_pickle,
        allow_download=settings.allow_download,
        progress=progress,
    )


def _validation_score(scoring: Scoring, metric: str) -> Callable[[Any, Any], float]:
    """Return the task's decision metric as a function of (gold, predicted), for prompt search."""

    def score(gold: Any, predicted: Any) -> float:
        statistics = scoring.statistics(list(gold), list(predicted))
        return float(scoring.evaluate(statistics.sum(axis=0, keepdims=True))[metric][0])

    return score


def _seconds_per_text(encoder: CachedEncoder, texts: tuple[str, ...]) -> float:
    """Return the encoder's measured seconds per text, bypassing the cache (after one warm-up)."""
    sample = list(texts[:CALIBRATION_TEXTS])
    encoder.encoder.embed(sample[:8])
    start = time.perf_counter()
    encoder.encoder.embed(sample)
    return (time.perf_counter() - start) / max(len(sample), 1)


def _setup(
    task: TaskConfig,
) -> tuple[Examples, Examples | None, list[str], tuple[str, ...], Scoring, list[int], list[Split]]:
    """Return the data, its warnings, the label set, the scoring, the seeds and one split per seed."""
    train, test, warnings = load_data(task)
    classification = task.task_type == "classification"
    # Generation and extraction outputs are free text: no label set, n counts all examples.
    label_set = tuple(sorted(set(train.labels))) if classification else ()
    custom_metric = None if task.metric in METRICS_BY_TYPE[task.task_type] else task.metric
    scoring = scoring_for(task.task_type, label_set, custom_metric)
    seeds = [task.seed + i for i in range(task.seeds)]
    splits = make_splits(
        train, test, seeds, task.test_fraction, stratify=classification, validation=task.validation, folds=task.folds
    )
    return train, test, warnings, label_set, scoring, seeds, splits


def run_experiment(
    task: TaskConfig,
    *,
    store_path: str | Path = ".shouldtune/store.db",
    fresh: bool = False,
    say: Say | None = None,
    progress: Any = None,
    requests_per_month: int | None = None,
    prices: Prices | None = None,
    prices_file: str | None = None,
) -> RunResult:
    """Run every strategy at every size and seed on the same splits; return the results.

    Trials already in the store for this exact task, data and model are reused; `fresh`
    deletes them first. `say` receives one line per step; `progress` is a Rich Progress.
    The decision is made for `requests_per_month` under `prices` (placeholders if None).
    """
    from shouldtune.store import Store
    from shouldtune.threads import use_available_cores

    say = say or (lambda line: None)
    use_available_cores()
    train, test, warnings, label_set, scoring, seeds, splits = _setup(task)
    classification = task.task_type == "classification"
    pool_per_class = largest_size(splits, label_set)
    sizes, size_warnings = plan_sizes(task.sizes, pool_per_class)
    warnings += size_warnings + unknown_label_warnings(task.label_descriptions, label_set)
    if test is None:
        from shouldtune.data.checks import holdout_overlap_warnings

        first_fold = splits[0].fold_list()[0]
        held_out = splits[0].test.subset(first_fold.test_positions)
        warnings += holdout_overlap_warnings(first_fold.pool, held_out)
    split_text = _split_text(task, test, splits, seeds)
    validation, folds = ("cv" if splits[0].cross_validated else "holdout"), len(splits[0].fold_list())
    from rich.markup import escape

    for line in warnings:
        say(f"[yellow]warning:[/] {escape(line)}")  # a warning may quote the data, brackets and all

    backend = task.backend.name
    names = task.strategies or tuple(BACKEND_STRATEGIES[backend])
    for name in names:  # a misspelt setting stops the run here, before the store is touched
        check_params(name, task.strategy_params.get(name), backend)
    with Store(store_path) as store:
        encoder = _open_encoder(task, store, progress)
        llm = _open_llm(task, progress)
        model_id = llm.model_id if llm is not None else encoder.model_id
        run_id = run_id_for(task, model_id)
        if fresh:
            store.forget_trials(run_id)
        store.start_run(run_id, task.model_dump(mode="json"))
        done = store.trials(run_id)
        outputs = f"{len(label_set)} labels" if classification else f"{task.task_type} (free-text outputs)"
        per = "per class" if classification else "examples"
        say(
            f"run {run_id}: {len(train)} training examples, {outputs}; test: {split_text}; "
            f"sizes {', '.join(map(str, sizes))} {per}; {len(seeds)} seeds; model {model_id}"
        )

        schedule = Schedule(
            names, sizes, seeds, backend, scoring, task.metric, gold_of(splits, seeds), test_ids_of(splits, seeds),
            work_of(task, label_set), exhaustive=task.exhaustive, cross_validated=splits[0].cross_validated,
        )
        grid = schedule.grid()
        reused = sum(1 for key in grid if key in done)
        if reused:
            say(f"reusing {reused} of {len(grid)} finished trials from {store.path}")
        seconds_per_text = single_text_seconds = 0.0
        if reused < len(grid) and any(strategy_class(name, backend).uses_encoder for name in names):
            seconds_per_text = _prepare_embeddings(encoder, grid, done, splits, seeds, label_set, say, backend)
            single_text_seconds = _single_text_seconds(encoder, splits[0].test.texts)
        if llm is not None and reused < len(grid):
            say(f"loading {llm.model_id} on {llm.device}")
            llm.warm_up()  # so that no trial's time includes loading the model

        trials: list[dict[str, Any]] = []
        predictions: dict[tuple[str, int, int], list[str]] = {}
        gold, test_ids = gold_of(splits, seeds), test_ids_of(splits, seeds)
        # The bar's total is the first pass (one seed) until the plan adds trials, so its ETA
        # is not stretched by trials the adaptive plan may never run.
        planned = [len(grid) if task.exhaustive else len(grid) // len(seeds), 0]  # [total, done]
        overall = progress.add_task("trials", total=planned[0]) if progress is not None else None

        def run(keys: list[tuple[str, int, int]]) -> None:
            coming = sum(1 for key in keys if key not in predictions)
            if overall is not None and planned[1] + coming > planned[0]:
                planned[0] = planned[1] + coming
                progress.update(overall, total=planned[0])
            for key in keys:
                if key in predictions:
                    continue
                strategy_name, n_per_class, seed = key
                if key in done:
                    record, predicted = done[key].record, done[key].predictions
                else:
                    try:
                        record, predicted = _run_trial(
                            task, encoder, splits[seeds.index(seed)], label_set, strategy_name, n_per_class, seed,
                            seconds_per_text, progress, single_text_seconds=single_text_seconds, llm=llm, scoring=scoring,
                        )
                    except Exception as err:  # not Ctrl-C: an interrupted run is resumed, a failed one would fail again
                        message = " ".join(str(err).split())[:300]
                        store.fail_run(
                            run_id, f"trial {strategy_name} n={n_per_class} seed={seed} raised {type(err).__name__}: {message}"
                        )
                        raise
                    store.save_trial(run_id, record, predicted)
                    say(_trial_line(record, task.metric))
                trials.append(record)
                predictions[key] = predicted
                planned[1] += 1
                if overall is not None:
                    progress.advance(overall)

        def evaluate() -> Any:
            from shouldtune.analysis.run import analyse

            curves = build_curves(trials, predictions, gold, test_ids, label_set, scoring=scoring)
            so_far = {
                "task": task.model_dump(mode="json"),
                "trials": trials,
                "curves": [vars(point) for point in curves],
                "data": {"labels": list(label_set), "sizes": list(sizes), "pool_per_class": pool_per_class,
                         "test_size": len(splits[0].test), "validation": validation, "folds": folds},
                "test": test_section(splits, seeds),
            }
            return analyse(so_far, predictions)

        skipped = schedule.execute(run, trials, predictions, evaluate, say)
        if overall is not None:
            progress.remove_task(overall)

        curves = build_curves(trials, predictions, gold, test_ids, label_set, scoring=scoring)
        result = RunResult(
            run_id=run_id,
            task=task,
            backend={"name": task.backend.name, "model": model_id},
            data=DataSummary(
                train_size=len(train),
                test_size=len(splits[0].test),
                labels=label_set,
                warnings=tuple(warnings),
                split=split_text,
                sizes=sizes,
                pool_per_class=pool_per_class,
                validation=validation,
                folds=folds,
            ),
            trials=trials,
            curves=curves,
            recommendation=Recommendation("either", "", "not decided yet", ()),
            reused_trials=sum(1 for key in predictions if key in done),
            embedding={"texts_requested": encoder.texts_requested, "texts_embedded": encoder.texts_embedded},
            predictions=predictions,
            gold=gold,
            test=test_section(splits, seeds),
            skipped=skipped,
        )
        result.analysis, result.recommendation = decide(
            result.to_json(), predictions, requests_per_month=requests_per_month, prices=prices, prices_file=prices_file
        )
        store.finish_run(run_id, result.to_json())
        encoder.close()
        if llm is not None:
            llm.close()
    return result


def _split_text(task: TaskConfig, test: Examples | None, splits: list[Split], seeds: list[int]) -> str:
    """Return how the test set was made, in words."""
    classification = task.task_type == "classification"
    kind = "stratified" if classification else "by-input"
    if test is not None:
        return f"given test file ({len(test)} examples)"
    if splits[0].cross_validated:
        # Without --exhaustive only the first seed's repeat runs: see shouldtune.schedule.
        repeats = f"{len(seeds)} repeats" if len(seeds) > 1 and task.exhaustive else "1 repeat"
        return (
            f"{kind} {len(splits[0].fold_list())}-fold cross-validation, {repeats}: every one of the "
            f"{len(splits[0].test)} examples scored by models that never saw it (small data, no test file)"
        )
    return f"one {kind} hold-out split ({task.test_fraction:.0%}, seed {seeds[0]})"


def work_of(task: TaskConfig, label_set: tuple[str, ...]) -> Callable[[str, int], float]:
    """Return (strategy, n_per_class) -> the training work of one fit (`Strategy.work`), for the adaptive plan."""
    from shouldtune.strategies.base import StrategyContext

    def work(name: str, n_per_class: int) -> float:
        strategy = build(name, StrategyContext(encoder=None), task.strategy_params.get(name), task.backend.name)
        return strategy.work(n_per_class * max(len(label_set), 1), max(len(label_set), 1))

    return work


def gold_of(splits: list[Split], seeds: list[int]) -> dict[int, list[str]]:
    """Return each seed's gold labels (or, for an input with several outputs, its references), in test-set order."""
    return {seed: list(splits[i].gold) for i, seed in enumerate(seeds)}


def test_ids_of(splits: list[Split], seeds: list[int]) -> dict[int, str]:
    """Return each seed's test-set id (seeds sharing a test set are paired on it)."""
    return {seed: splits[i].test_id for i, seed in enumerate(seeds)}


def _training_set(
    pool: Examples, label_set: tuple[str, ...], strategy_name: str, n_per_class: int, seed: int, backend: str = "encoder"
) -> Examples:
    """Return a trial's training examples from a fold's pool: n per class, or (free-text outputs) n in all."""
    if strategy_class(strategy_name, backend).track == "baseline":
        return pool  # the majority label is a property of the whole pool
    if not label_set:
        return random_subset(pool, n_per_class, seed)
    return per_class_subset(pool, label_set, n_per_class, seed)


def _prepare_embeddings(
    encoder: CachedEncoder,
    plan: list[tuple[str, int, int]],
    done: dict[Any, Any],
    splits: list[Split],
    seeds: list[int],
    label_set: tuple[str, ...],
    say: Say,
    backend: str = "encoder",
) -> float:
    """Embed, once, every distinct text the frozen-encoder trials will need; return seconds per text."""
    texts: dict[str, None] = {}
    for strategy_name, n_per_class, seed in plan:
        if (strategy_name, n_per_class, seed) in done or not strategy_class(strategy_name, backend).uses_encoder:
            continue
        split = splits[seeds.index(seed)]
        texts.update(dict.fromkeys(split.test.texts))
        for fold in split.fold_list():
            texts.update(dict.fromkeys(_training_set(fold.pool, label_set, strategy_name, n_per_class, seed, backend).texts))
    seconds_per_text = _seconds_per_text(encoder, splits[0].test.texts)
    say(f"embedding {len(texts)} distinct texts ({seconds_per_text * 1000:.1f} ms per text)")
    encoder.embed(list(texts))
    return seconds_per_text


def test_section(splits: list[Split], seeds: list[int]) -> dict[str, Any]:
    """Return results.json's `test` section: each distinct test set's seeds, gold labels and (cut) texts."""
    sets: dict[str, dict[str, Any]] = {}
    for split, seed in zip(splits, seeds):
        entry = sets.setdefault(split.test_id, {
            "id": split.test_id,
            "seeds": [],
            "gold": [list(gold) if isinstance(gold, tuple) else gold for gold in split.gold],  # a list: several references
            "texts": [text if len(text) <= TEST_TEXT_CHARS else text[: TEST_TEXT_CHARS - 1] + "…" for text in split.test.texts],
        })
        entry["seeds"].append(seed)
    return {"text_chars": TEST_TEXT_CHARS, "sets": list(sets.values())}


def _single_text_seconds(encoder: CachedEncoder, texts: tuple[str, ...]) -> float:
    """Return the encoder's median seconds to embed one text on its own (a request), bypassing the cache."""
    sample = list(texts[:9])
    encoder.encoder.embed(sample[:1])  # warm-up
    times = []
    for text in sample[1:] or sample:
        start = time.perf_counter()
        encoder.encoder.embed([text])
        times.append(time.perf_counter() - start)
    return float(sorted(times)[len(times) // 2])


def _latency_ms(strategy: Any, texts: tuple[str, ...], encoder: Any, single_text_seconds: float) -> dict[str, float]:
    """Return p50 and p95 milliseconds of single-text predictions on the first test texts.

    Like the batch timings, a text read from the embedding cache is charged what embedding
    it alone costs, so a frozen-encoder strategy does not look free per request.
    """
    seconds = []
    deadline = time.perf_counter() + LATENCY_BUDGET_SECONDS
    for text in texts[:LATENCY_REQUESTS]:
        requested, embedded = getattr(encoder, "texts_requested", 0), getattr(encoder, "texts_embedded", 0)
        start = time.perf_counter()
        strategy.predict([text])
        elapsed = time.perf_counter() - start
        cached = (getattr(encoder, "texts_requested", 0) - requested) - (getattr(encoder, "texts_embedded", 0) - embedded)
        seconds.append(elapsed + cached * single_text_seconds)
        if len(seconds) >= 3 and time.perf_counter() > deadline:
            break
    latency = latency_percentiles(seconds)
    return {"p50": round(latency.p50 * 1000, 3), "p95": round(latency.p95 * 1000, 3), "requests": len(seconds)}


def _build_strategy(
    task: TaskConfig, encoder: Any, strategy_name: str, seed: int, progress: Any, llm: Any = None, scoring: Scoring | None = None
) -> Any:
    """Return a new, unfitted strategy with the task's prompt settings and params, for one seed."""
    context = StrategyContext(
        encoder=encoder,
        template=task.template,
        label_descriptions=task.label_descriptions,
        prompt_variants=tuple(task.prompt_variants),
        seed=seed,
        progress=progress,
        llm=llm,
        task_type=task.task_type,
        instruction=task.instruction,
        classify_by=task.classify_by,
        validation_score=_validation_score(scoring, task.metric) if scoring is not None else None,
    )
    return build(strategy_name, context, task.strategy_params.get(strategy_name), task.backend.name)


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
    single_text_seconds: float = 0.0,
    llm: Any = None,
    scoring: Scoring | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Fit and score one strategy on one subset per fold; return its record and test predictions.

    With cross-validation the strategy is fitted once per fold (on n per class of that fold's
    pool) and each fit scores its fold's examples, so the predictions cover every example.
    `fit_seconds` is the mean fit (what fitting once costs), `predict_seconds` the whole test
    set's.

    Times are charged as if there were no embedding cache: every text the strategy read from
    the cache costs the encoder's measured seconds per text, so prompt strategies (which
    reuse cached vectors) are not made to look cheaper than fine-tuned ones (which cannot).
    """
    scoring = scoring or LabelScoring(label_set)
    predicted: list[str] = [""] * len(split.test)
    fit_times, predict_times, subset_sizes = [], [], []
    usage_before_fit = vars(llm.usage).copy() if llm is not None else None
    predict_usage: dict[str, int] = {}
    described: dict[str, Any] = {}
    strategy: Any = None
    for fold in split.fold_list():
        subset = _training_set(fold.pool, label_set, strategy_name, n_per_class, seed, task.backend.name)
        strategy = _build_strategy(task, encoder, strategy_name, seed, progress, llm=llm, scoring=scoring)
        training = TrainingSet(subset.texts, subset.labels, label_set)
        _, fit_seconds = _charged_seconds(encoder, seconds_per_text, lambda: strategy.fit(training))
        usage_before = vars(llm.usage).copy() if llm is not None else None
        texts = [split.test.texts[i] for i in fold.test_positions]
        fold_predicted, predict_seconds = _charged_seconds(encoder, seconds_per_text, lambda: strategy.predict(texts))
        if llm is not None and usage_before is not None:
            for key, value in vars(llm.usage).items():
                predict_usage[key] = predict_usage.get(key, 0) + value - usage_before[key]
        for position, label in zip(fold.test_positions, fold_predicted):
            predicted[position] = label
        fit_times.append(fit_seconds)
        predict_times.append(predict_seconds)
        subset_sizes.append(len(subset))
        described = described or strategy.describe()
    tokens = _token_counts(llm, usage_before_fit, predict_usage, folds=len(fit_times))
    latency_ms = _latency_ms(strategy, split.test.texts, encoder, single_text_seconds)
    estimates = scored_trial(scoring, split.gold, predicted, seed=seed)
    predict_seconds = sum(predict_times)
    record = {
        "strategy": strategy_name,
        "track": strategy.track,
        "n_per_class": n_per_class,
        "seed": seed,
        "train_examples": round(sum(subset_sizes) / len(subset_sizes)),
        "folds": len(fit_times),
        "metrics": {name: round(estimates[name].mean, 6) for name in scoring.metrics},
        "metrics_ci": {name: [round(estimates[name].ci_low, 6), round(estimates[name].ci_high, 6)] for name in scoring.metrics},
        "fit_seconds": round(sum(fit_times) / len(fit_times), 6),
        "predict_seconds": round(predict_seconds, 6),
        "examples_per_second": round(len(predicted) / predict_seconds, 2) if predict_seconds > 0 else None,
        "latency_ms": latency_ms,
        **({"tokens": tokens} if tokens else {}),
        "details": described,
    }
    return record, predicted


def _charged_seconds(encoder: CachedEncoder, seconds_per_text: float, call: Callable[[], Any]) -> tuple[Any, float]:
    """Return `call()`'s result and its wall seconds plus, per text it read from the cache, `seconds_per_text`."""
    requested, embedded = encoder.texts_requested, encoder.texts_embedded
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    cached = (encoder.texts_requested - requested) - (encoder.texts_embedded - embedded)
    return result, seconds + cached * seconds_per_text


def _token_counts(
    llm: Any, before_fit: dict[str, int] | None, predict_usage: dict[str, int], folds: int = 1
) -> dict[str, float]:
    """Return a language-model trial's tokens for the cost model ({} for other backends).

    `prompt_per_request` and `output_per_request` are means over the test requests (a request
    is one distinct prompt; repeated test inputs are answered once); output tokens are the
    tokens generated, or with label scoring the label tokens scored. `training` counts the
    tokens one fine-tune trained on, epochs included (the mean over folds).
    """
    if llm is None or before_fit is None:
        return {}
    requests = predict_usage.get("requests", 0)
    per_request = {
        key: round(predict_usage.get(field, 0) / requests, 2) if requests else 0.0
        for key, field in (("prompt_per_request", "prompt_tokens"), ("output_per_request", "output_tokens"))
    }
    trained = llm.usage.training_tokens - before_fit["training_tokens"]
    return {**per_request, "training": round(trained / max(folds, 1))}


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
    scoring: Scoring | None = None,
) -> list[CurvePoint]:
    """Return one point per strategy, size and metric: mean over seeds and its 95% interval."""
    scoring = scoring or LabelScoring(label_set)
    groups: dict[tuple[str, str, int], list[int]] = {}
    for trial in trials:
        groups.setdefault((trial["strategy"], trial["track"], trial["n_per_class"]), []).append(trial["seed"])
    points = []
    for (strategy_name, track, n_per_class), seeds in groups.items():
        runs = [(test_ids[s], gold[s], predictions[(strategy_name, n_per_class, s)]) for s in sorted(seeds)]
        estimates = scored_curve(scoring, runs, seed=n_per_class)
        for metric in scoring.metrics:
            estimate: Estimate = estimates[metric]
            points.append(
                CurvePoint(
                    strategy_name, track, n_per_class, metric,
                    round(estimate.mean, 6), round(estimate.ci_low, 6), round(estimate.ci_high, 6), len(seeds),
                )
            )
    return points




@dataclass(frozen=True)
class Refit:
    """One trial's strategy fitted again as the run fitted it, and the test set it was scored on."""

    strategy: Any  # a fitted shouldtune.strategies.base.Strategy
    test: Examples
    run_id: str  # the run id the task, data and model give now: differs if any has changed
    encoder: CachedEncoder  # the backend the strategy reads; close() it when done
    #: False for a cross-validated run: the refit learned from every example, so its predictions
    #: on them cannot be checked against the trial's out-of-fold ones.
    reproduces_trial: bool = True
    llm: Any = None  # the hf backend's language model (an HFCausalLM); close() it when done

    @property
    def model_id(self) -> str:
        """The backend's model identity: the language model's on the hf backend, else the encoder's."""
        return self.llm.model_id if self.llm is not None else self.encoder.model_id

    def close(self) -> None:
        """Close the backends the strategy reads."""
        self.encoder.close()
        if self.llm is not None:
            self.llm.close()


def refit_trial(
    task: TaskConfig, store: Any, strategy_name: str, n_per_class: int, seed: int, progress: Any = None
) -> Refit:
    """Return one trial's strategy fitted again: same split, subset, seed and settings as in the run.

    Fitting is deterministic (every random choice is seeded; generation is greedy), so the
    strategy predicts what the trial predicted. `store` lends its embedding cache, so
    frozen-encoder vectors are the ones the run used.
    """
    _, _, _, label_set, scoring, seeds, splits = _setup(task)  # the same set-up as run_experiment's
    split = splits[seeds.index(seed)]
    if split.cross_validated:
        # A cross-validated run has no one held-out test set: the model meant for use learns
        # from every labelled example, as each fold's model learned from all but its fold.
        subset = split.pool
    else:
        subset = _training_set(split.pool, label_set, strategy_name, n_per_class, seed, task.backend.name)
    encoder = _open_encoder(task, store, progress)
    llm = None
    try:
        llm = _open_llm(task, progress)
        strategy = _build_strategy(task, encoder, strategy_name, seed, progress, llm=llm, scoring=scoring)
        strategy.fit(TrainingSet(subset.texts, subset.labels, label_set))
    except BaseException:
        encoder.close()
        if llm is not None:
            llm.close()
        raise
    model_id = llm.model_id if llm is not None else encoder.model_id
    return Refit(strategy, split.test, run_id_for(task, model_id), encoder, not split.cross_validated, llm)
