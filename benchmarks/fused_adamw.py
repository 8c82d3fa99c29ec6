"""`full`'s optimiser: AdamW as a loop over the weights, against fused (one pass over all of them).

Run (on an idle machine; see docs/benchmarks.md for what it printed):
    .venv/bin/python benchmarks/fused_adamw.py [--datasets sst2,trec] [--sizes 6,25] [--seeds 0,1]

For each dataset, training size (examples per class: 6 is a cross-validation fold of an
8-per-class budget, 25 one of a 32-per-class budget) and seed, in one process, `full` fits
twice on the same examples with the same settings (the product's defaults):
- loop: torch's AdamW as it runs by default on a CPU, a few small operations per weight tensor;
- fused: AdamW fused, as the product trains (`full.FUSED_ADAMW_DEVICES`) and as setfit's
  trainer (transformers' default optimiser) does.
The update is the same up to floating-point rounding. Each fit is scored on the dataset's large
test set as decision_quality.py builds it (macro-F1 with its 95% bootstrap interval), with its
fit seconds and their ratio (a clock ratio within one process, so a busy machine slows both).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

# This folder's comparison loop (the script's folder is on sys.path).
from setfit_distinct_texts import add_comparison_arguments, compare, timed_fit_and_score

WAYS = ("loop", "fused")


def fit_and_score(way: str, train: Any, test: tuple[list[str], list[str]], encoder: Any, seed: int) -> dict[str, Any]:
    """Return one fit of `full`'s macro-F1 (with interval) and fit seconds, its optimiser run `way`."""
    import shouldtune.strategies.finetune.full as full

    ours = full.FUSED_ADAMW_DEVICES
    full.FUSED_ADAMW_DEVICES = frozenset() if way == "loop" else ours
    try:
        return timed_fit_and_score("full", train, test, encoder, seed)
    finally:
        full.FUSED_ADAMW_DEVICES = ours


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_comparison_arguments(parser)
    compare(parser.parse_args(argv), WAYS, "optimiser", fit_and_score)


if __name__ == "__main__":
    sys.exit(main())
