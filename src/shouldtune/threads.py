"""How many threads torch computes with: the cores this process may use, never more.

torch's default follows the machine's cores, not those this process is allowed (a cpuset,
`taskset`), so on shared cores its threads contend and a fit runs several times slower than
a fair share would. (A container's CPU quota without a cpuset is not read here.) Nothing here runs at import: a run calls
`use_available_cores` once, at its start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CPU_TOPOLOGY = Path("/sys/devices/system/cpu")


def available_cores(topology: Path = CPU_TOPOLOGY) -> int:
    """Return the physical cores this process may run on: its CPU affinity, a core's hyperthreads counted once.

    Two threads on the two hyperthreads of one core mostly wait on each other in matrix
    products, which is why torch's own default is the physical cores (of the whole machine).
    """
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        folder = topology / f"cpu{cpu}" / "topology"
        try:
            cores.add(((folder / "physical_package_id").read_text().strip(), (folder / "core_id").read_text().strip()))
        except OSError:  # no topology to read: count each CPU as a core
            return max(1, len(cpus))
    return max(1, len(cores))


def torch_threads(cores: int, environ: Mapping[str, str] | None = None, workers: int = 1) -> int:
    """Return the thread count for each of `workers` processes sharing `cores` cores.

    `OMP_NUM_THREADS`, when the user set it to a positive number, is kept, but never above the
    cores available: more threads than cores only wait on each other.
    """
    environ = os.environ if environ is None else environ
    share = max(1, cores // max(1, workers))
    given = environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return min(int(given), share)
    return share


def use_available_cores(workers: int = 1) -> int:
    """Set torch's intra-op thread count to this process's share of its cores; return it."""
    import torch

    threads = torch_threads(available_cores(), workers=workers)
    torch.set_num_threads(threads)
    return threads
