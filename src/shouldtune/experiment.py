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
    pool_per_class: int | None = None  # examples the smallest class has in the training pool


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
            },
            "trials": self.trials,
            "curves": [vars(point) for point in self.curves],
            "analysis": self.analysis.to_json() if self.analysis is not None else None,
            "recommendation": self.recommendation.to_json(),
            "reused_trials": self.reused_trials,
            "embedding": self.embedding,
            "test": self.test,
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
        SentenceEncoder(task.backend.model, device=task.backend.device or "cpu", batch_size=task.backend.batch_size, progress=progress),
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
    splits = make_splits(train, test, seeds, task.test_fraction, stratify=classification)
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

    say = say or (lambda line: None)
    train, test, warnings, label_set, scoring, seeds, splits = _setup(task)
    classification = task.task_type == "classification"
    pool_per_class = largest_size(splits, label_set)
    sizes, size_warnings = plan_sizes(task.sizes, pool_per_class)
    warnings += size_warnings + unknown_label_warnings(task.label_descriptions, label_set)
    if test is None:
        from shouldtune.data.checks import holdout_overlap_warnings

        warnings += holdout_overlap_warnings(splits[0].pool, splits[0].test)
    if test is not None:
        split_text = f"given test file ({len(test)} examples)"
    elif len(splits) > 1 and splits[0] is not splits[1]:
        kind = "stratified" if classification else "by-input"
        split_text = f"{len(splits)} {kind} hold-out splits, one per seed ({task.test_fraction:.0%} each): small data"
    else:
        kind = "stratified" if classification else "by-input"
        split_text = f"one {kind} hold-out split ({task.test_fraction:.0%}, seed {seeds[0]})"
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

        plan = _plan(names, sizes, seeds, backend)
        reused = sum(1 for key in plan if key in done)
        if reused:
            say(f"reusing {reused} of {len(plan)} finished trials from {store.path}")
        seconds_per_text = single_text_seconds = 0.0
        if reused < len(plan) and any(strategy_class(name, backend).uses_encoder for name in names):
            seconds_per_text = _prepare_embeddings(encoder, plan, done, splits, seeds, label_set, say, backend)
            single_text_seconds = _single_text_seconds(encoder, splits[0].test.texts)
        if llm is not None and reused < len(plan):
            say(f"loading {llm.model_id} on {llm.device}")
            llm.warm_up()  # so that no trial's time includes loading the model

        trials: list[dict[str, Any]] = []
        predictions: dict[tuple[str, int, int], list[str]] = {}
        overall = progress.add_task("trials", total=len(plan)) if progress is not None else None
        for strategy_name, n_per_class, seed in plan:
            key = (strategy_name, n_per_class, seed)
            split = splits[seeds.index(seed)]
            if key in done:
                record, predicted = done[key].record, done[key].predictions
            else:
                try:
                    record, predicted = _run_trial(
                        task, encoder, split, label_set, strategy_name, n_per_class, seed, seconds_per_text, progress,
                        single_text_seconds=single_text_seconds, llm=llm, scoring=scoring,
                    )
                except Exception as err:  # not Ctrl-C: an interrupted run is resumed, a failed one would fail again
                    message = " ".join(str(err).split())[:300]
                    store.fail_run(run_id, f"trial {strategy_name} n={n_per_class} seed={seed} raised {type(err).__name__}: {message}")
                    raise
                store.save_trial(run_id, record, predicted)
                say(_trial_line(record, task.metric))
            trials.append(record)
            predictions[key] = predicted
            if overall is not None:
                progress.advance(overall)
        if overall is not None:
            progress.remove_task(overall)

        gold = {seed: list(splits[i].gold) for i, seed in enumerate(seeds)}
        test_ids = {seed: splits[i].test_id for i, seed in enumerate(seeds)}
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
            ),
            trials=trials,
            curves=curves,
            recommendation=Recommendation("either", "", "not decided yet", ()),
            reused_trials=reused,
            embedding={"texts_requested": encoder.texts_requested, "texts_embedded": encoder.texts_embedded},
            predictions=predictions,
            gold=gold,
            test=test_section(splits, seeds),
        )
        result.analysis, result.recommendation = decide(
            result.to_json(), predictions, requests_per_month=requests_per_month, prices=prices, prices_file=prices_file
        )
        store.finish_run(run_id, result.to_json())
        encoder.close()
        if llm is not None:
            llm.close()
    return result


def _plan(
    names: tuple[str, ...], sizes: tuple[int, ...], seeds: list[int], backend: str = "encoder"
) -> list[tuple[str, int, int]]:
    """Return every (strategy, n_per_class, seed) to run, in run order (cheap strategies first)."""
    plan = []
    for name in names:
        cls = strategy_class(name, backend)
        if cls.track == "baseline" or not cls.needs_examples:
            # Baselines and zero-example prompts do not depend on n: one point, at 0.
            plan += [(name, 0, seed) for seed in seeds]
        else:
            plan += [(name, n, seed) for n in sizes if n > 0 for seed in seeds]
    return plan


def _training_set(
    split: Split, label_set: tuple[str, ...], strategy_name: str, n_per_class: int, seed: int, backend: str = "encoder"
) -> Examples:
    """Return a trial's training examples: n per class, or (free-text outputs, no label set) n in all."""
    if strategy_class(strategy_name, backend).track == "baseline":
        return split.pool  # the majority label is a property of the whole pool
    if not label_set:
        return random_subset(split.pool, n_per_class, seed)
    return per_class_subset(split.pool, label_set, n_per_class, seed)


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
        texts.update(dict.fromkeys(_training_set(split, label_set, strategy_name, n_per_class, seed, backend).texts))
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
    """Fit and score one strategy on one subset; return its record and test predictions.

    Times are charged as if there were no embedding cache: every text the strategy read from
    the cache costs the encoder's measured seconds per text, so prompt strategies (which
    reuse cached vectors) are not made to look cheaper than fine-tuned ones (which cannot).
    """
    scoring = scoring or LabelScoring(label_set)
    subset = _training_set(split, label_set, strategy_name, n_per_class, seed, task.backend.name)
    strategy = _build_strategy(task, encoder, strategy_name, seed, progress, llm=llm, scoring=scoring)
    training = TrainingSet(subset.texts, subset.labels, label_set)

    usage_before_fit = vars(llm.usage).copy() if llm is not None else None
    _, fit_seconds = _charged_seconds(encoder, seconds_per_text, lambda: strategy.fit(training))
    usage_before = vars(llm.usage).copy() if llm is not None else None
    predicted, predict_seconds = _charged_seconds(encoder, seconds_per_text, lambda: strategy.predict(list(split.test.texts)))
    tokens = _token_counts(llm, usage_before_fit, usage_before)
    latency_ms = _latency_ms(strategy, split.test.texts, encoder, single_text_seconds)
    estimates = scored_trial(scoring, split.gold, predicted, seed=seed)
    record = {
        "strategy": strategy_name,
        "track": strategy.track,
        "n_per_class": n_per_class,
        "seed": seed,
        "train_examples": len(subset),
        "metrics": {name: round(estimates[name].mean, 6) for name in scoring.metrics},
        "metrics_ci": {name: [round(estimates[name].ci_low, 6), round(estimates[name].ci_high, 6)] for name in scoring.metrics},
        "fit_seconds": round(fit_seconds, 6),
        "predict_seconds": round(predict_seconds, 6),
        "examples_per_second": round(len(predicted) / predict_seconds, 2) if predict_seconds > 0 else None,
        "latency_ms": latency_ms,
        **({"tokens": tokens} if tokens else {}),
        "details": strategy.describe(),
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


def _token_counts(llm: Any, before_fit: dict[str, int] | None, before_predict: dict[str, int] | None) -> dict[str, float]:
    """Return a language-model trial's tokens for the cost model ({} for other backends).

    `prompt_per_request` and `output_per_request` are means over the test requests (a request
    is one distinct prompt; repeated test inputs are answered once); output tokens are the
    tokens generated, or with label scoring the label tokens scored. `training` counts every
    token a fine-tune trained on, epochs included.
    """
    if llm is None or before_fit is None or before_predict is None:
        return {}
    after = vars(llm.usage)
    requests = after["requests"] - before_predict["requests"]
    per_request = {
        key: round((after[field] - before_predict[field]) / requests, 2) if requests else 0.0
        for key, field in (("prompt_per_request", "prompt_tokens"), ("output_per_request", "output_tokens"))
    }
    return {**per_request, "training": before_predict["training_tokens"] - before_fit["training_tokens"]}


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


def refit_trial(
    task: TaskConfig, store: Any, strategy_name: str, n_per_class: int, seed: int, progress: Any = None
) -> Refit:
    """Return one trial's strategy fitted again: same split, subset, seed and settings as in the run.

    Fitting is deterministic (every random choice is seeded), so the strategy predicts what
    the trial predicted. `store` lends its embedding cache, so frozen-encoder vectors are the
    ones the run used.
    """
    _, _, _, label_set, scoring, seeds, splits = _setup(task)  # the same set-up as run_experiment's
    split = splits[seeds.index(seed)]
    subset = _training_set(split, label_set, strategy_name, n_per_class, seed, task.backend.name)
    encoder = _open_encoder(task, store, progress)
    try:
        strategy = _build_strategy(task, encoder, strategy_name, seed, progress, scoring=scoring)
        strategy.fit(TrainingSet(subset.texts, subset.labels, label_set))
    except BaseException:
        encoder.close()
        raise
    return Refit(strategy, split.test, run_id_for(task, encoder.model_id), encoder)
