"""Loading and validating the user's labelled data."""

from shouldtune.data.checks import (
    check_labels,
    check_test_labels,
    duplicate_warnings,
    overlap_warnings,
)
from shouldtune.data.load import Examples, Texts, read_examples, read_texts

__all__ = [
    "Examples",
    "Texts",
    "check_labels",
    "check_test_labels",
    "duplicate_warnings",
    "overlap_warnings",
    "read_examples",
    "read_texts",
]
