"""How labelled examples become evidence: hold-out or cross-validation splits, and the
per-class subsets a learning curve is drawn from.

With a separate test file, or enough rows, every trial is scored on a held-out test set.
Below `CV_BELOW_ROWS` rows and without a test file a hold-out would leave a test set of a
few dozen examples (a 95% interval of ±0.2 or more), so the split is repeated stratified
k-fold cross-validation instead: each repeat (seed) scores *every* labelled example once,
by a model fitted on the other folds, and a trial's predictions are the k folds' put together.

A trial that learns from fewer examples than the k folds' training parts hold needs fewer of
them: n of every label fit in the training half of a 2-fold split as well as in four fifths of
a 5-fold one. So each size is cross-validated with the fewest folds (2 to k) whose every
training part still holds n of every label (`Split.folds_at`): every example is still scored
once, by a model trained on n per class that never saw it, and the learning curve's small
sizes cost 2 fits where they cost k. The largest size, what the decision reads, keeps all k.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from shouldtune.data.load import Examples
from shouldtune.errors import DataError

#: Below this many rows (and with no test file) a hold-out is too noisy: cross-validate.
CV_BELOW_ROWS = 1000
DEFAULT_FOLDS = 5
VALIDATIONS = ("auto", "holdout", "cv")


@dataclass(frozen=True)
class Fold:
    """One model's share of a split: what it may learn from, and which test examples it scores."""

    pool: Examples
    test_positions: tuple[int, ...]  # positions in the split's test set


#: What a test example is scored against: its label or output, or (an input with several
#: reference outputs, as in E2E) all of them.
Reference = str | tuple[str, ...]


@dataclass(frozen=True)
class Split:
    """A training pool and the test set every trial on it is scored on.

    A hold-out has one fold: the pool, scoring the whole test set. Cross-validation has k
    folds whose test positions partition the test set (every labelled example), and its
    `pool` is every example: what a model meant for use is fitted on.

    With free-text outputs the test set holds each input once, and `references` holds all
    the outputs the data gives for it: a model answers an input once, and is scored once
    against every reference (as the E2E challenge and sacrebleu score it), not once per row.
    """

    pool: Examples
    test: Examples
    test_id: str  # identifies the test set: trials sharing it are paired
    references: tuple[tuple[str, ...], ...] = ()  # per test example, when some input has several outputs
    folds: tuple[Fold, ...] = ()
    #: The same examples cross-validated with fewer folds (2 up to k - 1, the same seed), for
    #: sizes whose training sets fit in a smaller training part (`folds_at`).
    fewer_folds: tuple[tuple[Fold, ...], ...] = ()

    @property
    def cross_validated(self) -> bool:
        return len(self.folds) > 1

    def fold_list(self) -> tuple[Fold, ...]:
        """Return the folds; a hold-out's single fold when none were made."""
        return self.folds or (Fold(self.pool, tuple(range(len(self.test)))),)

    def folds_at(self, n_per_class: int, by_label: bool = True) -> tuple[Fold, ...]:
        """Return the folds a trial at `n_per_class` is fitted on: the fewest whose every training
        part holds n of every label (n in all, without labels), else all of them.

        A size the smaller training parts cannot hold (one that trains on all a class has, as
        the largest does) gets every fold, so its model learns from as much as the k-fold one
        would. Sizes of 0 (nothing learned per class) keep every fold too.
        """
        if n_per_class <= 0:
            return self.fold_list()
        labels = set(self.pool.labels)
        for folds in self.fewer_folds:
            if all(_holds(fold.pool, n_per_class, labels if by_label else None) for fold in folds):
                return folds
        return self.fold_list()

    @property
    def gold(self) -> tuple[Reference, ...]:
        """Return what each test example is scored against: its output, or the tuple of its references."""
        if not self.references:
            return self.test.labels
        return tuple(refs[0] if len(refs) == 1 else refs for refs in self.references)


def _split(pool: Examples, test: Examples, by_input: bool) -> Split:
    """Return the split, its test set one row per input (all its outputs as references) if `by_input`."""
    if not by_input or len(set(test.texts)) == len(test):
        return Split(pool, test, _test_id(test))
    first: dict[str, int] = {}
    outputs: dict[str, list[str]] = {}
    for i, (text, label) in enumerate(zip(test.texts, test.labels)):
        first.setdefault(text, i)
        outputs.setdefault(text, []).append(label)
    grouped = test.subset(list(first.values()))
    return Split(pool, grouped, _test_id(test), tuple(tuple(outputs[text]) for text in grouped.texts))


def _test_id(test: Examples) -> str:
    digest = hashlib.sha256()
    for row, text in zip(test.rows, test.texts):
        digest.update(f"{row}\x1f{text}\x1e".encode())
    return digest.hexdigest()[:12]


def _holds(pool: Examples, n_per_class: int, labels: set[str] | None) -> bool:
    """Return whether `pool` has n examples of every one of `labels` (n in all when None)."""
    if labels is None:
        return len(pool) >= n_per_class
    counts = pool.label_counts()
    return all(counts.get(label, 0) >= n_per_class for label in labels)


def holdout(examples: Examples, test_fraction: float, seed: int, stratify: bool = True) -> Split:
    """Return a stratified split of `examples` into a training pool and a test set.

    Without `stratify` (free-text outputs), whole inputs are held out: every row of an input
    that has several reference outputs lands on the same side, so no test input is seen in training.
    """
    from sklearn.model_selection import train_test_split

    if not stratify:
        return _holdout_by_input(examples, test_fraction, seed)
    indices = np.arange(len(examples))
    try:
        pool, test = train_test_split(
            indices, test_size=test_fraction, random_state=seed, stratify=list(examples.labels)
        )
    except ValueError as err:
        raise DataError(
            f"cannot hold out a stratified test set ({err})",
            file=examples.source,
            fix="add examples, raise --test-fraction, or pass a separate test file with --test FILE",
        ) from None
    test_part = examples.subset(sorted(test))
    return Split(examples.subset(sorted(pool)), test_part, _test_id(test_part))


def _holdout_by_input(examples: Examples, test_fraction: float, seed: int) -> Split:
    inputs = list(dict.fromkeys(examples.texts))
    n_test = int(round(len(inputs) * test_fraction))
    if n_test < 1 or n_test >= len(inputs):
        raise DataError(
            f"cannot hold out {test_fraction:.0%} of {len(inputs)} distinct inputs as a test set",
            file=examples.source,
            fix="add examples, change --test-fraction, or pass a separate test file with --test FILE",
        )
    held = set(np.random.default_rng(seed).permutation(len(inputs))[:n_test].tolist())
    held_inputs = {inputs[i] for i in held}
    test = [i for i, text in enumerate(examples.texts) if text in held_inputs]
    pool = [i for i, text in enumerate(examples.texts) if text not in held_inputs]
    return _split(examples.subset(pool), examples.subset(test), by_input=True)


def cross_validation(examples: Examples, folds: int, seed: int, stratify: bool = True, fewer: bool = True) -> Split:
    """Return a k-fold split of `examples` (stratified by label; by input for free-text outputs).

    k is `folds`, or fewer when the smallest class has fewer examples than that. With `fewer`
    the split also holds the same examples split into 2 to k - 1 folds, for the sizes that fit
    in them (`Split.folds_at`).
    """
    if stratify:
        smallest = min(examples.label_counts().values())
        k = min(folds, smallest)
        if k < 2:
            raise DataError(
                "cannot cross-validate: a label has a single example",
                file=examples.source,
                fix="add examples of every label (2 or more each), or pass a separate test file with --test FILE",
            )
        fewer_folds = tuple(_stratified_folds(examples, j, seed) for j in range(2, k)) if fewer else ()
        return Split(
            examples, examples, _test_id(examples) + "-cv", folds=_stratified_folds(examples, k, seed), fewer_folds=fewer_folds,
        )
    inputs = {text: i for i, text in enumerate(dict.fromkeys(examples.texts))}
    k = min(folds, len(inputs))
    if k < 2:
        raise DataError(
            "cannot cross-validate a single distinct input", file=examples.source, fix="add examples, or pass --test FILE"
        )
    # Each input is answered once and scored against all its outputs: the test set holds
    # every input once, and each fold scores the inputs it held out.
    whole = _split(examples, examples, by_input=True)
    fewer_folds = tuple(_folds_by_input(examples, whole, j, seed) for j in range(2, k)) if fewer else ()
    return Split(
        examples, whole.test, whole.test_id + "-cv", whole.references, _folds_by_input(examples, whole, k, seed), fewer_folds,
    )


def _stratified_folds(examples: Examples, k: int, seed: int) -> tuple[Fold, ...]:
    from sklearn.model_selection import StratifiedKFold

    positions = np.arange(len(examples))
    parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(positions, list(examples.labels))
    return tuple(Fold(examples.subset(sorted(train.tolist())), tuple(sorted(test.tolist()))) for train, test in parts)


def _folds_by_input(examples: Examples, whole: Split, k: int, seed: int) -> tuple[Fold, ...]:
    from sklearn.model_selection import GroupKFold

    inputs = {text: i for i, text in enumerate(dict.fromkeys(examples.texts))}
    groups = np.array([inputs[text] for text in examples.texts])
    # GroupKFold does not shuffle: shuffle the group numbers with the seed instead.
    shuffled = np.random.default_rng(seed).permutation(len(inputs))[groups]
    parts = GroupKFold(n_splits=k).split(np.arange(len(examples)), groups=shuffled)
    place = {text: i for i, text in enumerate(whole.test.texts)}
    return tuple(
        Fold(examples.subset(sorted(train.tolist())), tuple(sorted({place[examples.texts[i]] for i in test})))
        for train, test in parts
    )


def validation_for(train_rows: int, test: Examples | None, validation: str = "auto") -> str:
    """Return "holdout" or "cv": the kind of split `make_splits` makes for this data."""
    if test is not None:
        return "holdout"
    if validation == "auto":
        return "cv" if train_rows < CV_BELOW_ROWS else "holdout"
    return validation


def make_splits(
    train: Examples,
    test: Examples | None,
    seeds: list[int],
    test_fraction: float,
    stratify: bool = True,
    validation: str = "auto",
    folds: int = DEFAULT_FOLDS,
    fewer_folds: bool = True,
) -> list[Split]:
    """Return one split per seed: the given test set, one hold-out, or (small data) a k-fold
    cross-validation per seed (each seed a repeat with its own fold assignment)."""
    if test is not None:
        return [_split(train, test, by_input=not stratify)] * len(seeds)
    if validation_for(len(train), test, validation) == "cv":
        return [cross_validation(train, folds, seed, stratify, fewer_folds) for seed in seeds]
    return [holdout(train, test_fraction, seeds[0], stratify)] * len(seeds)


def per_class_subset(pool: Examples, label_set: tuple[str, ...], n_per_class: int, seed: int) -> Examples:
    """Return n examples of every label (all it has, if fewer), drawn with `seed`; subsets for
    growing n are nested."""
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    labels = np.array(pool.labels)
    for label in label_set:
        members = np.flatnonzero(labels == label)
        chosen += rng.permutation(members)[:n_per_class].tolist()
    return pool.subset(sorted(chosen))


def random_subset(pool: Examples, n: int, seed: int) -> Examples:
    """Return n examples drawn with `seed` (for free-text outputs); subsets for growing n are nested."""
    chosen = np.random.default_rng(seed).permutation(len(pool))[:n]
    return pool.subset(sorted(chosen.tolist()))


def largest_size(splits: list[Split], label_set: tuple[str, ...]) -> int:
    """Return the size at which a trial trains on all the data: the most examples any class
    has in any fold's pool (with no label set: the fewest examples a fold's pool has).

    A size counts examples per class, and a class with fewer gives all it has
    (`per_class_subset`), so on imbalanced data the learning curve ends on the whole pool, in
    its own proportions, as the exported strategy will train, and not on a balanced sample
    the size of the smallest class.
    """
    return max(_class_counts(splits, label_set))


def smallest_class(splits: list[Split], label_set: tuple[str, ...]) -> int:
    """Return the examples the smallest class has in every fold's pool (with no label set: the
    fewest examples a fold's pool has)."""
    return min(_class_counts(splits, label_set))


def _class_counts(splits: list[Split], label_set: tuple[str, ...]) -> list[int]:
    """Return every label's examples in every fold's pool (with no label set: each pool's size,
    so that both ends are the fewest examples a pool has)."""
    pools = [fold.pool for split in splits for fold in split.fold_list()]
    if not label_set:
        return [min(len(pool) for pool in pools)]
    return [pool.labels.count(label) for pool in pools for label in label_set]


def first_pool_counts(splits: list[Split], label_set: tuple[str, ...]) -> Mapping[str, int]:
    """Return the label counts of the first fold's training pool ({} with no label set), by which a
    plan counts the examples a size holds (`examples_at`); folds differ by at most one a class."""
    return splits[0].fold_list()[0].pool.label_counts() if label_set else {}


def examples_at(n_per_class: int, counts: Mapping[str, int]) -> int:
    """Return how many examples a training set of n per class holds, drawn from a pool with
    these label counts (a class with fewer gives all it has; no labels: n in all)."""
    if not counts:
        return n_per_class
    return sum(min(n_per_class, count) for count in counts.values())
