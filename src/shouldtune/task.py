"""The task: what to measure, validated. Loaded from TASK.yaml, flags, or built in code."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

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


def _backend_settings(raw: Any) -> BaseModel:
    from shouldtune.backends.registry import parse_settings

    return parse_settings(raw)


def _named_backends(raw: Any) -> dict[str, BaseModel]:
    from shouldtune.backends.registry import parse_settings

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TaskFileError(
            f"expected a mapping of names to backends, found {type(raw).__name__}",
            column="backends",
            fix="write e.g. `backends: {small: {name: hf, model: ./tiny-lm}}` and bind strategies as few-shot@small",
        )
    named = {}
    for alias, settings in raw.items():
        if not isinstance(alias, str) or not ALIAS.match(alias):
            raise TaskFileError(
                f"backend name {alias!r} is not allowed",
                column="backends",
                fix="use letters, digits, '-' and '_' (it is written after '@' in strategy names)",
            )
        named[alias] = parse_settings(settings, column=f"backends.{alias}")
    return named


#: A backend's name in `backends:` (written after '@' in a strategy name).
ALIAS = re.compile(r"^[A-Za-z][\w\-]*$")
BackendSettings = Annotated[SerializeAsAny[BaseModel], BeforeValidator(_backend_settings)]


@dataclass(frozen=True)
class Contestant:
    """A strategy bound to a backend: `name` is what results call it ("setfit", or "setfit@encoder")."""

    name: str
    strategy: str
    backend: str  # the backend's name in the task: its kind, or its key under `backends:`
    kind: str
    settings: BaseModel = field(repr=False, compare=False, hash=False)


#: Where trials run, not what they compute: left out of the run's identity.
EXECUTOR_FIELDS = frozenset({"executor", "ray_address", "ray_cpus_per_trial"})


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
    folds: int = Field(default=5, ge=2, le=20, description="Folds of the cross-validation (fewer if a class has fewer examples; a size that fits in fewer folds' training parts takes fewer).")
    min_gain: float = Field(
        default=0.01, ge=0.0, lt=1.0,
        description="The smallest difference in the decision metric that matters; below it the tracks count as equal.",
    )
    exhaustive: bool = Field(
        default=False,
        description="Run every strategy at every size and seed, instead of skipping what cannot win and adding seeds only where the decision is in doubt.",
    )
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where trials run: local (in this process) or ray (as Ray tasks on a cluster; "
        "pip install 'shouldtune[ray]'). Changes no trial's outputs.",
    )
    ray_address: str | None = Field(
        default=None,
        description="With executor ray: the cluster's address (default: RAY_ADDRESS, else a local Ray started for the run).",
    )
    ray_cpus_per_trial: int = Field(default=1, ge=1, le=256, description="With executor ray: CPUs (and torch threads) each trial gets.")
    strategies: tuple[str, ...] | None = Field(
        default=None,
        description="The contestants; NAME runs on `backend`, NAME@BACKEND on a backend of `backends` "
        "(or @encoder: the bundled encoder). Default: every strategy of `backend`.",
    )
    strategy_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    backend: BackendSettings = Field(default_factory=lambda: _backend_settings(None))
    backends: Annotated[dict[str, SerializeAsAny[BaseModel]], BeforeValidator(_named_backends)] = Field(
        default_factory=dict,
        description="More backends, by a name of your choosing, for strategies written NAME@BACKEND: "
        "e.g. prompt a large model and fine-tune a small one in one run.",
    )

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
    def _backends_fit_task(self) -> TaskConfig:
        from shouldtune.backends.registry import backend_spec

        if self.backend.name in self.backends:
            raise TaskFileError(
                f"the backend name {self.backend.name!r} is taken by `backend` (the default backend's name is its kind)",
                column=f"backends.{self.backend.name}",
                fix="call the extra backend something else, e.g. large or small",
            )
        for contestant in self.contestants():
            spec = backend_spec(contestant.kind)
            if spec.family == "encoder" and self.task_type != "classification":
                raise TaskFileError(
                    f"the {contestant.kind} backend only classifies; a {self.task_type} task needs a language model",
                    column="backend",
                    fix="pass --backend hf --model FOLDER",
                )
            if (
                spec.family == "language-model" and self.task_type == "classification"
                and self.classify_by == "likelihood" and "score" not in spec.capabilities
            ):
                raise TaskFileError(
                    f"classify_by 'likelihood' needs the 'score' capability, which the {contestant.kind} backend lacks",
                    column="classify_by",
                    fix="pass --classify-by generation (generate, then parse the label)",
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

        contestants = self.contestants()
        if len({c.name for c in contestants}) < len(contestants):
            twice = next(c.name for c in contestants if sum(o.name == c.name for o in contestants) > 1)
            raise TaskFileError(f"strategy {twice!r} is listed twice", column="strategies", fix="list each strategy once")
        for contestant in contestants:
            check_names([contestant.strategy], contestant.kind, contestant.name)
        for key in self.strategy_params:
            bound = [c for c in contestants if key in (c.name, c.strategy)]
            if not bound:
                plain, _, alias = key.partition("@")
                check_names([plain], self._settings_of(alias or self.backend.name, "strategy_params").name, key)
                continue
            for contestant in bound:  # every value's type and range, before any work
                check_params(contestant.strategy, self.params_of(contestant), contestant.kind)
        return self

    def contestants(self) -> tuple[Contestant, ...]:
        """Return the strategies to run, each bound to its backend (default: every strategy of `backend`)."""
        from shouldtune.strategies.registry import default_strategies

        names = self.strategies or default_strategies(self.backend.name)
        contestants = []
        for name in names:
            strategy, at, alias = name.partition("@")
            settings = self._settings_of(alias, "strategies") if at else self.backend
            contestants.append(Contestant(name, strategy, alias if at else self.backend.name, settings.name, settings))
        return tuple(contestants)

    def contestant(self, name: str) -> Contestant:
        """Return the contestant called `name` (a plain strategy name binds to `backend`)."""
        for contestant in self.contestants():
            if contestant.name == name:
                return contestant
        strategy, at, alias = name.partition("@")
        settings = self._settings_of(alias, "strategies") if at else self.backend
        return Contestant(name, strategy, alias if at else self.backend.name, settings.name, settings)

    def params_of(self, contestant: Contestant) -> dict[str, Any]:
        """Return a contestant's settings: `strategy_params` under its full name, over those under its strategy's."""
        return {**self.strategy_params.get(contestant.strategy, {}), **self.strategy_params.get(contestant.name, {})}

    def backends_used(self) -> dict[str, BaseModel]:
        """Return the backends the contestants run on, by name in the task."""
        return {c.backend: c.settings for c in self.contestants()}

    def _settings_of(self, alias: str, column: str) -> BaseModel:
        from shouldtune.backends.registry import parse_settings

        if alias == self.backend.name:
            return self.backend
        if alias in self.backends:
            return self.backends[alias]
        if alias == "encoder":
            return parse_settings({"name": "encoder"})  # the bundled encoder needs no declaring
        known = [self.backend.name, *self.backends, "encoder"]
        close = difflib.get_close_matches(alias, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TaskFileError(
            f"no backend named {alias!r}",
            column=column,
            fix=f"{hint}name one under `backends:` (known: {', '.join(dict.fromkeys(known))})",
        )

    def hash_fields(self) -> dict[str, Any]:
        """Return the settings that change results (paths are replaced by data hashes elsewhere).

        `min_gain` and `exhaustive` change no trial's outputs (only the decision, and which
        trials run), and the executor settings only where they run, so a run with any of them
        changed reuses the same run's trials: a run started on Ray resumes locally.
        """
        return self.model_dump(mode="json", exclude={"data", "test", "name", "min_gain", "exhaustive", *EXECUTOR_FIELDS})


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
        known = list(TaskConfig.model_fields)
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
