"""setfit with the library's pair loss against the product's, which embeds each distinct text once, by length.

Run (on an idle machine; see docs/benchmarks.md for what it printed):
    .venv/bin/python benchmarks/setfit_distinct_texts.py [--datasets sst2,trec] [--sizes 6,25] [--seeds 0,1]
        [--losses library,distinct]

For each dataset, training size (examples per class: 6 is a cross-validation fold of an
8-per-class budget, 25 one of a 32-per-class budget) and seed, in one process, the losses
take turns on the same examples with the same settings (the product's defaults: 100 steps of
16 pairs):
- library: SetFit's CosineSimilarityLoss, every text of a pair through the encoder, each
  batch padded to its longest text;
- distinct: `DistinctTextsCosineSimilarityLoss` in one group, each distinct text of a batch
  once, padded to the longest of them;
- grouped: the same loss as the product runs it, the distinct texts through the encoder in
  groups of like length, each padded to its own longest.
Each is scored on a stratified slice of the dataset's large test set (macro-F1 with its 95%
bootstrap interval), with its fit seconds and their ratio to the first loss named (a clock
ratio within one process, so a busy machine slows both). The scores differ only by dropout
sampling. sms_spam's test set is carved out of its one file as decision_quality.py does.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from decision_quality import load_dataset  # this folder's datasets (the script's folder is on sys.path)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def draw(texts: Sequence[str], labels: Sequence[str], per_class: int, seed: str) -> tuple[list[int], tuple[str, ...]]:
    """Return the indices of `per_class` examples of every label (all it has if fewer), drawn with `seed`."""
    label_set = tuple(sorted(set(labels)))
    rng = random.Random(seed)
    pools = [[j for j, y in enumerate(labels) if y == label] for label in label_set]
    return [i for pool in pools for i in rng.sample(pool, min(per_class, len(pool)))], label_set


def fit_and_score(loss: str, train: Any, test: tuple[list[str], list[str]], encoder: Any, seed: int) -> dict[str, Any]:
    """Return one setfit fit's macro-F1 (with interval) and fit seconds, trained with `loss`."""
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    import shouldtune.strategies.finetune.distinct_texts as distinct_texts
    import shouldtune.strategies.finetune.length_groups as length_groups

    ours, overhead = distinct_texts.DistinctTextsCosineSimilarityLoss, length_groups.GROUP_OVERHEAD_TOKENS
    # The strategy imports the loss from this module when it fits: another stands in for it. For
    # "distinct" a group costs more than any padding it could save: the distinct texts in one call.
    distinct_texts.DistinctTextsCosineSimilarityLoss, length_groups.GROUP_OVERHEAD_TOKENS = {
        "library": (CosineSimilarityLoss, overhead), "distinct": (ours, 10**9), "grouped": (ours, overhead),
    }[loss]
    try:
        return timed_fit_and_score("setfit", train, test, encoder, seed)
    finally:
        distinct_texts.DistinctTextsCosineSimilarityLoss, length_groups.GROUP_OVERHEAD_TOKENS = ours, overhead


def timed_fit_and_score(name: str, train: Any, test: tuple[list[str], list[str]], encoder: Any, seed: int) -> dict[str, Any]:
    """Return strategy `name`'s macro-F1 on `test` (with its 95% interval) and fit seconds, fitted on `train`."""
    from shouldtune.analysis.metrics import trial_estimates
    from shouldtune.strategies.base import StrategyContext
    from shouldtune.strategies.registry import build

    strategy = build(name, StrategyContext(encoder=encoder, seed=seed), None)
    start = time.perf_counter()
    strategy.fit(train)
    seconds = time.perf_counter() - start
    estimate = trial_estimates(test[1], strategy.predict(test[0]), train.label_set, seed=seed)["macro_f1"]
    return {"macro_f1": estimate.mean, "low": estimate.ci_low, "high": estimate.ci_high, "fit_seconds": seconds}


def add_comparison_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of a comparison of training ways (`compare`): the data, sizes, seeds and output."""
    parser.add_argument("--datasets", default="sst2,trec")
    parser.add_argument("--sizes", default="6,25", help="Examples per class, comma-separated.")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--max-test", type=int, default=500, help="A stratified slice of the test set, for speed.")
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=None, help="Write every fit's numbers as JSON here.")


def compare(args: argparse.Namespace, ways: Sequence[str], column: str, fit_and_score: Callable[..., dict[str, Any]]) -> None:
    """Fit each of `ways` in turn on the same examples for every dataset, size and seed; print every fit with its
    time ratio to the first way, then the means over seeds; write every fit to `args.out` when given.

    `fit_and_score(way, train, test, encoder, seed)` returns a fit's macro_f1, low, high and fit_seconds.
    """
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import TrainingSet

    encoder = CachedEncoder(SentenceEncoder())
    results: list[dict[str, Any]] = []
    print(f"{'dataset':<9} {'size':>4} {'seed':>4}  {column:<9} {'macro-F1 (95% CI)':<22} {'fit s':>6} {'ratio':>6}", flush=True)
    for dataset in args.datasets.split(","):
        data = load_dataset(dataset, args.data_root, args.max_test)
        texts, labels = list(data.pool.texts), list(data.pool.labels)
        test = (list(data.test.texts), list(data.test.labels))
        # One untimed fit first: the process's first fit pays for loading and warming torch.
        warm, label_set = draw(texts, labels, 2, seed="warm")
        fit_and_score(ways[-1], TrainingSet(tuple(texts[i] for i in warm), tuple(labels[i] for i in warm), label_set),
                      (test[0][:8], test[1][:8]), encoder, 0)
        for size in (int(s) for s in args.sizes.split(",")):
            for seed in (int(s) for s in args.seeds.split(",")):
                chosen, label_set = draw(texts, labels, size, seed=f"{dataset}-{size}-{seed}")
                train = TrainingSet(tuple(texts[i] for i in chosen), tuple(labels[i] for i in chosen), label_set)
                row_of = {"dataset": dataset, "size": size, "seed": seed}
                pair = [{**row_of, column: way, **fit_and_score(way, train, test, encoder, seed)} for way in ways]
                for row in pair:
                    row["ratio"] = row["fit_seconds"] / pair[0]["fit_seconds"]
                    score = f"{row['macro_f1']:.3f} ({row['low']:.3f}-{row['high']:.3f})"
                    print(f"{dataset:<9} {size:>4} {seed:>4}  {row[column]:<9} {score:<22} {row['fit_seconds']:>6.1f} {row['ratio']:>6.2f}", flush=True)
                results.extend(pair)
    print("\nmean over seeds:")
    for dataset in args.datasets.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            for way in ways:
                rows = [r for r in results if r["dataset"] == dataset and r["size"] == size and r[column] == way]
                print(f"{dataset:<9} {size:>4}  {way:<9} macro-F1 {sum(r['macro_f1'] for r in rows) / len(rows):.3f}  "
                      f"fit {sum(r['fit_seconds'] for r in rows) / len(rows):6.1f} s  ratio {sum(r['ratio'] for r in rows) / len(rows):.2f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_comparison_arguments(parser)
    parser.add_argument("--losses", default="library,distinct", help="Of library, distinct, grouped; ratios are to the first.")
    args = parser.parse_args(argv)
    compare(args, args.losses.split(","), "loss", fit_and_score)


if __name__ == "__main__":
    sys.exit(main())
