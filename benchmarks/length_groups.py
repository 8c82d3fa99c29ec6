"""A fine-tune's batches through the encoder padded as one call, against in groups of like length.

Run (on an idle machine; see docs/benchmarks.md for what it printed):
    .venv/bin/python benchmarks/length_groups.py [--strategy full] [--datasets sst2,trec] [--sizes 6,25]
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
import functools
import sys
from collections.abc import Sequence
from typing import Any

# This folder's comparison loop (the script's folder is on sys.path).
from setfit_distinct_texts import add_comparison_arguments, compare, timed_fit_and_score

WAYS = ("one call", "grouped")


def fit_and_score(strategy_name: str, way: str, train: Any, test: tuple[list[str], list[str]], encoder: Any, seed: int) -> dict[str, Any]:
    """Return one fit's macro-F1 (with interval) and fit seconds, its batches through the encoder `way`."""
    import shouldtune.strategies.finetune.length_groups as length_groups

    ours = length_groups.GROUP_OVERHEAD_TOKENS
    length_groups.GROUP_OVERHEAD_TOKENS = 10**9 if way == "one call" else ours
    try:
        return timed_fit_and_score(strategy_name, train, test, encoder, seed)
    finally:
        length_groups.GROUP_OVERHEAD_TOKENS = ours


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="full", help="A fine-tune that trains the encoder: full or setfit.")
    add_comparison_arguments(parser)
    args = parser.parse_args(argv)
    print(args.strategy)
    compare(args, WAYS, "batches", functools.partial(fit_and_score, args.strategy))


if __name__ == "__main__":
    sys.exit(main())
