"""Cross-validation with fewer folds at the sizes that fit: the wait and the decision, side by side.

Run (on an idle machine; see docs/benchmarks.md, "Fewer folds where a size fits"):
    .venv/bin/python benchmarks/cv_fewer_folds.py --dataset sst2 --per-class 8

A user's budget (`--per-class` examples of each label, drawn as benchmarks/decision_quality.py
draws them) is compared twice in this process, each in a fresh store, with every default:
first with all k folds at every size (as releases before this one fitted), then with the
fewest folds whose training parts hold each size (`Split.folds_at`). Printed: the wall time of
each and their ratio, the fits each strategy took, the decision, and every strategy's score
at each size.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decision_quality import DATA_ROOT, draw_budget, load_dataset, write_jsonl  # noqa: E402


def compare(data: Path, store: Path, fewer_folds: bool) -> tuple[dict[str, Any], float]:
    """Return the default comparison's results document on `data` and its wall seconds."""
    import shouldtune.planning as planning
    from shouldtune.data.splits import make_splits
    from shouldtune.experiment import run_experiment
    from shouldtune.task import load_task

    original = planning.make_splits
    planning.make_splits = functools.partial(make_splits, fewer_folds=fewer_folds)
    try:
        task = load_task(name=data.stem, data=str(data))
        start = time.perf_counter()
        result = run_experiment(task, store_path=store, say=lambda line: print("    " + line, flush=True))
        return result.to_json(), time.perf_counter() - start
    finally:
        planning.make_splits = original


def summary(results: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Return what the comparison shows: wait, fits, decision and curves."""
    recommendation = results["recommendation"]
    metric = results["task"]["metric"]
    fits: dict[str, int] = {}
    for trial in results["trials"]:
        fits[trial["strategy"]] = fits.get(trial["strategy"], 0) + int(trial.get("folds") or 1)
    return {
        "wall_seconds": round(seconds, 1),
        "fits": fits,
        "choice": recommendation["choice"],
        "confidence": recommendation.get("confidence"),
        "strategy": recommendation["strategy"],
        "summary": recommendation["summary"],
        "curves": {
            f"{c['strategy']}@{c['n_per_class']}": round(c["mean"], 3) for c in results["curves"] if c["metric"] == metric
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="sst2", help="sst2, trec, sms_spam or banking77 (from ../shared/data)")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--draw", type=int, default=0)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args()

    dataset = load_dataset(args.dataset, args.data_root, max_test=None)
    budget = draw_budget(dataset, args.per_class, args.draw)
    with tempfile.TemporaryDirectory(prefix="shouldtune-folds-") as scratch:
        folder = Path(scratch)
        data = folder / f"{args.dataset}-{args.per_class}-per-class.jsonl"
        write_jsonl(budget, data)
        found = {}
        for label, fewer in (("every fold", False), ("fewer folds", True)):
            print(f"{label}: {args.dataset}, {args.per_class} per class, draw {args.draw}", flush=True)
            results, seconds = compare(data, folder / f"{'fewer' if fewer else 'every'}.db", fewer)
            found[label] = summary(results, seconds)
    every, fewer = found["every fold"], found["fewer folds"]
    print(json.dumps(found, indent=2))
    print(f"wall: every fold {every['wall_seconds']} s, fewer folds {fewer['wall_seconds']} s, "
          f"ratio {fewer['wall_seconds'] / every['wall_seconds']:.2f}")
    print(f"fits: every fold {sum(every['fits'].values())}, fewer folds {sum(fewer['fits'].values())}")
    same = (every["choice"], every["strategy"]) == (fewer["choice"], fewer["strategy"])
    print(f"decision: {every['choice']} {every['strategy']} / {fewer['choice']} {fewer['strategy']} ({'same' if same else 'differs'})")


if __name__ == "__main__":
    main()
