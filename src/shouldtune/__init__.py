"""shouldtune: measure prompt engineering against fine-tuning on your own data.

The CLI is a thin shell over this API::

    from shouldtune import TaskConfig, run_experiment
    result = run_experiment(TaskConfig(data="train.csv", test="test.csv"))
    print(result.recommendation.summary)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = ["TaskConfig", "load_task", "run_experiment", "RunResult", "__version__"]

if TYPE_CHECKING:
    from shouldtune.experiment import RunResult, run_experiment
    from shouldtune.task import TaskConfig, load_task


def __getattr__(name: str) -> Any:
    # Lazy, so `import shouldtune` and `shouldtune --help` stay instant (no torch at import).
    if name in ("TaskConfig", "load_task"):
        from shouldtune import task

        return getattr(task, name)
    if name in ("run_experiment", "RunResult"):
        from shouldtune import experiment

        return getattr(experiment, name)
    raise AttributeError(f"module 'shouldtune' has no attribute {name!r}")
