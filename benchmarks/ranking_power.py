"""How often can examples as few as a budget's rank two strategies as a large test set does?

Run (see docs/benchmarks.md, "What a budget can tell apart"):
    .venv/bin/python benchmarks/ranking_power.py --dataset sst2 --per-class 8 --draw 0 --strategies setfit,full,linear-probe

A user's budget (`--per-class` examples of each label, drawn as benchmarks/decision_quality.py
draws them) trains each strategy as `shouldtune export` would hand it over (seed 0, every
example of the budget), and each model answers the large test set; with `--seeds N` each is
also refitted with seeds 1 to N-1 and every seed's large-set score printed, to show whether the
ranking is the luck of one seed (the samples below read seed 0's answers). Then samples of the
large test set are drawn, each with the budget's count of every label (as its
cross-validation scores them) and then 4 and 16 times as many, and each sample scores the first
strategy against each other one with the decision metric (macro-F1). Printed: each strategy's
large-set score, and per pair and sample size the share of samples that rank the two as the
large set does, tie them, or rank them the other way round.

This is an upper bound on what any decision read from the budget can do: the sample scores
the very models handed over, where cross-validation scores other models, each trained on part
of the budget. Where a budget-sized sample ranks two strategies right little more often than a
coin, no rule that reads the measurement can pick between them reliably.
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
    parser.add_argument("--per-class", type=int, default=8, help="The budget: labelled examples per class.")
    parser.add_argument("--draw", type=int, default=0, help="Which draw of the budget (as decision_quality.py's).")
    parser.add_argument("--strategies", default="setfit,full,linear-probe",
                        help="Comma-separated; the first is ranked against each other one.")
    parser.add_argument("--samples", type=int, default=2000, help="Samples of the large test set per size.")
    parser.add_argument("--seeds", type=int, default=1, help="Fit each strategy with seeds 0..N-1 and print each's score.")
    parser.add_argument("--max-test", type=int, default=1000)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args()

    from shouldtune.analysis.metrics import scores
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    data = load_dataset(args.dataset, args.data_root, args.max_test)
    budget = draw_budget(data, args.per_class, args.draw)
    train = TrainingSet(budget.texts, budget.labels, tuple(sorted(set(budget.labels))))
    encoder = CachedEncoder(SentenceEncoder())
    gold = list(data.test.labels)
    names = [name.strip() for name in args.strategies.split(",") if name.strip()]
    predicted, large = {}, {}
    for name in names:
        by_seed = []
        for seed in range(max(args.seeds, 1)):
            answers = build(name, StrategyContext(encoder=encoder, seed=seed), None).fit(train).predict(list(data.test.texts))
            by_seed.append(scores(gold, answers, data.label_set)["macro_f1"])
            if seed == 0:
                predicted[name], large[name] = answers, by_seed[0]
        seeds = f" (seeds 0-{len(by_seed) - 1}: {', '.join(f'{s:.3f}' for s in by_seed)})" if len(by_seed) > 1 else ""
        print(f"{name}: macro-F1 {large[name]:.3f} on the large set ({len(gold)} examples){seeds}", flush=True)

    rows_of = {label: [i for i, g in enumerate(gold) if g == label] for label in data.label_set}
    counts = {label: budget.labels.count(label) for label in data.label_set}
    first = names[0]
    for times in (1, 4, 16):
        per_label = {label: min(count * times, len(rows_of[label])) for label, count in counts.items()}
        rng = np.random.default_rng(0)
        for other in names[1:]:
            right = tied = 0
            for _ in range(args.samples):
                rows = [i for label in data.label_set for i in rng.choice(rows_of[label], per_label[label], replace=False)]
                sample_gold = [gold[i] for i in rows]
                mine = scores(sample_gold, [predicted[first][i] for i in rows], data.label_set)["macro_f1"]
                theirs = scores(sample_gold, [predicted[other][i] for i in rows], data.label_set)["macro_f1"]
                tied += mine == theirs
                right += (mine > theirs) == (large[first] > large[other]) and mine != theirs
            wrong = args.samples - right - tied
            print(
                f"{args.dataset} {args.per_class} per class, draw {args.draw}, samples of {sum(per_label.values())}: "
                f"{first} against {other} ({large[first] - large[other]:+.3f} on the large set) ranked as the large set "
                f"ranks them {right / args.samples:.0%}, tied {tied / args.samples:.0%}, the other way {wrong / args.samples:.0%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
