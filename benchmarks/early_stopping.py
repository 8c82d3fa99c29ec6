"""`full` with today's fixed epochs against early stopping on a held-back slice, on TREC.

Run (on an idle machine; see docs/benchmarks.md for what it printed):
    .venv/bin/python benchmarks/early_stopping.py [--sizes 8,32,64,200,all] [--seeds 0,1,2] [--threads 1]

For each training size (examples per class, or `all` rows) and seed, in one process, the two
ways take turns on the same examples:
- fixed: `full` as in 0.1.0, `epochs` passes at most `max_steps` steps, no slice held back;
- early stopping: the same settings, a stratified 10% slice held back at every size
  (`early_stopping_per_class=1`), best epoch kept, `patience` epochs without improvement stop it.
Each is scored on the whole TREC test set (500 questions): macro-F1 with its 95% bootstrap
interval over test examples (one seed's), optimiser steps, and fit seconds as a ratio to the
fixed fit on the same examples (a clock ratio within one process, so a busy machine slows both).
At `all` rows `max_steps` ends training inside the first epoch, so no slice is held back.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec"


def read(path: Path) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row["text"] for row in rows], [row["label"] for row in rows]


def draw(texts: Sequence[str], labels: Sequence[str], per_class: int | None, seed: int) -> Any:
    """Return a TrainingSet of `per_class` examples of every label (all it has if fewer; every row when None), drawn with `seed`."""
    from shouldtune.strategies.base import TrainingSet

    label_set = tuple(sorted(set(labels)))
    if per_class is None:
        chosen = list(range(len(texts)))
    else:
        rng = random.Random(f"trec-{seed}")
        pools = [[j for j, y in enumerate(labels) if y == label] for label in label_set]
        chosen = [i for pool in pools for i in rng.sample(pool, min(per_class, len(pool)))]
    return TrainingSet(tuple(texts[i] for i in chosen), tuple(labels[i] for i in chosen), label_set)


def fit_and_score(settings: dict[str, Any], train: Any, test: tuple[list[str], list[str]], encoder: Any, seed: int) -> dict[str, Any]:
    """Return one fit's macro-F1 (with interval), steps, fit seconds and what it describes."""
    from shouldtune.analysis.metrics import trial_estimates
    from shouldtune.strategies.base import StrategyContext
    from shouldtune.strategies.registry import build

    strategy = build("full", StrategyContext(encoder=encoder, seed=seed), settings)
    start = time.perf_counter()
    strategy.fit(train)
    seconds = time.perf_counter() - start
    estimate = trial_estimates(test[1], strategy.predict(test[0]), train.label_set, seed=seed)["macro_f1"]
    described = strategy.describe()
    return {"macro_f1": estimate.mean, "low": estimate.ci_low, "high": estimate.ci_high, "fit_seconds": seconds, **described}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=DATA / "train.jsonl")
    parser.add_argument("--test", type=Path, default=DATA / "test.jsonl")
    parser.add_argument("--sizes", default="8,32,64,200", help="Examples per class, comma-separated; `all` for every row.")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--patience", type=int, default=1)
    parser.add_argument("--first", choices=("fixed", "early stopping"), default="fixed", help="Which way fits first at each size and seed.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fair beside other work on a shared machine).")
    parser.add_argument("--out", type=Path, default=None, help="Write every fit's numbers as JSON here.")
    args = parser.parse_args(argv)

    import torch

    from shouldtune.backends.encoder import SentenceEncoder

    torch.set_num_threads(args.threads)
    texts, labels = read(args.train)
    test = read(args.test)
    encoder = SentenceEncoder()
    ways = {
        "fixed": {"early_stopping_per_class": 10**9},
        "early stopping": {"early_stopping_per_class": 1, "patience": args.patience},
    }
    if args.first == "early stopping":
        ways = dict(reversed(ways.items()))
    # One untimed fit first: the process's first fit pays for loading and warming torch.
    fit_and_score(ways["fixed"], draw(texts, labels, 2, seed=0), (test[0][:10], test[1][:10]), encoder, seed=0)
    results: list[dict[str, Any]] = []
    print(f"{'size':>5} {'seed':>4}  {'way':<15} {'macro-F1 (95% CI)':<22} {'steps':>5} {'epochs':>6} {'best':>4} "
          f"{'held':>4} {'fit s':>6}  held-back losses", flush=True)
    for size in args.sizes.split(","):
        per_class = None if size == "all" else int(size)
        for seed in (int(s) for s in args.seeds.split(",")):
            train = draw(texts, labels, per_class, seed)
            for way, settings in ways.items():
                row = {"size": size, "seed": seed, "way": way, **fit_and_score(settings, train, test, encoder, seed)}
                results.append(row)
                score = f"{row['macro_f1']:.3f} ({row['low']:.3f}-{row['high']:.3f})"
                print(f"{size:>5} {seed:>4}  {way:<15} {score:<22} {row['steps']:>5} {row['epochs_run']:>6} "
                      f"{row['best_epoch'] or '-':>4} {row['held_back_examples']:>4} {row['fit_seconds']:>6.1f}  "
                      f"{' '.join(f'{loss:.3f}' for loss in row['held_back_losses'])}", flush=True)
            fixed = next(r for r in results if r["size"] == size and r["seed"] == seed and r["way"] == "fixed")
            for row in results[-len(ways):]:
                row["ratio"] = row["fit_seconds"] / fixed["fit_seconds"]
    print("\nmean over seeds:")
    for size in args.sizes.split(","):
        for way in ways:
            rows = [r for r in results if r["size"] == size and r["way"] == way]
            mean = sum(r["macro_f1"] for r in rows) / len(rows)
            print(f"{size:>5}  {way:<15} macro-F1 {mean:.3f}  steps {sum(r['steps'] for r in rows) / len(rows):6.1f}  "
                  f"fit-time ratio {sum(r['ratio'] for r in rows) / len(rows):.2f}  ({len(rows)} seeds)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
