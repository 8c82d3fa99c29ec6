"""The demo's wall time, texts embedded against distinct texts, and peak memory.

Run: .venv/bin/python benchmarks/demo_benchmark.py
It runs the bundled demo in a fresh temporary store (so nothing is reused), then prints:
- wall seconds of the whole comparison;
- texts the strategies asked the frozen encoder for, against texts it really embedded, against
  distinct texts in the run: the naive way (no cache) embeds every request;
- the process's peak resident memory.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    from shouldtune.demo import demo_task
    from shouldtune.experiment import load_data, run_experiment

    task = demo_task()
    train, test, _ = load_data(task)
    distinct = len(set(train.texts) | set(test.texts))
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        result = run_experiment(task, store_path=Path(scratch) / "store.db")
        wall = time.perf_counter() - start
    requested = result.embedding["texts_requested"]
    embedded = result.embedding["texts_embedded"]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fit = sum(t["fit_seconds"] for t in result.trials)
    print(f"demo wall time            {wall:8.1f} s   ({len(result.trials)} trials; fit seconds summed {fit:.1f})")
    print(f"texts requested (naive)   {requested:8d}      every request embedded without a cache")
    print(f"texts embedded            {embedded:8d}      {requested / max(embedded, 1):.1f}x fewer than naive")
    print(f"distinct texts in data    {distinct:8d}      embedded / distinct = {embedded / distinct:.2f}")
    print(f"peak resident memory      {peak_mib:8.0f} MiB")
    print(f"decision                  {result.recommendation.choice}: {result.recommendation.summary}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
