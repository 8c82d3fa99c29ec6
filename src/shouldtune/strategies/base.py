"""What every strategy is: hyperparameters in `__init__`, learning in `fit`, state in `_`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from shouldtune.errors import ExportError, InputError
from shouldtune.records import SearchDetails

Track = Literal["prompt", "finetune", "baseline"]


@dataclass(frozen=True)
class TrainingSet:
    """The labelled examples a strategy may learn from, and every label of the task.

    For generation and extraction the "labels" are the wanted outputs (free text) and
    `label_set` is empty.
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    label_set: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")
        unknown = set(self.labels) - set(self.label_set)
        if unknown and self.label_set:
            raise ValueError(f"labels {sorted(unknown)} are not in the label set")

    def __len__(self) -> int:
        return len(self.texts)

    def by_label(self) -> dict[str, list[str]]:
        """Return the texts of each label, every label present (possibly empty)."""
        grouped: dict[str, list[str]] = {label: [] for label in self.label_set}
        for text, label in zip(self.texts, self.labels):
            grouped[label].append(text)
        return grouped


@dataclass(frozen=True)
class StrategyContext:
    """What the experiment hands every strategy: the backend and the task's prompt settings.

    `encoder` embeds texts (the encoder backend, or on the hf backend the bundled encoder that
    few-shot-knn measures similarity with); `llm` is the hf backend's language model.
    """

    encoder: Any
    template: str = "{text}"
    label_descriptions: dict[str, str] = field(default_factory=dict)
    prompt_variants: tuple[dict[str, Any], ...] = ()
    seed: int = 0
    progress: Any = None
    llm: Any = None
    task_type: str = "classification"
    instruction: str | None = None
    classify_by: str = "likelihood"
    #: The task's decision metric on (gold, predicted), for strategies that choose by validation score.
    validation_score: Callable[[Sequence[str], Sequence[str]], float] | None = None


class Strategy(ABC):
    """A way to solve the task: prompt the model (weights fixed) or fine-tune it."""

    name: ClassVar[str]
    track: ClassVar[Track]
    #: False for strategies that can run with no labelled examples (size 0).
    needs_examples: ClassVar[bool] = True
    #: What the strategy needs of its backend (see shouldtune.backends.base); "embed" means it
    #: embeds texts with `context.encoder`, so they are embedded ahead, once.
    requires: ClassVar[frozenset[str]] = frozenset({"embed"})
    #: Whether a fit costs milliseconds to seconds — it learns on the frozen encoder's cached
    #: vectors alone — so a cross-validated run deals its folds every seed's way by default
    #: (shouldtune.schedule). A fine-tune, or a strategy that calls a language model, is not.
    repeatable: ClassVar[bool] = False
    #: Whether the task's metric decides what is learned (e.g. a prompt chosen by validation score).
    selects_on_metric: ClassVar[bool] = False

    @abstractmethod
    def fit(self, train: TrainingSet) -> Strategy:
        """Learn from `train` and return self."""

    @abstractmethod
    def predict(self, texts: Sequence[str]) -> list[str]:
        """Return one label per text."""

    def describe(self) -> dict[str, Any]:
        """Return what was learned that a person can read (chosen prompt, sizes); JSON-safe."""
        return {}

    def search(self) -> SearchDetails | None:
        """Return the candidates a prompt search scored and the one it kept (None: it searched nothing)."""
        return None

    def work(self, examples: int, classes: int = 1) -> float:
        """Return how much computing a fit on `examples` examples of `classes` labels takes, in texts through the model.

        A deterministic measure (not a clock), so that the adaptive plan's "is it slower?"
        gives the same answer on every run. Strategies on the frozen, cached encoder do none.
        """
        return 0.0

    def save(self, folder: Path) -> None:
        """Write what was learned into `folder` (which exists), so that `load` can rebuild it.

        Prompts are written as YAML a person can read and edit; weights as safetensors.
        """
        raise ExportError(
            f"strategy {self.name!r} cannot be exported yet",
            fix="export another strategy of the run, e.g. --strategy best-prompt or best-finetune",
        )

    @classmethod
    def load(cls, folder: Path, context: StrategyContext) -> Strategy:
        """Return the fitted strategy that `save` wrote into `folder`, ready to predict."""
        raise ExportError(
            f"strategy {cls.name!r} cannot be loaded from an export",
            file=folder,
            fix="export the run with a shouldtune that can, or export another strategy",
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "label_set_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train) first")

    def _check_train(self, train: TrainingSet) -> None:
        if self.needs_examples and len(train) == 0:
            raise InputError(
                f"strategy {self.name!r} needs labelled examples, got none",
                fix="use sizes of 1 or more for this strategy",
            )
