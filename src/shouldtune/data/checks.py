"""Checks that need a whole set of examples: labels, duplicates, train/test overlap.

``check_*`` functions raise ``DataError`` for data no experiment can use; ``*_warnings``
functions return plain sentences (empty list when all is well) for data that can be used
but would make the numbers look better or worse than they are. Texts are compared exactly,
after the stripping ``read_examples`` does.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Sequence

from shouldtune.data.load import Examples
from shouldtune.errors import DataError


def check_labels(examples: Examples, *, min_per_label: int = 2) -> None:
    """Return None if every label can be learned and tested; raise ``DataError`` if not."""
    first_rows = _first_rows(examples.labels, examples.rows)
    _check_spellings(examples.source, first_rows)
    counts = examples.label_counts()
    if len(counts) < 2:
        found = f"only one label, {next(iter(counts))!r}" if counts else "no labels"
        raise DataError(
            f"found {found}; at least 2 different labels are needed",
            fix="add examples of the other labels, or check that the label column is right",
            file=examples.source,
        )
    rare = [label for label in first_rows if counts[label] < min_per_label]
    if rare:
        label = rare[0]
        others = f" ({len(rare) - 1} more labels too)" if len(rare) > 1 else ""
        raise DataError(
            f"label {label!r} has {counted(counts[label], 'example')}, fewer than the "
            f"{min_per_label} needed to train and test on it{others}",
            fix="add examples of that label, or remove its rows",
            file=examples.source, row=first_rows[label],
        )


def _check_spellings(source: str, first_rows: dict[str, int]) -> None:
    """Return None, or raise if two labels differ only by case or surrounding space."""
    spellings: dict[str, list[str]] = defaultdict(list)
    for label in first_rows:
        spellings[label.strip().casefold()].append(label)
    for labels in spellings.values():
        if len(labels) > 1:
            first, second = labels[:2]
            raise DataError(
                f"labels {first!r} (row {first_rows[first]}) and {second!r} "
                f"(row {first_rows[second]}) differ only by case or surrounding space",
                fix="normalise the labels so each is spelled one way, e.g. all lower case",
                file=source,
            )


def duplicate_warnings(examples: Examples, *, conflicts: bool = True) -> list[str]:
    """Return warnings about repeated texts in ``examples``; empty if each text is unique.

    Two counts, kept apart because they mean different things. Duplicate texts: rows that
    repeat an earlier row's text and label (a copy in training and one in testing flatters
    the score). Conflicting labels: distinct texts seen with more than one label (noise that
    no model can learn) — counted only with ``conflicts``, since for generated text several
    outputs of one input are alternative references.
    """
    labels_by_text: dict[str, dict[str, int]] = {}  # text -> label -> first row
    repeats = 0
    first_repeat: tuple[int, int] | None = None  # (earlier row, repeating row)
    for text, label, row in zip(examples.texts, examples.labels, examples.rows):
        first_rows = labels_by_text.setdefault(text, {})
        if label in first_rows:
            repeats += 1
            if first_repeat is None:
                first_repeat = (first_rows[label], row)
        else:
            first_rows[label] = row
    warnings = []
    if first_repeat is not None:
        earlier, later = first_repeat
        warnings.append(f"{examples.source}: {counted(repeats, 'duplicate text')} "
                        f"(first at rows {earlier} and {later})")
    conflicting = [rows for rows in labels_by_text.values() if len(rows) > 1] if conflicts else []
    if conflicting:
        (label_a, row_a), (label_b, row_b) = list(conflicting[0].items())[:2]
        verb = "appears" if len(conflicting) == 1 else "appear"
        warnings.append(
            f"{examples.source}: {counted(len(conflicting), 'text')} {verb} with conflicting "
            f"labels (first at rows {row_a} and {row_b}: {label_a!r} and {label_b!r})"
        )
    return warnings


def overlap_warnings(train: Examples, test: Examples) -> list[str]:
    """Return a warning counting the distinct texts found in both files; empty if none."""
    train_rows = _first_rows(train.texts, train.rows)
    shared: dict[str, int] = {}  # text -> its first row in test
    for text, row in zip(test.texts, test.rows):
        if text in train_rows:
            shared.setdefault(text, row)
    if not shared:
        return []
    text, test_row = next(iter(shared.items()))
    verb = "appears" if len(shared) == 1 else "appear"
    return [
        f"{counted(len(shared), 'text')} {verb} in both {train.source} and {test.source} "
        f"(first: row {train_rows[text]} of train, row {test_row} of test)"
    ]


def holdout_overlap_warnings(pool: Examples, test: Examples) -> list[str]:
    """Return a warning counting held-out test texts that also stand in the training pool; empty if none.

    A hold-out made from one file shares texts with the pool when the file repeats them, which
    flatters strategies that remember examples (few-shot-knn above all).
    """
    pool_rows = _first_rows(pool.texts, pool.rows)
    shared = {text: row for text, row in zip(test.texts, test.rows) if text in pool_rows}
    if not shared:
        return []
    text, test_row = next(iter(shared.items()))
    return [
        f"{counted(len(shared), 'held-out test text')} also {'stands' if len(shared) == 1 else 'stand'} in the training pool "
        f"(duplicates in {test.source}; first: rows {pool_rows[text]} and {test_row}); "
        "deduplicate the file for a clean hold-out"
    ]


def check_test_labels(train: Examples, test: Examples) -> None:
    """Return None if every test label occurs in training; raise ``DataError`` if not."""
    known = set(train.labels)
    unseen = {label: row for label, row in _first_rows(test.labels, test.rows).items()
              if label not in known}
    if not unseen:
        return
    label, row = next(iter(unseen.items()))
    others = f" (nor are {', '.join(map(repr, list(unseen)[1:]))})" if len(unseen) > 1 else ""
    close = difflib.get_close_matches(label, sorted(known), n=1)
    hint = f"Did you mean {close[0]!r}? If not, " if close else ""
    raise DataError(
        f"label {label!r} is not in the training file {train.source}{others}",
        fix=f"{hint}add training examples of it, or remove its rows from the test file",
        file=test.source, row=row,
    )


def _first_rows(values: Sequence[str], rows: Sequence[int]) -> dict[str, int]:
    """Return each distinct value's first row, in the order the values first appear."""
    first: dict[str, int] = {}
    for value, row in zip(values, rows):
        first.setdefault(value, row)
    return first


def counted(n: int, noun: str) -> str:
    """Return ``n`` with ``noun`` in the right number, e.g. ``1 example`` or ``3 examples``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def listed(words: Sequence[object]) -> str:
    """Return words as ``a, b and c`` (one word alone as it is)."""
    words = [str(word) for word in words]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
