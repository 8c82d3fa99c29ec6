"""Every analysis of one run, from its results.json document and the trials' predictions.

`analyse(results, predictions)` is pure: the same document and predictions give the same
`Analysis`. Gold labels and test texts come from the document's `test` section; the
predictions from the run itself or from the store (`store.trials(run_id)`). Without them
the comparisons fall back to the curve intervals (unpaired) and there are no confusion
matrices or disagreement examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import mean
from typing import Any

import numpy as np

from shouldtune.analysis.consistency import prediction_agreement, seed_spread
from shouldtune.analysis.crossover import Crossover, find_crossover
from shouldtune.analysis.curves import CurveRow, TrackPoint, curve_rows, latest_rows, strategy_curve, track_curve
from shouldtune.analysis.extrapolate import ExtrapolatedPoint, extrapolate, plateau, power_law
from shouldtune.analysis.metrics import Scoring, scoring_for
from shouldtune.analysis.records import from_json, to_json
from shouldtune.analysis.significance import (
    PairedComparison, cv_inflation, mcnemar, paired_contrast_bootstrap, paired_seeds_bootstrap, resolution,
)

Predictions = Mapping[tuple[str, int, int], Sequence[str]]

MAX_DISAGREEMENTS = 50  # examples kept in results.json and shown in the report
GROWTH_FACTORS = (2, 4)  # extrapolate each track to 2x and 4x the largest measured size
Z95 = 1.959964
LIKELY = 0.75  # the odds (3 to 1) at which an extrapolated lead counts as "likely"


@dataclass(frozen=True)
class TestSet:
    """The test examples one or more seeds were scored on."""

    test_id: str
    gold: tuple[str | tuple[str, ...], ...]  # an output, or an input's several references
    texts: tuple[str, ...]


@dataclass(frozen=True)
class McNemarSeed:
    """McNemar's test on accuracy for one seed: who got right what the other got wrong."""

    seed: int
    finetune_only_right: int
    prompt_only_right: int
    p_value: float
    exact: bool


@dataclass(frozen=True)
class Comparison:
    """Best fine-tune minus best prompt at one size, in the decision metric."""

    n_per_class: int
    prompt: TrackPoint
    finetune: TrackPoint
    difference: float
    ci_low: float
    ci_high: float
    p_finetune_better: float  # share of bootstrap resamples in which fine-tuning scored higher
    paired: bool  # True: paired bootstrap over test examples and seeds; False: from curve intervals
    seeds: int
    mcnemar: tuple[McNemarSeed, ...]
    min_gain: float = 0.0  # the smallest difference that matters (the task's min_gain)
    p_finetune_ahead: float = 0.0  # probability fine-tuning leads by more than min_gain
    p_prompt_ahead: float = 0.0  # probability prompting leads by more than min_gain

    @property
    def p_close(self) -> float:
        """Return the probability that the two are within min_gain of each other."""
        return max(0.0, 1.0 - self.p_finetune_ahead - self.p_prompt_ahead)

    @property
    def scored_alike(self) -> bool:
        """Return True when the two scored alike on every paired resample: the examples hold no
        difference to resample (they answered them alike), which shows nothing when they are few."""
        return self.paired and self.ci_low == self.ci_high == self.difference == 0.0

    @property
    def verdict(self) -> str:
        """Return "finetune" or "prompt" when the 95% interval excludes 0, else "tie"."""
        if self.ci_low > 0:
            return "finetune"
        if self.ci_high < 0:
            return "prompt"
        return "tie"


@dataclass(frozen=True)
class TrackPick:
    """A track's contestant at the decision size chosen over the strategy with the best mean score.

    Two reasons (`reason`):

    - "simpler": a strategy that trains nothing through the model stands for the track when it
      is shown to be as good: the 95% interval of the best mean's lead over it lies below the
      difference that matters (`--min-gain`). Being unable to tell two strategies apart is not
      enough: on a small test set the better one is often inside the noise, and handing over
      the simpler one then costs real quality (measured in docs/benchmarks.md, "decision quality").
    - "curve": the best mean leads by less than `--min-gain` (a lead that does not matter), and
      the other's learning curve, fitted to every size measured, is the higher at the decision
      size: the fit pools the evidence of all sizes, where the last point is one noisy draw.
    """

    track: str
    n_per_class: int
    best_mean: str  # the strategy with the highest mean score
    chosen: str  # the one that stands for the track instead
    difference: float  # best_mean's score minus chosen's (paired)
    ci_high: float  # the upper end of that difference's 95% interval ("simpler": at most min_gain)
    best_mean_work: float  # training work of one of its fits (Strategy.work); a simpler chosen one's is 0
    reason: str = "simpler"  # simpler | curve
    best_mean_fitted: float | None = None  # "curve": each one's fitted curve at n_per_class
    chosen_fitted: float | None = None


@dataclass(frozen=True)
class TrackRival:
    """A strategy of a track that the measurement cannot place below the track's contestant.

    At the decision size, the 95% interval of the contestant's lead over it (paired, as the
    decision measures it) reaches zero or below: either may be the better one to hand over.
    The decision still names the contestant (the best mean, or a pick); a rival is the one to
    try beside it.
    """

    track: str
    n_per_class: int
    contestant: str
    rival: str
    difference: float  # the contestant's score minus the rival's (paired)
    ci_low: float  # 95% interval of that difference; ci_low <= 0
    ci_high: float
    p_rival_ahead: float  # probability the rival leads by more than min_gain
    climb: Climb | None = None  # how fast each still gains (None: a curve too short, or nothing to pair)


@dataclass(frozen=True)
class Climb:
    """How fast a rival and its track's contestant still gain with more examples.

    Each one's gain per doubling of the examples between the last two sizes it was measured at
    (up to the decision size), and the rival's gain minus the contestant's with its paired 95%
    interval: the same test examples score all four trials, so the difference of two slopes is
    resampled as one contrast. Two strategies that score alike today may not for long: the one
    still climbing faster is the better bet if more examples are coming.
    """

    contestant_sizes: tuple[int, int]
    contestant_gain: float  # per doubling
    rival_sizes: tuple[int, int]
    rival_gain: float
    difference: float  # rival_gain - contestant_gain
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class BaselineCheck:
    """A track's best against always answering the most frequent label, paired on the same examples."""

    track: str
    strategy: str
    n_per_class: int
    baseline: str  # the baseline strategy's name
    baseline_score: float
    difference: float  # strategy minus baseline
    ci_low: float
    ci_high: float
    p_better: float = 1.0  # probability the strategy scores above the baseline (paired resamples)

    @property
    def beats_baseline(self) -> bool:
        """Return True when the strategy is ahead of the baseline with 95% confidence."""
        return self.ci_low > 0

    @property
    def likely_beats_baseline(self) -> bool:
        """Return True when the strategy is more likely than not ahead of the baseline."""
        return self.p_better > 0.5


@dataclass(frozen=True)
class TrackExtrapolation:
    """A track's leading strategy's curve carried to more data: an estimate, not a measurement."""

    track: str
    strategy: str
    model: str  # "power-law" | "flat" (needs no labelled examples) | "none" (too few sizes to fit)
    params: tuple[float, float, float] | None  # (a, b, c) of a - b * n^-c; flat is (score, 0, 1)
    measured: tuple[int, ...]  # the sizes the curve was fitted to
    points: tuple[ExtrapolatedPoint, ...]
    gain_per_doubling: float | None  # of the track curve between its two largest sizes
    label: str = "estimate"
    # The gain's 95% interval: the two sizes' paired difference (the same examples), per doubling.
    gain_ci_low: float | None = None
    gain_ci_high: float | None = None

    def at(self, n_per_class: float) -> float | None:
        """Return the fitted curve's estimate at a size, or None when nothing was fitted."""
        if self.params is None:
            return None
        return float(np.clip(power_law(np.asarray(float(n_per_class)), *self.params), 0.0, 1.0))


@dataclass(frozen=True)
class DataNeed:
    """How many more labelled examples would likely settle an undecided comparison (an estimate)."""

    leader: str  # the track the fitted curves put ahead
    n_per_class: int  # the size at which the estimated gap first exceeds what the test set resolves
    more_per_class: int
    more_in_all: int
    estimated_gap: float  # fine-tune minus prompt at n_per_class: the measured gap moved as the fitted curves move
    resolvable_gap: float  # half the width of today's paired 95% interval
    chance: float  # probability (from the extrapolation intervals) that the leader is ahead there
    pool_per_class: int | None  # the size at which a trial trains on the whole pool (the largest class)


@dataclass(frozen=True)
class SeedConsistency:
    """How much one strategy's result moves with the seed (the labelled subset drawn)."""

    strategy: str
    track: str
    n_per_class: int
    seeds: int
    mean: float
    std: float
    low: float
    high: float
    agreement: float | None  # share of test examples labelled alike by two seeds; None if test sets differ


@dataclass(frozen=True)
class PromptVariants:
    """How much the score moves with the wording of the prompt (candidates a strategy tried)."""

    strategy: str
    n_per_class: int
    candidates: int
    low: float  # worst candidate's validation score, over seeds
    high: float  # best candidate's validation score, over seeds
    mean_range: float  # best minus worst, averaged over seeds
    examples: int = 0  # held-back examples each candidate was scored on (the fewest over seeds; 0: not recorded)
    # Chance of a spread as wide were the wording to make no difference (a permutation test on the
    # candidates' answers; the largest over seeds); None where a search did not record it.
    p_value: float | None = None


@dataclass(frozen=True)
class StrategyTiming:
    """What a strategy took at its largest size, mean over seeds: time, latency, tokens and its score."""

    strategy: str
    track: str
    n_per_class: int
    mean: float
    ci_low: float
    ci_high: float
    fit_seconds: float
    predict_seconds: float  # the whole test set, batched
    test_examples: int
    seconds_per_request: float  # predict_seconds / test_examples
    latency_p50_ms: float
    latency_p95_ms: float
    latency_measured: bool  # False: both percentiles fall back to the batch average
    prompt_tokens_per_request: float
    output_tokens_per_request: float
    training_tokens: float
    backend: str = ""  # its backend's name in the task ("" in results from before backends were named)
    charged_by: str = "compute"  # how its backend is paid for: compute time or tokens
    model: str = ""  # the model it ran on ("" in results from before it was recorded here)

    @property
    def iteration_seconds(self) -> float:
        """Return the time of one change-and-measure cycle: fit, then score the test set."""
        return self.fit_seconds + self.predict_seconds


@dataclass(frozen=True)
class Confusion:
    """Gold (rows) against predicted (columns) counts, summed over seeds."""

    strategy: str
    track: str
    n_per_class: int
    seeds: int
    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Disagreement:
    """A test example the best prompt and the best fine-tune labelled differently."""

    index: int  # position in the seed's test set
    text: str
    gold: str
    prompt: str
    finetune: str


@dataclass(frozen=True)
class Disagreements:
    """Where the two tracks' best strategies disagree, on one seed's test set (capped examples)."""

    seed: int
    n_per_class: int
    prompt_strategy: str
    finetune_strategy: str
    test_examples: int
    total: int
    finetune_right: int
    prompt_right: int
    neither_right: int
    examples: tuple[Disagreement, ...]


@dataclass(frozen=True)
class Analysis:
    """The evidence a decision rests on; `to_json()` is results.json's `analysis` section."""

    metric: str
    labels: tuple[str, ...]
    sizes: tuple[int, ...]
    decision_size: int | None  # the largest size both tracks were measured at
    pool_per_class: int | None  # the size at which a trial trains on the whole pool (the largest class)
    paired: bool  # True when gold labels and predictions were available
    prompt_curve: tuple[TrackPoint, ...]
    finetune_curve: tuple[TrackPoint, ...]
    comparisons: tuple[Comparison, ...]
    crossover: Crossover
    extrapolations: tuple[TrackExtrapolation, ...]
    data_need: DataNeed | None
    consistency: tuple[SeedConsistency, ...]
    prompt_variants: tuple[PromptVariants, ...]
    timings: tuple[StrategyTiming, ...]
    confusions: tuple[Confusion, ...]
    disagreements: Disagreements | None
    baseline: float | None
    notes: tuple[str, ...]
    baseline_checks: tuple[BaselineCheck, ...] = ()
    min_gain: float = 0.0
    test_examples: int = 0  # examples each seed was scored on
    cross_validated: bool = False  # every labelled example was a test example (k-fold)
    picks: tuple[TrackPick, ...] = ()  # tracks whose contestant is a simpler strategy shown as good as their best mean
    rivals: tuple[TrackRival, ...] = ()  # strategies not told apart from their track's contestant
    smallest_per_class: int | None = None  # the smallest class's examples in the pool (None: not recorded)

    @property
    def nothing_beats_baseline(self) -> bool:
        """Return True when the baseline was run and no track's best is even likely to beat it."""
        return bool(self.baseline_checks) and not any(check.likely_beats_baseline for check in self.baseline_checks)

    @property
    def baseline_unbeaten(self) -> bool:
        """Return True when the baseline was run and no track's best beats it with 95% confidence."""
        return bool(self.baseline_checks) and not any(check.beats_baseline for check in self.baseline_checks)

    @property
    def paired_examples(self) -> int:
        """Return the test examples a paired difference rests on (per seed); 0 when nothing is paired."""
        return self.test_examples if self.paired else 0

    @property
    def final(self) -> Comparison | None:
        """Return the comparison at the decision size, if both tracks were run."""
        return self.comparisons[-1] if self.comparisons else None

    def timing(self, strategy: str) -> StrategyTiming | None:
        """Return a strategy's timing, or None if it was not run."""
        return next((t for t in self.timings if t.strategy == strategy), None)

    def extrapolation(self, track: str) -> TrackExtrapolation | None:
        """Return a track's extrapolation, or None if the track was not run."""
        return next((e for e in self.extrapolations if e.track == track), None)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form (see docs/results-schema.md, `analysis`)."""
        return to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Analysis:
        """Return the Analysis stored in a results.json `analysis` section."""
        return from_json(cls, data)


def test_sets(results: Mapping[str, Any]) -> dict[int, TestSet]:
    """Return each seed's test set from the document's `test` section (empty when it has none)."""
    by_seed: dict[int, TestSet] = {}
    for entry in (results.get("test") or {}).get("sets", []):
        texts = entry.get("texts") or [""] * len(entry["gold"])
        gold = tuple(g if isinstance(g, str) else tuple(g) for g in entry["gold"])  # a list: several references
        test = TestSet(entry["id"], gold, tuple(texts))
        for seed in entry["seeds"]:
            by_seed[int(seed)] = test
    return by_seed


def analyse(
    results: Mapping[str, Any],
    predictions: Predictions | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Analysis:
    """Return the analysis of a run: curves, paired comparisons, crossover, extrapolation, consistency, timing."""
    metric = results["task"]["metric"]
    min_gain = float(results["task"].get("min_gain", 0.0))
    cross_validated = results["data"].get("validation") == "cv"
    classification = results["task"].get("task_type", "classification") == "classification"
    rows = curve_rows(results["curves"], metric)
    trials = list(results["trials"])
    tests = test_sets(results)
    predicted = {tuple(key): list(value) for key, value in (predictions or {}).items()}
    labels = _label_set(results["data"].get("labels") or [], predicted.values() if classification else ())
    scoring = _scoring(results["task"], labels) if tests and predicted else None
    paired = scoring is not None
    sizes = tuple(sorted({int(n) for n in results["data"].get("sizes", [])} | {r.n_per_class for r in rows}))
    notes: list[str] = []
    if not paired:
        notes.append(
            "No gold labels or predictions were available, so quality differences are read from the curve "
            "intervals (unpaired) and there are no confusion matrices or disagreement examples."
        )

    prompt_curve = track_curve(rows, "prompt", [n for n in sizes if n > 0] or sizes)
    finetune_curve = track_curve(rows, "finetune", sizes)
    by_size = {p.n_per_class: p for p in prompt_curve}
    evidence = _Evidence(
        trials, tests, predicted if paired else {}, scoring, metric, n_resamples, cross_validated, int(results["data"].get("folds") or 1)
    )
    comparisons = tuple(
        _compare(by_size[f.n_per_class], f, evidence, seed, min_gain) for f in finetune_curve if f.n_per_class in by_size
    )
    picks: list[TrackPick] = []
    if comparisons:  # the decision's contestants: a simpler strategy shown as good as a track's best mean stands for it
        last = comparisons[-1]
        points = {}
        for track, point in (("prompt", last.prompt), ("finetune", last.finetune)):
            points[track], pick = _simpler_if_as_good(point, track, rows, evidence, seed, min_gain)
            if pick is None:
                points[track], pick = _higher_curve_if_level(point, track, rows, evidence, seed, min_gain)
            picks.extend([pick] if pick else [])
        if picks:
            comparisons = (*comparisons[:-1], _compare(points["prompt"], points["finetune"], evidence, seed, min_gain))
    crossover = _crossover(comparisons, prompt_curve, finetune_curve, "examples per class" if labels else "training examples")
    final = comparisons[-1] if comparisons else None
    decision_size = final.n_per_class if final else None
    rivals = _rivals(final, rows, evidence, seed, min_gain) if final else ()

    contestants = {"prompt": final.prompt, "finetune": final.finetune} if final else {}
    extrapolations = tuple(
        e for e in (
            _extrapolate_track(rows, curve, track, seed, contestants.get(track), evidence)
            for track, curve in (("prompt", prompt_curve), ("finetune", finetune_curve))
        ) if e is not None
    )
    # The size at which a trial trains on the whole pool; results written before it was recorded
    # have only the smallest class's, where their (balanced) sizes stopped.
    pool = results["data"].get("largest_per_class", results["data"].get("pool_per_class"))
    test_examples = max((len(t.gold) for t in tests.values()), default=int(results["data"].get("test_size") or 0))
    data_need = _data_need(final, extrapolations, max(len(labels), 1), pool, test_examples)

    leaders = [p for p in ((final.prompt, final.finetune) if final else (*prompt_curve[-1:], *finetune_curve[-1:]))]
    test_size = int(results["data"].get("test_size") or 0)
    baseline = [r.mean for r in rows if r.track == "baseline"]
    return Analysis(
        metric=metric,
        labels=labels,
        sizes=sizes,
        decision_size=decision_size,
        pool_per_class=int(pool) if pool is not None else None,
        smallest_per_class=results["data"].get("pool_per_class") if "largest_per_class" in results["data"] else None,
        paired=paired,
        prompt_curve=prompt_curve,
        finetune_curve=finetune_curve,
        comparisons=comparisons,
        crossover=crossover,
        extrapolations=extrapolations,
        data_need=data_need,
        consistency=tuple(_seed_consistency(p, rows, trials, tests, predicted, metric) for p in leaders),
        prompt_variants=_prompt_variants(trials),
        timings=_timings(rows, trials, tests, test_size),
        confusions=(
            tuple(c for c in (_confusion(p, rows, tests, predicted, labels) for p in leaders) if c)
            if paired and classification else ()
        ),
        disagreements=_disagreements(final, tests, predicted) if paired and final else None,
        baseline=max(baseline) if baseline else None,
        notes=tuple(notes),
        baseline_checks=_baseline_checks(leaders, rows, evidence, seed),
        min_gain=min_gain,
        test_examples=test_examples,
        cross_validated=cross_validated,
        picks=tuple(picks),
        rivals=rivals,
    )


# --- comparisons ----------------------------------------------------------------------


def _scoring(task: Mapping[str, Any], labels: Sequence[str]) -> Scoring | None:
    """Return the task's metrics, or None when they cannot be built here (e.g. a user metric that does not import)."""
    metric = task["metric"]
    try:
        return scoring_for(task.get("task_type", "classification"), labels, metric if ":" in metric else None)
    except Exception:  # noqa: BLE001 - an unavailable metric only costs the paired analysis
        return None


def _label_set(labels: Sequence[str], predicted: Any) -> tuple[str, ...]:
    """Return the task's labels plus any label a strategy predicted that the task does not have."""
    known = list(labels)
    extra = sorted({label for run in predicted for label in run} - set(known))
    return tuple(known + extra)


def _seeds_of(strategy: str, n_per_class: int, trials: Sequence[Mapping[str, Any]]) -> list[int]:
    return sorted({int(t["seed"]) for t in trials if t["strategy"] == strategy and t["n_per_class"] == n_per_class})


def _runs(
    a: tuple[str, int], b: tuple[str, int], trials: Sequence[Mapping[str, Any]], tests: Mapping[int, TestSet],
    predicted: Mapping[tuple[str, int, int], Sequence[str]], repeats: bool = False,
) -> tuple[list[int], list[tuple[str, Sequence[Any], Sequence[str], Sequence[str]]]]:
    """Return the seeds both (strategy, size) pairs were scored on, and per seed (test id, gold, A's, B's predictions).

    `repeats` (cross-validation, where every seed scores the same examples): when one of the
    two ran more seeds than the other (the schedule repeats only the strategies that fit on
    the frozen vectors), each of its seeds is paired with the other's answers on the first
    seed it ran, so the difference reads the mean over all its partitions.
    """
    mine = _seeds_of(*a, trials)
    seeds = [s for s in mine if s in tests and (*a, s) in predicted and (*b, s) in predicted]
    if repeats and seeds:
        theirs = _seeds_of(*b, trials)
        every = sorted(s for s in set(mine) | set(theirs) if s in tests and tests[s].test_id == tests[seeds[0]].test_id)
        if len(every) > len(seeds) and (len(mine) == 1 or len(theirs) == 1):
            def answers(key: tuple[str, int], s: int) -> Sequence[str]:
                return predicted.get((*key, s)) or predicted[(*key, seeds[0])]

            return every, [(tests[s].test_id, tests[s].gold, answers(a, s), answers(b, s)) for s in every]
    return seeds, [(tests[s].test_id, tests[s].gold, predicted[(*a, s)], predicted[(*b, s)]) for s in seeds]


def _unpaired(a: TrackPoint | CurveRow, b: TrackPoint | CurveRow, margin: float) -> PairedComparison:
    """Return A minus B from two independent intervals, combined as normal errors (wider than a paired test)."""
    difference = a.mean - b.mean
    error = math.hypot(a.ci_high - a.ci_low, b.ci_high - b.ci_low) / (2 * Z95)

    def above(value: float) -> float:
        return 0.5 * (1 + math.erf((difference - value) / (error * math.sqrt(2)))) if error > 0 else float(difference > value)

    return PairedComparison(
        difference, difference - Z95 * error, difference + Z95 * error, above(0.0), above(margin), 1.0 - above(-margin)
    )


@dataclass(frozen=True)
class _Evidence:
    """What every paired difference of one run reads: its trials, test sets and predictions, and how to score them."""

    trials: Sequence[Mapping[str, Any]]
    tests: Mapping[int, TestSet]
    predicted: Mapping[tuple[str, int, int], Sequence[str]]  # empty: no paired comparisons (unpaired, from intervals)
    scoring: Scoring | None
    metric: str
    n_resamples: int
    cross_validated: bool = False
    folds: int = 1  # the run's folds; a trial fitted on fewer records its own

    @property
    def examples(self) -> int:
        """Return the test examples a paired difference rests on (per seed; 0 when nothing is paired)."""
        return max((len(t.gold) for t in self.tests.values()), default=0) if self.predicted else 0

    def difference(
        self, a: TrackPoint | CurveRow, a_size: int, b: TrackPoint | CurveRow, b_size: int, seed: int, margin: float = 0.0,
    ) -> tuple[list[int], list[tuple[str, Sequence[Any], Sequence[str], Sequence[str]]], PairedComparison]:
        """Return A minus B (A at `a_size`, B at `b_size`): the seeds and runs paired on, and the comparison.

        Paired over the test examples and seeds both were scored on; from the two intervals
        (unpaired, no seeds or runs) when there are no predictions to pair.
        """
        seeds, runs = _runs(
            (a.strategy, a_size), (b.strategy, b_size), self.trials, self.tests, self.predicted, self.cross_validated
        )
        if seeds and self.scoring is not None:
            inflate = self.inflation((a.strategy, a_size), (b.strategy, b_size))
            result = paired_seeds_bootstrap(
                runs, self.scoring, self.metric, n_resamples=self.n_resamples, seed=seed, margin=margin, inflate=inflate
            )
            return seeds, runs, result
        return [], [], _unpaired(a, b, margin)

    def inflation(self, *keys: tuple[str, int]) -> float:
        """Return the widening of a cross-validated difference (`cv_inflation`) for the fewest folds
        any of these (strategy, size) trials was fitted on: a size that fits in a smaller training
        part takes fewer folds (`Split.folds_at`). 1 on a hold-out."""
        if not self.cross_validated:
            return 1.0
        folds = [int(t.get("folds") or self.folds) for t in self.trials if (t["strategy"], t["n_per_class"]) in keys]
        return cv_inflation(min(folds, default=self.folds))


def _compare(prompt: TrackPoint, finetune: TrackPoint, evidence: _Evidence, seed: int, min_gain: float = 0.0) -> Comparison:
    """Return fine-tune minus prompt at one size: paired when predictions exist, else from the intervals."""
    seeds, runs, result = evidence.difference(
        finetune, finetune.measured_at, prompt, prompt.measured_at, seed + finetune.n_per_class, min_gain
    )
    tests_by_seed = []
    for s, (_, gold, by_finetune, by_prompt) in zip(seeds, runs):
        test = mcnemar([_right(f, g) for f, g in zip(by_finetune, gold)], [_right(p, g) for p, g in zip(by_prompt, gold)])
        tests_by_seed.append(McNemarSeed(s, test.b, test.c, test.p_value, test.exact))
    if not seeds:
        seeds = _seeds_of(finetune.strategy, finetune.measured_at, evidence.trials)
    return Comparison(
        finetune.n_per_class, prompt, finetune, result.difference, result.ci_low, result.ci_high, result.p_a_better,
        bool(tests_by_seed), len(seeds), tuple(tests_by_seed), min_gain, result.p_a_ahead, result.p_b_ahead,
    )


def _simpler_if_as_good(
    best: TrackPoint, track: str, rows: Sequence[CurveRow], evidence: _Evidence, seed: int, min_gain: float
) -> tuple[TrackPoint, TrackPick | None]:
    """Return the track's contestant at `best`'s size, and the pick when it is not `best` (the best mean).

    When `best` trains through the model (its trials' `work` > 0: texts or calls through the
    model, counted, not timed), the contestant is the best-scoring strategy of the track on the
    same backend that does not (a head on frozen vectors, a prompt as written), provided it is
    shown to be as good: the upper end of the 95% interval of `best`'s lead over it (paired, as
    the decision measures it) is at most `min_gain`, and so is the smallest difference the test
    examples can show to be absent (`significance.resolution`: two that both answer all 16
    examples right have the interval [0, 0], which shows nothing). The same quality with fewer
    fitted degrees of freedom is the safer hand-over; a lead that is merely unresolved keeps the
    best mean.
    Two strategies that both train are not ranked this way (their work says how long they
    train, not how much they can overfit). Documents without `work` get no pick.
    """
    def work_and_backend(strategy: str, n_per_class: int) -> tuple[float | None, str]:
        found = [t for t in evidence.trials if t["strategy"] == strategy and t["n_per_class"] == n_per_class]
        works = [t.get("work") for t in found]
        if not found or any(w is None for w in works):
            return None, ""
        return mean(float(w) for w in works), str(found[0].get("backend", ""))

    best_work, backend = work_and_backend(best.strategy, best.measured_at)
    if not best_work:
        return best, None
    eligible = []
    for name, row in latest_rows(rows, track, best.n_per_class).items():
        work, where = work_and_backend(name, row.n_per_class)
        if name == best.strategy or work != 0 or where != backend:
            continue
        _, _, result = evidence.difference(best, best.measured_at, row, row.n_per_class, seed + 11)
        if max(result.ci_high, resolution(evidence.examples)) <= min_gain:
            eligible.append((-row.mean, row.n_per_class, row.strategy, row, result.difference, result.ci_high))
    if not eligible:
        return best, None
    *_, row, difference, ci_high = min(eligible, key=lambda e: e[:3])
    point = TrackPoint(best.n_per_class, row.strategy, row.n_per_class, row.mean, row.ci_low, row.ci_high)
    return point, TrackPick(track, best.n_per_class, best.strategy, row.strategy, difference, ci_high, best_work)


def _higher_curve_if_level(
    best: TrackPoint, track: str, rows: Sequence[CurveRow], evidence: _Evidence, seed: int, min_gain: float
) -> tuple[TrackPoint, TrackPick | None]:
    """Return the track's contestant at `best`'s size, and the pick when it is not `best` (the best mean).

    Among the strategies measured at the same size whose score is within `min_gain` of
    `best`'s (a lead that does not matter), the one whose learning curve — a power law fitted to
    its scores at every size, 3 sizes or more — is the highest at that size stands for the
    track, when it is higher than `best`'s by `min_gain` or more: a fitted lead is held to the
    same margin as a measured one, so two curves that end level leave `best` standing. The last
    point of a curve is one draw of the training subset and the test examples; the fit reads all
    of them. Without two fitted curves `best` stands, and so it does when the measurements
    contradict the fit: `best` is shown to gain faster per doubling than the other over their
    last two sizes (`Climb`, paired). A saturating power law cannot follow a curve that is still
    accelerating (a fine-tune whose steps grow with the data): it fits such a curve below its
    last points, and would pass over the strategy climbing fastest, which the hand-over, trained
    on every example, takes further up (measured in docs/benchmarks.md, "The learning-curve
    rule against the measured climb").
    """
    def fitted(strategy: str) -> float | None:
        own = strategy_curve(rows, strategy)
        fit = extrapolate([r.n_per_class for r in own], [r.mean for r in own], [best.measured_at], n_boot=0)
        return fit.points[0].estimate if fit.fitted else None

    level = [
        row for row in latest_rows(rows, track, best.n_per_class).values()
        if row.n_per_class == best.measured_at and best.mean - row.mean < min_gain
    ]
    if len(level) < 2:  # nothing level with the best mean: no curve to fit
        return best, None
    curves = {row.strategy: fitted(row.strategy) for row in level}
    if curves.get(best.strategy) is None:
        return best, None
    row = max(
        (r for r in level if curves[r.strategy] is not None),
        key=lambda r: (curves[r.strategy], r.strategy == best.strategy, r.mean),
    )
    if row.strategy == best.strategy or curves[row.strategy] - curves[best.strategy] < min_gain:
        return best, None
    best_row = next(r for r in level if r.strategy == best.strategy)
    climb = _climb(row.strategy, row.n_per_class, best_row, rows, evidence, seed + 29)
    if climb is not None and climb.ci_low > 0:  # the fit is contradicted: `best` is measured climbing faster
        return best, None
    _, _, result = evidence.difference(best, best.measured_at, row, row.n_per_class, seed + 13)
    point = TrackPoint(best.n_per_class, row.strategy, row.n_per_class, row.mean, row.ci_low, row.ci_high)
    return point, TrackPick(
        track, best.n_per_class, best.strategy, row.strategy, result.difference, result.ci_high, 0.0,
        "curve", curves[best.strategy], curves[row.strategy],
    )


def _rivals(
    final: Comparison, rows: Sequence[CurveRow], evidence: _Evidence, seed: int, min_gain: float
) -> tuple[TrackRival, ...]:
    """Return each track's strategies that its contestant is not shown ahead of, the closest first.

    Each is paired with the contestant as the decision pairs the two tracks; a strategy that
    stopped early (or needs no examples) is compared at its largest size measured.
    """
    found = []
    for track, contestant in (("prompt", final.prompt), ("finetune", final.finetune)):
        for name, row in sorted(latest_rows(rows, track, contestant.n_per_class).items()):
            if name == contestant.strategy:
                continue
            _, _, result = evidence.difference(
                contestant, contestant.measured_at, row, row.n_per_class, seed + 17, min_gain
            )
            if result.ci_low <= 0:
                found.append(TrackRival(
                    track, contestant.n_per_class, contestant.strategy, name, result.difference,
                    result.ci_low, result.ci_high, result.p_b_ahead,
                    _climb(contestant.strategy, contestant.measured_at, row, rows, evidence, seed + 29),
                ))
    return tuple(sorted(found, key=lambda r: (r.track, r.difference, r.rival)))


def _climb(
    contestant: str, measured_at: int, rival: CurveRow, rows: Sequence[CurveRow], evidence: _Evidence, seed: int
) -> Climb | None:
    """Return how fast `rival` and the contestant (measured at `measured_at`) gain per doubling between
    their last two measured sizes, with the paired interval of the difference; None when either has
    fewer than two sizes with examples, or the four trials share no seed with predictions."""
    def last_two(strategy: str, upto: int) -> tuple[int, int] | None:
        sizes = [r.n_per_class for r in strategy_curve(rows, strategy) if 0 < r.n_per_class <= upto]
        return (sizes[-2], sizes[-1]) if len(sizes) >= 2 else None

    ours, theirs = last_two(contestant, measured_at), last_two(rival.strategy, rival.n_per_class)
    if ours is None or theirs is None or evidence.scoring is None:
        return None
    keys = [(rival.strategy, theirs[1]), (rival.strategy, theirs[0]), (contestant, ours[1]), (contestant, ours[0])]
    seeds = [
        s for s in _seeds_of(*keys[0], evidence.trials)
        if s in evidence.tests and all((*key, s) in evidence.predicted for key in keys)
    ]
    if not seeds:
        return None
    ours_doublings, theirs_doublings = math.log2(ours[1] / ours[0]), math.log2(theirs[1] / theirs[0])
    weights = (1 / theirs_doublings, -1 / theirs_doublings, -1 / ours_doublings, 1 / ours_doublings)
    runs = [
        (evidence.tests[s].test_id, evidence.tests[s].gold, [evidence.predicted[(*key, s)] for key in keys])
        for s in seeds
    ]
    result = paired_contrast_bootstrap(
        runs, weights, evidence.scoring, evidence.metric, n_resamples=evidence.n_resamples, seed=seed,
        inflate=evidence.inflation(*keys),
    )
    scoring, metric = evidence.scoring, evidence.metric

    def gain(first: int, weight: float) -> float:  # one strategy's gain per doubling on the seeds paired
        return mean(
            weight * sum(
                sign * scoring.evaluate(scoring.statistics(gold, answers[i]).sum(axis=0, keepdims=True))[metric][0]
                for i, sign in ((first, 1), (first + 1, -1))
            )
            for _, gold, answers in runs
        )

    return Climb(
        ours, round(float(gain(2, 1 / ours_doublings)), 6), theirs, round(float(gain(0, 1 / theirs_doublings)), 6),
        round(result.difference, 6), round(result.ci_low, 6), round(result.ci_high, 6),
    )


def _baseline_checks(
    leaders: Sequence[TrackPoint], rows: Sequence[CurveRow], evidence: _Evidence, seed: int
) -> tuple[BaselineCheck, ...]:
    """Return each leader against the best baseline, paired on the seeds both ran (unpaired without predictions)."""
    baselines = [r for r in rows if r.track == "baseline"]
    if not baselines:
        return ()
    baseline = max(baselines, key=lambda r: r.mean)
    checks = []
    for point in leaders:
        track = next((r.track for r in rows if r.strategy == point.strategy), "")
        _, _, result = evidence.difference(point, point.measured_at, baseline, baseline.n_per_class, seed + 7)
        checks.append(BaselineCheck(
            track, point.strategy, point.measured_at, baseline.strategy, baseline.mean, result.difference,
            result.ci_low, result.ci_high, result.p_a_better,
        ))
    return tuple(checks)


def _crossover(
    comparisons: Sequence[Comparison], prompt: Sequence[TrackPoint], finetune: Sequence[TrackPoint], unit: str
) -> Crossover:
    if not comparisons:
        missing = "fine-tune" if prompt else "prompt"
        return Crossover(None, False, f"No crossover can be measured: the {missing} track was not run.")
    return find_crossover(
        [c.n_per_class for c in comparisons],
        [PairedComparison(c.difference, c.ci_low, c.ci_high, c.p_finetune_better) for c in comparisons],
        unit,
    )


# --- extrapolation ----------------------------------------------------------------------


def _extrapolate_track(
    rows: Sequence[CurveRow],
    curve: Sequence[TrackPoint],
    track: str,
    seed: int,
    contestant: TrackPoint | None = None,
    evidence: _Evidence | None = None,
) -> TrackExtrapolation | None:
    """Return the extrapolation of the track's contestant in the decision (else the strategy leading
    the track at its largest size): the strategy a user would take on with more data."""
    if not curve:
        return None
    leader = contestant or curve[-1]
    largest = leader.n_per_class
    targets = [largest * factor for factor in GROWTH_FACTORS] if largest > 0 else []
    sized = [p for p in curve if p.n_per_class > 0]
    gain = plateau([p.n_per_class for p in sized], [p.mean for p in sized]) if len(sized) >= 2 else None
    gain_ci = _gain_interval(sized[-2], sized[-1], evidence, seed) if gain is not None and evidence else (None, None)
    if leader.measured_at == 0:
        # Needs no labelled examples: more data cannot change it.
        points = tuple(ExtrapolatedPoint(t, leader.mean, leader.ci_low, leader.ci_high) for t in targets)
        return TrackExtrapolation(track, leader.strategy, "flat", (leader.mean, 0.0, 1.0), (0,), points, gain, "estimate", *gain_ci)
    own = [r for r in strategy_curve(rows, leader.strategy) if r.n_per_class >= 1]
    fitted = extrapolate(
        [r.n_per_class for r in own], [r.mean for r in own], targets, seed=seed,
        errors=[max((r.ci_high - r.ci_low) / (2 * Z95), 1e-6) for r in own],
    )
    measured = tuple(r.n_per_class for r in own)
    if not fitted.fitted:
        return TrackExtrapolation(track, leader.strategy, "none", None, measured, (), gain, "estimate", *gain_ci)
    # A saturating power law cannot follow a curve that is still accelerating (e.g. a fine-tune
    # whose step budget grows with the data): when the fit misses the largest measured point's
    # interval, its extrapolation would contradict the measurement, so none is made.
    last = own[-1]
    fitted_last = float(power_law(np.array([float(last.n_per_class)]), *fitted.params)[0])
    if not last.ci_low <= fitted_last <= last.ci_high:
        return TrackExtrapolation(track, leader.strategy, "poor-fit", None, measured, (), gain, "estimate", *gain_ci)
    return TrackExtrapolation(track, leader.strategy, "power-law", fitted.params, measured, fitted.points, gain, "estimate", *gain_ci)


def _gain_interval(
    before: TrackPoint, last: TrackPoint, evidence: _Evidence, seed: int
) -> tuple[float | None, float | None]:
    """Return the 95% interval of a track's gain per doubling between two sizes: the paired difference
    of its points there (the same test examples, each scored at both sizes) over the doublings
    between them. (None, None) without predictions to pair: two intervals of one curve overlap too
    much to say anything the point estimates do not."""
    seeds, _, result = evidence.difference(last, last.measured_at, before, before.measured_at, seed + 23)
    doublings = math.log2(last.n_per_class / before.n_per_class)
    if not seeds or doublings <= 0:
        return None, None
    return round(result.ci_low / doublings, 6), round(result.ci_high / doublings, 6)


def _data_need(
    final: Comparison | None,
    extrapolations: Sequence[TrackExtrapolation],
    n_labels: int,
    pool: int | None,
    test_examples: int,
) -> DataNeed | None:
    """Return the estimated size at which an undecided comparison would likely be decided.

    Searched up to the largest extrapolation target (4x today's size): the first size at
    which the expected gap exceeds the smallest gap the same test set resolves, kept only if
    the extrapolation intervals give the leading track at least LIKELY odds of being ahead
    there. The expected gap is today's measured difference plus the change the fitted curves
    predict from today's size to that one: the curves say how the gap moves, the measurement
    where it stands (a fit that misses today's point would otherwise "decide" the comparison
    one example later). The resolvable gap is half of today's 95% interval, but at least
    3.84 / N for N test examples: a paired test confirms a gap g only if g > 1.96 * sqrt(g / N),
    even when every disagreement goes one way. None when the comparison is already decided,
    a curve could not be fitted, or no size qualifies.
    """
    if final is None or final.verdict != "tie":
        return None
    by_track = {e.track: e for e in extrapolations}
    prompt, finetune = by_track.get("prompt"), by_track.get("finetune")
    if prompt is None or finetune is None or prompt.params is None or finetune.params is None:
        return None
    if prompt.model == "flat" and finetune.model == "flat":
        return None
    resolvable = max((final.ci_high - final.ci_low) / 2, Z95**2 / test_examples if test_examples else 0.0)
    largest = final.n_per_class
    fitted_today = finetune.at(largest) - prompt.at(largest)  # type: ignore[operator]
    for n in range(largest + 1, largest * max(GROWTH_FACTORS) + 1):
        gap = final.difference + (finetune.at(n) - prompt.at(n)) - fitted_today  # type: ignore[operator]
        if abs(gap) <= resolvable:
            continue
        chance = _chance_ahead(prompt, finetune, n, gap)
        if chance < LIKELY:
            return None
        more = n - largest
        return DataNeed(
            "finetune" if gap > 0 else "prompt", n, more, more * n_labels, round(gap, 6), round(resolvable, 6),
            round(chance, 3), pool,
        )
    return None


def _chance_ahead(prompt: TrackExtrapolation, finetune: TrackExtrapolation, n: int, gap: float) -> float:
    """Return the normal-approximation probability that the leader is ahead by the expected `gap` at n
    (fine-tune minus prompt), with the spread of the extrapolations at the first target >= n."""
    def error_of(extrapolation: TrackExtrapolation) -> float:
        point = next((p for p in extrapolation.points if p.n_per_class >= n), extrapolation.points[-1])
        return (point.ci_high - point.ci_low) / (2 * Z95)

    error = math.hypot(error_of(prompt), error_of(finetune))
    if error == 0:
        return 1.0
    return 0.5 * (1 + math.erf(abs(gap) / (error * math.sqrt(2))))


# --- consistency, timing, confusion, disagreement -------------------------------------------


def _seed_consistency(
    point: TrackPoint,
    rows: Sequence[CurveRow],
    trials: Sequence[Mapping[str, Any]],
    tests: Mapping[int, TestSet],
    predicted: Mapping[tuple[str, int, int], Sequence[str]],
    metric: str,
) -> SeedConsistency:
    chosen = [t for t in trials if t["strategy"] == point.strategy and t["n_per_class"] == point.measured_at]
    spread = seed_spread([t["metrics"][metric] for t in chosen])
    runs = [predicted.get((point.strategy, point.measured_at, int(t["seed"]))) for t in chosen]
    same_test = len({tests[int(t["seed"])].test_id for t in chosen if int(t["seed"]) in tests}) == 1
    agreement = prediction_agreement(runs) if len(runs) > 1 and all(runs) and same_test else None
    track = next((r.track for r in rows if r.strategy == point.strategy), "")
    return SeedConsistency(
        point.strategy, track, point.measured_at, len(chosen), spread.mean, spread.std, spread.min, spread.max, agreement,
    )


def _prompt_variants(trials: Sequence[Mapping[str, Any]]) -> tuple[PromptVariants, ...]:
    """Return, per strategy that scored several prompts, their spread at its largest size."""
    from shouldtune.records import TrialRecord

    def validation_scores(trial: Mapping[str, Any]) -> Any:
        search = TrialRecord.from_json(trial).search
        return dict(search.validation_scores) if search is not None else None

    scored = [t for t in trials if isinstance(validation_scores(t), dict)]
    found = []
    for strategy in sorted({t["strategy"] for t in scored}):
        largest = max(t["n_per_class"] for t in scored if t["strategy"] == strategy)
        at_largest = [t for t in scored if t["strategy"] == strategy and t["n_per_class"] == largest]
        per_seed = [values for values in (list(validation_scores(t).values()) for t in at_largest) if values]
        if not per_seed or max(len(values) for values in per_seed) < 2:
            continue
        examples = [int((t.get("details") or {}).get("validated_on") or 0) for t in at_largest]
        chances = [(t.get("details") or {}).get("wording_spread_p") for t in at_largest]
        found.append(PromptVariants(
            strategy, largest, max(len(values) for values in per_seed),
            min(min(values) for values in per_seed), max(max(values) for values in per_seed),
            mean(max(values) - min(values) for values in per_seed), min(examples) if all(examples) else 0,
            max(float(p) for p in chances) if all(p is not None for p in chances) else None,
        ))
    return tuple(found)


def _timings(
    rows: Sequence[CurveRow], trials: Sequence[Mapping[str, Any]], tests: Mapping[int, TestSet], test_size: int
) -> tuple[StrategyTiming, ...]:
    """Return each strategy's mean timing at its largest size."""
    timings = []
    for strategy in dict.fromkeys(t["strategy"] for t in trials):
        largest = max(t["n_per_class"] for t in trials if t["strategy"] == strategy)
        chosen = [t for t in trials if t["strategy"] == strategy and t["n_per_class"] == largest]
        sizes = [len(tests[t["seed"]].gold) if t["seed"] in tests else _test_examples(t, test_size) for t in chosen]
        per_request = [t["predict_seconds"] / max(size, 1) for t, size in zip(chosen, sizes)]
        measured = all(isinstance(t.get("latency_ms"), dict) for t in chosen)
        p50 = mean(t["latency_ms"]["p50"] for t in chosen) if measured else 1000 * mean(per_request)
        p95 = mean(t["latency_ms"]["p95"] for t in chosen) if measured else 1000 * mean(per_request)
        tokens = [t.get("tokens") or {} for t in chosen]
        row = next((r for r in rows if r.strategy == strategy and r.n_per_class == largest), None)
        timings.append(StrategyTiming(
            strategy=strategy,
            track=chosen[0]["track"],
            n_per_class=largest,
            mean=row.mean if row else mean(next(iter(t["metrics"].values())) for t in chosen),
            ci_low=row.ci_low if row else 0.0,
            ci_high=row.ci_high if row else 1.0,
            fit_seconds=mean(t["fit_seconds"] for t in chosen),
            predict_seconds=mean(t["predict_seconds"] for t in chosen),
            test_examples=round(mean(sizes)),
            seconds_per_request=mean(per_request),
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_measured=measured,
            prompt_tokens_per_request=mean(float(t.get("prompt_per_request", 0.0)) for t in tokens),
            output_tokens_per_request=mean(float(t.get("output_per_request", 0.0)) for t in tokens),
            training_tokens=mean(float(t.get("training", 0.0)) for t in tokens),
            backend=str(chosen[0].get("backend", "")),
            charged_by=str(chosen[0].get("charged_by", "compute")),
            model=str(chosen[0].get("model", "")),
        ))
    return tuple(timings)


def _test_examples(trial: Mapping[str, Any], test_size: int) -> int:
    """Return a trial's test-set size: from the run's data, else from its throughput."""
    if test_size:
        return test_size
    rate = trial.get("examples_per_second") or 0
    return max(1, round(trial["predict_seconds"] * rate))


def _confusion(
    point: TrackPoint,
    rows: Sequence[CurveRow],
    tests: Mapping[int, TestSet],
    predicted: Mapping[tuple[str, int, int], Sequence[str]],
    labels: Sequence[str],
) -> Confusion | None:
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    seeds = 0
    for s, test in sorted(tests.items()):
        run = predicted.get((point.strategy, point.measured_at, s))
        if run is None:
            continue
        seeds += 1
        np.add.at(counts, ([index[g] for g in test.gold], [index[p] for p in run]), 1)
    if not seeds:
        return None
    track = next((r.track for r in rows if r.strategy == point.strategy), "")
    return Confusion(
        point.strategy, track, point.measured_at, seeds, tuple(labels), tuple(tuple(int(v) for v in row) for row in counts)
    )


def _right(predicted: str, gold: str | tuple[str, ...]) -> bool:
    """Return whether a prediction is the gold label or output, or one of an input's references."""
    return predicted == gold if isinstance(gold, str) else predicted in gold


def _disagreements(
    final: Comparison, tests: Mapping[int, TestSet], predicted: Mapping[tuple[str, int, int], Sequence[str]]
) -> Disagreements | None:
    """Return where the final comparison's two strategies disagree, on the first seed both ran."""
    prompt, finetune = final.prompt, final.finetune
    seed = next(
        (s for s in sorted(tests)
         if (prompt.strategy, prompt.measured_at, s) in predicted and (finetune.strategy, finetune.measured_at, s) in predicted),
        None,
    )
    if seed is None:
        return None
    test = tests[seed]
    by_prompt = predicted[(prompt.strategy, prompt.measured_at, seed)]
    by_finetune = predicted[(finetune.strategy, finetune.measured_at, seed)]
    groups: dict[str, list[Disagreement]] = {"finetune": [], "prompt": [], "neither": []}
    for i, (gold, p, f) in enumerate(zip(test.gold, by_prompt, by_finetune)):
        if p != f:
            right = "finetune" if _right(f, gold) else "prompt" if _right(p, gold) else "neither"
            shown = gold if isinstance(gold, str) else f"{gold[0]} (or one of {len(gold) - 1} other references)"
            groups[right].append(Disagreement(i, test.texts[i], shown, p, f))
    # Take from each group in turn, so the few kept show both tracks' wins and shared misses.
    kept: list[Disagreement] = []
    queues = [list(group) for group in groups.values()]
    while len(kept) < MAX_DISAGREEMENTS and any(queues):
        for queue in queues:
            if queue and len(kept) < MAX_DISAGREEMENTS:
                kept.append(queue.pop(0))
    return Disagreements(
        seed, final.n_per_class, prompt.strategy, finetune.strategy, len(test.gold),
        sum(len(g) for g in groups.values()), len(groups["finetune"]), len(groups["prompt"]), len(groups["neither"]),
        tuple(sorted(kept, key=lambda d: d.index)),
    )
