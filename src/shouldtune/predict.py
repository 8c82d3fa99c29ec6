"""Predict with an exported strategy: needs only the folder `shouldtune export` wrote and this package."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shouldtune.errors import ExportError, TaskFileError
from shouldtune.export import Manifest
from shouldtune.folders import follow_umask
from shouldtune.strategies.saved import ENCODER_FOLDER, missing_from_export, check_labels


@dataclass(frozen=True)
class Predictions:
    """One label per input text; with gold labels, the scores as a run's trial reports them."""

    texts: tuple[str, ...]
    predictions: tuple[str, ...]
    labels: tuple[str, ...] | None  # the input's own labels, if it had a label column
    metrics: dict[str, float] | None  # accuracy and macro-F1 (rounded as results.json rounds them)
    metrics_ci: dict[str, tuple[float, float]] | None  # their 95% bootstrap intervals
    manifest: Manifest
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Loaded:
    """An exported strategy, loaded and ready to predict."""

    strategy: Any  # a fitted shouldtune.strategies.base.Strategy
    manifest: Manifest
    warnings: tuple[str, ...]


def load_exported(folder: str | Path, store: Any = None) -> Loaded:
    """Return the strategy in an exported folder; `store` (optional) lends its embedding cache."""
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext
    from shouldtune.strategies.registry import strategy_class

    folder = Path(folder)
    manifest = Manifest.read(folder)
    warnings: list[str] = []
    encoder = None
    if manifest.encoder in ("bundled", "copied"):
        if manifest.encoder == "copied" and not (folder / ENCODER_FOLDER).is_dir():
            raise missing_from_export(folder / ENCODER_FOLDER)
        try:
            frozen = SentenceEncoder(None if manifest.encoder == "bundled" else folder / ENCODER_FOLDER)
        except TaskFileError as err:  # the copied encoder is damaged: the export's fault, not a --model flag
            raise ExportError(err.problem, file=folder / ENCODER_FOLDER,
                              fix="copy the whole folder `shouldtune export` wrote again, or export the run again") from None
        if frozen.model_id != manifest.backend_model:
            warnings.append(
                f"the encoder here is {frozen.model_id}, but the strategy was fitted with "
                f"{manifest.backend_model}; predictions may differ from the run's"
            )
        encoder = CachedEncoder(frozen, store)
    context = StrategyContext(encoder=encoder, seed=manifest.seed)
    try:
        strategy = strategy_class(manifest.strategy).load(folder, context)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise ExportError(
            f"the saved {manifest.strategy} strategy is incomplete ({type(err).__name__}: {err})",
            file=folder,
            fix="copy the whole folder `shouldtune export` wrote, or export the run again",
        ) from None
    check_labels(strategy.label_set_, manifest.labels, folder)
    return Loaded(strategy, manifest, tuple(warnings))


def predict_file(
    folder: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    store_path: str | Path | None = None,
) -> Predictions:
    """Predict a label for every text in `input_path` and write them to `out` as JSON Lines.

    Columns default to those of the run. When the input also has labels, the scores are
    computed as the run computed its trials' scores, so the run's own test file gives the
    exported trial's score.
    """
    from shouldtune.analysis.metrics import METRICS, trial_estimates
    from shouldtune.data import read_texts
    from shouldtune.folders import check_writable

    out = Path(out)
    manifest = Manifest.read(Path(folder))
    inputs = read_texts(input_path, text_column or manifest.text_column, label_column or manifest.label_column)
    if out.is_dir():
        raise ExportError("is a folder", file=out, fix="pass --out a file name, e.g. predictions.jsonl")
    check_writable(out.parent, "--out", ExportError)

    store = None
    if store_path is not None:
        from shouldtune.store import Store

        store = Store(store_path, create=False)
    try:
        loaded = load_exported(folder, store)
        predictions = tuple(loaded.strategy.predict(list(inputs.texts)))
    finally:
        if store is not None:
            store.close()

    metrics = metrics_ci = None
    warnings = list(loaded.warnings)
    if inputs.labels is not None:
        unseen = sorted(set(inputs.labels) - set(manifest.labels))
        if unseen:
            count = sum(label in unseen for label in inputs.labels)
            warnings.append(
                f"{count} of {len(inputs.labels)} gold labels are labels the model never saw "
                f"({', '.join(repr(label) for label in unseen[:5])}{', ...' if len(unseen) > 5 else ''}); "
                f"it cannot predict them, so they count as errors (its labels: {', '.join(manifest.labels[:8])}"
                f"{', ...' if len(manifest.labels) > 8 else ''})"
            )
        label_set = tuple(sorted(set(manifest.labels) | set(inputs.labels)))
        estimates = trial_estimates(inputs.labels, predictions, label_set, seed=manifest.seed)
        metrics = {name: round(estimates[name].mean, 6) for name in METRICS}
        metrics_ci = {name: (round(estimates[name].ci_low, 6), round(estimates[name].ci_high, 6)) for name in METRICS}
    _write_jsonl(out, ({"text": text, "prediction": label} for text, label in zip(inputs.texts, predictions)))
    return Predictions(inputs.texts, predictions, inputs.labels, metrics, metrics_ci, manifest, tuple(warnings))


def _write_jsonl(path: Path, records: Any) -> None:
    # Written beside the target and renamed over it: a reader never sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for record in records:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        follow_umask(temporary)  # mkstemp made it private
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
