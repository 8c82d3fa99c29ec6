"""Strategy names -> classes, and the checks on names a user types."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence
from typing import Any

from shouldtune.errors import TaskFileError

# name -> "module:Class"; imported on use so `--help` never pays for torch.
STRATEGIES: dict[str, str] = {
    "majority": "shouldtune.strategies.baseline:Majority",
    "zero-shot": "shouldtune.strategies.prompt.zero_shot:ZeroShot",
    "few-shot-knn": "shouldtune.strategies.prompt.knn:FewShotKNN",
    "prompt-search": "shouldtune.strategies.prompt.search:PromptSearch",
    "linear-probe": "shouldtune.strategies.finetune.linear_probe:LinearProbe",
    "setfit": "shouldtune.strategies.finetune.setfit_strategy:SetFit",
    "full": "shouldtune.strategies.finetune.full:FullFineTune",
}


def check_names(names: Sequence[str]) -> None:
    """Raise TaskFileError for a strategy name that does not exist, with a did-you-mean."""
    for name in names:
        if name not in STRATEGIES:
            close = difflib.get_close_matches(name, list(STRATEGIES), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TaskFileError(
                f"unknown strategy {name!r}",
                column="strategies",
                fix=f"{hint}available: {', '.join(STRATEGIES)}",
            )


def strategy_class(name: str) -> type:
    """Return the class registered under `name`."""
    import importlib

    check_names([name])
    module, cls = STRATEGIES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, context: Any, params: dict[str, Any] | None = None) -> Any:
    """Return a new, unfitted strategy `name` with the task's params for it."""
    cls = strategy_class(name)
    params = dict(params or {})
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "context"}
    unknown = set(params) - accepted
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, sorted(accepted), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TaskFileError(
            f"strategy {name!r} has no setting {key!r}",
            column=f"strategy_params.{name}",
            fix=f"{hint}its settings: {', '.join(sorted(accepted)) or 'none'}",
        )
    return cls(context, **params)
