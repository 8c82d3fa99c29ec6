"""The same trial grid in-process and on a local Ray of two workers: wall time and per-trial overhead.

Run: PYTHONPATH=src .venv/bin/python benchmarks/ray_executor.py [--cpus 2] [--rounds 1] [--json FILE]
     [--strategies majority,few-shot-knn,linear-probe,setfit] [--sizes 4,8]   (a smaller demo grid)
Needs Ray (pip install 'shouldtune[ray]'). Two grids, each run in-process and on Ray (one CPU
and one torch thread per trial, `--cpus` workers), every trial computed (fresh stores):

- demo: the bundled demo task (Banking77 card intents, the bundled MiniLM encoder), exhaustive:
  every strategy at every size and seed (majority, zero-shot, few-shot-knn, prompt-search,
  linear-probe, setfit at 20 steps).
- overhead: the majority baseline on 20 seeds: trials that compute next to nothing, so their
  time per trial is what running a trial costs around its work: on Ray, submitting it, a worker
  reading the task and splits from the object store, sending the record back, the driver
  committing it.

For each run it prints the wall time of `run_experiment`, the trial phase (from the first
trial handed out to the last committed) and that phase per trial. Ray's start-up (`ray.init`)
is timed apart; the Ray run includes the workers' check and, in its first round, the start of
the worker processes (each imports torch and loads the encoder once). Results are identical
either way (checked); only times differ. Rounds alternate in-process and Ray so that a busy
machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

from shouldtune.experiment import run_experiment
from shouldtune.reproducibility import comparable
from shouldtune.task import load_task

DEMO = Path(__file__).resolve().parents[1] / "src" / "shouldtune" / "demo" / "task.yaml"


def timed_run(task, store: Path) -> dict:
    """Run `task` with a fresh store; return its wall time, trial phase and results."""
    stamps: list[tuple[float, str]] = []

    def say(line: str) -> None:
        stamps.append((time.perf_counter(), line))

    start = time.perf_counter()
    result = run_experiment(task, store_path=store, fresh=True, say=say)
    wall = time.perf_counter() - start
    trial_lines = [when for when, line in stamps if line.startswith("  ") and " n=" in line]
    # The phase starts when the first trial is handed out: after the embeddings (and on Ray, the check).
    before = [when for when, line in stamps if line.startswith(("embedding", "running trials on Ray", "run "))]
    phase = trial_lines[-1] - max(w for w in before if w <= trial_lines[0])
    results = json.loads(json.dumps(result.to_json()))
    return {"wall": wall, "phase": phase, "trials": len(results["trials"]), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (one trial each)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the measurements here")
    parser.add_argument("--strategies", default=None, help="the demo grid's strategies (default: the demo's)")
    parser.add_argument("--sizes", default=None, help="the demo grid's sizes (default: the demo's)")
    parser.add_argument("--grids", default="demo,overhead", help="which grids to run: demo, overhead or both")
    args = parser.parse_args()

    import ray

    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray_init = time.perf_counter() - start
    print(f"ray.init (a local Ray of {args.cpus} CPUs): {ray_init:.1f} s")

    grids = {
        "demo": load_task(
            DEMO, exhaustive=True,
            strategies=tuple(args.strategies.split(",")) if args.strategies else None,
            sizes=tuple(int(n) for n in args.sizes.split(",")) if args.sizes else None,
        ),
        "overhead": load_task(DEMO, exhaustive=True, strategies=("majority",), seeds=20, sizes=(0,)),
    }
    grids = {name: task for name, task in grids.items() if name in args.grids.split(",")}
    measured: dict[str, dict[str, list[dict]]] = {name: {"local": [], "ray": []} for name in grids}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for name, task in grids.items():
                for executor in ("local", "ray"):
                    run = timed_run(task.model_copy(update={"executor": executor}), Path(folder) / f"{name}-{executor}-{round_}.db")
                    measured[name][executor].append(run)
                    print(
                        f"round {round_ + 1} {name:<8} {executor:<5}: wall {run['wall']:6.1f} s, trial phase {run['phase']:6.1f} s, "
                        f"{run['trials']} trials, {run['phase'] / run['trials']:.2f} s per trial",
                        flush=True,
                    )
                local, on_ray = (comparable(measured[name][e][-1]["results"]) for e in ("local", "ray"))
                for document in (local, on_ray):
                    document["task"].pop("executor")
                assert local == on_ray, f"{name}: the Ray run's results differ from the in-process run's"
    ray.shutdown()

    print(f"\n{'grid':<9} {'executor':<9} {'wall s':>8} {'phase s':>8} {'per trial s':>12}  (median of {args.rounds} rounds)")
    summary = {"ray_init_seconds": round(ray_init, 2), "cpus": args.cpus, "rounds": args.rounds, "grids": {}}
    for name, by_executor in measured.items():
        for executor, runs in by_executor.items():
            wall = statistics.median(r["wall"] for r in runs)
            phase = statistics.median(r["phase"] for r in runs)
            trials = runs[0]["trials"]
            print(f"{name:<9} {executor:<9} {wall:8.1f} {phase:8.1f} {phase / trials:12.3f}")
            summary["grids"].setdefault(name, {})[executor] = {
                "wall_seconds": [round(r["wall"], 2) for r in runs],
                "trial_phase_seconds": [round(r["phase"], 2) for r in runs],
                "trials": trials,
            }
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
