"""setfit's training steps on tiny budgets: is the floor of 100 steps worth its time?

Run (see docs/benchmarks.md, "setfit's floor of 100 steps on tiny budgets"):
    .venv/bin/python benchmarks/setfit_steps.py --dataset sst2 --per-class 7 --draws 10,11,12,13 --steps 15,30,50,100

A fit on 7 examples of each of 2 labels would train 7 steps by the SetFit library's own budget
(its pairs over the batch size); the strategy trains at least `min_steps` = 100, each step
putting every distinct text of the budget through the encoder. For each draw of a budget
(drawn as benchmarks/decision_quality.py draws them; draws 10 and up are not the benchmark's),
setfit is fitted with exactly each step count (`min_steps` = `max_steps`), seed 0, and scored
on the large test set. Printed per draw: each step count's macro-F1 and fit seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decision_quality import budget_arguments, draw_budget, fit_and_score, load_dataset  # noqa: E402


def main() -> None:
    parser = budget_arguments(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter), "10,11,12,13"
    )
    parser.add_argument("--steps", default="15,30,50,100", help="Comma-separated step counts.")
    args = parser.parse_args()

    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder

    data = load_dataset(args.dataset, args.data_root, args.max_test)
    encoder = CachedEncoder(SentenceEncoder())
    for draw in (int(d) for d in args.draws.split(",")):
        budget = draw_budget(data, args.per_class, draw)
        row = []
        for steps in (int(s) for s in args.steps.split(",")):
            macro_f1, seconds, _ = fit_and_score("setfit", {"min_steps": steps, "max_steps": steps}, budget, data, encoder)
            row.append(f"{steps} steps {macro_f1:.3f} ({seconds:.0f} s)")
        print(f"{args.dataset} {args.per_class} per class, draw {draw}: " + "; ".join(row), flush=True)


if __name__ == "__main__":
    main()
