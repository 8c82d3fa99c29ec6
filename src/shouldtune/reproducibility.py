"""The fields of results.json that may differ between two runs of the same command, and the rest.

Everything in results.json follows from the task, the data's bytes, the model and the seeds
(every random choice is seeded: splits, subsets, prompt search, training, bootstrap), except
what is measured by the clock on the machine that ran (times, and the costs, latencies and
choices computed from them) and what depends on the store's contents (trials reused, texts
found in the embedding cache). results.json holds no timestamps; the store keeps those.
docs/results-schema.md lists the same fields.
"""

from __future__ import annotations

import copy
from typing import Any

#: Paths of the fields that vary; `[]` means every item of a list.
VARYING: tuple[str, ...] = (
    "trials[].fit_seconds",
    "trials[].predict_seconds",
    "trials[].examples_per_second",
    "trials[].latency_ms",
    "analysis.timings",
    "recommendation.summary",  # quotes costs
    "recommendation.reasons",  # cost, latency and iteration-speed sentences
    "recommendation.criteria",  # their numbers
    "recommendation.costs",  # money from measured times
    "reused_trials",
    "embedding",
)
#: Varies only when the decision is "either": then the cheaper strategy, by measured cost, is
#: named (unless the costs are within the timing noise).
VARYING_WHEN_EITHER = "recommendation.strategy"


def comparable(results: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a results document without the fields that vary between identical runs."""
    stable = copy.deepcopy(results)
    paths = list(VARYING)
    if stable.get("recommendation", {}).get("choice") == "either":
        paths.append(VARYING_WHEN_EITHER)
    for path in paths:
        _drop(stable, path.split("."))
    return stable


def _drop(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(node, dict) or key not in node:
        return
    if not rest:
        del node[key]
        return
    for child in node[key] if many else [node[key]]:
        _drop(child, rest)
