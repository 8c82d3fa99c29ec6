"""Backend kinds -> their spec: settings, capabilities, how to open one, how it is charged.

Adding a backend is one module that defines a pydantic settings model (with a `name`
field fixed to its kind) and a `BackendSpec`, plus one entry in `BACKENDS` — or, from
outside the project, one call to `register(spec)`, or an entry point in the
`shouldtune.backends` group naming the spec (`toy = "my_package.toy:SPEC"`). Nothing else names a backend kind:
strategies state the capabilities they need (`Strategy.requires`), the experiment opens
whatever the task names, and the cost model charges by `spec.charges`.

The settings of a backend are validated here, at the edge, like a discriminated union on
`name` that plug-ins can extend: an unknown kind or setting gets a did-you-mean.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from shouldtune.backends.base import CAPABILITIES, Capability
from shouldtune.errors import TaskFileError

#: What a backend's use costs: compute time (a local model: the machine's hours) or tokens (an API's bill).
Charges = Literal["compute", "tokens"]
#: The strategies a backend's model can run: "encoder" (an embedding model) or "language-model".
Family = Literal["encoder", "language-model"]


@dataclass(frozen=True)
class BackendSpec:
    """What shouldtune knows of one kind of backend before opening it."""

    kind: str
    settings: type[BaseModel]  # its pydantic settings; `name` is fixed to `kind`
    capabilities: frozenset[Capability]
    family: Family
    charges: Charges
    #: (settings, store, progress) -> OpenBackend; called once per run, closed in `finally`.
    open: Callable[[Any, Any, Any], OpenBackend]
    summary: str = ""
    #: Settings that change no output (permission to download, to run code): left out of every trial's identity.
    not_outputs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"backend {self.kind!r} declares unknown capabilities {sorted(unknown)}; known: {', '.join(CAPABILITIES)}")

    def output_settings(self, settings: BaseModel) -> dict[str, Any]:
        """Return the settings that change a trial's outputs (its identity), JSON-safe."""
        return settings.model_dump(mode="json", exclude=set(self.not_outputs))


@dataclass
class OpenBackend:
    """An opened backend as strategies see it: an encoder, a language model, or both.

    `encoder` is a CachedEncoder (an embedding backend, or on a language-model backend the
    bundled encoder that few-shot-knn measures similarity with); `llm` is the language model.
    """

    alias: str
    spec: BackendSpec
    model_id: str
    encoder: Any = None
    llm: Any = None
    device: str = "cpu"
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def charges(self) -> Charges:
        return self.spec.charges

    def usage(self) -> dict[str, int]:
        """Return the language model's running totals of requests and tokens ({} without one)."""
        usage = getattr(self.llm, "usage", None)
        return dict(vars(usage)) if usage is not None else {}

    def warm_up(self) -> None:
        """Load what is loaded lazily, so that no trial's time includes loading the model."""
        if self.llm is not None and hasattr(self.llm, "warm_up"):
            self.llm.warm_up()

    def close(self) -> None:
        """Release the models (safe to call twice)."""
        for closer in (getattr(self.encoder, "close", None), getattr(self.llm, "close", None)):
            if closer is not None:
                closer()
        self.encoder = self.llm = None


#: kind -> "module:SPEC"; imported on use, so `--help` pays for no backend.
BACKENDS: dict[str, str] = {
    "encoder": "shouldtune.backends.encoder:SPEC",
    "hf": "shouldtune.backends.hf:SPEC",
    "openai": "shouldtune.backends.openai_api:SPEC",
}
_REGISTERED: dict[str, BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Make a backend kind available to tasks (a plug-in's one call); return it."""
    _REGISTERED[spec.kind] = spec
    return spec


def kinds() -> list[str]:
    """Return every backend kind a task may name."""
    return list(dict.fromkeys([*BACKENDS, *_REGISTERED, *_plugins()]))


def _plugins() -> dict[str, Any]:
    """Return the installed packages' backends: entry points of the `shouldtune.backends` group, by kind."""
    from importlib.metadata import entry_points

    return {point.name: point for point in entry_points(group="shouldtune.backends")}


def backend_spec(kind: str, column: str = "backend.name") -> BackendSpec:
    """Return the spec of backend `kind`; TaskFileError with a did-you-mean for an unknown one."""
    if kind in _REGISTERED:
        return _REGISTERED[kind]
    if kind not in BACKENDS and kind in _plugins():
        return register(_plugins()[kind].load())
    if kind not in BACKENDS:
        close = difflib.get_close_matches(str(kind), kinds(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TaskFileError(f"unknown backend {kind!r}", column=column, fix=f"{hint}available: {', '.join(kinds())}")
    module, name = BACKENDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def parse_settings(raw: Any, column: str = "backend") -> BaseModel:
    """Return a backend's validated settings from a mapping (or a bare kind, e.g. "hf")."""
    if isinstance(raw, BaseModel):
        return raw
    if raw is None:
        raw = {}
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, Mapping):
        raise TaskFileError(
            f"expected a backend's settings, found {type(raw).__name__}",
            column=column,
            fix="write e.g. `name: hf` and `model: FOLDER` under it, or just the kind",
        )
    raw = {"name": "encoder", **raw}
    spec = backend_spec(str(raw["name"]), column=f"{column}.name")
    try:
        return spec.settings.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            known = list(spec.settings.model_fields)
            close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
            elsewhere = [other for other in BACKENDS if other != spec.kind and key in _known_settings(other)]
            hint = f"did you mean {close[0]!r}? " if close else ""
            where = f"it is a setting of the {elsewhere[0]} backend; " if elsewhere else ""
            return _raise(TaskFileError(
                f"the {spec.kind} backend has no setting {key!r}",
                column=f"{column}.{key}",
                fix=f"{where}{hint}its settings: {', '.join(known)}",
            ))
        if first["type"] == "missing":
            description = spec.settings.model_fields[key].description or ""
            return _raise(TaskFileError(
                f"the {spec.kind} backend needs a {key}", column=f"{column}.{key}", fix=description or f"set {key}"
            ))
        message = first["msg"].removeprefix("Value error, ")
        got = "" if "got " in message else f" (got {first.get('input')!r})"
        return _raise(TaskFileError(
            f"setting '{column}.{key}': {message}{got}"[:300], column=f"{column}.{key}", fix=f"correct {key!r}"
        ))


def _known_settings(kind: str) -> set[str]:
    try:
        return set(backend_spec(kind).settings.model_fields)
    except Exception:  # noqa: BLE001 - a hint only
        return set()


def _raise(err: TaskFileError) -> Any:
    raise err from None
