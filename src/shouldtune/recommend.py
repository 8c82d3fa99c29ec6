"""Evidence -> decision: best prompt strategy against best fine-tune strategy, with reasons in numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shouldtune.experiment import CurvePoint, Recommendation

#: The request volume the "cheaper" comparison is made at: one fit plus this many predictions.
COST_REQUESTS = 1000


@dataclass(frozen=True)
class Contender:
    """A track's best strategy at the size the decision is made at."""

    strategy: str
    track: str
    n_per_class: int  # the size its score was measured at (0 for zero-example prompts)
    mean: float
    ci_low: float
    ci_high: float
    fit_seconds: float
    seconds_per_request: float

    def cost(self) -> float:
        """Return seconds for one fit plus COST_REQUESTS predictions."""
        return self.fit_seconds + COST_REQUESTS * self.seconds_per_request


def _points(curves: Sequence[CurvePoint], metric: str, track: str) -> list[CurvePoint]:
    return [p for p in curves if p.metric == metric and p.track == track]


def best_at(curves: Sequence[CurvePoint], trials: Sequence[dict[str, Any]], metric: str, track: str, size: int) -> Contender | None:
    """Return the track's best strategy using at most `size` examples per class (its largest such point)."""
    latest: dict[str, CurvePoint] = {}
    for point in _points(curves, metric, track):
        if point.n_per_class <= size and (point.strategy not in latest or point.n_per_class > latest[point.strategy].n_per_class):
            latest[point.strategy] = point
    if not latest:
        return None
    best = max(latest.values(), key=lambda p: (p.mean, -p.n_per_class))
    matching = [t for t in trials if t["strategy"] == best.strategy and t["n_per_class"] == best.n_per_class]
    test_size = max(1.0, matching[0]["predict_seconds"] * (matching[0]["examples_per_second"] or 0)) if matching else 1.0
    return Contender(
        strategy=best.strategy,
        track=track,
        n_per_class=best.n_per_class,
        mean=best.mean,
        ci_low=best.ci_low,
        ci_high=best.ci_high,
        fit_seconds=mean(t["fit_seconds"] for t in matching) if matching else 0.0,
        seconds_per_request=mean(t["predict_seconds"] for t in matching) / test_size if matching else 0.0,
    )


def _score(c: Contender, metric: str) -> str:
    return f"{c.strategy} scores {metric} {c.mean:.3f} (95% CI {c.ci_low:.3f}–{c.ci_high:.3f})"


def _trend(curves: Sequence[CurvePoint], trials: Sequence[dict[str, Any]], metric: str, sizes: list[int]) -> str | None:
    """Return a sentence on how the lead changed across sizes, from point estimates."""
    leads = []
    for size in sizes:
        prompt = best_at(curves, trials, metric, "prompt", size)
        finetune = best_at(curves, trials, metric, "finetune", size)
        if prompt and finetune and size > 0:
            leads.append((size, finetune.mean - prompt.mean))
    if len(leads) < 2:
        return None
    first_ahead = next((size for size, gap in leads if gap > 0), None)
    small, large = leads[0], leads[-1]
    text = (
        f"The fine-tune track's lead grows from {small[1]:+.3f} at {small[0]} to {large[1]:+.3f} at {large[0]} examples per class"
        if large[1] > small[1]
        else f"The fine-tune track's lead shrinks from {small[1]:+.3f} at {small[0]} to {large[1]:+.3f} at {large[0]} examples per class"
    )
    if first_ahead is not None and first_ahead != small[0]:
        text += f"; fine-tuning first comes out ahead (point estimate) at {first_ahead}"
    return text + "."


def recommend(curves: Sequence[CurvePoint], trials: Sequence[dict[str, Any]], metric: str) -> Recommendation:
    """Return prompt, finetune or either for the largest size measured, with numbered reasons."""
    from shouldtune.experiment import Recommendation

    sizes = sorted({p.n_per_class for p in curves})
    largest = sizes[-1] if sizes else 0
    prompt = best_at(curves, trials, metric, "prompt", largest)
    finetune = best_at(curves, trials, metric, "finetune", largest)
    if prompt is None or finetune is None:
        only = prompt or finetune
        if only is None:
            return Recommendation("either", "", "No prompt or fine-tune strategy was run.", ())
        choice = only.track
        return Recommendation(
            choice,
            only.strategy,
            f"Only the {only.track} track was run: use {only.strategy}.",
            (_score(only, metric) + f" at {only.n_per_class} examples per class.",),
        )

    reasons = [
        f"Quality at {largest} examples per class: the best fine-tune strategy, {_score(finetune, metric)}; "
        f"the best prompt strategy, {_score(prompt, metric)}."
    ]
    gap = finetune.mean - prompt.mean
    if finetune.ci_low > prompt.ci_high:
        choice, winner = "finetune", finetune
        reasons.append(f"Fine-tuning leads by {gap:.3f} {metric} and the 95% intervals do not overlap.")
    elif prompt.ci_low > finetune.ci_high:
        choice, winner = "prompt", prompt
        reasons.append(f"Prompting leads by {-gap:.3f} {metric} and the 95% intervals do not overlap.")
    else:
        choice = "either"
        winner = min((prompt, finetune), key=Contender.cost)
        reasons.append(
            f"The difference of {abs(gap):.3f} {metric} is within the 95% intervals, so the measurement cannot tell them apart; "
            f"the cheaper one, {winner.strategy}, wins."
        )
    trend = _trend(curves, trials, metric, sizes)
    if trend:
        reasons.append(trend)
    reasons.append(
        f"Cost of one fit plus {COST_REQUESTS:,} predictions on this machine: {finetune.strategy} "
        f"{finetune.cost():.1f} s ({finetune.fit_seconds:.1f} s to fit, {finetune.seconds_per_request * 1000:.1f} ms per request); "
        f"{prompt.strategy} {prompt.cost():.1f} s ({prompt.fit_seconds:.1f} s to fit, {prompt.seconds_per_request * 1000:.1f} ms per request)."
    )
    baseline = [p for p in curves if p.track == "baseline" and p.metric == metric]
    if baseline:
        reasons.append(f"For reference, always answering the most frequent label scores {metric} {baseline[0].mean:.3f}.")

    verb = {"finetune": "Fine-tune", "prompt": "Prompt-engineer", "either": "Either works"}[choice]
    if choice == "either":
        summary = f"{verb}: {prompt.strategy} and {finetune.strategy} are within measurement error ({prompt.mean:.3f} vs {finetune.mean:.3f} {metric}); take the cheaper, {winner.strategy}."
    else:
        loser = prompt if winner is finetune else finetune
        summary = f"{verb}: {winner.strategy} scores {winner.mean:.3f} {metric} against {loser.mean:.3f} for {loser.strategy} at {largest} examples per class."
    return Recommendation(choice, winner.strategy, summary, tuple(reasons))
