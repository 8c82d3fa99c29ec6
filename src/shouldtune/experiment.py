"""The experiment: contestants × learning-curve sizes × seeds → trials → curves → a decision.

    task ─► planning.prepare (data, splits, sizes) ─► backends opened (one per name the task uses)
         ─► schedule (adaptive order) ─► executor (in-process, or Ray tasks) ─► trial.run_trial
         ─► store (each trial committed by this process as it ends, under planning.trial_key;
            found again by its key from any run, on any executor)
         ─► results.build_curves ─► recommend.decide ─► RunResult (results.json)

A contestant is a strategy bound to a backend, so one run can prompt a language model and
fine-tune an encoder on the same splits; each trial names its backend and is charged by it.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shouldtune.analysis.cost import Prices, TokenRates
from shouldtune.analysis.metrics import Scoring, scored_trial
from shouldtune.backends.registry import OpenBackend, backend_spec
from shouldtune.data.load import Examples
from shouldtune.data.splits import Split, first_pool_counts, largest_size, smallest_class
from shouldtune.errors import SpendingCapReached
from shouldtune.executors import Executor, TrialFailed, TrialSetup, executor_for
from shouldtune.planning import (
    Prepared,
    gold_of,
    plan_sizes,
    prepare,
    run_id_for,
    split_text,
    test_ids_of,
    test_section,
    training_set,
    trial_key,
    unknown_label_warnings,
    work_of,
)
from shouldtune.recommend import Recommendation, decide
from shouldtune.records import TrialRecord
from shouldtune.results import CurvePoint, DataSummary, RunResult, build_curves
from shouldtune.schedule import Schedule
from shouldtune.strategies.base import TrainingSet
from shouldtune.strategies.registry import strategy_class
from shouldtune.task import Contestant, TaskConfig
from shouldtune.trial import Meter, Say, build_strategy, trial_line

__all__ = ["CurvePoint", "DataSummary", "Refit", "RunResult", "refit_trial", "run_experiment", "plan_sizes", "run_id_for"]


def open_backends(task: TaskConfig, store: Any, progress: Any) -> dict[str, OpenBackend]:
    """Return every backend the task's contestants run on, opened, by its name in the task.

    If one fails to open, those already open are closed before the error goes on.
    """
    opened: dict[str, OpenBackend] = {}
    try:
        for alias, settings in task.backends_used().items():
            backend = backend_spec(settings.name).open(settings, store, progress)
            backend.alias = alias
            opened[alias] = backend
    except BaseException:
        close_all(opened)
        raise
    return opened


def close_all(backends: dict[str, OpenBackend]) -> None:
    """Close every opened backend."""
    for backend in backends.values():
        backend.close()


def run_model_id(task: TaskConfig, backends: dict[str, OpenBackend]) -> str:
    """Return the models of a run in one string: the default backend's model id, or each backend's by name."""
    if set(backends) == {task.backend.name}:
        return backends[task.backend.name].model_id
    return ";".join(f"{alias}={backend.model_id}" for alias, backend in sorted(backends.items()))


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
    executor: Executor | None = None,
) -> RunResult:
    """Run every contestant at every size and seed on the same splits; return the results.

    A finished trial is reused from the store whenever a trial with the same identity (see
    `planning.trial_key`) is there, from this run or any other; `fresh` deletes this run's
    trials and computes every trial again. `say` receives one line per step; `progress` is a
    Rich Progress. The decision is made for `requests_per_month` under `prices`
    (placeholders if None). `executor` runs the trials (default: the one `task.executor` names);
    whichever runs them, only this process writes the store.
    """
    from shouldtune.store import Store
    from shouldtune.threads import use_available_cores

    say = say or (lambda line: None)
    executor = executor or executor_for(task)  # before any work: a missing Ray is said at once
    use_available_cores()
    prepared = prepare(task)
    label_set, seeds, splits = prepared.label_set, prepared.seeds, prepared.splits
    whole_pool = largest_size(splits, label_set)
    sizes, size_warnings = plan_sizes(task.sizes, whole_pool, asked="sizes" in task.model_fields_set)
    warnings = prepared.warnings + size_warnings + unknown_label_warnings(task.label_descriptions, label_set)
    if prepared.test is None:
        from shouldtune.data.checks import holdout_overlap_warnings

        first_fold = splits[0].fold_list()[0]
        warnings += holdout_overlap_warnings(first_fold.pool, splits[0].test.subset(first_fold.test_positions))
    from rich.markup import escape

    for line in warnings:
        say(f"[yellow]warning:[/] {escape(line)}")  # a warning may quote the data, brackets and all

    contestants = {c.name: c for c in task.contestants()}
    classes = {name: strategy_class(c.strategy, c.kind) for name, c in contestants.items()}
    with Store(store_path) as store:
        backends = open_backends(task, store, progress)
        if prices is None:
            tuned_on = {c.backend for name, c in contestants.items() if classes[name].track == "finetune"}
            prices, prices_file = _api_prices(backends, tuned_on, prices_file)
        try:
            result = _run(
                task, prepared, sizes, whole_pool, warnings, contestants, classes, backends, store, fresh, say, progress, executor
            )
        finally:
            executor.close()
            close_all(backends)
        result.analysis, result.recommendation = decide(
            result.to_json(), result.predictions, requests_per_month=requests_per_month, prices=prices, prices_file=prices_file
        )
        store.finish_run(result.run_id, result.to_json())
    return result


def _api_prices(
    backends: dict[str, OpenBackend], tuned_on: set[str], prices_file: str | None
) -> tuple[Prices | None, str | None]:
    """Return the token prices of the run's API models, each at its own rates from its price table,
    and, on the backends in `tuned_on` (a fine-tune strategy runs there), its fine-tunes' rates.

    None for placeholders: no API backend, or a model the table lacks, which every report then flags.
    """
    models: dict[str, TokenRates] = {}
    sources: list[str] = []
    for alias, backend in backends.items():
        if backend.charges != "tokens":
            continue
        listed = [(backend.model_id, getattr(backend.llm, "prices", None))]
        if alias in tuned_on:
            listed.append((f"ft:{backend.model_id}", backend.llm.tuned_prices()))
        for model, rates in listed:
            if rates is None or rates.placeholder:
                return None, prices_file
            models[model] = TokenRates(rates.input_per_million, rates.output_per_million, rates.training_per_million)
            sources.append(rates.source)
    if not models:
        return None, prices_file
    source = "; ".join(dict.fromkeys(sources))
    if any(b.charges == "compute" for b in backends.values()):
        # A local model in the same run is still costed at the placeholder compute rate: say so.
        source += f" for tokens; the compute rate (${Prices().compute_per_hour:g} an hour) is a placeholder — pass --prices"
    return Prices(models=models), source


def _run(
    task: TaskConfig,
    prepared: Prepared,
    sizes: tuple[int, ...],
    whole_pool: int,
    warnings: list[str],
    contestants: dict[str, Contestant],
    classes: dict[str, type],
    backends: dict[str, OpenBackend],
    store: Any,
    fresh: bool,
    say: Say,
    progress: Any,
    executor: Executor,
) -> RunResult:
    """Run the schedule's trials on opened backends through `executor`; return the results before the decision."""
    label_set, seeds, splits, scoring = prepared.label_set, prepared.seeds, prepared.splits, prepared.scoring
    classification = task.task_type == "classification"
    model_id = run_model_id(task, backends)
    run_id = run_id_for(task, model_id)
    if fresh:
        store.forget_trials(run_id)
    store.start_run(run_id, task.model_dump(mode="json"))
    gold, test_ids = gold_of(splits, seeds), test_ids_of(splits, seeds)
    smallest = smallest_class(splits, label_set)
    work = work_of(task, label_set, first_pool_counts(splits, label_set))
    schedule = Schedule(
        tuple(contestants), sizes, seeds, classes, scoring, task.metric, gold, test_ids, work,
        exhaustive=task.exhaustive, cross_validated=splits[0].cross_validated,
    )
    grid = schedule.grid()
    keys = {
        (name, n, seed): trial_key(task, contestants[name], backends[contestants[name].backend].model_id, n, seed, prepared.split_of(seed))
        for name, n, seed in grid
    }
    done = _finished_trials(task, store, run_id, keys, fresh, prepared)
    outputs = f"{len(label_set)} labels" if classification else f"{task.task_type} (free-text outputs)"
    per = "per class" if classification else "examples"
    described = split_text(task, prepared.test, splits, seeds, classes)
    say(
        f"run {run_id}: {len(prepared.train)} training examples, {outputs}; test: {described}; "
        f"sizes {', '.join(map(str, sizes))} {per}; {len(seeds)} seeds; model {model_id}"
    )
    reused = sum(1 for key in grid if key in done)
    if reused:
        say(f"reusing {reused} of {len(grid)} finished trials from {store.path}")
    meters = {alias: Meter(backend) for alias, backend in backends.items()}
    for alias in backends:
        mine = [key for key in grid if contestants[key[0]].backend == alias and key not in done]
        if mine and any("embed" in classes[name].requires for name, _, _ in mine):
            _prepare_embeddings(meters[alias], mine, classes, prepared, say)
    executor.start(TrialSetup(task, prepared, meters, classes, say, progress))

    # Typed records up to here; the schedule and the analysis read them as results.json lists them.
    trials: list[dict[str, Any]] = []
    predictions: dict[tuple[str, int, int], list[str]] = {}
    # The bar's total is the first pass (one seed) until the plan adds trials, so its ETA
    # is not stretched by trials the adaptive plan may never run.
    planned = [len(grid) if task.exhaustive else len(grid) // len(seeds), 0]  # [total, done]
    overall = progress.add_task("trials", total=planned[0]) if progress is not None else None

    def advance() -> None:
        planned[1] += 1
        if overall is not None:
            progress.advance(overall)

    def run(wanted: list[tuple[str, int, int]]) -> None:
        wanted = list(dict.fromkeys(key for key in wanted if key not in predictions))
        if overall is not None and planned[1] + len(wanted) > planned[0]:
            planned[0] = planned[1] + len(wanted)
            progress.update(overall, total=planned[0])
        ended = {key: done[key] for key in wanted if key in done}
        for _ in ended:
            advance()
        # Each trial is committed as it ends (on Ray, in any order), so a killed run loses at most those running.
        with closing(executor.run([key for key in wanted if key not in done])) as finished:
            try:
                for trial in finished:
                    record = replace(trial.record, work=round(work(*trial.key[:2]), 3))
                    store.save_trial(run_id, record, trial.predicted, keys[trial.key])
                    say(trial_line(record, task.metric))
                    ended[trial.key] = (record, trial.predicted)
                    advance()
            except TrialFailed as failed:
                if isinstance(failed.error, SpendingCapReached):
                    raise failed.error from None  # not a failure: the run stops, resumable, like Ctrl-C
                name, n_per_class, seed = failed.key
                message = " ".join(str(failed.error).split())[:300]
                store.fail_run(run_id, f"trial {name} n={n_per_class} seed={seed} raised {type(failed.error).__name__}: {message}")
                raise failed.error from None
        for key in wanted:  # in the schedule's order, whatever order they ended in: the same trial list on any executor
            record, predicted = ended[key]
            if record.work is None:  # a trial stored by a release that did not record its work
                record = replace(record, work=round(work(*key[:2]), 3))
            trials.append(record.to_json())
            predictions[key] = predicted

    validation, folds = ("cv" if splits[0].cross_validated else "holdout"), len(splits[0].fold_list())

    def evaluate() -> Any:
        from shouldtune.analysis.run import analyse

        curves = build_curves(trials, predictions, gold, test_ids, label_set, scoring=scoring)
        so_far = {
            "task": task.model_dump(mode="json"),
            "trials": trials,
            "curves": [vars(point) for point in curves],
            "data": {"labels": list(label_set), "sizes": list(sizes), "pool_per_class": smallest,
                     "largest_per_class": whole_pool,
                     "test_size": len(splits[0].test), "validation": validation, "folds": folds},
            "test": test_section(splits, seeds),
        }
        return analyse(so_far, predictions)

    skipped = schedule.execute(run, trials, predictions, evaluate, say)
    if overall is not None:
        progress.remove_task(overall)
    embedded = [b.encoder for b in backends.values() if b.encoder is not None]
    return RunResult(
        run_id=run_id,
        task=task,
        backend={
            "name": task.backend.name,
            "model": backends[task.backend.name].model_id if task.backend.name in backends else model_id,
            "backends": {
                alias: {"kind": b.spec.kind, "model": b.model_id, "charged_by": b.charges} for alias, b in sorted(backends.items())
            },
        },
        data=DataSummary(
            train_size=len(prepared.train),
            test_size=len(splits[0].test),
            labels=label_set,
            warnings=tuple(warnings),
            split=described,
            sizes=sizes,
            pool_per_class=smallest,
            largest_per_class=whole_pool,
            validation=validation,
            folds=folds,
        ),
        trials=trials,
        curves=build_curves(trials, predictions, gold, test_ids, label_set, scoring=scoring),
        recommendation=Recommendation("either", "", "not decided yet", ()),
        reused_trials=sum(1 for key in predictions if key in done),
        embedding={
            "texts_requested": sum(e.texts_requested for e in embedded),
            "texts_embedded": sum(e.texts_embedded for e in embedded),
        },
        predictions=predictions,
        gold=gold,
        test=test_section(splits, seeds),
        skipped=skipped,
    )


def _finished_trials(
    task: TaskConfig,
    store: Any,
    run_id: str,
    keys: dict[tuple[str, int, int], str],
    fresh: bool,
    prepared: Prepared,
) -> dict[tuple[str, int, int], tuple[TrialRecord, list[str]]]:
    """Return the grid's trials already in the store: any run's with the same identity (this run's
    own from stores written before identities were, by their place in the grid).

    A trial found under another run is renamed to this run's contestant (the same strategy
    on the same model may be "setfit" there and "setfit@encoder" here) and scored again if it
    lacks this task's metric (a custom one).
    """
    by_key = {} if fresh else store.find_trials(keys.values())
    own = store.trials(run_id)
    found: dict[tuple[str, int, int], tuple[TrialRecord, list[str]]] = {}
    for grid_key, key in keys.items():
        mine = own.get(grid_key)
        # This run's own trial stands only as what the grid would compute now: a release's new
        # default for a strategy changes its key, and the trial runs again.
        stored = mine if mine is not None and mine.trial_key in (None, key) else by_key.get(key)
        if stored is None:
            continue
        record = stored.record
        contestant = task.contestant(grid_key[0])
        if record.strategy != contestant.name or record.backend != contestant.backend:
            record = replace(record, strategy=contestant.name, backend=contestant.backend)
            store.save_trial(run_id, record, stored.predictions, key)  # this run's trials are whole in the store
        if task.metric not in record.metrics:
            record = _rescored(record, stored.predictions, prepared.scoring, prepared.split_of(grid_key[2]))
        found[grid_key] = (record, stored.predictions)
    return found


def _rescored(record: TrialRecord, predicted: list[str], scoring: Scoring, split: Split) -> TrialRecord:
    """Return a stored trial's record with its metrics computed again from its predictions under `scoring`."""
    estimates = scored_trial(scoring, split.gold, predicted, seed=record.seed)
    return replace(
        record,
        metrics={name: round(estimates[name].mean, 6) for name in scoring.metrics},
        metrics_ci={name: (round(estimates[name].ci_low, 6), round(estimates[name].ci_high, 6)) for name in scoring.metrics},
    )


def _prepare_embeddings(
    meter: Meter, keys: list[tuple[str, int, int]], classes: dict[str, type], prepared: Prepared, say: Say
) -> None:
    """Embed, once, every distinct text the frozen-encoder trials of one backend will need, after timing the encoder."""
    texts: dict[str, None] = {}
    for name, n_per_class, seed in keys:
        cls = classes[name]
        if "embed" not in cls.requires:
            continue
        split = prepared.split_of(seed)
        texts.update(dict.fromkeys(split.test.texts))
        for fold in split.folds_at(n_per_class, bool(prepared.label_set)):
            texts.update(dict.fromkeys(training_set(fold.pool, prepared.label_set, cls.track, n_per_class, seed).texts))
    meter.calibrate(prepared.splits[0].test.texts)
    say(f"embedding {len(texts)} distinct texts ({meter.seconds_per_text * 1000:.1f} ms per text)")
    meter.backend.encoder.embed(list(texts))


@dataclass(frozen=True)
class Refit:
    """One trial's strategy fitted again as the run fitted it, and the test set it was scored on."""

    strategy: Any  # a fitted shouldtune.strategies.base.Strategy
    test: Examples
    run_id: str  # the run id the task, data and model give now: differs if any has changed
    backend: OpenBackend  # what the strategy reads; close() it when done
    #: False for a cross-validated run: the refit learned from every example, so its predictions
    #: on them cannot be checked against the trial's out-of-fold ones.
    reproduces_trial: bool = True

    @property
    def encoder(self) -> Any:
        """The backend's (cached) encoder."""
        return self.backend.encoder

    @property
    def llm(self) -> Any:
        """The backend's language model (None on an encoder backend)."""
        return self.backend.llm

    @property
    def model_id(self) -> str:
        """The identity of the model the strategy runs on (a language model's, else the encoder's)."""
        return self.backend.model_id

    def close(self) -> None:
        """Close the backend the strategy reads."""
        self.backend.close()


def refit_trial(
    task: TaskConfig, store: Any, strategy_name: str, n_per_class: int, seed: int, progress: Any = None
) -> Refit:
    """Return one trial's strategy fitted again: same split, subset, seed and settings as in the run.

    Fitting is deterministic (every random choice is seeded; generation is greedy), so the
    strategy predicts what the trial predicted. `store` lends its embedding cache, so
    frozen-encoder vectors are the ones the run used.
    """
    prepared = prepare(task)  # the same set-up as run_experiment's
    split = prepared.split_of(seed)
    contestant = task.contestant(strategy_name)
    settings = contestant.settings
    backend = backend_spec(settings.name).open(settings, store, progress)
    backend.alias = contestant.backend
    try:
        strategy = build_strategy(task, contestant, backend, seed, progress, scoring=prepared.scoring)
        if split.cross_validated:
            # A cross-validated run has no one held-out test set: the model meant for use learns
            # from every labelled example, as each fold's model learned from all but its fold.
            subset = split.pool
        else:
            subset = training_set(split.pool, prepared.label_set, strategy.track, n_per_class, seed)
        strategy.fit(TrainingSet(subset.texts, subset.labels, prepared.label_set))
        # The run id of the task as the run saw it: its models by name when it mixed backends.
        model_id = run_model_id(task, _model_ids(task, store, {contestant.backend: backend}))
    except BaseException:
        backend.close()
        raise
    return Refit(strategy, split.test, run_id_for(task, model_id), backend, not split.cross_validated)


def _model_ids(task: TaskConfig, store: Any, opened: dict[str, OpenBackend]) -> dict[str, OpenBackend]:
    """Return every backend of the task, opened only to read its model id (models load lazily)."""
    found = dict(opened)
    for alias, settings in task.backends_used().items():
        if alias not in found:
            found[alias] = backend_spec(settings.name).open(settings, store, None)
            found[alias].close()
    return found
