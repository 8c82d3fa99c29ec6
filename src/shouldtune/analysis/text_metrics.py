"""Metrics for generated text and extracted fields, as summed per-example statistics.

Generation: exact match and token F1 (SQuAD's normalisation: lower case, no punctuation or
articles), ROUGE-L (F-measure of the longest common token subsequence, tokens as
`rouge_score` makes them), and corpus chrF and BLEU from sacrebleu. Extraction: the output is
`key: value | key: value`; field precision, recall and F1 count (key, value) pairs over the
whole test set (micro-averaged), and exact match asks for the same pairs in any order. All
scores are between 0 and 1 (sacrebleu's 0–100 divided by 100).

An input with several reference outputs (E2E) is one test example scored against all of
them: exact match, token F1, ROUGE-L and field counts take its best reference; BLEU and chrF
are sacrebleu's multi-reference scores.

Each metric is a sum of per-example statistics, so its bootstrap resamples are weighted sums
(see `shouldtune.analysis.metrics`). For BLEU and chrF the statistics are sacrebleu's own
n-gram counts, so every resample is scored as a corpus, exactly as sacrebleu scores one.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shouldtune.errors import TaskFileError

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Return `text` lower-cased, without punctuation or English articles, spaces collapsed (SQuAD)."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    """Return 1.0 if the two texts are equal after SQuAD normalisation, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Return the F1 of the normalised tokens two texts share (as a multiset), SQuAD-style."""
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not gold:
        return float(predicted == gold)
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def rouge_tokens(text: str) -> list[str]:
    """Return the tokens ROUGE compares: lower-case runs of letters and digits (as `rouge_score`)."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Return the length of the longest common subsequence of two token lists."""
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """Return ROUGE-L F1: the longest common token subsequence over each text's length."""
    predicted, gold = rouge_tokens(prediction), rouge_tokens(reference)
    if not predicted or not gold:
        return 0.0  # as rouge_score: nothing to match
    common = lcs_length(predicted, gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def parse_fields(text: str) -> list[tuple[str, str]]:
    """Return the (key, value) pairs of `key: value | key: value`, lower-cased, spaces collapsed.

    A part without a colon becomes ("", part): it counts as a predicted field that matches nothing.
    """
    fields = []
    for part in text.split("|"):
        key, colon, value = part.partition(":")
        if not colon:
            key, value = "", key
        key, value = " ".join(key.split()).lower(), " ".join(value.split()).lower()
        if key or value:
            fields.append((key, value))
    return fields


def field_counts(prediction: str, reference: str) -> tuple[int, int, int]:
    """Return (fields right, fields predicted, fields in the reference) for one example."""
    predicted, gold = Counter(parse_fields(prediction)), Counter(parse_fields(reference))
    return sum((predicted & gold).values()), sum(predicted.values()), sum(gold.values())


def fields_match(prediction: str, reference: str) -> float:
    """Return 1.0 if both hold the same (key, value) pairs in any order, else 0.0."""
    return float(Counter(parse_fields(prediction)) == Counter(parse_fields(reference)))


def references(gold: str | tuple[str, ...]) -> tuple[str, ...]:
    """Return an example's reference outputs: its one output, or all of an input's (see `Split.gold`)."""
    return (gold,) if isinstance(gold, str) else tuple(gold)


def _field_f1(counts: tuple[int, int, int]) -> float:
    right, predicted, gold = counts
    return 1.0 if predicted == gold == 0 else 2 * right / (predicted + gold) if predicted + gold else 0.0


class MeanScoring:
    """A metric that is the mean of a per-example score in [0, 1]."""

    def __init__(self, name: str, score: Callable[[str, str], float]) -> None:
        self.name = name
        self.score = score
        self.metrics = (name,)

    def statistics(self, gold: Sequence[str | tuple[str, ...]], predicted: Sequence[str]) -> np.ndarray:
        # Per example: [1, score against its best reference].
        values = [max(self.score(p, r) for r in references(g)) for p, g in zip(predicted, gold)]
        return np.column_stack([np.ones(len(values)), np.asarray(values, dtype=np.float64)]).reshape(len(values), 2)

    def evaluate(self, summed: np.ndarray) -> dict[str, np.ndarray]:
        summed = np.atleast_2d(summed)
        return {self.name: summed[:, 1] / np.maximum(summed[:, 0], 1e-12)}


class FieldScoring:
    """Field precision, recall and F1 over the whole test set (micro-averaged)."""

    metrics = ("field_f1", "field_precision", "field_recall")

    def statistics(self, gold: Sequence[str | tuple[str, ...]], predicted: Sequence[str]) -> np.ndarray:
        # Per example: the counts against the reference it matches best (by field F1).
        rows = [max((field_counts(p, r) for r in references(g)), key=_field_f1) for p, g in zip(predicted, gold)]
        return np.array(rows, dtype=np.float64).reshape(len(gold), 3)

    def evaluate(self, summed: np.ndarray) -> dict[str, np.ndarray]:
        summed = np.atleast_2d(summed)
        right, predicted, gold = summed[:, 0], summed[:, 1], summed[:, 2]
        # Nothing predicted and nothing to find is perfect; otherwise an empty denominator scores 0.
        nothing = (predicted == 0) & (gold == 0)
        precision = np.where(nothing, 1.0, np.divide(right, predicted, out=np.zeros_like(right), where=predicted > 0))
        recall = np.where(nothing, 1.0, np.divide(right, gold, out=np.zeros_like(right), where=gold > 0))
        total = predicted + gold
        f1 = np.where(nothing, 1.0, np.divide(2 * right, total, out=np.zeros_like(right), where=total > 0))
        return {"field_f1": f1, "field_precision": precision, "field_recall": recall}


class SacreBLEUScoring:
    """Corpus BLEU or chrF from sacrebleu, from its per-sentence n-gram statistics."""

    def __init__(self, name: str) -> None:
        from sacrebleu.metrics import BLEU, CHRF

        self.name = name
        self.metrics = (name,)
        self.metric: Any = {"bleu": BLEU, "chrf": CHRF}[name]()

    def statistics(self, gold: Sequence[str | tuple[str, ...]], predicted: Sequence[str]) -> np.ndarray:
        if len(gold) == 0:
            width = len(self.metric._extract_corpus_statistics(["a"], [["a"]])[0])
            return np.zeros((0, width))
        # The same calls sacrebleu's own paired bootstrap makes (sacrebleu.significance). Several
        # references are sacrebleu's reference streams; None pads an input that has fewer.
        per_example = [references(g) for g in gold]
        streams = [[refs[k] if k < len(refs) else None for refs in per_example] for k in range(max(map(len, per_example)))]
        rows = self.metric._extract_corpus_statistics(list(predicted), streams)
        return np.asarray(rows, dtype=np.float64)

    def evaluate(self, summed: np.ndarray) -> dict[str, np.ndarray]:
        summed = np.atleast_2d(summed)
        values = [self.metric._compute_score_from_stats(list(row)).score / 100 for row in summed]
        return {self.name: np.asarray(values, dtype=np.float64)}


def load_user_metric(spec: str) -> Callable[[str, str], float]:
    """Return the function `spec` names: "package.module:function" or "path/to/file.py:function".

    The function is called as `function(prediction, reference)` and returns a number; the
    metric is its mean over the test set.
    """
    module_name, colon, function_name = spec.rpartition(":")
    if not colon or not module_name or not function_name.isidentifier():
        raise TaskFileError(
            f"metric {spec!r} is neither a built-in metric nor 'module:function'",
            column="metric",
            fix="name a built-in metric, or a function as my_metrics:score or metrics.py:score",
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            spec_ = importlib.util.spec_from_file_location(f"shouldtune_user_metric_{path.stem}", path)
            if spec_ is None or spec_.loader is None or not path.is_file():
                raise FileNotFoundError(module_name)
            module = importlib.util.module_from_spec(spec_)
            spec_.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except (ImportError, FileNotFoundError, SyntaxError) as err:
        raise TaskFileError(
            f"cannot import the metric module {module_name!r} ({type(err).__name__}: {err})",
            column="metric",
            fix="give a file path ending in .py (relative to the task file) or a module on the Python path",
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TaskFileError(
            f"{module_name!r} has no function {function_name!r}",
            column="metric",
            fix="check the name after the colon",
        )

    def checked(prediction: str, reference: str) -> float:
        value = function(prediction, reference)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TaskFileError(
                f"metric {spec!r} returned {value!r} for prediction {prediction[:40]!r}; expected a finite number",
                column="metric",
                fix="make the function return a float, e.g. between 0 and 1",
            )
        return float(value)

    return checked


def generation_parts() -> list[Any]:
    """Return the generation metrics: exact_match, token_f1, rouge_l, chrf, bleu."""
    return [
        MeanScoring("exact_match", exact_match),
        MeanScoring("token_f1", token_f1),
        MeanScoring("rouge_l", rouge_l),
        SacreBLEUScoring("chrf"),
        SacreBLEUScoring("bleu"),
    ]


def extraction_parts() -> list[Any]:
    """Return the extraction metrics: field_f1, field_precision, field_recall, exact_match."""
    return [FieldScoring(), MeanScoring("exact_match", fields_match)]
