"""Where on the learning curve fine-tuning overtakes prompting, and stays ahead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shouldtune.analysis.significance import PairedComparison
from shouldtune.data.checks import listed


@dataclass(frozen=True)
class Crossover:
    """The smallest n per class from which fine-tuning is confidently and durably ahead."""

    n_per_class: int | None  # None when not reached
    reached: bool
    description: str  # one sentence for the report


def find_crossover(
    sizes: Sequence[int], comparisons: Sequence[PairedComparison], unit: str = "examples per class"
) -> Crossover:
    """Return the crossover point of fine-tuning over prompting, if the curve has one.

    ``unit`` is what a size counts, for the description ("training examples" for free-text outputs).

    ``comparisons[i]`` compares the best fine-tune with the best prompt at ``sizes[i]``
    (difference = fine-tune - prompt). The crossover is the smallest size where the
    interval lies above 0 and at no larger measured size the interval lies below 0:
    a single lucky win followed by a significant loss is not a crossover.
    """
    if len(sizes) != len(comparisons):
        raise ValueError(f"{len(sizes)} sizes but {len(comparisons)} comparisons")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must be distinct, got {list(sizes)}")
    curve = sorted(zip(sizes, comparisons), key=lambda point: point[0])
    if not curve:
        return Crossover(None, False, "No sizes were measured, so there is no crossover to find.")
    for i, (size, comparison) in enumerate(curve):
        if comparison.ci_low > 0 and all(later.ci_high >= 0 for _, later in curve[i + 1:]):
            return Crossover(
                n_per_class=size,
                reached=True,
                description=(
                    f"Fine-tuning beats prompting from {size} {unit} "
                    f"(difference {comparison.difference:+.3f}, 95% CI {comparison.ci_low:+.3f} "
                    f"to {comparison.ci_high:+.3f}) and is not significantly behind at any "
                    f"larger size measured."
                ),
            )
    largest = curve[-1][0]
    wins = [size for size, comparison in curve if comparison.ci_low > 0]
    if wins:
        losses = [size for size, comparison in curve if comparison.ci_high < 0 and size > wins[-1]]
        return Crossover(
            None,
            False,
            f"Fine-tuning beat prompting with confidence at {listed(wins)} {unit} "
            f"but fell significantly behind at {listed(losses)}, so there is no stable crossover "
            f"up to {largest} {unit}.",
        )
    return Crossover(
        None,
        False,
        f"Fine-tuning did not beat prompting with confidence at any measured size "
        f"(up to {largest} {unit}).",
    )
