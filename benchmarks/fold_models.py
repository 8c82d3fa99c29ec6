"""Cross-validation on a small budget: what the folds' models score on the large set.

Run (see docs/benchmarks.md, "What the folds' models score on the large set"):
    .venv/bin/python benchmarks/fold_models.py --dataset sst2 --per-class 8 --draws 0,1,2

A cross-validated run scores every example of the budget once, by a model fitted on the other
folds, and puts the folds' predictions together (the pooled score). The strategy handed over is
fitted again on the whole budget (the export). On one draw of a budget (drawn as
benchmarks/decision_quality.py draws them, so draws 0-2 are its cases), seed 0, the folds and
training subsets of `shouldtune run` at the largest size, each strategy prints:

- pooled: its cross-validated score on the budget, as the run measures it;
- folds on the large set: each fold's model scored on the large test set, their mean and range;
- export on the large set: the strategy fitted on the whole budget, scored there.

Pooled against the folds' mean separates what the budget's examples say from what the models
are: where the two differ alike for every strategy, the budget differs from the large set
(its examples, or its label frequencies); where one strategy's pooled score runs ahead of its
own models' and another's does not, the ranking the run sees is the examples' luck. The
folds' mean against the export is what fitting again on the whole budget changes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decision_quality import LabelledTexts, budget_arguments, draw_budget, fit_and_score, load_dataset  # noqa: E402

STRATEGIES = "linear-probe,full"


def fold_scores(
    name: str, budget: LabelledTexts, test: LabelledTexts, label_set: tuple[str, ...], encoder: Any
) -> dict[str, Any]:
    """Return `name`'s pooled cross-validated macro-F1 on `budget` (as `shouldtune run` scores it at its
    largest size, seed 0, its default folds) and each fold model's macro-F1 on `test`."""
    from shouldtune.analysis.metrics import scores
    from shouldtune.data.load import Examples
    from shouldtune.data.splits import DEFAULT_FOLDS, cross_validation, largest_size
    from shouldtune.planning import training_set
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    examples = Examples(budget.texts, budget.labels, "budget", tuple(range(1, len(budget) + 1)))
    split = cross_validation(examples, DEFAULT_FOLDS, seed=0)
    size = largest_size([split], label_set)
    pooled = [""] * len(split.test)
    on_large: list[float] = []
    for fold in split.folds_at(size):
        subset = training_set(fold.pool, label_set, "finetune", size, 0)
        strategy = build(name, StrategyContext(encoder=encoder, seed=0), {}).fit(TrainingSet(subset.texts, subset.labels, label_set))
        for position, label in zip(fold.test_positions, strategy.predict([split.test.texts[i] for i in fold.test_positions])):
            pooled[position] = label
        on_large.append(scores(test.labels, strategy.predict(list(test.texts)), label_set)["macro_f1"])
    return {"pooled": scores(split.gold, pooled, label_set)["macro_f1"], "folds": on_large}


def main() -> None:
    parser = budget_arguments(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter), "0,1,2"
    )
    parser.set_defaults(per_class=8)
    parser.add_argument("--strategies", default=STRATEGIES, help="Comma-separated strategies that learn from the labels (their default settings).")
    args = parser.parse_args()

    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder

    data = load_dataset(args.dataset, args.data_root, args.max_test)
    encoder = CachedEncoder(SentenceEncoder())
    print(f"{'':<13} {'pooled':>7}  {'folds on the large set':<30} {'export':>7}  pooled - folds  seconds")
    for draw in (int(d) for d in args.draws.split(",")):
        budget = draw_budget(data, args.per_class, draw)
        print(
            f"{args.dataset}, {args.per_class} per class, draw {draw} ({len(budget)} examples, {len(data.test)} in the large set):",
            flush=True,
        )
        for name in args.strategies.split(","):
            start = time.perf_counter()
            measured = fold_scores(name, budget, data.test, data.label_set, encoder)
            export, _, _ = fit_and_score(name, {}, budget, data, encoder)
            folds = np.array(measured["folds"])
            spread = f"{folds.mean():.3f} ({folds.min():.3f}-{folds.max():.3f}, {len(folds)} folds)"
            print(
                f"  {name:<13} {measured['pooled']:.3f}  {spread:<30} {export:.3f}  {measured['pooled'] - folds.mean():+.3f}"
                f"         {time.perf_counter() - start:5.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
