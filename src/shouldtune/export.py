"""Export one strategy of a finished run as a folder that `predict` can use on any machine.

    OUT/
      shouldtune.json     the manifest: strategy, labels, run, size, seed, its test score, backend, version
      README.md           what the folder holds and how to predict with it
      prompt.yaml         a prompt strategy: template, label descriptions, demonstrations (few-shot-knn);
                          on the hf backend every strategy's instruction, template and demonstrations
      baseline.yaml       the majority baseline: its one label
      head.safetensors    a fine-tuned strategy's classification head; labels in its header
      encoder/            setfit and full: the fine-tuned encoder (safetensors); for the others,
                          a copy of the frozen encoder unless it is the bundled all-MiniLM-L6-v2
      adapter/            lora and lora+few-shot (hf backend): the LoRA adapter peft saved (safetensors)

The hf backend's language model is not copied (it is large): the manifest names it, with the
settings it answered with, and `predict` opens it where the run found it (or where --model says).

The exported strategy is the run's trial at the largest size and the first seed, fitted again
from the run's task and data (which must still be where they were). Every random choice is
seeded, so it predicts what that trial predicted; `export_run` checks this on the test set.
The folder is written beside OUT and renamed into place, so it is there whole or not at all.
"""

from __future__ import annotations

import difflib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shouldtune.errors import ExportError
from shouldtune.folders import follow_umask
from shouldtune.strategies.saved import ENCODER_FOLDER

MANIFEST = "shouldtune.json"
#: The newest manifest format this shouldtune reads. An export writes the oldest format that
#: describes it: 1 for the encoder backend (as before the hf backend could be exported), 2 when
#: it adds `backend`, `task_type` and `hf`, so that an older shouldtune refuses it by its version.
FORMAT_VERSION = 2
#: Where an exported strategy's encoder is: installed with shouldtune, copied into encoder/, its
#: own fine-tuned one there, or none (an hf strategy that reads no sentence encoder).
ENCODERS = ("bundled", "copied", "fine-tuned", "none")
#: The manifest keys format 2 adds; a format-1 manifest is an encoder-backend classifier.
V2_KEYS = ("backend", "task_type", "hf")


@dataclass(frozen=True)
class HFSettings:
    """The hf backend's model and the settings that change its answers, as the run used them."""

    model: str  # the folder or hub id the run was given
    model_folder: str  # the folder the weights were read from when exported (a hub id's cache snapshot)
    dtype: str  # the dtype the weights were loaded in ("auto" resolved: float32 on a CPU)
    max_new_tokens: int
    use_chat_template: bool
    batch_size: int
    classify_by: str  # classification: "likelihood" or "generation"
    instruction: str | None  # the task's instruction (None: each strategy's default, in prompt.yaml)
    template: str
    encoder_model: str | None = None  # few-shot-knn: the sentence encoder that finds neighbours (name@fingerprint)

    @classmethod
    def of(cls, task: Any, model: str, llm: Any, encoder_model: str | None) -> HFSettings:
        """Return the settings of the hf backend a strategy of `task` ran on, as `llm` (an open HFCausalLM) applies them."""
        from shouldtune.backends.hf import pick_dtype

        return cls(
            model=model,
            model_folder=str(Path(llm.folder).resolve()),
            dtype=str(pick_dtype(llm.dtype, llm.device)).removeprefix("torch."),
            max_new_tokens=llm.max_new_tokens,
            use_chat_template=llm.use_chat_template,
            batch_size=llm.batch_size,
            classify_by=task.classify_by,
            instruction=task.instruction,
            template=task.template,
            encoder_model=encoder_model,
        )
#: The backends `predict` can open again from a manifest alone.
EXPORTABLE_BACKENDS = ("encoder", "hf")
#: --strategy may name a strategy of the run, or one of these.
CHOICES = ("recommended", "best-prompt", "best-finetune")


@dataclass(frozen=True)
class Manifest:
    """What an exported folder holds: `shouldtune.json`."""

    format_version: int
    strategy: str
    track: str
    labels: tuple[str, ...]
    run_id: str
    task_name: str
    n_per_class: int
    seed: int
    train_examples: int
    metric: str  # the metric the run's decision used
    test_metrics: dict[str, float]  # the trial's scores on the run's test set
    text_column: str
    label_column: str
    backend_model: str  # the backend's model id (name@fingerprint): the frozen encoder, or the hf language model
    encoder: str  # "bundled" | "copied" (a copy in encoder/) | "fine-tuned" (the strategy's own, in encoder/) | "none"
    shouldtune_version: str
    # Format 2: the hf backend.
    backend: str = "encoder"  # "encoder" | "hf"
    task_type: str = "classification"  # "classification" | "generation" | "extraction"
    hf: HFSettings | None = None  # the hf backend's model and settings

    def to_json(self) -> dict[str, Any]:
        """Return the manifest as the JSON document written to shouldtune.json."""
        document = asdict(self)
        document["labels"] = list(self.labels)
        if self.format_version == 1:  # byte for byte what shouldtune wrote before format 2
            for key in V2_KEYS:
                del document[key]
        return document

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """Return the manifest of an exported folder; ExportError if it is not one."""
        path = folder / MANIFEST
        if not folder.is_dir():
            raise ExportError("no such folder", file=folder, fix="pass the folder `shouldtune export --out DIR` wrote")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ExportError(
                f"not an exported strategy (no {MANIFEST})",
                file=folder,
                fix="pass the folder `shouldtune export RUN --out DIR` wrote",
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ExportError(f"not valid JSON ({err})", file=path, fix="export the run again") from None
        version = document.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ExportError(
                f"export format {version!r}; this shouldtune reads up to {FORMAT_VERSION}",
                file=path,
                fix="upgrade shouldtune to the version that exported it, or export again with this one",
            )
        if version < 2 and set(V2_KEYS) & set(document):
            raise ExportError(
                f"the manifest says format {version}, which has no {', '.join(sorted(set(V2_KEYS) & set(document)))}",
                file=path,
                fix="restore shouldtune.json from the original export, or export the run again",
            )
        try:
            hf = document.get("hf")
            manifest = cls(
                **{**document, "labels": tuple(document["labels"]), "hf": HFSettings(**hf) if isinstance(hf, dict) else hf}
            )
        except (TypeError, KeyError) as err:
            raise ExportError(f"the manifest is incomplete ({err})", file=path, fix="export the run again") from None
        manifest._check(path)
        return manifest

    def _check(self, path: Path) -> None:
        """Raise ExportError for a field no export writes: the manifest was edited or damaged."""
        from shouldtune.strategies.registry import default_strategies

        strategies = default_strategies(self.backend) if self.backend in EXPORTABLE_BACKENDS else ()
        problems = [
            (self.backend not in EXPORTABLE_BACKENDS, f"backend {self.backend!r} is not one of {', '.join(EXPORTABLE_BACKENDS)}"),
            ((self.backend == "hf") != isinstance(self.hf, HFSettings), "hf settings must be there exactly when the backend is hf"),
            (self.strategy not in strategies, f"strategy {self.strategy!r} is not a shouldtune strategy of the {self.backend} backend"),
            (self.encoder not in ENCODERS, f"encoder {self.encoder!r} is not one of {', '.join(ENCODERS)}"),
            (
                (not self.labels and self.task_type == "classification") or not all(isinstance(label, str) for label in self.labels),
                "labels must be a list of label names",
            ),
            (not all(isinstance(v, str) for v in (self.text_column, self.label_column)), "the column names must be text"),
            (not isinstance(self.seed, int), f"seed {self.seed!r} is not a whole number"),
        ]
        for failed, problem in problems:
            if failed:
                raise ExportError(
                    f"the manifest's {problem}", file=path,
                    fix="restore shouldtune.json from the original export, or export the run again",
                )


@dataclass(frozen=True)
class Exported:
    """What `export_run` wrote, and whether the refitted strategy reproduced its trial."""

    folder: Path
    manifest: Manifest
    mismatches: int  # test predictions that differ from the stored trial's (0 when reproduced)


def choose_strategy(results: dict[str, Any], which: str) -> str:
    """Return the strategy `which` names in a run: a strategy, or recommended / best-prompt / best-finetune."""
    run_strategies = list(dict.fromkeys(trial["strategy"] for trial in results["trials"]))
    if which == "recommended":
        chosen = results["recommendation"].get("strategy")
        if chosen:
            return str(chosen)
        raise ExportError(
            "the run recommends no strategy",
            fix=f"name one with --strategy; the run has: {', '.join(run_strategies)}",
        )
    if which in ("best-prompt", "best-finetune"):
        track = which.removeprefix("best-")
        best = _best_of_track(results, track)
        if best is None:
            raise ExportError(
                f"the run has no {track} strategy",
                fix=f"name one with --strategy; the run has: {', '.join(run_strategies)}",
            )
        return best
    if which in run_strategies:
        return which
    close = difflib.get_close_matches(which, [*run_strategies, *CHOICES], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ExportError(
        f"the run has no strategy {which!r}",
        fix=f"{hint}choose one of {', '.join([*run_strategies, *CHOICES])}",
    )


def _best_of_track(results: dict[str, Any], track: str) -> str | None:
    """Return the track's best contestant: the one the report and the recommendation compare.

    That is the final comparison's contestant of the track, as the analysis chose it
    (`analysis.curves.best_of_track` at the final size); a run with only one track, or a
    document without an analysis, is asked the same question of its curves at their largest size.
    """
    from shouldtune.analysis.curves import best_of_track, curve_rows

    final = ((results.get("analysis") or {}).get("comparisons") or [None])[-1]
    if final is not None:
        return str(final[track]["strategy"])
    rows = curve_rows(results["curves"], results["task"]["metric"])
    sizes = [row.n_per_class for row in rows if row.track == track]
    best = best_of_track(rows, track, max(sizes)) if sizes else None
    return best.strategy if best is not None else None


def exported_trial(results: dict[str, Any], strategy: str) -> dict[str, Any]:
    """Return the run's trial of `strategy` at its largest size and the run's first seed."""
    first_seed = results["task"]["seed"]
    trials = [t for t in results["trials"] if t["strategy"] == strategy and t["seed"] == first_seed]
    return max(trials, key=lambda trial: trial["n_per_class"])


def export_run(
    store_path: str | Path, run: str, which: str, out: str | Path, *, progress: Any = None
) -> Exported:
    """Export strategy `which` of run `run` (an id or its unique start) into the new folder `out`."""
    from shouldtune import __version__
    from shouldtune.store import Store

    out = Path(out)
    _check_out(out)
    with Store(store_path, create=False) as store:
        stored = store.find_run(run, finished=True)
        results = stored.results or {}  # a finished run always has its results
        name = choose_strategy(results, which)
        trial = exported_trial(results, name)
        task = _refittable_task(stored.run_id, stored.task)
        contestant = task.contestant(name)  # the strategy and the backend it ran on
        refit = _refit(task, store, name, trial, progress)
        try:
            # Known only once the backend is open: its model's fingerprint is part of the run id.
            if refit.run_id != stored.run_id:
                raise ExportError(
                    f"the data or the model changed since run {stored.run_id} (they now give run {refit.run_id})",
                    fix="restore the files the run used, or export from a new run of the current data",
                )
            mismatches = 0
            if refit.reproduces_trial:
                predicted = refit.strategy.predict(list(refit.test.texts))
                stored_predictions = store.trials(stored.run_id)[(name, trial["n_per_class"], trial["seed"])].predictions
                mismatches = sum(a != b for a, b in zip(predicted, stored_predictions))
            hf = None
            if refit.llm is not None:
                encoder_model = refit.encoder.model_id if "embed" in refit.strategy.requires else None
                hf = HFSettings.of(task, contestant.settings.model, refit.llm, encoder_model)
            manifest = Manifest(
                format_version=1 if hf is None else 2,
                strategy=name,
                track=trial["track"],
                labels=tuple(results["data"]["labels"]),
                run_id=stored.run_id,
                task_name=task.name,
                n_per_class=trial["n_per_class"],
                seed=trial["seed"],
                # A cross-validated run's export learned from every labelled example.
                train_examples=trial["train_examples"] if refit.reproduces_trial else results["data"]["train_size"],
                metric=task.metric,
                test_metrics=dict(trial["metrics"]),
                text_column=task.text_column,
                label_column=task.label_column,
                backend_model=refit.model_id,
                encoder="",  # set by _write_folder, once the strategy has saved itself
                shouldtune_version=__version__,
                backend=contestant.kind,
                task_type=task.task_type,
                hf=hf,
            )
            _write_folder(out, refit.strategy, manifest, contestant.settings.model if hf is None else None)
        finally:
            refit.close()
    return Exported(out, Manifest.read(out), mismatches)


def _refit(task: Any, store: Any, name: str, trial: dict[str, Any], progress: Any) -> Any:
    """Return the trial's strategy fitted again (`experiment.refit_trial`); ExportError if its model is gone."""
    from shouldtune.errors import TaskFileError
    from shouldtune.experiment import refit_trial

    try:
        return refit_trial(task, store, name, trial["n_per_class"], trial["seed"], progress)
    except TaskFileError as err:
        if err.column != "model":
            raise
        raise ExportError(
            f"the run's model {task.contestant(name).settings.model!r} cannot be opened: {err.problem}",
            fix="put the model back where the run read it (export fits the strategy again with it), "
            "or run export from the folder the run was started in",
        ) from None


def _refittable_task(run_id: str, task_json: dict[str, Any]) -> Any:
    """Return a run's task, once it is known that export can fit the run's strategies again."""
    from shouldtune.task import TaskConfig

    try:
        task = TaskConfig(**task_json)
    except (ValidationError, ValueError) as err:
        raise ExportError(
            f"run {run_id}'s task no longer validates ({str(err).splitlines()[0]})",
            fix="export it with the shouldtune version that ran it, or run the task again",
        ) from None
    for path in (task.data, task.test):
        if path is not None and not Path(path).is_file():
            raise ExportError(
                f"run {run_id} was trained on this file, which is no longer there",
                file=path,
                fix="put it back (export fits the strategy again from the run's data), "
                "or run export from the folder the run was started in",
            )
    return task


def _check_out(out: Path) -> None:
    """Raise ExportError unless `out` is a new or empty folder that can be made."""
    from shouldtune.folders import check_writable

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(
            "already exists and is not an empty folder",
            file=out,
            fix="pass --out a new folder, or remove this one first",
        )
    check_writable(out, "--out", ExportError)


def _write_folder(out: Path, strategy: Any, manifest: Manifest, model_folder: str | None) -> None:
    """Write the strategy, its frozen encoder if needed, the manifest and a README into `out`, whole.

    `model_folder` is the encoder backend's model folder (None: the bundled encoder). On the hf
    backend nothing is copied: few-shot-knn reads the bundled encoder, the others none.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        strategy.save(scratch)
        if (scratch / ENCODER_FOLDER).is_dir():
            encoder = "fine-tuned"  # the strategy trained its own encoder and saved it
        elif manifest.backend != "encoder":
            encoder = "bundled" if "embed" in strategy.requires else "none"
        elif model_folder is None:
            encoder = "bundled"  # the package carries it
        else:
            shutil.copytree(model_folder, scratch / ENCODER_FOLDER)
            encoder = "copied"
        manifest = replace(manifest, encoder=encoder)
        (scratch / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (scratch / "README.md").write_text(_readme(manifest), encoding="utf-8")
        follow_umask(scratch)  # mkdtemp and safetensors make files private; the export is meant to be shared
        if out.is_dir():
            out.rmdir()  # empty, checked before
        scratch.rename(out)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _readme(manifest: Manifest) -> str:
    scores = ", ".join(f"{name} {value:.3f}" for name, value in manifest.test_metrics.items())
    if manifest.task_type == "classification":
        fitted_on = f"{manifest.n_per_class} examples per class ({manifest.train_examples} in all)"
        outputs = f"Labels: {', '.join(manifest.labels)}."
        gold = "accuracy and macro-F1 are printed"
    else:
        fitted_on = f"{manifest.train_examples} examples"
        outputs = f"Outputs: {manifest.task_type} (free text)."
        gold = "the run's metrics are printed"
    encoder = {
        "bundled": f" It reads the bundled {manifest.backend_model.split('@')[0]} (installed with shouldtune).",
        "copied": " It reads a copy of the run's encoder, in encoder/.",
        "fine-tuned": " It reads its own fine-tuned encoder, in encoder/.",
        "none": "",
    }[manifest.encoder]
    model, needs = "", "only this folder"
    if manifest.hf is not None:
        if manifest.encoder == "bundled":  # backend_model is the language model's id
            encoder = " It finds each input's nearest demonstrations with the bundled all-MiniLM-L6-v2."
        adapter = ", with the LoRA adapter in adapter/ attached" if manifest.track == "finetune" else ""
        model = (
            f"It answers with the language model `{manifest.hf.model}` ({manifest.backend_model}){adapter}. "
            f"The model is not in this folder: predict opens it from {manifest.hf.model_folder}, "
            "or from the folder `--model` names. Its prompt (instruction, template, demonstrations) is prompt.yaml.\n\n"
        )
        needs = "this folder, the language model"
    return (
        f"# {manifest.strategy} ({manifest.track}), exported by shouldtune {manifest.shouldtune_version}\n\n"
        f"From run `{manifest.run_id}` ({manifest.task_name}): fitted on {fitted_on}, "
        f"seed {manifest.seed}. On the run's test set: {scores}.\n"
        f"{outputs}{encoder}\n\n"
        f"{model}"
        f"Predict (needs {needs} and `pip install shouldtune`):\n\n"
        "    shouldtune predict path/to/this/folder INPUT.jsonl --out predictions.jsonl\n\n"
        f"INPUT is CSV, TSV, JSONL or Parquet with a `{manifest.text_column}` column; with a "
        f"`{manifest.label_column}` column too, {gold}. The manifest is "
        f"{MANIFEST}; the strategy's own files are described in shouldtune's docs/export.md.\n"
    )
