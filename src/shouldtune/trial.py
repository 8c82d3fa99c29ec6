"""One trial: a strategy fitted on n examples per class with one seed, then scored and timed.

One meter times fit and predict: wall seconds, plus, for every text a strategy read from the
embedding cache, what embedding it costs — so prompt strategies (which reuse cached vectors)
do not look cheaper than fine-tuned ones (which cannot).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shouldtune.analysis.cost import latency_percentiles
from shouldtune.analysis.metrics import LabelScoring, Scoring, scored_trial
from shouldtune.backends.registry import OpenBackend
from shouldtune.data.splits import Split
from shouldtune.planning import training_set
from shouldtune.records import Latency, Tokens, TrialRecord
from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.registry import build
from shouldtune.task import Contestant, TaskConfig

CALIBRATION_TEXTS = 128
LATENCY_REQUESTS = 32  # single-text predictions timed per trial for latency p50/p95
LATENCY_BUDGET_SECONDS = 1.0  # ...or fewer (at least 3) when a trial's single predictions are slow

Say = Callable[[str], None]


@dataclass
class Meter:
    """Times calls on one backend, charging each text read from its embedding cache what embedding it costs.

    `seconds_per_text` is measured batched (for fit and predict over many texts),
    `single_text_seconds` alone (for one request's latency).
    """

    backend: OpenBackend
    seconds_per_text: float = 0.0
    single_text_seconds: float = 0.0

    def _cache_reads(self) -> tuple[int, int]:
        encoder = self.backend.encoder
        return getattr(encoder, "texts_requested", 0), getattr(encoder, "texts_embedded", 0)

    def charged(self, call: Callable[[], Any], *, single: bool = False) -> tuple[Any, float]:
        """Return `call()`'s result and its wall seconds plus the embedding cost of every text it read from the cache."""
        requested, embedded = self._cache_reads()
        start = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - start
        after_requested, after_embedded = self._cache_reads()
        cached = (after_requested - requested) - (after_embedded - embedded)
        return result, seconds + cached * (self.single_text_seconds if single else self.seconds_per_text)

    def calibrate(self, texts: Sequence[str]) -> None:
        """Measure the backend encoder's seconds per text, batched and alone, bypassing the cache."""
        encoder = self.backend.encoder.encoder
        sample = list(texts[:CALIBRATION_TEXTS])
        encoder.embed(sample[:8])  # warm-up
        start = time.perf_counter()
        encoder.embed(sample)
        self.seconds_per_text = (time.perf_counter() - start) / max(len(sample), 1)
        times = []
        for text in sample[1:9] or sample[:1]:
            start = time.perf_counter()
            encoder.embed([text])
            times.append(time.perf_counter() - start)
        self.single_text_seconds = float(sorted(times)[len(times) // 2])


def validation_score(scoring: Scoring, metric: str) -> Callable[[Any, Any], float]:
    """Return the task's decision metric as a function of (gold, predicted), for prompt search."""

    def score(gold: Any, predicted: Any) -> float:
        statistics = scoring.statistics(list(gold), list(predicted))
        return float(scoring.evaluate(statistics.sum(axis=0, keepdims=True))[metric][0])

    return score


def build_strategy(
    task: TaskConfig, contestant: Contestant, backend: OpenBackend, seed: int, progress: Any, scoring: Scoring | None = None
) -> Any:
    """Return a new, unfitted strategy for `contestant` on its opened backend, for one seed."""
    context = StrategyContext(
        encoder=backend.encoder,
        template=task.template,
        label_descriptions=task.label_descriptions,
        prompt_variants=tuple(task.prompt_variants),
        seed=seed,
        progress=progress,
        llm=backend.llm,
        task_type=task.task_type,
        instruction=task.instruction,
        classify_by=task.classify_by,
        validation_score=validation_score(scoring, task.metric) if scoring is not None else None,
    )
    return build(contestant.strategy, context, task.params_of(contestant), contestant.kind)


def run_trial(
    task: TaskConfig,
    contestant: Contestant,
    meter: Meter,
    split: Split,
    label_set: tuple[str, ...],
    n_per_class: int,
    seed: int,
    progress: Any = None,
    scoring: Scoring | None = None,
) -> tuple[TrialRecord, list[str]]:
    """Fit and score one contestant on one subset per fold; return its record and test predictions.

    With cross-validation the strategy is fitted once per fold (on n per class of that fold's
    pool) and each fit scores its fold's examples, so the predictions cover every example; a
    size that fits in fewer folds' training parts is fitted on fewer (`Split.folds_at`).
    `fit_seconds` is the mean fit (what fitting once costs), `predict_seconds` the whole test
    set's.
    """
    scoring = scoring or LabelScoring(label_set)
    backend = meter.backend
    predicted: list[str] = [""] * len(split.test)
    fit_times, predict_times, subset_sizes = [], [], []
    usage_before_fit = backend.usage()
    predict_usage: dict[str, int] = {}
    described: dict[str, Any] = {}
    search = None
    strategy: Any = None
    folds = split.folds_at(n_per_class, by_label=bool(label_set))
    for fold in folds:
        strategy = build_strategy(task, contestant, backend, seed, progress, scoring=scoring)
        subset = training_set(fold.pool, label_set, strategy.track, n_per_class, seed)
        training = TrainingSet(subset.texts, subset.labels, label_set)
        _, fit_seconds = meter.charged(lambda: strategy.fit(training))
        usage_before = backend.usage()
        texts = [split.test.texts[i] for i in fold.test_positions]
        fold_predicted, predict_seconds = meter.charged(lambda: strategy.predict(texts))
        for key, value in backend.usage().items():
            predict_usage[key] = predict_usage.get(key, 0) + value - usage_before[key]
        for position, label in zip(fold.test_positions, fold_predicted):
            predicted[position] = label
        fit_times.append(fit_seconds)
        predict_times.append(predict_seconds)
        subset_sizes.append(len(subset))
        described = described or strategy.describe()
        search = search or strategy.search()
    tokens = token_counts(usage_before_fit, backend.usage(), predict_usage, folds=len(fit_times))
    latency_ms = _latency_ms(strategy, _latency_texts(split, folds[-1].test_positions, backend.charges), meter)
    estimates = scored_trial(scoring, split.gold, predicted, seed=seed)
    predict_seconds = sum(predict_times)
    record = TrialRecord(
        strategy=contestant.name,
        track=strategy.track,
        backend=contestant.backend,
        model=backend.model_id,
        charged_by=backend.charges,
        n_per_class=n_per_class,
        seed=seed,
        train_examples=round(sum(subset_sizes) / len(subset_sizes)),
        folds=len(fit_times),
        metrics={name: round(estimates[name].mean, 6) for name in scoring.metrics},
        metrics_ci={name: (round(estimates[name].ci_low, 6), round(estimates[name].ci_high, 6)) for name in scoring.metrics},
        fit_seconds=round(sum(fit_times) / len(fit_times), 6),
        predict_seconds=round(predict_seconds, 6),
        examples_per_second=round(len(predicted) / predict_seconds, 2) if predict_seconds > 0 else None,
        latency_ms=latency_ms,
        tokens=tokens,
        search=search,
        details=described,
    )
    return record, predicted


def _latency_texts(split: Split, answered: Sequence[int], charges: str) -> list[str]:
    """Return the test texts a trial's latency is timed on: first those the last fold's model (the
    one timed) has answered, then the others.

    On a backend charged by tokens only those answered: its response cache gives them back with
    the seconds they took, so timing them costs nothing, where any other text would be a call
    bought for the probe (under cross-validation, most of them).
    """
    first = list(split.test.subset(answered).texts)
    if charges == "tokens":
        return first
    seen = set(answered)
    return first + [text for i, text in enumerate(split.test.texts) if i not in seen]


def _latency_ms(strategy: Any, texts: Sequence[str], meter: Meter) -> Latency:
    """Return p50 and p95 milliseconds of single-text predictions on the first of `texts`.

    Like the batch timings, a text read from the embedding cache is charged what embedding
    it alone costs, so a frozen-encoder strategy does not look free per request.
    """
    seconds = []
    deadline = time.perf_counter() + LATENCY_BUDGET_SECONDS
    # An API model records each answer's own seconds (a cached answer keeps those measured when
    # it was bought), so a latency probe the response cache answers still reports the server's.
    recorded = getattr(meter.backend.llm, "latencies", None)
    for text in texts[:LATENCY_REQUESTS]:
        answered = len(recorded) if recorded is not None else 0
        _, elapsed = meter.charged(lambda: strategy.predict([text]), single=True)
        if recorded is not None and len(recorded) > answered:
            elapsed = sum(recorded[answered:])
        seconds.append(elapsed)
        if len(seconds) >= 3 and time.perf_counter() > deadline:
            break
    latency = latency_percentiles(seconds)
    return Latency(round(latency.p50 * 1000, 3), round(latency.p95 * 1000, 3), len(seconds))


def token_counts(before_fit: dict[str, int], after: dict[str, int], predict_usage: dict[str, int], folds: int = 1) -> Tokens | None:
    """Return a language-model trial's tokens for the cost model ({} for a backend that counts none).

    `prompt_per_request` and `output_per_request` are means over the test requests (a request
    is one distinct prompt; repeated test inputs are answered once); output tokens are the
    tokens generated, or with label scoring the label tokens scored. `training` counts the
    tokens one fine-tune trained on, epochs included (the mean over folds). None for a backend
    that counts no tokens, and for a trial that asked the model nothing (the baseline).
    """
    if not before_fit or not any(predict_usage.values()) and after == before_fit:
        return None
    requests = predict_usage.get("requests", 0)

    def per_request(tokens: str) -> float:
        return round(predict_usage.get(tokens, 0) / requests, 2) if requests else 0.0

    trained = after.get("training_tokens", 0) - before_fit.get("training_tokens", 0)
    return Tokens(per_request("prompt_tokens"), per_request("output_tokens"), round(trained / max(folds, 1)))


def trial_line(record: TrialRecord, metric: str) -> str:
    """Return the line a run prints when a trial finishes."""
    return (
        f"  {record.strategy:<14} n={record.n_per_class:<3} seed={record.seed}  "
        f"{metric}={record.metrics[metric]:.3f}  fit {record.fit_seconds:.2f}s  "
        f"predict {record.predict_seconds:.2f}s"
    )
