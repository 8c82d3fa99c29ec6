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


class BackendConfig(BaseModel):
    """Which model the strategies run on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["encoder"] = "encoder"
    model: str | None = Field(
        default=None,
        description="A sentence-transformers folder; default: the bundled all-MiniLM-L6-v2.",
    )
    device: str = "cpu"
    batch_size: int = Field(default=64, ge=1)


class TaskConfig(BaseModel):
    """Everything one comparison needs; every field is also a `shouldtune run` flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "task"
    task_type: Literal["classification"] = "classification"
    data: Path
    test: Path | None = None
    text_column: str = "text"
    label_column: str = "label"
    label_descriptions: dict[str, str] = Field(default_factory=dict)
    template: str = "{text}"
    prompt_variants: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra candidates for prompt-search: each a {template, label_descriptions}.",
    )
    metric: Literal["accuracy", "macro_f1"] = "macro_f1"
    sizes: tuple[int, ...] = DEFAULT_SIZES
    seeds: int = Field(default=3, ge=1, le=50)
    seed: int = 0
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    strategies: tuple[str, ...] | None = None
    strategy_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    backend: BackendConfig = Field(default_factory=BackendConfig)

    @field_validator("sizes")
    @classmethod
    def _sizes_valid(cls, sizes: tuple[int, ...]) -> tuple[int, ...]:
        if not sizes:
            raise ValueError("give at least one size, e.g. 0,8,32")
        negative = [s for s in sizes if s < 0]
        if negative:
            raise ValueError(f"sizes must be 0 or more examples per class; got {negative[0]}")
        return tuple(sorted(set(sizes)))

    @field_validator("template")
    @classmethod
    def _template_has_text(cls, template: str) -> str:
        if "{text}" not in template:
            raise ValueError(f"the template must contain {{text}}; got {template!r}")
        return template

    @model_validator(mode="after")
    def _strategies_known(self) -> TaskConfig:
        from shouldtune.strategies.registry import check_names

        if self.strategies is not None:
            check_names(self.strategies)
        check_names(tuple(self.strategy_params))
        return self

    def hash_fields(self) -> dict[str, Any]:
        """Return the settings that change results (paths are replaced by data hashes elsewhere)."""
        return self.model_dump(mode="json", exclude={"data", "test", "name"})


def load_task(path: str | Path | None = None, **overrides: Any) -> TaskConfig:
    """Return the task from a YAML file, with flag values laid over it."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TaskFileError(
                "task file not found", file=path, fix="check the path, or pass --data FILE instead"
            )
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            line = getattr(getattr(err, "problem_mark", None), "line", None)
            raise TaskFileError(
                f"not valid YAML ({type(err).__name__})",
                file=path,
                row=None if line is None else line + 1,
                fix="check the indentation and quoting at that line",
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
    return TaskFileError(
        f"setting {key!r}: {message} (got {first.get('input')!r})"[:300],
        file=path,
        fix=f"correct {key!r} in the task file or its flag",
    )
