"""A fine-tune's batches through the encoder padded as one call, against in groups of like length.

Run (on an idle machine; see docs/benchmarks.md for what it printed):
    .venv/bin/python benchmarks/length_groups.py [--strategy full] [--datasets sst2,banking77] [--sizes 6,25]
        [--seeds 0,1]

For each dataset, training size (examples per class: 6 is a cross-validation fold of an
8-per-class budget, 25 one of a 32-per-class budget) and seed, in one process, the strategy
fits twice on the same examples with the same settings (the product's defaults):
- one call: every batch padded to its longest text, as the library pads
  (`length_groups.GROUP_OVERHEAD_TOKENS` set so high that a batch is never split);
- grouped: as the product trains, each batch in groups of like length.
Each is scored on the dataset's large test set as decision_quality.py builds it (macro-F1
with its 95% bootstrap interval), with its fit seconds and their ratio (a clock ratio within
one process, so a busy machine slows both). The scores differ only by dropout sampling.
setfit's loss is measured the same way by setfit_distinct_texts.py (`--losses distinct,grouped`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decision_quality import load_dataset  # this folder's datasets (the script's folder is on sys.path)
from setfit_distinct_texts import DATA, draw

WAYS = ("one call", "grouped")


def fit_and_score(strategy_name: str, way: str, train: Any, test: tuple[list[str], list[str]], encoder: Any, seed: int) -> dict[str, Any]:
    """Return one fit's macro-F1 (with interval) and fit seconds, its batches through the encoder `way`."""
    import shouldtune.strategies.finetune.length_groups as length_groups
    from shouldtune.analysis.metrics import trial_estimates
    from shouldtune.strategies.base import StrategyContext
    from shouldtune.strategies.registry import build

    ours = length_groups.GROUP_OVERHEAD_TOKENS
    length_groups.GROUP_OVERHEAD_TOKENS = 10**9 if way == "one call" else ours
    try:
        strategy = build(strategy_name, StrategyContext(encoder=encoder, seed=seed), None)
        start = time.perf_counter()
        strategy.fit(train)
        seconds = time.perf_counter() - start
    finally:
        length_groups.GROUP_OVERHEAD_TOKENS = ours
    estimate = trial_estimates(test[1], strategy.predict(test[0]), train.label_set, seed=seed)["macro_f1"]
    return {"macro_f1": estimate.mean, "low": estimate.ci_low, "high": estimate.ci_high, "fit_seconds": seconds}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="full", help="A fine-tune that trains the encoder: full or setfit.")
    parser.add_argument("--datasets", default="sst2,banking77")
    parser.add_argument("--sizes", default="6,25", help="Examples per class, comma-separated.")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--max-test", type=int, default=500, help="A stratified slice of the test set, for speed.")
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=None, help="Write every fit's numbers as JSON here.")
    args = parser.parse_args(argv)

    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import TrainingSet

    encoder = CachedEncoder(SentenceEncoder())
    results: list[dict[str, Any]] = []
    print(f"{args.strategy}\n{'dataset':<9} {'size':>4} {'seed':>4}  {'batches':<8} {'macro-F1 (95% CI)':<22} {'fit s':>6} {'ratio':>6}", flush=True)
    for dataset in args.datasets.split(","):
        data = load_dataset(dataset, args.data_root, args.max_test)
        texts, labels = list(data.pool.texts), list(data.pool.labels)
        test = (list(data.test.texts), list(data.test.labels))
        # One untimed fit first: the process's first fit pays for loading and warming torch.
        warm, label_set = draw(texts, labels, 2, seed="warm")
        fit_and_score(args.strategy, "grouped", TrainingSet(tuple(texts[i] for i in warm), tuple(labels[i] for i in warm), label_set),
                      (test[0][:8], test[1][:8]), encoder, 0)
        for size in (int(s) for s in args.sizes.split(",")):
            for seed in (int(s) for s in args.seeds.split(",")):
                chosen, label_set = draw(texts, labels, size, seed=f"{dataset}-{size}-{seed}")
                train = TrainingSet(tuple(texts[i] for i in chosen), tuple(labels[i] for i in chosen), label_set)
                pair = [{"dataset": dataset, "size": size, "seed": seed, "batches": way, **fit_and_score(args.strategy, way, train, test, encoder, seed)}
                        for way in WAYS]
                for row in pair:
                    row["ratio"] = row["fit_seconds"] / pair[0]["fit_seconds"]
                    score = f"{row['macro_f1']:.3f} ({row['low']:.3f}-{row['high']:.3f})"
                    print(f"{dataset:<9} {size:>4} {seed:>4}  {row['batches']:<8} {score:<22} {row['fit_seconds']:>6.1f} {row['ratio']:>6.2f}", flush=True)
                results.extend(pair)
    print("\nmean over seeds:")
    for dataset in args.datasets.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            for way in WAYS:
                rows = [r for r in results if r["dataset"] == dataset and r["size"] == size and r["batches"] == way]
                print(f"{dataset:<9} {size:>4}  {way:<8} macro-F1 {sum(r['macro_f1'] for r in rows) / len(rows):.3f}  "
                      f"fit {sum(r['fit_seconds'] for r in rows) / len(rows):6.1f} s  ratio {sum(r['ratio'] for r in rows) / len(rows):.2f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
