"""Predict with an exported strategy: needs only the folder `shouldtune export` wrote and this package
(and, for a strategy of the hf backend, its language model, which the export names but does not copy)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shouldtune.errors import ExportError, TaskFileError
from shouldtune.export import HFSettings, Manifest
from shouldtune.folders import follow_umask
from shouldtune.strategies.saved import ENCODER_FOLDER, missing_from_export, check_labels


@dataclass(frozen=True)
class Predictions:
    """One label per input text; with gold labels, the scores as a run's trial reports them."""

    texts: tuple[str, ...]
    predictions: tuple[str, ...]  # a label, or (generation, extraction) the generated output
    labels: tuple[str, ...] | None  # the input's own labels, if it had a label column
    metrics: dict[str, float] | None  # the run's metrics: accuracy and macro-F1 for a classifier (rounded as results.json rounds them)
    metrics_ci: dict[str, tuple[float, float]] | None  # their 95% bootstrap intervals
    manifest: Manifest
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Loaded:
    """An exported strategy, loaded and ready to predict."""

    strategy: Any  # a fitted shouldtune.strategies.base.Strategy
    manifest: Manifest
    warnings: tuple[str, ...]
    llm: Any = None  # the hf backend's language model the strategy answers with (an HFCausalLM)

    def close(self) -> None:
        """Release the language model, if the strategy has one."""
        if self.llm is not None:
            self.llm.close()


def load_exported(folder: str | Path, store: Any = None, model: str | Path | None = None) -> Loaded:
    """Return the strategy in an exported folder; `store` (optional) lends its embedding cache.

    An hf strategy answers with the language model the manifest names, opened with the run's
    settings; `model` is where it is when it is no longer where the run found it.
    """
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext
    from shouldtune.strategies.registry import strategy_class

    folder = Path(folder)
    manifest = Manifest.read(folder)
    warnings: list[str] = []
    encoder = llm = None
    if manifest.hf is not None and manifest.track != "baseline":
        llm = open_language_model(manifest.hf, manifest.backend_model, model)
        # The fingerprint (after '@') is of the weights; the name before it is the folder's, which may move.
        if llm.model_id.rsplit("@", 1)[-1] != manifest.backend_model.rsplit("@", 1)[-1]:
            warnings.append(
                f"the language model here is {llm.model_id}, but the strategy was fitted with "
                f"{manifest.backend_model} (other weights); predictions may differ from the run's"
            )
    if manifest.encoder in ("bundled", "copied"):
        if manifest.encoder == "copied" and not (folder / ENCODER_FOLDER).is_dir():
            raise missing_from_export(folder / ENCODER_FOLDER)
        try:
            frozen = SentenceEncoder(None if manifest.encoder == "bundled" else folder / ENCODER_FOLDER)
        except TaskFileError as err:  # the copied encoder is damaged: the export's fault, not a --model flag
            raise ExportError(err.problem, file=folder / ENCODER_FOLDER,
                              fix="copy the whole folder `shouldtune export` wrote again, or export the run again") from None
        fitted_with = manifest.hf.encoder_model if manifest.hf is not None else manifest.backend_model
        if fitted_with is not None and frozen.model_id != fitted_with:
            warnings.append(
                f"the encoder here is {frozen.model_id}, but the strategy was fitted with "
                f"{fitted_with}; predictions may differ from the run's"
            )
        encoder = CachedEncoder(frozen, store)
    if manifest.hf is None:
        context = StrategyContext(encoder=encoder, seed=manifest.seed)
    else:
        context = StrategyContext(
            encoder=encoder, seed=manifest.seed, llm=llm, task_type=manifest.task_type, template=manifest.hf.template,
            instruction=manifest.hf.instruction, classify_by=manifest.hf.classify_by,
        )
    try:
        strategy = strategy_class(manifest.strategy, manifest.backend).load(folder, context)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        if llm is not None:
            llm.close()
        raise ExportError(
            f"the saved {manifest.strategy} strategy is incomplete ({type(err).__name__}: {err})",
            file=folder,
            fix="copy the whole folder `shouldtune export` wrote, or export the run again",
        ) from None
    check_labels(strategy.label_set_, manifest.labels, folder)
    return Loaded(strategy, manifest, tuple(warnings), llm)


def open_language_model(settings: HFSettings, model_id: str, model: str | Path | None = None) -> Any:
    """Return an hf strategy's language model (an HFCausalLM, `model_id` when exported), opened with the run's settings.

    It is looked for at `model` if given; else in the folder the export read it from, then as
    the run named it (a hub id is found in the local Hugging Face cache; nothing is downloaded).
    Model code and pickled weights are never enabled from a manifest, which anyone may edit.
    """
    from shouldtune.backends.hf import HFCausalLM

    if model is not None:
        reference = str(model)
    else:
        found = Path(settings.model_folder)
        reference = settings.model_folder if found.is_dir() else settings.model
    try:
        return HFCausalLM(
            reference,
            dtype=settings.dtype,
            batch_size=settings.batch_size,
            max_new_tokens=settings.max_new_tokens,
            use_chat_template=settings.use_chat_template,
        )
    except TaskFileError as err:
        if Path(reference).expanduser().is_dir():  # there, but not loadable as predict loads models
            raise ExportError(
                f"the language model cannot be opened: {err.problem}",
                file=reference,
                fix="pass --model a folder save_pretrained() wrote, with config.json, the tokenizer and "
                "safetensors weights (predict loads no pickled weights)",
            ) from None
        if model is not None:
            raise ExportError(err.problem, file=model, column="--model", fix=err.fix) from None
        raise ExportError(
            f"the strategy answers with the language model {settings.model!r} ({model_id}), "
            f"which is not here ({err.problem}); the export names the model but does not hold it",
            file=settings.model_folder,
            fix="put the model folder back there, or pass --model with the folder it is in now",
        ) from None


def predict_file(
    folder: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    store_path: str | Path | None = None,
    model: str | Path | None = None,
) -> Predictions:
    """Predict a label (or an output) for every text in `input_path` and write them to `out` as JSON Lines.

    Columns default to those of the run. When the input also has labels, the scores are
    computed as the run computed its trials' scores, so the run's own test file gives the
    exported trial's score. `model`: where an hf strategy's language model is now.
    """
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
        loaded = load_exported(folder, store, model)
        try:
            predictions = tuple(loaded.strategy.predict(list(inputs.texts)))
        finally:
            loaded.close()
    finally:
        if store is not None:
            store.close()

    metrics = metrics_ci = None
    warnings = list(loaded.warnings)
    if inputs.labels is not None and manifest.task_type != "classification":
        metrics, metrics_ci = _output_metrics(manifest, inputs.texts, inputs.labels, predictions)
    elif inputs.labels is not None:
        from shouldtune.analysis.metrics import METRICS, trial_estimates

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


def _output_metrics(
    manifest: Manifest, texts: tuple[str, ...], outputs: tuple[str, ...], predictions: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Return a generation or extraction task's metrics and intervals, scored as the run scores them:
    once per distinct input, against every output the file gives for it."""
    from shouldtune.analysis.metrics import scored_trial, scoring_for

    # The built-in metrics only: a run's own metric function is a file on the run's machine.
    scoring = scoring_for(manifest.task_type)
    predicted: dict[str, str] = {}
    references: dict[str, list[str]] = {}
    for text, output, prediction in zip(texts, outputs, predictions):
        predicted.setdefault(text, prediction)
        references.setdefault(text, []).append(output)
    gold = [refs[0] if len(refs) == 1 else tuple(refs) for refs in references.values()]
    estimates = scored_trial(scoring, gold, list(predicted.values()), seed=manifest.seed)
    metrics = {name: round(estimates[name].mean, 6) for name in scoring.metrics}
    return metrics, {name: (round(estimates[name].ci_low, 6), round(estimates[name].ci_high, 6)) for name in scoring.metrics}


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
