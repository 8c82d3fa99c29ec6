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

# The same names mean the same idea on a causal language model, done with prompts and LoRA.
LLM_STRATEGIES: dict[str, str] = {
    "majority": "shouldtune.strategies.baseline:Majority",
    "zero-shot": "shouldtune.strategies.llm.prompting:ZeroShotLLM",
    "few-shot": "shouldtune.strategies.llm.prompting:FewShotLLM",
    "few-shot-knn": "shouldtune.strategies.llm.prompting:FewShotKNNLLM",
    "prompt-search": "shouldtune.strategies.llm.search:PromptSearchLLM",
    "lora": "shouldtune.strategies.llm.lora:LoRA",
    "lora+few-shot": "shouldtune.strategies.llm.lora:LoRAFewShot",
}

#: Backend name -> its strategies, in default run order (cheap first).
BACKEND_STRATEGIES: dict[str, dict[str, str]] = {"encoder": STRATEGIES, "hf": LLM_STRATEGIES}


def check_names(names: Sequence[str], backend: str = "encoder") -> None:
    """Raise TaskFileError for a strategy name the backend does not have, with a did-you-mean."""
    available = BACKEND_STRATEGIES[backend]
    for name in names:
        if name not in available:
            elsewhere = [other for other, table in BACKEND_STRATEGIES.items() if name in table]
            if elsewhere:
                problem = f"strategy {name!r} runs on the {elsewhere[0]} backend, not on {backend}"
                hint = ""
            else:
                problem = f"unknown strategy {name!r}"
                close = difflib.get_close_matches(name, list(available), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
            raise TaskFileError(
                problem,
                column="strategies",
                fix=f"{hint}available on {backend}: {', '.join(available)}",
            )


def strategy_class(name: str, backend: str = "encoder") -> type:
    """Return the class registered under `name` for `backend`."""
    import importlib

    check_names([name], backend)
    module, cls = BACKEND_STRATEGIES[backend][name].split(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, context: Any, params: dict[str, Any] | None = None, backend: str = "encoder") -> Any:
    """Return a new, unfitted strategy `name` of `backend` with the task's params for it."""
    check_params(name, params, backend)
    return strategy_class(name, backend)(context, **(params or {}))


def check_params(name: str, params: dict[str, Any] | None, backend: str = "encoder") -> None:
    """Raise TaskFileError if `params` names a setting strategy `name` does not have, with a did-you-mean."""
    cls = strategy_class(name, backend)
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
