"""Strategy names -> classes, and the checks on names a user types."""

from __future__ import annotations

import difflib
import inspect
import typing
from functools import cache
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

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
    "hosted-finetune": "shouldtune.strategies.llm.hosted:HostedFineTune",
}

#: A backend's family (what kind of model it serves) -> the strategies that run on it, cheap first.
FAMILY_STRATEGIES: dict[str, dict[str, str]] = {"encoder": STRATEGIES, "language-model": LLM_STRATEGIES}


def _table(kind: str) -> dict[str, str]:
    from shouldtune.backends.registry import backend_spec

    return FAMILY_STRATEGIES[backend_spec(kind).family]


def default_strategies(kind: str) -> tuple[str, ...]:
    """Return every strategy backend `kind` can run, in default run order."""
    from shouldtune.backends.registry import backend_spec

    capabilities = backend_spec(kind).capabilities
    # An opt-in strategy (a paid, hours-long hosted job) runs only when named.
    return tuple(
        name for name in _table(kind)
        if _class_of(_table(kind)[name]).requires <= capabilities and not getattr(_class_of(_table(kind)[name]), "opt_in", False)
    )


def check_names(names: Sequence[str], backend: str = "encoder", shown: str | None = None) -> None:
    """Raise TaskFileError for a strategy the backend does not have or cannot run, with a did-you-mean.

    `shown` is the name the user wrote (e.g. "setfit@small"), if not the strategy's own.
    """
    from shouldtune.backends.registry import backend_spec, kinds

    spec = backend_spec(backend)
    available = _table(backend)
    for name in names:
        if name not in available:
            elsewhere = [kind for kind in kinds() if name in _table(kind)]
            if elsewhere:
                problem = f"strategy {name!r} runs on the {elsewhere[0]} backend, not on {backend}"
                hint = ""
            else:
                problem = f"unknown strategy {(shown or name)!r}"
                close = difflib.get_close_matches(name, list(available), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
            raise TaskFileError(
                problem,
                column="strategies",
                fix=f"{hint}available on {backend}: {', '.join(default_strategies(backend))}",
            )
        missing = sorted(_class_of(available[name]).requires - spec.capabilities)
        if missing:
            raise TaskFileError(
                f"strategy {(shown or name)!r} needs the {', '.join(map(repr, missing))} capability, which the {backend} backend lacks",
                column="strategies",
                fix=f"strategies that run on {backend}: {', '.join(default_strategies(backend))}",
            )


def _class_of(reference: str) -> type:
    import importlib

    module, cls = reference.split(":")
    return getattr(importlib.import_module(module), cls)


def strategy_class(name: str, backend: str = "encoder") -> type:
    """Return the class registered under `name` for backend kind `backend`."""
    if name not in _table(backend):
        check_names([name], backend)
    return _class_of(_table(backend)[name])


def build(name: str, context: Any, params: dict[str, Any] | None = None, backend: str = "encoder") -> Any:
    """Return a new, unfitted strategy `name` of `backend` with the task's params for it, checked and converted."""
    return strategy_class(name, backend)(context, **check_params(name, params, backend))


def check_params(name: str, params: dict[str, Any] | None, backend: str = "encoder") -> dict[str, Any]:
    """Return `params` converted to the types strategy `name` declares; raise TaskFileError for a bad one.

    The settings, their types and their ranges are declared once, in the strategy's
    `__init__` signature (e.g. `C: Annotated[float, Field(gt=0)] = 10.0`); they are checked
    here against a pydantic model built from it, before any work. An unknown setting gets a
    did-you-mean; a bad value is named with the range it must be in.
    """
    cls = strategy_class(name, backend)
    params = dict(params or {})
    model = _settings_model(cls)
    accepted = sorted(model.model_fields)
    unknown = set(params) - set(accepted)
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, accepted, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TaskFileError(
            f"strategy {name!r} has no setting {key!r}",
            column=f"strategy_params.{name}",
            fix=f"{hint}its settings: {', '.join(accepted) or 'none'}",
        )
    try:
        checked = model.model_validate(params)
    except ValidationError as err:
        first = err.errors()[0]
        setting = str(first["loc"][0])
        message = first["msg"].removeprefix("Value error, ")
        message = message[0].lower() + message[1:]
        default = model.model_fields[setting].default
        raise TaskFileError(
            f"{first.get('input')!r} is not allowed: {message}"[:300],
            column=f"strategy_params.{name}.{setting}",
            fix=f"{setting} takes {_allowed(model.model_fields[setting])}, e.g. its default {default!r}",
        ) from None
    return {key: getattr(checked, key) for key in params}


def settings_of(name: str, params: dict[str, Any] | None, backend: str = "encoder") -> dict[str, Any]:
    """Return every setting of strategy `name`, defaults filled in, JSON-safe (part of a trial's identity)."""
    model = _settings_model(strategy_class(name, backend))
    return model.model_validate(dict(params or {})).model_dump(mode="json")


@cache  # built once per class: checking settings, planning work and every trial's identity ask for it
def _settings_model(cls: type) -> type[BaseModel]:
    """Return a pydantic model of the settings `cls.__init__` takes (all but `context`)."""
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    fields: dict[str, Any] = {}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.name == "context" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (hints.get(parameter.name, Any), default)
    return create_model(f"{cls.__name__}Settings", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)


def _allowed(field: FieldInfo) -> str:
    """Return what a setting accepts in words: its type and range, e.g. 'a number greater than 0'."""
    kinds: dict[Any, str] = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
    annotation, metadata, optional = field.annotation, list(field.metadata), False
    arguments = typing.get_args(annotation)
    if type(None) in arguments and len(arguments) == 2:  # `X | None`: say X's range, then "or null"
        annotation, optional = next(a for a in arguments if a is not type(None)), True
        if typing.get_origin(annotation) is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata += extra
    type_name = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    kind = kinds.get(annotation) or f"a value of type {type_name or str(annotation).replace('collections.abc.', '').replace('typing.', '')}"
    bounds = []
    for constraint in metadata:
        for attribute, words in (("gt", "greater than"), ("ge", "at least"), ("lt", "less than"), ("le", "at most")):
            bound = getattr(constraint, attribute, None)
            if bound is not None:
                bounds.append(f"{words} {bound}")
    return " ".join([kind, " and ".join(bounds)]).strip() + (", or null (none)" if optional else "")
