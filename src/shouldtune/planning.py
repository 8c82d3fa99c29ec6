"""Planning a run: the data read and checked, the splits, the sizes, and each trial's identity.

Pure set-up: nothing here fits a model or writes the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shouldtune.analysis.metrics import Scoring, scoring_for
from shouldtune.data.checks import listed
from shouldtune.data.load import Examples
from shouldtune.data.splits import Split, make_splits, per_class_subset, random_subset
from shouldtune.schedule import repeated
from shouldtune.task import METRICS_BY_TYPE, Contestant, TaskConfig

TEST_TEXT_CHARS = 300  # test texts are kept in results.json cut to this length


@dataclass(frozen=True)
class Prepared:
    """What every trial of a run shares: the data, its warnings, the labels, the scoring, the seeds and splits."""

    train: Examples
    test: Examples | None
    warnings: list[str]
    label_set: tuple[str, ...]
    scoring: Scoring
    seeds: list[int]
    splits: list[Split]

    def split_of(self, seed: int) -> Split:
        return self.splits[self.seeds.index(seed)]


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file's bytes (computed once per version of the file in a process)."""
    stat = Path(path).stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@cache
def _digest(path: str, mtime_ns: int, size: int) -> str:
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
        "data": file_digest(task.data),
        "test": file_digest(task.test) if task.test else None,
        "model": model_id,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def trial_key(task: TaskConfig, contestant: Contestant, model_id: str, n_per_class: int, seed: int, split: Split) -> str:
    """Return a trial's identity: a hash of everything that determines its outputs, and nothing else.

    That is the release, the data's bytes, how the split was made, the task's prompt settings,
    the backend's output-changing settings and model fingerprint, the strategy and its
    settings (defaults filled in), the size and the seed. The metric counts only for
    strategies that choose by it (prompt-search). Download permission, output folders,
    prices, volume, `min_gain`, `exhaustive`, other sizes, seeds and strategies change no key,
    so a finished trial is reused by any run that would compute it again.
    """
    from shouldtune import __version__
    from shouldtune.backends.registry import backend_spec
    from shouldtune.strategies.registry import check_params, settings_of, strategy_class

    cls = strategy_class(contestant.strategy, contestant.kind)
    backend = backend_spec(contestant.kind).output_settings(contestant.settings)
    backend.pop("model", None)  # where the model lies is not what it is: `model_id` fingerprints it
    identity = {
        "shouldtune": __version__,
        "data": file_digest(task.data),
        "test": file_digest(task.test) if task.test else None,
        "split": {
            "seed": task.seed,
            "validation": "cv" if split.cross_validated else "holdout",
            "folds": len(split.folds_at(n_per_class, task.task_type == "classification")) if split.cross_validated else None,
            "test_fraction": None if task.test or split.cross_validated else task.test_fraction,
        },
        "task": task.model_dump(
            mode="json",
            include={"task_type", "text_column", "label_column", "instruction", "classify_by", "label_descriptions", "template", "prompt_variants"},
        ),
        "metric": task.metric if cls.selects_on_metric else None,
        "backend": {"kind": contestant.kind, "model": model_id, **backend},
        "strategy": contestant.strategy,
        "settings": settings_of(contestant.strategy, check_params(contestant.strategy, task.params_of(contestant), contestant.kind), contestant.kind),
        "n_per_class": n_per_class,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def plan_sizes(requested: tuple[int, ...], available: int, asked: bool = True) -> tuple[tuple[int, ...], list[str]]:
    """Return the sizes to run (capped where the training set is the whole pool: `available`,
    the largest class) and a warning for any dropped that the user `asked` for (the default
    sizes reach past most datasets: capping them is no news)."""
    sizes = sorted({min(n, available) for n in requested})
    dropped = [n for n in requested if n > available]
    warnings = []
    if dropped and asked:
        warnings.append(
            f"sizes {', '.join(map(str, dropped))} exceed the {available} examples per class the "
            f"largest class has in the training pool; capped at {available}, where a trial trains on all of it"
        )
    return tuple(sizes), warnings


def prepare(task: TaskConfig) -> Prepared:
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
    return Prepared(train, test, warnings, label_set, scoring, seeds, splits)


def split_text(
    task: TaskConfig, test: Examples | None, splits: list[Split], seeds: list[int], classes: Mapping[str, type] | None = None
) -> str:
    """Return how the test set was made, in words; `classes` (contestant -> strategy class) name
    those a default cross-validated run deals every seed's way (`schedule.repeated`)."""
    every_way = [name for name, cls in (classes or {}).items() if repeated(cls)]
    classification = task.task_type == "classification"
    kind = "stratified" if classification else "by-input"
    if test is not None:
        return f"given test file ({len(test)} examples)"
    if splits[0].cross_validated:
        # Without --exhaustive the other seeds' repeats run only for strategies on the frozen vectors: see shouldtune.schedule.
        repeats = (
            "1 repeat" if len(seeds) == 1 else f"{len(seeds)} repeats" if task.exhaustive
            else f"{len(seeds)} repeats for {listed(every_way)} (fits on the frozen vectors), 1 for the rest" if every_way
            else "1 repeat"
        )
        fewer = " (sizes that fit in a smaller training part: fewer folds)" if splits[0].fewer_folds else ""
        return (
            f"{kind} {len(splits[0].fold_list())}-fold cross-validation{fewer}, {repeats}: every one of the "
            f"{len(splits[0].test)} examples scored by models that never saw it (small data, no test file)"
        )
    return f"one {kind} hold-out split ({task.test_fraction:.0%}, seed {seeds[0]})"


def work_of(task: TaskConfig, label_set: tuple[str, ...], counts: Mapping[str, int]) -> Callable[[str, int], float]:
    """Return (contestant, n_per_class) -> the training work of one fit (`Strategy.work`), for
    the adaptive plan; `counts` are the label counts of the pool the training sets come from."""
    from shouldtune.data.splits import examples_at
    from shouldtune.strategies.base import StrategyContext
    from shouldtune.strategies.registry import build

    def work(name: str, n_per_class: int) -> float:
        contestant = task.contestant(name)
        strategy = build(contestant.strategy, StrategyContext(encoder=None), task.params_of(contestant), contestant.kind)
        return strategy.work(examples_at(n_per_class, counts), max(len(label_set), 1))

    return work


def gold_of(splits: list[Split], seeds: list[int]) -> dict[int, list[str]]:
    """Return each seed's gold labels (or, for an input with several outputs, its references), in test-set order."""
    return {seed: list(splits[i].gold) for i, seed in enumerate(seeds)}


def test_ids_of(splits: list[Split], seeds: list[int]) -> dict[int, str]:
    """Return each seed's test-set id (seeds sharing a test set are paired on it)."""
    return {seed: splits[i].test_id for i, seed in enumerate(seeds)}


def training_set(pool: Examples, label_set: tuple[str, ...], track: str, n_per_class: int, seed: int) -> Examples:
    """Return a trial's training examples from a fold's pool: n per class, or (free-text outputs) n in all."""
    if track == "baseline":
        return pool  # the majority label is a property of the whole pool
    if not label_set:
        return random_subset(pool, n_per_class, seed)
    return per_class_subset(pool, label_set, n_per_class, seed)


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


