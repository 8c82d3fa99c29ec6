"""full on small budgets: where its head starts, and its floor of steps.

Run (see docs/benchmarks.md, "full's start: the probe's head and a floor of 25 steps"):
    .venv/bin/python benchmarks/full_start.py --dataset sst2 --per-class 7 --draws 10,11,12

`full` fine-tunes every encoder weight and a linear head. By default its head starts as torch
draws it, and it trains 4 epochs: on 14 examples, 4 steps. Each row fits, on one draw of a budget
(drawn as benchmarks/decision_quality.py draws them; draws 10 and up are not the benchmark's),
seed 0, and scores on the large test set:

- linear-probe and setfit, for reference;
- full as it is by default: a random head, 4 epochs (`head_init=random, min_steps=0`);
- the head started from linear-probe's logistic regression, 4 epochs (`head_init=linear-probe`);
- that start and at least 25 steps (`min_steps=25`), and at least 50.

Printed per draw: each one's macro-F1, fit seconds and optimiser steps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decision_quality import budget_arguments, draw_budget, fit_and_score, load_dataset  # noqa: E402

VARIANTS = (
    ("linear-probe", "linear-probe", {}),
    ("setfit", "setfit", {}),
    ("full, random head, 4 epochs", "full", {"head_init": "random", "min_steps": 0}),
    ("full, probe's head, 4 epochs", "full", {"head_init": "linear-probe", "min_steps": 0}),
    ("full, probe's head, >= 25 steps", "full", {"head_init": "linear-probe", "min_steps": 25}),
    ("full, probe's head, >= 50 steps", "full", {"head_init": "linear-probe", "min_steps": 50}),
)


def main() -> None:
    parser = budget_arguments(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter), "10,11,12"
    )
    args = parser.parse_args()

    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder

    data = load_dataset(args.dataset, args.data_root, args.max_test)
    encoder = CachedEncoder(SentenceEncoder())
    for draw in (int(d) for d in args.draws.split(",")):
        budget = draw_budget(data, args.per_class, draw)
        print(f"{args.dataset}, {args.per_class} per class, draw {draw}:", flush=True)
        for title, name, params in VARIANTS:
            macro_f1, seconds, strategy = fit_and_score(name, params, budget, data, encoder)
            steps = len(getattr(strategy, "losses_", ())) or "-"
            print(f"  {title:<33} {macro_f1:.3f}  {seconds:5.1f} s  {steps} steps", flush=True)


if __name__ == "__main__":
    main()
