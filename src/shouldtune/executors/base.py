"""What an executor is handed and what it hands back."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shouldtune.planning import Prepared
from shouldtune.records import TrialRecord
from shouldtune.task import TaskConfig
from shouldtune.trial import Meter, Say

TrialKey = tuple[str, int, int]  # (contestant, n_per_class, seed)


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a run shares, ready on the driver before the first trial."""

    task: TaskConfig
    prepared: Prepared
    #: By backend name: the driver's opened backends, encoders timed and their embedding caches filled.
    meters: Mapping[str, Meter]
    classes: Mapping[str, type]  # contestant -> its strategy class
    say: Say
    progress: Any = None


@dataclass(frozen=True)
class Finished:
    """One trial's record and test predictions, as it ended."""

    key: TrialKey
    record: TrialRecord
    predicted: list[str]


class TrialFailed(Exception):
    """A trial raised `error`; the run fails with it (a failed trial would fail again, so it is not retried)."""

    def __init__(self, key: TrialKey, error: BaseException) -> None:
        self.key = key
        self.error = error
        super().__init__(f"trial {key} raised {type(error).__name__}: {error}")


class Executor(Protocol):
    """Runs trials and hands back each as it ends; the caller stores them."""

    name: str

    def start(self, setup: TrialSetup) -> None:
        """Take the run's shared set-up; nothing is computed until `run`."""

    def run(self, keys: Sequence[TrialKey]) -> Generator[Finished, None, None]:
        """Yield each trial of `keys` as it ends, in any order; raise TrialFailed for one that raised.

        Closing the iterator early (an error, Ctrl-C) cancels the trials still running.
        """
        ...

    def close(self) -> None:
        """Release what `start` and `run` acquired (safe to call twice)."""
