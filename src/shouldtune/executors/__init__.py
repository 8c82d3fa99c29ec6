"""Where a run's trials are computed: in this process (`local`) or as Ray tasks on a cluster (`ray`).

    experiment._run ─► executor.run(keys) ─► Finished, as each trial ends ─► store (written by the driver only)

An executor changes where a trial runs, never what it computes: a trial gives the same record
(timings apart) on either, and is stored under the same `planning.trial_key`, so a run started
on one resumes on the other.
"""

from __future__ import annotations

from shouldtune.executors.base import Executor, Finished, TrialFailed, TrialSetup
from shouldtune.executors.local import LocalExecutor
from shouldtune.task import TaskConfig

__all__ = ["Executor", "Finished", "LocalExecutor", "TrialFailed", "TrialSetup", "executor_for"]


def executor_for(task: TaskConfig) -> Executor:
    """Return the executor the task names; ExecutorError, saying how to install it, if Ray is missing."""
    if task.executor == "local":
        return LocalExecutor()
    from shouldtune.executors.ray_tasks import RayExecutor, require_ray

    require_ray()
    return RayExecutor(address=task.ray_address, cpus_per_trial=task.ray_cpus_per_trial)
