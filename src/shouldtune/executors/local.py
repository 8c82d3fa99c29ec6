"""The default executor: trials one after another in this process, on the driver's own backends."""

from __future__ import annotations

from collections.abc import Generator, Sequence

from shouldtune.executors.base import Finished, TrialFailed, TrialKey, TrialSetup
from shouldtune.trial import run_trial


class LocalExecutor:
    """Runs each trial in this process, in the order given."""

    name = "local"

    def __init__(self) -> None:
        self._setup: TrialSetup | None = None
        self._loaded: set[str] = set()  # backends whose language model is loaded

    def start(self, setup: TrialSetup) -> None:
        self._setup = setup

    def run(self, keys: Sequence[TrialKey]) -> Generator[Finished, None, None]:
        setup = self._setup
        if setup is None:
            raise RuntimeError("LocalExecutor.run before start")
        task, prepared = setup.task, setup.prepared
        for key in keys:
            name, n_per_class, seed = key
            contestant = task.contestant(name)
            meter = setup.meters[contestant.backend]
            self._load(contestant.backend, setup)
            try:
                record, predicted = run_trial(
                    task, contestant, meter, prepared.split_of(seed), prepared.label_set, n_per_class, seed,
                    setup.progress, scoring=prepared.scoring,
                )
            except Exception as err:  # not Ctrl-C: an interrupted run is resumed, a failed one would fail again
                raise TrialFailed(key, err) from err
            yield Finished(key, record, predicted)

    def _load(self, alias: str, setup: TrialSetup) -> None:
        """Load a backend's language model before its first trial, so that no trial's time includes loading it."""
        backend = setup.meters[alias].backend
        if alias in self._loaded or backend.llm is None:
            return
        setup.say(f"loading {backend.model_id} on {backend.device}")
        backend.warm_up()
        self._loaded.add(alias)

    def close(self) -> None:
        self._setup = None
