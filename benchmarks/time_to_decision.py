"""Time to a decision: the default comparison against the whole grid, on TREC, side by side.

Run (on an idle machine; see docs/benchmarks.md for what it printed):
    .venv/bin/python benchmarks/time_to_decision.py

1. The default run (adaptive plan) and the same run with `exhaustive` (every strategy, size
   and seed), each in a fresh store, one after the other in this process: wall time, trials
   run and left out, the recommendation, and each fine-tune strategy's score at each size.
2. One setfit fit alone, then the same fit beside a second process that keeps both cores
   busy with torch (a user's other work, or a second trial): the slowdown.

Embedding throughput against plain `encode` is `benchmarks/embedding_speed.py`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec"


def run(exhaustive: bool, data: Path, test: Path | None, store: Path) -> tuple[dict[str, Any], float]:
    """Return one comparison's results document and its wall seconds."""
    from shouldtune.experiment import run_experiment
    from shouldtune.task import load_task

    task = load_task(
        name="trec", data=str(data), test=str(test) if test else None, exhaustive=True if exhaustive else None
    )
    start = time.perf_counter()
    result = run_experiment(task, store_path=store, say=lambda line: print("    " + line, flush=True))
    return result.to_json(), time.perf_counter() - start


def summary(results: dict[str, Any], seconds: float) -> dict[str, Any]:
    recommendation = results["recommendation"]
    metric = results["task"]["metric"]
    finetune = {
        f"{p['strategy']}@{p['n_per_class']}": (p["mean"], p["ci_low"], p["ci_high"], p["seeds"])
        for p in results["curves"] if p["track"] == "finetune" and p["metric"] == metric
    }
    return {
        "wall_seconds": round(seconds, 1),
        "trials": len(results["trials"]),
        "skipped": sum(len(e["n_per_class"]) * len(e["seeds"]) for e in results.get("skipped", [])),
        "choice": recommendation["choice"],
        "confidence": recommendation.get("confidence"),
        "strategy": recommendation["strategy"],
        "summary": recommendation["summary"],
        "finetune_curves": finetune,
    }


def _busy(seconds: float) -> None:
    import torch

    torch.set_num_threads(2)
    a = torch.randn(1024, 1024)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        a = torch.tanh(a @ a)


def setfit_fit_seconds(examples: int = 48) -> float:
    """Return the seconds of one setfit fit on `examples` TREC questions (8 per class at 48)."""
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.finetune.setfit_strategy import SetFit

    rows = [json.loads(line) for line in (DATA / "train.jsonl").read_text().splitlines()]
    labels = sorted({row["label"] for row in rows})
    per = examples // len(labels)
    chosen = [row for label in labels for row in [r for r in rows if r["label"] == label][:per]]
    train = TrainingSet(tuple(r["text"] for r in chosen), tuple(r["label"] for r in chosen), tuple(labels))
    encoder = SentenceEncoder()
    start = time.perf_counter()
    SetFit(StrategyContext(encoder=encoder, seed=0)).fit(train)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA / "train.jsonl")
    parser.add_argument("--test", type=Path, default=DATA / "test.jsonl")
    parser.add_argument("--skip-exhaustive", action="store_true", help="Run the default comparison only.")
    parser.add_argument("--skip-contention", action="store_true", help="Leave out the busy-neighbour setfit timing.")
    parser.add_argument("--out", type=Path, default=None, help="Write the numbers as JSON here.")
    args = parser.parse_args()

    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        print("default run (adaptive plan):", flush=True)
        results, seconds = run(False, args.data, args.test, Path(folder) / "default.db")
        report["default"] = summary(results, seconds)
        if not args.skip_exhaustive:
            print("exhaustive run (every strategy, size and seed):", flush=True)
            results, seconds = run(True, args.data, args.test, Path(folder) / "exhaustive.db")
            report["exhaustive"] = summary(results, seconds)
    if not args.skip_contention:
        alone = setfit_fit_seconds()
        busy = multiprocessing.get_context("spawn").Process(target=_busy, args=(alone * 6,))
        busy.start()
        time.sleep(2)
        try:
            shared = setfit_fit_seconds()
        finally:
            busy.terminate()
            busy.join()
        report["setfit_contention"] = {"alone_seconds": round(alone, 1), "beside_busy_seconds": round(shared, 1),
                                       "slowdown": round(shared / alone, 2)}

    for name in ("default", "exhaustive"):
        if name in report:
            r = report[name]
            print(f"\n{name:<10} {r['wall_seconds'] / 60:6.1f} min  {r['trials']:>3} trials run, {r['skipped']:>3} left out  "
                  f"-> {r['choice']} ({r['confidence']}): {r['strategy']}")
    if "exhaustive" in report:
        print("\nfine-tune scores, default vs exhaustive (mean, 95% CI, seeds):")
        for key, (mean, low, high, seeds) in report["exhaustive"]["finetune_curves"].items():
            mine = report["default"]["finetune_curves"].get(key)
            inside = "" if mine is None else ("  inside" if low <= mine[0] <= high else "  OUTSIDE")
            shown = "not run" if mine is None else f"{mine[0]:.3f} ({mine[3]} seed)"
            print(f"  {key:<16} default {shown:<18} exhaustive {mean:.3f} ({low:.3f}-{high:.3f}, {seeds} seeds){inside}")
    if "setfit_contention" in report:
        c = report["setfit_contention"]
        print(f"\nsetfit fit on 48 questions: {c['alone_seconds']} s alone, {c['beside_busy_seconds']} s beside a busy "
              f"process ({c['slowdown']}x)")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
