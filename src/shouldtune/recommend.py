"""Evidence -> decision: prompt, finetune, either or collect-more-data, each reason a criterion in numbers.

`recommend(analysis, requests_per_month, prices)` is pure. In order:

1. **Nothing works yet.** When no track's best is even likely to beat the majority baseline
   (more likely behind it than ahead), the choice is `collect-more-data`, naming the baseline.
   When they are likely ahead but none is shown ahead with confidence, the decision goes on
   below and its summary says that nothing is shown to beat the baseline yet: answering
   blindly would cost more, in expectation, than the strategy the odds favour.
2. **Decided.** When the paired 95% interval of the quality gap excludes zero, the track
   ahead wins (`confidence: confident`).
3. **Shown close.** When the whole interval lies within ±2 × `min_gain` (the smallest
   difference that matters, default 1 point), the tracks are equal for practical purposes:
   `either`, and cost breaks the tie — unless the cost difference is inside the noise of the
   timing, when the better-scoring one is taken.
4. **Leaning.** Otherwise the evidence is thin: the choice is the track more likely to lead
   by more than `min_gain` (from the paired resamples), said as a lean with its probability,
   the expected difference, and what would settle it (more labelled examples, or a larger
   test set). When even that track is no more likely than not to lead by `min_gain`, the summary
   says the call is too close, with both tracks' odds: the choice is the better bet, not a
   likely winner. Cost never decides between contestants whose quality is not shown close,
   with one exception: two that scored alike on every example and every resample (too few
   examples to show them equal) give nothing to lean on, so the cheaper is named, and the
   summary says so instead of giving odds of 0% each way.

Cost, latency, consistency, iteration speed and the knowledge gap are reported as criteria
beside it, each one sentence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shouldtune.analysis.cost import CostProfile, Prices, StrategyCost, break_even_requests, cost_profile
from shouldtune.analysis.records import from_json, to_json
from shouldtune.analysis.run import (
    Analysis,
    Comparison,
    Predictions,
    PromptVariants,
    StrategyTiming,
    TrackExtrapolation,
    TrackPick,
    TrackRival,
    analyse,
)
from shouldtune.analysis.significance import resolution

DEFAULT_REQUESTS_PER_MONTH = 100_000
HORIZON_MONTHS = 12  # "cheaper" means cheaper over the first year: one-time cost plus 12 months
CHOICES = ("prompt", "finetune", "either", "collect-more-data")
TRACK_WORDS = {"finetune": "fine-tuning", "prompt": "prompt engineering"}  # a track chosen, in a sentence
# Thresholds for a criterion to lean one way; below them it reports without leaning.
LATENCY_RATIO = 1.5  # one p95 at least 1.5x the other
ITERATION_RATIO = 2.0  # one change-and-measure cycle at least twice as long
SEED_SPREAD_GAP = 0.02  # one strategy's seed range wider by 0.02 or more
SPREAD_P = 0.05  # prompt wordings differ by more than chance when shuffling their answers rarely gives as wide a spread
PLATEAU_GAIN = 0.01  # gaining less than this per doubling of data is a plateau
RISING_GAIN = 0.02  # gaining at least this per doubling is still rising
CLOSE_FACTOR = 2.0  # "shown close": the whole 95% interval within ± this × min_gain
#: Two first-year costs closer than this (relative) are a tie: per-request times measured on a
#: shared machine move by this much between runs of the same command.
COST_NOISE = 0.25
SETTLE_REACH = 10  # beyond this many times today's examples, the settle sentence also says what that many would resolve
CONFIDENCES = ("confident", "leaning", "close", "baseline", "one-track")


@dataclass(frozen=True)
class Criterion:
    """One ground of the decision: its name, which way it leans, and its sentence with numbers."""

    name: str  # quality | data | cost | latency | consistency | iteration-speed | knowledge-gap | baseline
    favours: str  # prompt | finetune | neither
    decisive: bool  # True for the criterion the choice rests on
    sentence: str
    numbers: dict[str, float | int | str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PricedStrategy:
    """A strategy's cost under the given prices and volume."""

    strategy: str
    track: str
    one_time: float  # $ to fit once
    per_1000_requests: float  # $ to serve 1,000 requests
    monthly: float  # $ a month at the stated volume, serving only
    first_year: float  # one-time + HORIZON_MONTHS of serving
    per_1000_all_in: float  # first_year per 1,000 requests served in that time
    backend: str = ""  # its backend's name in the task
    charged_by: str = "compute"  # compute time (a local model) or tokens (an API)


@dataclass(frozen=True)
class CostAssumptions:
    """The volume and prices a decision was made for."""

    requests_per_month: int
    horizon_months: int
    prices: Prices
    placeholder_prices: bool  # True when no prices file was given: the prices are not real rates
    prices_file: str | None


@dataclass(frozen=True)
class Recommendation:
    """The decision, the strategy to use, and the criteria behind it."""

    choice: str  # prompt | finetune | either | collect-more-data
    strategy: str  # the strategy to use (for collect-more-data: the one to use meanwhile)
    summary: str
    reasons: tuple[str, ...]  # the criteria's sentences, the decisive one first
    criteria: tuple[Criterion, ...] = ()
    costs: tuple[PricedStrategy, ...] = ()
    assumptions: CostAssumptions | None = None
    more_examples_per_class: int | None = None  # the estimate of more labelled data that would settle it
    confidence: str = ""  # one of CONFIDENCES: how the choice was reached
    probability: float | None = None  # confident/leaning: P(the chosen track leads by > min_gain); close: P(within it)
    expected_difference: float | None = None  # best fine-tune minus best prompt, in the decision metric
    settle: str = ""  # what would settle a leaning decision

    def to_json(self) -> dict[str, Any]:
        """Return results.json's `recommendation` section."""
        return to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recommendation:
        """Return the Recommendation stored in a results.json `recommendation` section."""
        return from_json(cls, data)


def price_strategies(analysis: Analysis, assumptions: CostAssumptions) -> tuple[PricedStrategy, ...]:
    """Return every measured strategy's one-time, per-1,000 and first-year cost."""
    priced = []
    for timing in analysis.timings:
        profile = cost_profile(_usage(timing), assumptions.prices)
        monthly = profile.per_1000_requests * assumptions.requests_per_month / 1000
        first_year = profile.one_time + assumptions.horizon_months * monthly
        served = assumptions.horizon_months * assumptions.requests_per_month
        priced.append(PricedStrategy(
            timing.strategy, timing.track, profile.one_time, profile.per_1000_requests, monthly, first_year,
            first_year / served * 1000 if served else profile.per_1000_requests,
            timing.backend, timing.charged_by,
        ))
    return tuple(priced)


def recommend(
    analysis: Analysis,
    requests_per_month: int = DEFAULT_REQUESTS_PER_MONTH,
    prices: Prices | None = None,
    prices_file: str | None = None,
    run_id: str | None = None,
) -> Recommendation:
    """Return the decision for the stated monthly volume under the given prices (placeholders if None);
    `run_id` goes into the commands the summary gives (RUN without it)."""
    assumptions = CostAssumptions(
        int(requests_per_month), HORIZON_MONTHS, prices or Prices(), prices is None, prices_file
    )
    costs = price_strategies(analysis, assumptions)
    final = analysis.final
    if final is None:
        return _one_track(analysis, costs, assumptions)

    by_name = {c.strategy: c for c in costs}
    prompt, finetune = final.prompt, final.finetune
    need = analysis.data_need
    verdict = final.verdict
    settle = named_for = ""
    if analysis.nothing_beats_baseline:
        baseline = analysis.baseline_checks[0].baseline
        choice, strategy, confidence, probability = "collect-more-data", baseline, "baseline", None
    elif verdict in ("finetune", "prompt"):
        chosen = finetune if verdict == "finetune" else prompt
        choice, strategy, confidence = verdict, chosen.strategy, "confident"
        probability = final.p_finetune_ahead if verdict == "finetune" else final.p_prompt_ahead
    elif _shown_close(final, analysis.paired_examples):
        choice, confidence, probability = "either", "close", final.p_close
        strategy, named_for = _cheaper_or_better(prompt, finetune, by_name, analysis)
    elif final.scored_alike:  # nothing to lean on: the cheaper (or, costs within the noise, the prompt)
        strategy, named_for = _cheaper_or_better(prompt, finetune, by_name, analysis)
        choice = "prompt" if strategy == prompt.strategy else "finetune"
        confidence = "leaning"
        probability = final.p_prompt_ahead if choice == "prompt" else final.p_finetune_ahead
        settle = _settle_alike(analysis, final)
    else:
        leans_finetune = (final.p_finetune_ahead, final.difference) > (final.p_prompt_ahead, -final.difference)
        choice = "finetune" if leans_finetune else "prompt"
        strategy = finetune.strategy if leans_finetune else prompt.strategy
        confidence = "leaning"
        probability = final.p_finetune_ahead if leans_finetune else final.p_prompt_ahead
        settle = _settle(analysis, final)
    quality = _quality(analysis, final, decisive=confidence in ("confident", "leaning"))
    data = _data(analysis, final, decisive=False)
    cost = _cost(analysis, final, by_name, assumptions, decisive=choice == "either")
    criteria = [quality, data, cost]
    for build in (_latency, _consistency, _iteration, _knowledge_gap):
        criterion = build(analysis, final)
        if criterion is not None:
            criteria.append(criterion)
    if analysis.baseline_checks:
        criteria.append(_baseline(analysis, decisive=confidence == "baseline"))
    elif analysis.baseline is not None:
        criteria.append(Criterion(
            "baseline", "neither", False,
            f"Baseline: always answering the most frequent {'label' if analysis.labels else 'output'} scores {analysis.metric} {analysis.baseline:.3f}, "
            f"against {prompt.mean:.3f} and {finetune.mean:.3f} for the two tracks' best.",
            {"score": round(analysis.baseline, 6)},
        ))
    criteria.sort(key=lambda c: not c.decisive)  # the decisive criterion first, the rest in order
    summary = _summary(
        choice, confidence, strategy, analysis, final, by_name, assumptions, probability, settle, run_id, named_for
    )
    return Recommendation(
        choice, strategy, summary, tuple(c.sentence for c in criteria), tuple(criteria), costs, assumptions,
        need.more_per_class if need else None, confidence,
        round(probability, 4) if probability is not None else None, round(final.difference, 6), settle,
    )


def toss_up(probability: float | None) -> bool:
    """Return True when a lean's own side is no more likely than not to lead by a difference that
    matters: the lean is the better bet, not a likely one."""
    return probability is not None and probability <= 0.5


def _shown_close(final: Comparison, examples: int) -> bool:
    """Return True when the whole 95% interval of the gap lies within ±CLOSE_FACTOR × min_gain, and
    the `examples` paired on can show so small a difference absent (`significance.resolution`)."""
    bound = CLOSE_FACTOR * final.min_gain
    return bound > 0 and -bound <= final.ci_low and final.ci_high <= bound and resolution(examples) <= bound


def _cheaper_or_better(
    prompt: Any, finetune: Any, by_name: Mapping[str, PricedStrategy], analysis: Analysis
) -> tuple[str, str]:
    """Return which of two contestants with nothing in quality between them to name, and why:
    "cheaper" (over the first year); when the costs differ by less than the timing noise,
    "higher-scoring", or "prompt" when they score alike too."""
    first_year = {p.strategy: by_name[p.strategy].first_year for p in (prompt, finetune)}
    if _costs_differ(analysis, first_year):
        return min((prompt, finetune), key=lambda p: first_year[p.strategy]).strategy, "cheaper"
    if prompt.mean != finetune.mean:
        return max((prompt, finetune), key=lambda p: p.mean).strategy, "higher-scoring"
    return prompt.strategy, "prompt"


def _costs_differ(analysis: Analysis, first_year: Mapping[str, float]) -> bool:
    """Return True when two strategies' costs differ by more than the noise of the timings behind them:
    COST_NOISE, or the relative spread of a strategy's single-request latencies if wider."""
    low, high = sorted(first_year.values())
    noise = COST_NOISE
    for timing in (analysis.timing(name) for name in first_year):
        if timing is not None and timing.latency_p50_ms > 0:
            noise = max(noise, (timing.latency_p95_ms - timing.latency_p50_ms) / timing.latency_p50_ms)
    return high > 0 and (high - low) / high > noise


def _settle(analysis: Analysis, final: Comparison) -> str:
    """Return what would settle a leaning decision: more labelled examples, or a larger test set.

    The examples needed shrink the paired interval as 1/sqrt(n) to the measured gap (at least
    `min_gain`). A lean near zero on a few examples needs an amount no one will label (sst2 at 8
    per class: 23,900 for a gap of 0.010), so when it is more than SETTLE_REACH times today's, the
    sentence also gives the gap that SETTLE_REACH times today's examples would resolve.
    """
    parts = []
    need = analysis.data_need
    if need is not None:
        leader = "fine-tuning" if need.leader == "finetune" else "prompting"
        parts.append(
            f"the fitted learning curves (an estimate) put {leader} ahead by {abs(need.estimated_gap):.3f} at about "
            f"{need.n_per_class} examples per class, {need.more_per_class} more per class than measured"
        )
    half_width = (final.ci_high - final.ci_low) / 2
    gap = max(abs(final.difference), final.min_gain)
    examples = analysis.test_examples
    if examples and half_width > 0 and gap > 0:
        needed = math.ceil(examples * (half_width / gap) ** 2 / 10) * 10
        what = _examples_word(analysis)
        today = f"today {examples:,} give ±{half_width:.3f}"
        if needed > SETTLE_REACH * examples:  # out of reach: say what a reachable effort would show
            more = SETTLE_REACH * examples
            reach = max(half_width / math.sqrt(SETTLE_REACH), resolution(more))
            today += f"; {SETTLE_REACH} times as many, {more:,}, would resolve a gap of {reach:.3f}"
        parts.append(f"about {needed:,} {what} would resolve a gap of {gap:.3f} ({today})")
    return "; ".join(parts)


def _examples_word(analysis: Analysis) -> str:
    """Return what the examples a paired difference rests on are, in a settle sentence."""
    return "labelled examples in all (every one is scored by cross-validation)" if analysis.cross_validated else "test examples"


def _settle_alike(analysis: Analysis, final: Comparison) -> str:
    """Return how many examples, all scored alike, would show two contestants equal within the margin
    of "either" (CLOSE_FACTOR × min_gain; `significance.resolution`)."""
    bound = CLOSE_FACTOR * final.min_gain
    if bound <= 0 or bound >= 1:
        return ""
    needed = math.ceil(math.log(0.05) / math.log(1 - bound))
    return (
        f"about {needed:,} {_examples_word(analysis)}, all scored alike, would show the two within {bound:.3f} of each other "
        f"(today {analysis.paired_examples:,} show it within {resolution(analysis.paired_examples):.3f})"
    )


def _baseline(analysis: Analysis, decisive: bool) -> Criterion:
    checks = analysis.baseline_checks
    first = checks[0]
    parts = [
        f"{c.strategy} {c.difference:+.3f} (95% CI {c.ci_low:+.3f} to {c.ci_high:+.3f})" for c in checks
    ]
    beaten = [c for c in checks if c.beats_baseline]
    favours = "neither"
    if beaten:
        meaning = "so at least one track does better than answering blindly"
    elif any(c.likely_beats_baseline for c in checks):
        meaning = "so the tracks are likely, but not shown, to do better than answering blindly"
    else:
        meaning = "so no strategy is even likely to do better than answering blindly yet"
    answer = "label" if analysis.labels else "output"
    return Criterion(
        "baseline", favours, decisive,
        f"Baseline: always answering the most frequent {answer} ({first.baseline}) scores {analysis.metric} "
        f"{first.baseline_score:.3f}; against it {', '.join(parts)}, {meaning}.",
        {"score": round(first.baseline_score, 6), "beaten": len(beaten)},
    )


def decide(
    results: Mapping[str, Any],
    predictions: Predictions | None = None,
    *,
    requests_per_month: int | None = None,
    prices: Prices | None = None,
    prices_file: str | None = None,
) -> tuple[Analysis, Recommendation]:
    """Return the analysis and the decision for a results.json document.

    With `predictions` (from the run or `store.trials(run_id)`) the analysis is computed
    afresh; without them a stored `analysis` section is reused, so a report can be redone
    under other prices or volume from results.json alone. Volume and prices left out are
    taken from the stored recommendation, else the defaults.
    """
    if predictions is None and results.get("analysis"):
        analysis = Analysis.from_json(results["analysis"])
    else:
        analysis = analyse(results, predictions)
    stored = (results.get("recommendation") or {}).get("assumptions") or {}
    if requests_per_month is None:
        requests_per_month = int(stored.get("requests_per_month", DEFAULT_REQUESTS_PER_MONTH))
    if prices is None and stored and not stored.get("placeholder_prices", True):
        prices = from_json(Prices, stored["prices"])
        prices_file = prices_file or stored.get("prices_file")
    return analysis, recommend(analysis, requests_per_month, prices, prices_file, results.get("run_id"))


def with_decision(results: Mapping[str, Any], predictions: Predictions | None = None, **options: Any) -> dict[str, Any]:
    """Return a copy of the results document with a fresh `analysis` and `recommendation`."""
    analysis, recommendation = decide(results, predictions, **options)
    return {**results, "analysis": analysis.to_json(), "recommendation": recommendation.to_json()}


# --- criteria ------------------------------------------------------------------------------


def _size(analysis: Analysis, n: int | None) -> str:
    """Return a learning-curve size in the task's words: "8 examples per class", or "8 training examples" (free-text outputs)."""
    unit = "examples per class" if analysis.labels else "training examples"
    if n == 1:
        unit = unit.replace("examples", "example")
    return unit if n is None else f"{n} {unit}"


def _per(analysis: Analysis) -> str:
    """Return " per class" for a classification task, "" for free-text outputs (their sizes count all examples)."""
    return " per class" if analysis.labels else ""


def _quality(analysis: Analysis, final: Comparison, decisive: bool) -> Criterion:
    metric, n = analysis.metric, final.n_per_class
    if final.verdict == "finetune":
        meaning = "so fine-tuning is ahead with 95% confidence"
    elif final.verdict == "prompt":
        meaning = "so prompting is ahead with 95% confidence"
    else:
        meaning = "so the measurement cannot tell them apart"
    how = (
        f"paired bootstrap over test examples and {final.seeds} seed{'s' if final.seeds != 1 else ''}"
        if final.paired else "from the two curve intervals, unpaired"
    )
    sentence = (
        f"Quality gap: at {_size(analysis, n)} {final.finetune.strategy} (fine-tune) scores {metric} "
        f"{final.finetune.mean:.3f} and {final.prompt.strategy} (prompt) {final.prompt.mean:.3f}; the difference "
        f"{final.difference:+.3f} has a 95% CI of {final.ci_low:+.3f} to {final.ci_high:+.3f} ({how}), {meaning}"
    )
    if final.mcnemar:
        p_values = ", ".join(f"{m.p_value:.2g}" for m in final.mcnemar)
        seeds = ", ".join(str(m.seed) for m in final.mcnemar)
        sentence += f" (McNemar's test on accuracy: p = {p_values} for seed{'s' if len(final.mcnemar) > 1 else ''} {seeds})"
    for pick in analysis.picks:
        track = "fine-tune" if pick.track == "finetune" else pick.track
        sentence += f". {pick.chosen} stands for the {track} track although {pick.best_mean} has the higher mean: "
        if pick.reason == "curve":
            sentence += (
                f"{pick.best_mean}'s lead ({pick.difference:+.3f}) is smaller than {analysis.min_gain:.3f}, and "
                f"{pick.chosen}'s learning curve, fitted to every size, is higher by that much or more at "
                f"{_size(analysis, pick.n_per_class)} ({pick.chosen_fitted:.3f} against {pick.best_mean_fitted:.3f})"
            )
        else:
            sentence += (
                f"{pick.best_mean}'s lead ({pick.difference:+.3f}, 95% CI up to {pick.ci_high:+.3f}) is shown to be "
                f"smaller than {analysis.min_gain:.3f}, and {pick.chosen} {_lighter(pick)} (as good, and simpler)"
            )
    named = {(pick.track, pick.best_mean) for pick in analysis.picks}
    for track in ("prompt", "finetune"):
        rivals = [r for r in analysis.rivals if r.track == track and (track, r.rival) not in named]
        if rivals:
            sentence += (
                f". Within the {'fine-tune' if track == 'finetune' else track} track, {rivals[0].contestant} is not told "
                f"apart from {_rival_list(rivals, analysis)}"
            )
    return Criterion(
        "quality", final.verdict if final.verdict != "tie" else "neither", decisive, sentence + ".",
        {"n_per_class": n, "difference": round(final.difference, 6), "ci_low": round(final.ci_low, 6),
         "ci_high": round(final.ci_high, 6), "p_finetune_better": round(final.p_finetune_better, 4),
         "mcnemar_p": round(max(m.p_value for m in final.mcnemar), 6) if final.mcnemar else None},
    )


def _data(analysis: Analysis, final: Comparison, decisive: bool) -> Criterion:
    largest = final.n_per_class
    pool = analysis.pool_per_class
    smallest = analysis.smallest_per_class
    held = f"{pool} examples" if not analysis.labels else (
        f"up to {pool} per class (its smallest class {smallest})" if smallest is not None and smallest < (pool or 0)
        else f"{pool} per class"
    )
    have = f"your training pool holds {held}" if pool is not None else "the pool size is unknown"
    crossover = analysis.crossover
    need = analysis.data_need
    numbers: dict[str, float | int | str | None] = {
        "measured_up_to": largest, "pool_per_class": pool, "crossover": crossover.n_per_class,
    }
    if need is not None:
        leader = final.finetune.strategy if need.leader == "finetune" else final.prompt.strategy
        then = (
            f"your pool already holds {pool}{_per(analysis)}, so first rerun with --sizes {_sizes_flag(analysis, pool)}"
            if pool is not None and pool > largest
            else f"that is about {need.more_in_all:,} more labelled examples in all"
        )
        numbers.update(estimated_n_per_class=need.n_per_class, more_per_class=need.more_per_class,
                       more_in_all=need.more_in_all, estimated_gap=need.estimated_gap, chance=need.chance)
        return Criterion(
            "data", "neither", decisive,
            f"Data against the crossover (estimate): the fitted learning curves put {leader} ({need.leader.replace('finetune', 'fine-tune')}) "
            f"ahead by {abs(need.estimated_gap):.3f} at about {_size(analysis, need.n_per_class)}, more than the "
            f"±{need.resolvable_gap:.3f} this test set resolves (chance about {need.chance:.0%}), i.e. about "
            f"{need.more_per_class} more{_per(analysis)} than the {largest} measured; {then}.",
            numbers,
        )
    if crossover.reached:
        still = "and it still holds" if final.verdict == "finetune" else "though the lead is within the noise"
        favours = "finetune" if final.verdict == "finetune" else "neither"
        if crossover.n_per_class == largest and final.verdict == "finetune":  # first shown at the last size
            since = f"at {_size(analysis, largest)}, the most measured, and not before"
        else:
            since = f"from {crossover.n_per_class} {_size(analysis, None)}, {still} at {largest}, the most measured"
        sentence = f"Data against the crossover: fine-tuning beats prompting with confidence {since}; {have}."
    else:
        favours = "prompt" if final.verdict == "prompt" else "neither"
        sentence = (
            f"Data against the crossover: fine-tuning does not beat prompting with confidence at any size up to "
            f"{_size(analysis, largest)}, and the curves do not show it would within 4x that; {have}."
        )
    return Criterion("data", favours, decisive, sentence, numbers)


def _sizes_flag(analysis: Analysis, pool: int) -> str:
    """Return --sizes for a rerun: today's sizes, then doubling up to the whole pool."""
    sizes = set(analysis.sizes) | {pool}
    size = max(analysis.sizes)
    while size * 2 < pool:
        size *= 2
        sizes.add(size)
    return ",".join(str(n) for n in sorted(sizes))


def _cost(
    analysis: Analysis, final: Comparison, by_name: Mapping[str, PricedStrategy], assumptions: CostAssumptions,
    decisive: bool,
) -> Criterion:
    prompt, finetune = by_name[final.prompt.strategy], by_name[final.finetune.strategy]
    volume = f"{assumptions.requests_per_month:,} requests a month"
    prices = "placeholder prices" if assumptions.placeholder_prices else "your prices"
    break_even = break_even_requests(
        CostProfile(finetune.one_time, finetune.per_1000_requests), CostProfile(prompt.one_time, prompt.per_1000_requests)
    )
    if break_even is None:
        pays = "fine-tuning never pays back its one-time cost because it costs no less per request"
    elif break_even == 0:
        pays = "fine-tuning costs no more up front and no more per request"
    else:
        months = break_even / assumptions.requests_per_month if assumptions.requests_per_month else math.inf
        pays = f"fine-tuning pays back its extra one-time cost after {break_even:,.0f} requests (break-even, {_months(months)} at this volume)"
    cheaper = min((prompt, finetune), key=lambda c: c.first_year)
    differ = _costs_differ(analysis, {prompt.strategy: prompt.first_year, finetune.strategy: finetune.first_year})
    favours = cheaper.track if differ else "neither"
    decisive = decisive and differ  # costs within the noise decide nothing: the higher-scoring is named
    sentence = (
        f"Cost at {volume} ({prices}, {_charging(prompt, finetune, assumptions)}): "
        f"{finetune.strategy} costs {_money(finetune.one_time)} once and {_money(finetune.monthly)} a month, "
        f"{prompt.strategy} {_money(prompt.one_time)} once and {_money(prompt.monthly)} a month; {pays}"
        + ("." if differ else f"; the two first-year costs are within the noise of the timings behind them ({COST_NOISE:.0%} or more).")
    )
    return Criterion(
        "cost", favours, decisive, sentence,
        {"requests_per_month": assumptions.requests_per_month, "break_even_requests": break_even,
         "finetune_first_year": round(finetune.first_year, 6), "prompt_first_year": round(prompt.first_year, 6),
         "placeholder_prices": assumptions.placeholder_prices},
    )


def _latency(analysis: Analysis, final: Comparison) -> Criterion | None:
    prompt, finetune = analysis.timing(final.prompt.strategy), analysis.timing(final.finetune.strategy)
    if prompt is None or finetune is None:
        return None
    how = "timed on single requests" if prompt.latency_measured and finetune.latency_measured else "the batch average per request"
    favours = _lean(prompt.latency_p95_ms, finetune.latency_p95_ms, LATENCY_RATIO)
    return Criterion(
        "latency", favours, False,
        f"Latency per request ({how}): {finetune.strategy} p50 {_ms(finetune.latency_p50_ms)}, p95 "
        f"{_ms(finetune.latency_p95_ms)}; {prompt.strategy} p50 {_ms(prompt.latency_p50_ms)}, p95 {_ms(prompt.latency_p95_ms)}.",
        {"finetune_p95_ms": round(finetune.latency_p95_ms, 3), "prompt_p95_ms": round(prompt.latency_p95_ms, 3)},
    )


def _consistency(analysis: Analysis, final: Comparison) -> Criterion | None:
    by_name = {c.strategy: c for c in analysis.consistency}
    prompt, finetune = by_name.get(final.prompt.strategy), by_name.get(final.finetune.strategy)
    if prompt is None or finetune is None:
        return None
    if finetune.seeds < 2 and prompt.seeds < 2:
        # A range over one seed is one score: how much a score moves with the examples drawn is unmeasured.
        sentence = (
            f"Consistency: {finetune.strategy} and {prompt.strategy} ran on 1 seed each, so how much their "
            f"scores move with the labelled examples drawn is not measured (`--exhaustive` runs every seed)"
        )
    else:  # one may have run one seed (cross-validated, only the strategies on the frozen vectors repeat)
        parts = []
        for spread in (finetune, prompt):
            if spread.seeds < 2:
                parts.append(f"{spread.strategy} scores {spread.low:.3f} on 1 seed (its spread is not measured)")
                continue
            part = f"{spread.strategy} ranges {spread.low:.3f}–{spread.high:.3f} over {spread.seeds} seeds"
            if spread.agreement is not None:
                part += f" ({spread.agreement:.0%} of test labels the same across seeds)"
            parts.append(part)
        sentence = f"Consistency: {analysis.metric} of {parts[0]}, of {parts[1]}"
    variants = next(iter(analysis.prompt_variants), None)
    if variants is not None:
        sentence += f"; {wording(variants)}"
    finetune_range, prompt_range = finetune.high - finetune.low, prompt.high - prompt.low
    favours = "neither"  # also when one spread is not measured (1 seed): no side is shown the steadier
    if min(finetune.seeds, prompt.seeds) >= 2 and abs(finetune_range - prompt_range) >= SEED_SPREAD_GAP:
        favours = "prompt" if finetune_range > prompt_range else "finetune"
    return Criterion(
        "consistency", favours, False, sentence + ".",
        {"finetune_seed_range": round(finetune_range, 6), "prompt_seed_range": round(prompt_range, 6),
         "prompt_variant_range": round(variants.mean_range, 6) if variants else None},
    )


def wording(variants: PromptVariants) -> str:
    """Return how much a prompt search's wordings differed, and whether by more than their held-back
    examples explain: a spread on a few dozen examples is mostly which examples they were."""
    held = f"{variants.examples:,} held-back examples" if variants.examples else "held-back examples"
    scored = f"the {variants.candidates} prompt wordings {variants.strategy} tried scored {variants.low:.3f}–{variants.high:.3f} on {held}"
    if variants.p_value is None or variants.mean_range <= 0:
        return f"{scored}, so the prompt's wording matters by up to {variants.mean_range:.3f}"
    shuffled = f"p = {variants.p_value:.2g} with their answers shuffled among them"
    if variants.p_value < SPREAD_P:
        return f"{scored}, so the prompt's wording matters, by up to {variants.mean_range:.3f} (more than chance: {shuffled})"
    return (
        f"{scored}, a spread that chance alone could give ({shuffled}), so these examples do not show that the "
        f"wording matters"
    )


def _iteration(analysis: Analysis, final: Comparison) -> Criterion | None:
    prompt, finetune = analysis.timing(final.prompt.strategy), analysis.timing(final.finetune.strategy)
    if prompt is None or finetune is None:
        return None
    return Criterion(
        "iteration-speed", _lean(prompt.iteration_seconds, finetune.iteration_seconds, ITERATION_RATIO), False,
        f"Iteration speed: one change-and-measure cycle (fit, then score {prompt.test_examples:,} test examples) takes "
        f"{_seconds(prompt.iteration_seconds)} for {prompt.strategy} and {_seconds(finetune.iteration_seconds)} for {finetune.strategy}.",
        {"prompt_seconds": round(prompt.iteration_seconds, 3), "finetune_seconds": round(finetune.iteration_seconds, 3)},
    )


def _knowledge_gap(analysis: Analysis, final: Comparison) -> Criterion | None:
    prompt, finetune = analysis.extrapolation("prompt"), analysis.extrapolation("finetune")
    if prompt is None or finetune is None or prompt.gain_per_doubling is None or finetune.gain_per_doubling is None:
        return None
    sized = [p.n_per_class for p in analysis.finetune_curve]
    span = f"from {sized[-2]} to {_size(analysis, sized[-1])}" if len(sized) >= 2 else "between the two largest sizes"
    gain_p, gain_f = prompt.gain_per_doubling, finetune.gain_per_doubling
    # Agreeing on every example shows no gain only as far as that many examples can (a rule of three).
    smallest = resolution(analysis.paired_examples) / math.log2(sized[-1] / sized[-2]) if len(sized) >= 2 and sized[-2] > 0 else 0.0
    shape_p, shape_f = _growth(prompt, smallest), _growth(finetune, smallest)
    if shape_p == "plateau" and shape_f == "rising":
        favours, meaning = "finetune", "the prompt track has plateaued while fine-tuning keeps rising, a sign the model needs knowledge a prompt cannot give it"
    elif shape_f == "plateau" and shape_p == "rising":
        favours, meaning = "prompt", "fine-tuning has plateaued while the prompt track keeps rising"
    elif shape_p == "plateau" and shape_f == "plateau":
        favours, meaning = "neither", "both tracks have plateaued, so more labelled data buys little"
    elif "unclear" not in (shape_p, shape_f):
        favours, meaning = "neither", "neither track has plateaued"
    else:
        unclear = " or ".join(name for name, shape in (("the prompt track", shape_p), ("fine-tuning", shape_f)) if shape == "unclear")
        favours, meaning = "neither", f"the examples are too few to tell whether {unclear} still gains with more data"
    return Criterion(
        "knowledge-gap", favours, False,
        f"Knowledge gap: {span} the prompt track gains {_gain(prompt)} {analysis.metric} per doubling of the data and the "
        f"fine-tune track {_gain(finetune)}; {meaning}.",
        {"prompt_gain_per_doubling": round(gain_p, 6), "finetune_gain_per_doubling": round(gain_f, 6),
         "prompt_shape": shape_p, "finetune_shape": shape_f},
    )


def _growth(extrapolation: TrackExtrapolation, smallest: float = 0.0) -> str:
    """Return whether a track's curve has plateaued, is rising, or is unclear: read from its gain's 95%
    interval when there is one (a plateau is a gain shown below `RISING_GAIN`, as far as the
    examples can show a gain at all, `smallest` per doubling; a rise is one shown above
    `PLATEAU_GAIN`), else from the gain alone."""
    gain, low, high = extrapolation.gain_per_doubling, extrapolation.gain_ci_low, extrapolation.gain_ci_high
    if low is None or high is None:
        return "plateau" if gain < PLATEAU_GAIN else "rising" if gain >= RISING_GAIN else "between"
    if max(high, smallest) < RISING_GAIN:
        return "plateau"
    if low >= PLATEAU_GAIN:
        return "rising"
    return "unclear"


def _gain(extrapolation: TrackExtrapolation) -> str:
    gain, low, high = extrapolation.gain_per_doubling, extrapolation.gain_ci_low, extrapolation.gain_ci_high
    if low is None or high is None or low == high:
        return f"{gain:+.3f}"
    return f"{gain:+.3f} (95% CI {low:+.3f} to {high:+.3f})"


def _summary(
    choice: str, confidence: str, strategy: str, analysis: Analysis, final: Comparison,
    by_name: Mapping[str, PricedStrategy], assumptions: CostAssumptions, probability: float | None, settle: str,
    run_id: str | None = None, named_for: str = "",
) -> str:
    """Return the decision in one paragraph; `named_for` is why `_cheaper_or_better` named the strategy."""
    metric, n = analysis.metric, final.n_per_class
    gap = f"{final.difference:+.3f} {metric}, 95% CI {final.ci_low:+.3f} to {final.ci_high:+.3f}"
    if confidence == "baseline":
        checks = analysis.baseline_checks
        answer = "label" if analysis.labels else "output"
        return (
            f"Collect more data: no strategy beats always answering the most frequent {answer} ({strategy}, {metric} "
            f"{checks[0].baseline_score:.3f}) with confidence at {_size(analysis, n)}; the best are "
            + ", ".join(f"{c.strategy} {c.baseline_score + c.difference:.3f}" for c in checks)
            + ". Label more examples before choosing."
        )
    rivals = _runner_up(analysis, strategy, run_id)
    if confidence == "confident" and choice == "finetune":
        return (f"Fine-tune with {final.finetune.strategy}: it beats the best prompt strategy, {final.prompt.strategy}, "
                f"by {gap.replace(', 95%', ' (95%')}) at {_size(analysis, n)}.{rivals}")
    if confidence == "confident":
        return (f"Prompt-engineer with {final.prompt.strategy}: it beats the best fine-tune strategy, "
                f"{final.finetune.strategy}, by {-final.difference:.3f} {metric} (95% CI {-final.ci_high:+.3f} to "
                f"{-final.ci_low:+.3f}) at {_size(analysis, n)}.{rivals}")
    if confidence == "leaning":
        track = TRACK_WORDS[choice]
        prompt_name, finetune_name = final.prompt.strategy, final.finetune.strategy
        other = prompt_name if choice == "finetune" else finetune_name
        odds = f"{probability:.0%}" if probability is not None else "unknown"
        beat = f"likely to beat {other} by more than {final.min_gain:.3f} {metric}"
        measured = f"expected {gap}, at {_size(analysis, n)}"
        if final.scored_alike:
            named = "the cheaper over the first year" if named_for == "cheaper" else "their costs differ by less than the timing noise"
            text = (
                f"Too close to call: {prompt_name} and {finetune_name} scored alike on the {analysis.paired_examples:,} "
                f"examples and on every resample of them ({metric} {final.prompt.mean:.3f} and {final.finetune.mean:.3f} at "
                f"{_size(analysis, n)}): no difference is measured, and so few examples cannot show them equal; "
                f"{strategy} named ({named})."
            )
        elif toss_up(probability):
            against = f"{final.p_prompt_ahead if choice == 'finetune' else final.p_finetune_ahead:.0%}"
            bet = f"an even bet, {strategy} named" if against == odds else f"{strategy} is the slightly better bet"
            text = (
                f"Too close to call: {track} with {strategy} is {odds} {beat}, and {other} {against} likely to "
                f"beat it by as much ({measured}); {bet}."
            )
        else:
            text = f"Lean towards {track} with {strategy}: {odds} {beat} ({measured}); the evidence is thin."
        text += f" To settle it: {settle}." if settle else ""
        text += rivals
        if analysis.baseline_unbeaten:
            text += (
                f" Note: no strategy is shown yet to beat always answering the most frequent "
                f"{'label' if analysis.labels else 'output'} ({analysis.baseline_checks[0].baseline}) with confidence."
            )
        return text
    volume = f"at {assumptions.requests_per_month:,} requests a month"
    if named_for == "cheaper":
        take = f"take {strategy}, the cheaper ({_money(by_name[strategy].first_year)} for the first year {volume})"
    else:
        why = "the higher-scoring" if named_for == "higher-scoring" else "the prompt, which trains nothing"
        take = (
            f"their first-year costs ({_money(by_name[final.prompt.strategy].first_year)} and "
            f"{_money(by_name[final.finetune.strategy].first_year)} {volume}) differ by less than the timing noise; "
            f"take {strategy}, {why}"
        )
    return (f"Either: {final.prompt.strategy} (prompt) and {final.finetune.strategy} (fine-tune) are within "
            f"{CLOSE_FACTOR * final.min_gain:.3f} {metric} of each other at {_size(analysis, n)} ({gap}); "
            f"{take}.{rivals}")


def _one_track(analysis: Analysis, costs: Sequence[PricedStrategy], assumptions: CostAssumptions) -> Recommendation:
    curve = analysis.prompt_curve or analysis.finetune_curve
    if not curve:
        return Recommendation("either", "", "No prompt or fine-tune strategy was run.", (), (), costs, assumptions)
    best = curve[-1]
    track = "prompt" if analysis.prompt_curve else "finetune"
    other = "fine-tune" if track == "prompt" else "prompt"
    sentence = (
        f"Quality gap: only the {track.replace('finetune', 'fine-tune')} track was run; its best, {best.strategy}, scores "
        f"{analysis.metric} {best.mean:.3f} (95% CI {best.ci_low:.3f}–{best.ci_high:.3f}) at {_size(analysis, best.n_per_class)}."
    )
    criterion = Criterion("quality", track, True, sentence, {"score": round(best.mean, 6)})
    summary = f"Only the {track.replace('finetune', 'fine-tune')} track was run: use {best.strategy}; run a {other} strategy to compare."
    return Recommendation(
        track, best.strategy, summary, (sentence,), (criterion,), costs, assumptions, confidence="one-track"
    )


# --- helpers -------------------------------------------------------------------------------


def _charging(prompt: PricedStrategy, finetune: PricedStrategy, assumptions: CostAssumptions) -> str:
    """Return how the two contestants are charged: the compute rate, or each by its own backend when they differ."""
    rate = f"{_money(assumptions.prices.compute_per_hour)} per compute hour"
    if prompt.backend == finetune.backend and prompt.charged_by == finetune.charged_by:
        return rate if prompt.charged_by == "compute" else "by the tokens of each request and of training"

    def how(priced: PricedStrategy) -> str:
        by = f"compute time at {rate}" if priced.charged_by == "compute" else "tokens at your token prices"
        return f"{priced.strategy} on the {priced.backend or 'default'} backend by {by}"

    return f"each charged by its backend: {how(finetune)}, {how(prompt)}"


def _usage(timing: StrategyTiming) -> StrategyCost:
    return StrategyCost(
        fit_seconds=timing.fit_seconds,
        predict_seconds_per_request=timing.seconds_per_request,
        prompt_tokens_per_request=timing.prompt_tokens_per_request,
        output_tokens_per_request=timing.output_tokens_per_request,
        training_tokens=timing.training_tokens,
        charged_by=timing.charged_by,
        model=timing.model,
        tuned=timing.track == "finetune",  # a hosted fine-tune strategy serves from its tuned model
    )


def _lean(prompt_value: float, finetune_value: float, ratio: float) -> str:
    """Return the track with the smaller value when the other is at least `ratio` times it."""
    if finetune_value >= ratio * prompt_value and finetune_value > 0:
        return "prompt"
    if prompt_value >= ratio * finetune_value and prompt_value > 0:
        return "finetune"
    return "neither"


def _rival_list(rivals: Sequence[TrackRival], analysis: Analysis) -> str:
    """Return the rivals with the contestant's lead over each: `setfit (full +0.125, 95% CI -0.094 to +0.344)`.

    A rival that scored the same on every resample of the examples paired on (the interval
    [0, 0]: they agree wherever it counts) is said so, and whether that many examples can show
    the two equal (`significance.resolution` within `--min-gain`): "+0.000, 95% CI +0.000 to
    +0.000" would read as a measured zero however few the examples.
    """
    examples = analysis.paired_examples

    def lead(r: TrackRival) -> str:
        if r.ci_low == r.ci_high == 0:
            same = f"the same score as {r.contestant} on " + (f"all {examples:,} examples" if examples else "every example")
            return same + (": too few to show them equal" if resolution(examples) > analysis.min_gain or not examples else "")
        return f"{r.contestant} {r.difference:+.3f}, 95% CI {r.ci_low:+.3f} to {r.ci_high:+.3f}"

    return ", ".join(f"{r.rival} ({lead(r)}{_climbs(r, analysis)})" for r in rivals)


def _climbs(rival: TrackRival, analysis: Analysis) -> str:
    """Return "; full climbs faster, ..." when one of a rival and its contestant is shown to gain faster per
    doubling of the examples than the other (the 95% interval of the difference excludes zero), else ""."""
    climb = rival.climb
    if climb is None or climb.ci_low <= 0 <= climb.ci_high:
        return ""
    rival_first = climb.difference > 0
    faster, slower = (rival.rival, rival.contestant) if rival_first else (rival.contestant, rival.rival)
    (gain, sizes), (other, other_sizes) = sorted(
        ((climb.rival_gain, climb.rival_sizes), (climb.contestant_gain, climb.contestant_sizes)), reverse=True
    )
    low, high = (climb.ci_low, climb.ci_high) if rival_first else (-climb.ci_high, -climb.ci_low)
    theirs = f" from {other_sizes[0]} to {other_sizes[1]}" if other_sizes != sizes else ""
    return (
        f"; {faster} climbs faster, {gain:+.3f} a doubling from {sizes[0]} to {_size(analysis, sizes[1])} against "
        f"{slower}'s {other:+.3f}{theirs}, 95% CI of the gap {low:+.3f} to {high:+.3f}"
    )


def _runner_up(analysis: Analysis, strategy: str, run_id: str | None) -> str:
    """Return the summary's sentence on the recommended strategy's rivals within its track ("" without)."""
    rivals = [r for r in analysis.rivals if r.contestant == strategy]
    if not rivals:
        return ""
    first = rivals[0].rival
    return (
        f" Within its track, {strategy} is not told apart from {_rival_list(rivals, analysis)}: "
        f"`shouldtune export {run_id or 'RUN'} --strategy {first} --out DIR` hands {first} over to compare on examples neither has seen."
    )


def _lighter(pick: TrackPick) -> str:
    """Return, in words, what the chosen strategy of a pick does not train."""
    return (
        f"fits without training through the model, where {pick.best_mean}'s fit passes "
        f"{pick.best_mean_work:,.0f} texts or calls through it"
    )


def money(dollars: float) -> str:
    """Return dollars readably: $1,234.50, $0.29, $0.0042, $0."""
    if dollars == 0:
        return "$0"
    if 0 < abs(dollars) < 1e-5:
        return "< $0.00001"
    if abs(dollars) >= 0.01:
        return f"${dollars:,.2f}"
    decimals = min(12, 1 - math.floor(math.log10(abs(dollars))))
    return f"${dollars:.{decimals}f}"


_money = money


def _ms(milliseconds: float) -> str:
    return f"{milliseconds:.1f} ms" if milliseconds < 100 else f"{milliseconds:,.0f} ms"


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _months(months: float) -> str:
    if math.isinf(months):
        return "never"
    days = months * 30
    if days < 1.5:
        return "within a day"
    if months < 1:
        return f"{days:.0f} days"
    return f"{months:.1f} months"
