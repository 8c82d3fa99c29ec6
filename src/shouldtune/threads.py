"""How many threads torch computes with: the cores this process may use, never more.

torch's default follows the machine's cores, not those this process is allowed (a CPU set,
a `taskset`, a container), so on shared cores its threads contend and a fit runs several
times slower than a fair share would. Nothing here runs at import: a run calls
`use_available_cores` once, at its start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def available_cores() -> int:
    """Return the number of cores this process may run on (its CPU affinity, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def torch_threads(environ: Mapping[str, str] | None = None, workers: int = 1) -> int:
    """Return the thread count for each of `workers` processes sharing this process's cores.

    `OMP_NUM_THREADS`, when the user set it to a positive number, is kept, but never above the
    cores available: more threads than cores only wait on each other.
    """
    environ = os.environ if environ is None else environ
    cores = max(1, available_cores() // max(1, workers))
    given = environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return min(int(given), cores)
    return cores


def use_available_cores(workers: int = 1) -> int:
    """Set torch's intra-op thread count to `torch_threads(workers=workers)`; return it."""
    import torch

    threads = torch_threads(workers=workers)
    torch.set_num_threads(threads)
    return threads
