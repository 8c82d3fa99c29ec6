"""How much does a cross-validated score depend on which examples share a fold?

Run (see docs/benchmarks.md, "What a budget can tell apart"):
    .venv/bin/python benchmarks/cv_partitions.py --dataset sst2 --per-class 32 --draw 2 --strategies few-shot-knn,linear-probe

A user's budget (`--per-class` examples of each label, drawn as benchmarks/decision_quality.py
draws them) is cross-validated `--partitions` times with 5 stratified folds, each time the
examples dealt into the folds another way (scikit-learn's StratifiedKFold, shuffled with
seeds 0, 1, ...). Each strategy's macro-F1 over the whole budget, every example scored by a
model that never saw it, is printed per partition: its mean, smallest and largest. The
strategies are ones that train nothing through the encoder (a fit takes milliseconds), so
many partitions cost seconds; a default run cross-validates one partition (more with
`--exhaustive`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decision_quality import DATA_ROOT, draw_budget, load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--per-class", type=int, default=32, help="The budget: labelled examples per class.")
    parser.add_argument("--draw", type=int, default=2, help="Which draw of the budget (as decision_quality.py's).")
    parser.add_argument("--strategies", default="few-shot-knn,linear-probe", help="Comma-separated.")
    parser.add_argument("--partitions", type=int, default=10)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args()

    from sklearn.model_selection import StratifiedKFold

    from shouldtune.analysis.metrics import scores
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    budget = draw_budget(load_dataset(args.dataset, args.data_root, None), args.per_class, args.draw)
    texts, labels = np.array(budget.texts, dtype=object), np.array(budget.labels)
    label_set = tuple(sorted(set(budget.labels)))
    encoder = CachedEncoder(SentenceEncoder())
    for name in (s.strip() for s in args.strategies.split(",") if s.strip()):
        found = []
        for partition in range(args.partitions):
            predicted = np.empty(len(texts), dtype=object)
            for train, test in StratifiedKFold(5, shuffle=True, random_state=partition).split(texts, labels):
                strategy = build(name, StrategyContext(encoder=encoder, seed=0), None)
                strategy.fit(TrainingSet(tuple(texts[train]), tuple(labels[train]), label_set))
                predicted[test] = strategy.predict(list(texts[test]))
            found.append(scores(list(labels), list(predicted), label_set)["macro_f1"])
        print(
            f"{args.dataset} {args.per_class} per class, draw {args.draw}, {name}: 5-fold macro-F1 over "
            f"{args.partitions} partitions: mean {np.mean(found):.3f}, smallest {min(found):.3f}, largest {max(found):.3f} "
            f"({', '.join(f'{f:.3f}' for f in found)})",
            flush=True,
        )


if __name__ == "__main__":
    main()
