"""The task: what to measure, validated. Loaded from TASK.yaml, flags, or built in code."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shouldtune.errors import TaskFileError

DEFAULT_SIZES = (0, 4, 8, 16, 32, 64)
METRICS = ("accuracy", "macro_f1")
TaskType = Literal["classification", "generation", "extraction"]
#: The built-in metrics of each task type (computed in shouldtune.analysis); the first is the default.
METRICS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "classification": ("macro_f1", "accuracy"),
    "generation": ("rouge_l", "exact_match", "token_f1", "chrf", "bleu"),
    "extraction": ("field_f1", "field_precision", "field_recall", "exact_match"),
}
#: Default (text, label) columns: a text and its label, or an input and the output wanted.
DEFAULT_COLUMNS = {
    "classification": ("text", "label"),
    "generation": ("input", "output"),
    "extraction": ("input", "output"),
}


class BackendConfig(BaseModel):
    """Which model the strategies run on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["encoder", "hf"] = "encoder"
    model: str | None = Field(
        default=None,
        description="encoder: a sentence-transformers folder (default: the bundled all-MiniLM-L6-v2); "
        "hf: a causal LM folder or Hugging Face hub id (required).",
    )
    device: str | None = Field(
        default=None, description="cpu, cuda, cuda:1 or mps; default: cpu for encoder, the best available for hf."
    )
    batch_size: int = Field(default=64, ge=1)
    runtime: Literal["torch", "onnx"] = Field(
        default="torch",
        description="encoder: what computes embeddings; onnx runs the transformer in ONNX Runtime on the CPU "
        "(same vectors, faster; pip install 'shouldtune[onnx]').",
    )
    # Settings of the hf backend (ignored by the encoder).
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="auto: bfloat16 on a GPU that has it, else float32."
    )
    max_new_tokens: int = Field(default=64, ge=1, description="Longest generated answer, in tokens.")
    use_chat_template: bool = Field(default=True, description="Wrap prompts in the tokenizer's chat template when it has one.")
    trust_remote_code: bool = Field(default=False, description="Run model code shipped with the weights (only for sources you trust).")
    allow_pickle: bool = Field(default=False, description="Also load .bin/.pt weights, which can run code when loaded.")
    allow_download: bool = Field(default=False, description="Fetch a hub id that is not in the local cache.")

    @model_validator(mode="after")
    def _runtime_fits_backend(self) -> BackendConfig:
        if self.runtime == "torch":
            return self
        if self.name != "encoder":
            raise TaskFileError(
                f"runtime {self.runtime!r} is a setting of the encoder backend, not of {self.name}",
                column="backend.runtime",
                fix="leave runtime out with --backend hf",
            )
        if self.device not in (None, "cpu"):
            raise TaskFileError(
                f"runtime {self.runtime!r} runs on the CPU, but device is {self.device!r}",
                column="backend.runtime",
                fix="leave device out (or cpu), or use runtime torch on the GPU",
            )
        return self


class TaskConfig(BaseModel):
    """Everything one comparison needs; every field is also a `shouldtune run` flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "task"
    task_type: TaskType = "classification"
    data: Path
    test: Path | None = None
    # Defaults depend on task_type: text/label for classification, input/output otherwise.
    text_column: str = "text"
    label_column: str = "label"
    instruction: str | None = Field(
        default=None,
        description="What the LLM is asked to do (hf backend); default: one per task type, naming the labels.",
    )
    classify_by: Literal["likelihood", "generation"] = Field(
        default="likelihood",
        description="hf classification: pick the label the model finds most likely, or generate and parse.",
    )
    label_descriptions: dict[str, str] = Field(default_factory=dict)
    template: str = "{text}"
    prompt_variants: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra candidates for prompt-search: each a {template, label_descriptions} (encoder) or {instruction} (hf).",
    )
    metric: str = Field(
        default="macro_f1",
        description="The metric the decision uses: a built-in of the task type, or 'module:function'.",
    )
    sizes: tuple[int, ...] = DEFAULT_SIZES
    seeds: int = Field(default=3, ge=1, le=50)
    seed: int = Field(default=0, ge=0)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    validation: Literal["auto", "holdout", "cv"] = Field(
        default="auto",
        description="Without a test file: cv (stratified k-fold, every example scored) or holdout; "
        "auto cross-validates below 1,000 rows.",
    )
    folds: int = Field(default=5, ge=2, le=20, description="Folds of the cross-validation (fewer if a class has fewer examples).")
    min_gain: float = Field(
        default=0.01, ge=0.0, lt=1.0,
        description="The smallest difference in the decision metric that matters; below it the tracks count as equal.",
    )
    exhaustive: bool = Field(
        default=False,
        description="Run every strategy at every size and seed, instead of skipping what cannot win and adding seeds only where the decision is in doubt.",
    )
    strategies: tuple[str, ...] | None = None
    strategy_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    backend: BackendConfig = Field(default_factory=BackendConfig)

    @model_validator(mode="before")
    @classmethod
    def _defaults_of_task_type(cls, raw: Any) -> Any:
        # Columns and metric default by task type; values given explicitly are kept.
        if not isinstance(raw, dict) or raw.get("task_type") not in DEFAULT_COLUMNS:
            return raw
        raw = dict(raw)
        text_column, label_column = DEFAULT_COLUMNS[raw["task_type"]]
        for key, default in (("text_column", text_column), ("label_column", label_column)):
            if raw.get(key) is None:
                raw[key] = default
        if raw.get("metric") is None:
            raw["metric"] = METRICS_BY_TYPE[raw["task_type"]][0]
        return raw

    @model_validator(mode="after")
    def _metric_known(self) -> TaskConfig:
        known = METRICS_BY_TYPE[self.task_type]
        if self.metric not in known and ":" not in self.metric:
            close = difflib.get_close_matches(self.metric, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TaskFileError(
                f"unknown metric {self.metric!r} for a {self.task_type} task",
                column="metric",
                fix=f"{hint}built in: {', '.join(known)}; or your own as module:function",
            )
        return self

    @model_validator(mode="after")
    def _backend_fits_task(self) -> TaskConfig:
        if self.backend.name == "hf" and not self.backend.model:
            raise TaskFileError(
                "the hf backend needs a model",
                column="backend.model",
                fix="pass --model FOLDER (a local Hugging Face causal LM) or a hub id with --allow-download",
            )
        if self.backend.name == "encoder" and self.task_type != "classification":
            raise TaskFileError(
                f"the encoder backend only classifies; a {self.task_type} task needs a language model",
                column="backend",
                fix="pass --backend hf --model FOLDER",
            )
        return self

    @field_validator("sizes")
    @classmethod
    def _sizes_valid(cls, sizes: tuple[int, ...]) -> tuple[int, ...]:
        if not sizes:
            raise ValueError("give at least one size, e.g. 0,8,32")
        negative = [s for s in sizes if s < 0]
        if negative:
            raise ValueError(f"sizes must be 0 or more examples per class; got {negative[0]}")
        return tuple(sorted(set(sizes)))

    @field_validator("strategies")
    @classmethod
    def _strategies_given(cls, strategies: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if strategies is not None and not strategies:
            raise ValueError("give at least one strategy (leave the setting out to run them all)")
        return strategies

    @field_validator("template")
    @classmethod
    def _template_has_text(cls, template: str) -> str:
        if "{text}" not in template:
            raise ValueError(f"the template must contain {{text}}; got {template!r}")
        return template

    @model_validator(mode="after")
    def _strategies_known(self) -> TaskConfig:
        from shouldtune.strategies.registry import check_names, check_params

        if self.strategies is not None:
            check_names(self.strategies, self.backend.name)
        check_names(tuple(self.strategy_params), self.backend.name)
        for name, params in self.strategy_params.items():  # every value's type and range, before any work
            check_params(name, params, self.backend.name)
        return self

    def hash_fields(self) -> dict[str, Any]:
        """Return the settings that change results (paths are replaced by data hashes elsewhere).

        `min_gain` and `exhaustive` change no trial's outputs (only the decision, and which
        trials run), so a run with either changed reuses the same run's trials.
        """
        return self.model_dump(mode="json", exclude={"data", "test", "name", "min_gain", "exhaustive"})


class _TaskLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not the last one winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise TaskFileError(
                    f"key {key!r} is given twice (rows {seen[key]} and {key_node.start_mark.line + 1})",
                    row=key_node.start_mark.line + 1,
                    fix=f"keep one {key!r}: with two, one value would be silently ignored",
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_TaskLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _TaskLoader.construct_mapping  # type: ignore[arg-type]
)


def load_task(path: str | Path | None = None, **overrides: Any) -> TaskConfig:
    """Return the task from a YAML file, with flag values laid over it."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            found = path.exists() or path.is_symlink()  # a folder, a FIFO, a device, a link that loops
            raise TaskFileError(
                "is not a regular file" if found else "task file not found",
                file=path,
                fix="pass the path of a YAML task file" if found else "check the path, or pass --data FILE instead",
            )
        try:
            loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskLoader)  # noqa: S506 (a SafeLoader)
        except TaskFileError as err:
            raise TaskFileError(err.problem, fix=err.fix, file=path, row=err.row) from None
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            line = getattr(getattr(err, "problem_mark", None), "line", None)
            tag = isinstance(err, yaml.constructor.ConstructorError) and "tag" in str(err.problem)
            raise TaskFileError(
                f"YAML tags such as {str(err.problem).rpartition(' ')[2].replace('tag:yaml.org,2002:', '!!')} are not allowed" if tag
                else f"not valid YAML ({type(err).__name__})",
                file=path,
                row=None if line is None else line + 1,
                fix="write plain values (text, numbers, lists, mappings) without a `!!` or `!` tag" if tag
                else "check the indentation and quoting at that line",
            ) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise TaskFileError(
                f"expected a mapping of settings, found {type(loaded).__name__}",
                file=path,
                fix="write the task as `key: value` lines, e.g. `data: train.csv`",
            )
        raw = loaded
        # Data paths in a task file are relative to the file, as users expect.
        for key in ("data", "test"):
            if isinstance(raw.get(key), str) and not Path(raw[key]).is_absolute():
                raw[key] = os.path.normpath(path.parent / raw[key])
        # So is a metric given as a file: `metric: my_metrics.py:score`.
        metric_file, colon, function = str(raw.get("metric", "")).rpartition(":")
        if colon and metric_file.endswith(".py") and not Path(metric_file).is_absolute():
            raw["metric"] = f"{os.path.normpath(path.parent / metric_file)}:{function}"
    if isinstance(raw.get("backend"), str):
        raw["backend"] = {"name": raw["backend"]}  # `backend: hf` in a file, before flags add to it
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = _merged(raw[key], value)  # a flag adds to the file's mapping
        else:
            raw[key] = value
    if "backend" in raw and isinstance(raw["backend"], str):
        raw["backend"] = {"name": raw["backend"]}
    if "data" not in raw:
        raise TaskFileError(
            "no training data given",
            file=path,
            fix="pass --data FILE (CSV, JSONL or Parquet) or set `data:` in the task file",
        )
    try:
        return TaskConfig(**raw)
    except ValidationError as err:
        raise _task_error(err, path) from None
    except TaskFileError as err:
        if err.file is None and path is not None:
            err = TaskFileError(err.problem, fix=err.fix, file=path, column=err.column)
        raise err from None


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `extra` laid over it, nested mappings merged rather than replaced."""
    merged = dict(base)
    for key, value in extra.items():
        both_dicts = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merged(merged[key], value) if both_dicts else value
    return merged


def _task_error(err: ValidationError, path: Path | None) -> TaskFileError:
    """Return the first validation problem as a one-line TaskFileError, with a did-you-mean."""
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        model = BackendConfig if first["loc"][0] == "backend" else TaskConfig
        known = list(model.model_fields)
        leaf = str(first["loc"][-1])
        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return TaskFileError(f"unknown key {key!r}", file=path, fix=f"{hint}")
    message = first["msg"].removeprefix("Value error, ")
    got = "" if "got " in message else f" (got {first.get('input')!r})"  # the message may say it already
    return TaskFileError(
        f"setting {key!r}: {message}{got}"[:300],
        file=path,
        fix=f"correct {key!r} in the task file or its flag",
    )
