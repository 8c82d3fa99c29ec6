"""The trial grid on Ray: each trial a Ray task; the driver stays the only writer of the store.

    driver: task + splits ─────────────► ray.put, once ─┐
            embeddings, computed once ─► ray.put, once ─┤   (Ray's object store)
            a batch of trial keys ─► one Ray task each ─┴─► worker: its backends opened once per
                process (models from paths it can read), a read-only embedding cache filled from
                the object store, torch threads = its CPUs ─► trial.run_trial ─► (record, predictions)
            ◄── ray.wait: each trial handed back as it ends, and committed by the caller

Ray retries a trial whose worker died (`MAX_RETRIES`); a trial that raised is not retried (it
would raise again) and fails the run as it would locally. Closing `run` early (Ctrl-C, an
error) stops the tasks still out; the trials that ended are in the store, so the run resumes
on either executor. See docs/scale-out.md.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray  # this module is imported only for --executor ray, after require_ray()

from shouldtune.errors import BackendError, ExecutorError
from shouldtune.executors.base import Finished, TrialFailed, TrialKey, TrialSetup
from shouldtune.planning import Prepared
from shouldtune.records import TrialRecord
from shouldtune.task import TaskConfig

MAX_RETRIES = 3  # times Ray reruns a trial whose worker died (killed, out of memory, node lost)
WAIT_SECONDS = 1.0  # the driver wakes this often while trials run, so Ctrl-C is noticed at once
CHECK_SECONDS = 600  # how long the workers' check may take (a worker process starts, imports, looks)
#: A strategy that needs one of these runs the model itself (trains it, or asks it), so on a
#: backend that computes on a GPU its trial asks Ray for one. Frozen-encoder strategies read
#: the driver's cached vectors and need none.
RUNS_THE_MODEL = frozenset({"tune-encoder", "fine-tune", "score", "generate"})
INSTALL = "pip install 'shouldtune[ray]'"


def require_ray() -> None:
    """Return if Ray can be imported; ExecutorError saying how to install it if not."""
    if importlib.util.find_spec("ray") is None:
        raise ExecutorError(
            "executor 'ray' needs Ray, which is not installed",
            column="executor",
            fix=f"{INSTALL} (or run with --executor local, the default)",
        )


def uses_gpu(device: str | None) -> bool:
    """Return whether a backend computing on `device` computes on a GPU (CUDA: what Ray schedules as GPUs)."""
    return device is not None and device.startswith("cuda")


def trial_resources(cls: type, device: str | None, cpus: int) -> dict[str, int]:
    """Return the Ray resources one trial of strategy `cls` asks for, on a backend computing on `device`."""
    gpus = 1 if uses_gpu(device) and cls.requires & RUNS_THE_MODEL else 0
    return {"num_cpus": cpus, "num_gpus": gpus}


@dataclass(frozen=True)
class Shared:
    """What every trial task reads, put in the object store once per run: the task and its splits."""

    task: TaskConfig
    prepared: Prepared


@dataclass(frozen=True)
class Need:
    """Something the workers must have to run the trials, checked on every node before the first trial."""

    what: str  # as the message names it: "model folder of backend 'encoder'"
    path: str | None = None  # a file or folder that must exist there
    backend_kind: str | None = None  # a backend kind that must be importable there


class RayExecutor:
    """Runs trials as Ray tasks on a cluster at `address` (default RAY_ADDRESS, else a local Ray started on demand)."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_trial: int = 1) -> None:
        self.address = address
        self.cpus_per_trial = cpus_per_trial
        self._setup: TrialSetup | None = None
        self._started_ray = False  # shut down in close() only a Ray this executor started
        self._shared: Any = None  # ObjectRef of Shared
        self._vectors: dict[str, Any] = {}  # backend name -> ObjectRef of (cache keys, vectors)
        self._resources: dict[str, dict[str, int]] = {}

    def start(self, setup: TrialSetup) -> None:
        self._setup = setup  # Ray is reached at the first trial: a run with none left needs no cluster

    def run(self, keys: Sequence[TrialKey]) -> Generator[Finished, None, None]:
        if not keys:
            return
        if self._shared is None:
            self._connect()
        pending = {self._submit(key): key for key in keys}  # in the order given: the smaller sizes first
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
                for ref in ready:
                    key = pending.pop(ref)
                    record, predicted = self._result(key, ref)
                    yield Finished(key, record, predicted)
        finally:
            if pending:  # Ctrl-C, an error, or the caller stopped: nothing keeps running
                self._stop(list(pending))

    def close(self) -> None:
        self._shared, self._vectors = None, {}
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    # -- the driver's side ----------------------------------------------------------------

    def _stop(self, refs: list[Any]) -> None:
        """Stop the trial tasks `refs`, which the caller no longer waits for.

        When this executor made the connection, it ends it: Ray then stops every worker running
        a task of this driver's job. Cancelling tasks one by one races in Ray with tasks that end
        at that moment (a task's reply arriving after its cancel fails the driver's core worker),
        and Ctrl-C lands while trials end as often as not. A connection the caller made stays
        open; its tasks that have not ended are cancelled.
        """
        if self._started_ray:
            self.close()
            return
        _, running = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in running:
            ray.cancel(ref, force=True)

    def _connect(self) -> None:
        """Reach the cluster, check its workers, and put the run's shared data in its object store."""
        setup = self._setup
        if setup is None:
            raise RuntimeError("RayExecutor.run before start")
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            setup.say(f"connecting to the Ray cluster at {address}" if address else "starting a local Ray")
            try:
                if address:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
                else:
                    from shouldtune.threads import available_cores

                    ray.init(num_cpus=available_cores(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, ValueError, RuntimeError) as err:
                raise ExecutorError(
                    f"cannot reach a Ray cluster at {address!r}: {' '.join(str(err).split())[:200]}",
                    column="ray_address",
                    fix="start one with `ray start --head` and pass its address (--ray-address HOST:6379 or RAY_ADDRESS), "
                    "or leave the address out for a local Ray",
                ) from None
            self._started_ray = True
        self._resources = self._plan_resources(setup)
        self._check_workers(setup)
        self._shared = ray.put(Shared(setup.task, setup.prepared))
        for alias, meter in setup.meters.items():
            encoder = meter.backend.encoder
            if encoder is not None and hasattr(encoder, "cached"):
                keys, vectors = encoder.cached()
                if keys:
                    self._vectors[alias] = ray.put((keys, vectors))  # once: every worker reads the same copy
        cluster = ray.cluster_resources()
        setup.say(
            f"running trials on Ray: {cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs; "
            f"{self.cpus_per_trial} CPU{'s' if self.cpus_per_trial > 1 else ''} per trial"
        )

    def _plan_resources(self, setup: TrialSetup) -> dict[str, dict[str, int]]:
        """Return each contestant's Ray resources; ExecutorError if the cluster can never give them."""
        resources = {}
        for name, cls in setup.classes.items():
            contestant = setup.task.contestant(name)
            backend = setup.meters[contestant.backend].backend if contestant.backend in setup.meters else None
            device = getattr(contestant.settings, "device", None) or (backend.device if backend is not None else None)
            resources[name] = trial_resources(cls, device, self.cpus_per_trial)
        cluster = ray.cluster_resources()
        for name, wanted in resources.items():
            for kind, resource in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
                if wanted[kind] > cluster.get(resource, 0):
                    raise ExecutorError(
                        f"a trial of {name} needs {wanted[kind]} {resource}{'s' if wanted[kind] > 1 else ''}, "
                        f"and the Ray cluster has {cluster.get(resource, 0):g} in all",
                        column="ray_cpus_per_trial" if resource == "CPU" else "backend.device",
                        fix="lower --ray-cpus-per-trial" if resource == "CPU"
                        else "add GPU nodes to the cluster, or run the backend on the CPU (device: cpu)",
                    )
        return resources

    def _check_workers(self, setup: TrialSetup) -> None:
        """Check on every node that it can run the trials (shouldtune's release, backends, model folders); ExecutorError if not."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from shouldtune import __version__

        needs = _needs(setup.task)
        nodes = [node for node in ray.nodes() if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0]
        checks = [
            _what_is_missing.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(
                __version__, needs
            )
            for node in nodes
        ]
        try:
            answers = ray.get(checks, timeout=CHECK_SECONDS)
        except ray.exceptions.GetTimeoutError:
            raise ExecutorError(
                f"the Ray workers did not answer the check in {CHECK_SECONDS} s",
                column="ray_address",
                fix="see `ray status`: a node may be down or unable to start worker processes",
            ) from None
        except ray.exceptions.RayError as err:
            raise ExecutorError(
                f"a Ray worker could not run shouldtune: {' '.join(str(err).split())[:300]}",
                column="ray_address",
                fix="install the same shouldtune on every node (pip install 'shouldtune[ray]')",
            ) from None
        missing = [f"{node['NodeManagerAddress']}: {problem}" for node, problems in zip(nodes, answers) for problem in problems]
        if missing:
            raise ExecutorError(
                f"the Ray workers lack what the trials need ({'; '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})",
                column="ray_address",
                fix="install the same shouldtune release on every node, and put model folders and metric files at the "
                "same path on each (a shared filesystem), or run with --executor local",
            )

    def _submit(self, key: TrialKey) -> Any:
        """Send one trial to the cluster; return its ObjectRef."""
        setup = self._setup
        assert setup is not None
        name, n_per_class, seed = key
        contestant = setup.task.contestant(name)
        meter = setup.meters[contestant.backend]
        vectors = [self._vectors[contestant.backend]] if contestant.backend in self._vectors else []
        resources = self._resources[name]
        return _trial_task.options(max_retries=MAX_RETRIES, **resources).remote(
            self._shared, name, n_per_class, seed, (meter.seconds_per_text, meter.single_text_seconds), vectors,
            resources["num_cpus"],
        )

    def _result(self, key: TrialKey, ref: Any) -> tuple[TrialRecord, list[str]]:
        """Return a finished task's record and predictions; TrialFailed if it raised or its worker kept dying."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # the trial itself raised: the same error as in-process
            cause = err.cause if isinstance(getattr(err, "cause", None), Exception) else err
            raise TrialFailed(key, cause) from None
        except ray.exceptions.RayError as err:  # its worker or node died MAX_RETRIES + 1 times
            name, n_per_class, seed = key
            raise TrialFailed(key, BackendError(
                f"trial {name} n={n_per_class} seed={seed} did not finish on Ray after {MAX_RETRIES} retries "
                f"({type(err).__name__}: {' '.join(str(err).split())[:200]}); a worker out of memory is the usual cause: "
                f"give each trial more (--ray-cpus-per-trial) or use larger nodes"
            )) from None


def _needs(task: TaskConfig) -> list[Need]:
    """Return what a worker must have for this task: its backends' kinds, model folders and metric file."""
    needs = []
    for alias, settings in task.backends_used().items():
        needs.append(Need(f"backend kind {settings.name!r} (backend {alias!r})", backend_kind=settings.name))
        model = getattr(settings, "model", None)
        if model is not None and Path(model).exists():  # a folder here; a hub id is the backend's to fetch
            needs.append(Need(f"model folder of backend {alias!r}", path=str(Path(model).resolve())))
    metric_file, colon, _ = task.metric.rpartition(":")
    if colon and metric_file.endswith(".py"):
        needs.append(Need("metric file", path=str(Path(metric_file).resolve())))
    return needs


# -- the workers' side --------------------------------------------------------------------


@ray.remote(num_cpus=0)
def _what_is_missing(version: str, needs: list[Need]) -> list[str]:
    """Return what this node lacks of `needs`, one line each (none: it can run the trials)."""
    from shouldtune import __version__
    from shouldtune.backends.registry import backend_spec

    problems = []
    if __version__ != version:
        problems.append(f"shouldtune {__version__} is installed, the driver runs {version}")
    for need in needs:
        if need.path is not None and not Path(need.path).exists():
            problems.append(f"no {need.what} at {need.path}")
        if need.backend_kind is not None:
            try:
                backend_spec(need.backend_kind)
            except Exception:  # noqa: BLE001 - reported, with the others
                problems.append(f"no {need.what}: install the package that provides it")
    return problems


class _WorkerBackends:
    """A worker process's opened backends, kept across the trials Ray sends it.

    Ray reuses a worker process for many tasks; opening a backend per trial would load its
    model again each time (seconds for an encoder, minutes for a large language model).
    """

    def __init__(self) -> None:
        self.opened: dict[str, Any] = {}  # settings, as JSON -> OpenBackend
        self.filled: dict[str, str] = {}  # settings, as JSON -> the vectors' object id its cache holds

    def get(self, alias: str, settings: Any, vectors: list[Any]) -> Any:
        from shouldtune.backends.registry import backend_spec

        identity = json.dumps({"alias": alias, **settings.model_dump(mode="json")}, sort_keys=True)
        if identity not in self.opened:
            backend = backend_spec(settings.name).open(settings, None, None)  # no store: the driver writes it
            backend.alias = alias
            # So that no trial's time includes loading a model: the driver's encoder was loaded
            # when it timed it, this worker's loads on its first text.
            backend.warm_up()
            if backend.encoder is not None:
                backend.encoder.encoder.embed(["warm-up"])  # past the cache: nothing is cached or counted
            self.opened[identity] = backend
        backend = self.opened[identity]
        if vectors and self.filled.get(identity) != vectors[0].hex():
            keys, rows = ray.get(vectors[0])  # zero-copy: rows stay in the node's shared memory
            backend.encoder.remember(keys, rows)
            self.filled[identity] = vectors[0].hex()
        return backend


_BACKENDS = _WorkerBackends()  # one per worker process; the driver never fills it


def _open_on_worker(alias: str, settings: Any, vectors: list[Any]) -> Any:
    """Return this worker process's opened backend (a plain function, so the task reads the module's one `_BACKENDS`)."""
    return _BACKENDS.get(alias, settings, vectors)


@ray.remote
def _trial_task(
    shared: Shared, name: str, n_per_class: int, seed: int, seconds: tuple[float, float], vectors: list[Any], cpus: int
) -> tuple[TrialRecord, list[str]]:
    """Run one trial on a worker; return its record and test predictions."""
    import torch

    from shouldtune.trial import Meter, run_trial

    torch.set_num_threads(cpus)  # the CPUs Ray gave this task, no more
    task, prepared = shared.task, shared.prepared
    contestant = task.contestant(name)
    backend = _open_on_worker(contestant.backend, contestant.settings, vectors)
    # The driver timed the encoder: cached texts are charged what it measured, as in-process.
    meter = Meter(backend, seconds_per_text=seconds[0], single_text_seconds=seconds[1])
    return run_trial(
        task, contestant, meter, prepared.split_of(seed), prepared.label_set, n_per_class, seed, None, scoring=prepared.scoring
    )

