"""setfit fits on two cores: one process with two threads, or two processes with one thread each.

Run (on an idle machine; see docs/benchmarks.md for what it printed):
    .venv/bin/python benchmarks/setfit_threads.py [--dataset sst2] [--sizes 6,25] [--fits 4]

A cross-validated run fits setfit once per fold, one fold after another, each fit with every
core (torch's threads). With a batch of at most 32 short texts a step, the matrices are small
and two threads may not halve a step; two fits side by side, a thread each, might do more
work in the same time. For each size (examples per class: 6 is a fold of an 8-per-class
budget, 25 one of a 32-per-class budget) the same `--fits` fits (the folds' training sets:
the same examples, other seeds) run both ways, each way in fresh processes that load the
encoder and make one untimed fit first:
- sequential: one process, `torch.set_num_threads(2)`, the fits one after another;
- side by side: two processes at once, one thread each, half of the fits each.
It prints each way's wall time for all the fits (side by side: until the slower process
ends), their ratio, and each fit's macro-F1 on a stratified slice of the large test set, to
show the thread count leaves the model alone.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decision_quality import load_dataset  # noqa: E402  (this folder's datasets)
from setfit_distinct_texts import DATA, draw  # noqa: E402


def fits(threads: int, jobs: list[tuple[int, int]], args: dict[str, Any], out: Any) -> None:
    """Fit setfit on each (size, seed) of `jobs` with `threads` threads; send (seconds, scores) to `out`."""
    import torch

    torch.set_num_threads(threads)
    from shouldtune.analysis.metrics import trial_estimates
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    data = load_dataset(args["dataset"], Path(args["data_root"]), args["max_test"])
    texts, labels = list(data.pool.texts), list(data.pool.labels)
    encoder = CachedEncoder(SentenceEncoder())

    def train(size: int, seed: str) -> TrainingSet:
        chosen, label_set = draw(texts, labels, size, seed=seed)
        return TrainingSet(tuple(texts[i] for i in chosen), tuple(labels[i] for i in chosen), label_set)

    build("setfit", StrategyContext(encoder=encoder, seed=0), {"max_steps": 5, "min_steps": 5}).fit(train(2, "warm"))
    start = time.perf_counter()
    scores = []
    for size, seed in jobs:
        strategy = build("setfit", StrategyContext(encoder=encoder, seed=seed), None).fit(train(size, f"fold-{size}-{seed}"))
        predicted = strategy.predict(list(data.test.texts))
        scores.append((size, seed, trial_estimates(list(data.test.labels), predicted, strategy.label_set_, seed=0)["macro_f1"].mean))
    out.put((time.perf_counter() - start, scores))


def way(processes: int, threads: int, jobs: list[tuple[int, int]], args: dict[str, Any]) -> tuple[float, list[Any]]:
    """Run `jobs` split over `processes` processes of `threads` threads at once; return the slowest's
    seconds and every fit's score."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    shares = [jobs[i::processes] for i in range(processes)]
    children = [context.Process(target=fits, args=(threads, share, args, out)) for share in shares]
    for child in children:
        child.start()
    results = [out.get() for _ in children]
    for child in children:
        child.join()
    return max(seconds for seconds, _ in results), sorted(score for _, scores in results for score in scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--sizes", default="6,25", help="Examples per class, comma-separated.")
    parser.add_argument("--fits", type=int, default=4, help="Fits per size (the folds of one trial).")
    parser.add_argument("--max-test", type=int, default=500)
    parser.add_argument("--data-root", type=Path, default=DATA)
    args = parser.parse_args()
    settings = {"dataset": args.dataset, "data_root": str(args.data_root), "max_test": args.max_test}
    for size in (int(s) for s in args.sizes.split(",")):
        jobs = [(size, seed) for seed in range(args.fits)]
        sequential, scores_one = way(1, 2, jobs, settings)
        side, scores_two = way(2, 1, jobs, settings)
        print(f"{args.dataset} {size} per class, {args.fits} fits: one process of 2 threads {sequential:.1f} s; "
              f"2 processes of 1 thread {side:.1f} s; ratio {side / sequential:.2f}", flush=True)
        for (_, seed, one), (_, _, two) in zip(scores_one, scores_two):
            print(f"  seed {seed}: macro-F1 {one:.3f} (2 threads) {two:.3f} (1 thread)", flush=True)


if __name__ == "__main__":
    main()
