"""The adaptive plan: which trials a run spends its time on, and which it can leave out.

A comparison is a grid of trials (strategy × size × seed), and the fine-tune strategies'
fits dominate its wait. Most of that grid cannot change the decision, so by default:

1. **Sizes first, one seed.** Every strategy runs at each size in turn, smallest first, on
   the first seed, so the learning curves fill in early.
2. **Don't train what cannot win.** After each size, a strategy that another strategy of its
   own track beats with confidence at this size and the one before (paired 95% interval
   above zero both times), and that also needs more computing (`Strategy.work`: texts through
   the model, counted, not timed, so the plan is the same on every run), is not run at
   larger sizes: it is recorded as skipped, with the reason, and shown in the report. A
   fine-tune strategy that trains weights is never stopped this way: its budget grows with
   the data, so at small sizes it is under-trained as well as under-fed, and it can overtake
   late (TREC: `full` was behind linear-probe with confidence at 4 and 8 per class, and first
   at 64, by +0.04 over setfit).
3. **Extra seeds only where the decision is in doubt.** When the comparison of the two
   tracks' best is not settled on the first seed (its interval spans zero, or no track yet
   beats the baseline with confidence), the remaining seeds are run for those two
   contestants and the baseline — the only trials the decision reads.
4. **With cross-validation, more partitions only where they cost nothing.** A seed is then a
   repeat that deals the same examples into folds another way. More repeats add no
   examples, but a score read off one partition moves with which examples share a fold: on
   64 sst2 examples few-shot-knn's 5-fold macro-F1 ranges 0.570–0.748 over ten partitions
   (benchmarks/cv_partitions.py). The strategies that fit on the frozen, cached vectors
   (`Strategy.repeatable`: few-shot-knn, linear-probe, prompt-search) fit in
   milliseconds to seconds, so every seed is run for them at every size they ran, and their
   score is the mean over partitions; the fine-tunes, whose fits are the wait, run one.

`exhaustive` runs the whole grid instead. Every trial is the same whichever way it was
planned (seeded the same), so an exhaustive rerun of a run reuses every trial already run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shouldtune.analysis.metrics import Scoring
from shouldtune.analysis.significance import paired_seeds_bootstrap
from shouldtune.data.checks import counted

TrialKey = tuple[str, int, int]  # (strategy, n_per_class, seed)
Run = Callable[[list[TrialKey]], None]
Work = Callable[[str, int], float]  # (strategy, n_per_class) -> texts through the model to fit it


@dataclass(frozen=True)
class Domination:
    """Why a strategy was left out of the larger sizes."""

    strategy: str
    by: str
    n_per_class: int  # the size at which it was shown to be dominated the second time
    difference: float  # by's score minus the strategy's, at that size
    ci_low: float
    ci_high: float
    work: float  # the dominated strategy's training work there (texts through the model)
    by_work: float

    def reason(self, metric: str) -> str:
        return (
            f"{self.by} beats it with confidence at {self.n_per_class} per class and the size before "
            f"({self.difference:+.3f} {metric}, 95% CI {self.ci_low:+.3f} to {self.ci_high:+.3f}) with less computing "
            f"({self.by_work:,.0f} against {self.work:,.0f} texts through the model to fit)"
        )


class Schedule:
    """Runs a comparison's trials in the adaptive order (or the whole grid when `exhaustive`)."""

    def __init__(
        self,
        names: Sequence[str],
        sizes: Sequence[int],
        seeds: Sequence[int],
        classes: Mapping[str, type],
        scoring: Scoring,
        metric: str,
        gold: Mapping[int, Sequence[str]],
        test_ids: Mapping[int, str],
        work: Work,
        *,
        exhaustive: bool = False,
        cross_validated: bool = False,
    ) -> None:
        self.names = tuple(names)
        self.seeds = tuple(seeds)
        self.classes = dict(classes)  # contestant -> its strategy class
        self.scoring = scoring
        self.metric = metric
        self.gold = gold
        self.test_ids = test_ids
        self.work = work
        self.exhaustive = exhaustive
        self.cross_validated = cross_validated
        self.points = {name: self._points(name, sizes) for name in self.names}
        self.sizes = sorted({n for points in self.points.values() for n in points})

    def _points(self, name: str, sizes: Sequence[int]) -> tuple[int, ...]:
        cls = self.classes[name]
        if cls.track == "baseline" or not cls.needs_examples:
            return (0,)  # baselines and zero-example prompts do not depend on n
        return tuple(n for n in sizes if n > 0)

    def grid(self) -> list[TrialKey]:
        """Return every trial of the full grid, sizes first (smallest first), then strategy, then seed."""
        return [
            (name, n, seed) for n in self.sizes for name in self.names if n in self.points[name] for seed in self.seeds
        ]

    def execute(
        self,
        run: Run,
        trials: Sequence[Mapping[str, Any]],
        predictions: Mapping[TrialKey, Sequence[str]],
        evaluate: Callable[[], Any],
        say: Callable[[str], None],
    ) -> list[dict[str, Any]]:
        """Run the trials through `run`; return what was left out and why (nothing when exhaustive).

        `trials` and `predictions` are filled by `run`; `evaluate()` returns the analysis of
        what has run so far (its `final` comparison and `baseline_unbeaten`).
        """
        if self.exhaustive:
            run(self.grid())
            return []
        first = self.seeds[0]
        active = list(self.names)
        dominated: dict[str, Domination] = {}
        ran: list[tuple[str, int]] = []  # (strategy, size) run on the first seed
        for position, n in enumerate(self.sizes):
            keys = [(name, n, first) for name in active if n in self.points[name]]
            run(keys)
            ran += [(name, size) for name, size, _ in keys]
            if n > 0 and position > 0:
                for found in self._dominated(active, n, self.sizes[position - 1], trials, predictions):
                    dominated[found.strategy] = found
                    active.remove(found.strategy)
                    say(f"  not running {found.strategy} at larger sizes: {found.reason(self.metric)}")
        skipped = [
            {
                "strategy": name,
                "n_per_class": [n for n in self.points[name] if n > found.n_per_class],
                "seeds": list(self.seeds),
                "reason": found.reason(self.metric),
            }
            for name, found in dominated.items()
            if any(n > found.n_per_class for n in self.points[name])
        ]
        if len(self.seeds) > 1:
            skipped += self._extra_seeds(run, ran, evaluate, say)
        return skipped

    def _extra_seeds(
        self, run: Run, ran: Sequence[tuple[str, int]], evaluate: Callable[[], Any], say: Callable[[str], None]
    ) -> list[dict[str, Any]]:
        """Run the other seeds for the decision's contestants when it is in doubt; return what was not run."""
        rest = list(self.seeds[1:])
        if self.cross_validated:
            cheap = [(name, n) for name, n in ran if repeated(self.classes[name])]
            if cheap:
                names = ", ".join(dict.fromkeys(name for name, _ in cheap))
                say(f"  dealing the folds {counted(len(rest), 'more way')} for {names} (fits on the frozen vectors: seconds)")
                run([(name, n, seed) for name, n in cheap for seed in rest])
            return _left_out(
                ran, set(cheap), rest,
                "cross-validated: every example is scored already; repeats are run only for the strategies that fit on the frozen vectors",
            )
        analysis = evaluate()
        final = analysis.final
        contestants: list[tuple[str, int]] = []
        if final is not None:
            contestants = [(final.prompt.strategy, final.prompt.measured_at), (final.finetune.strategy, final.finetune.measured_at)]
        baselines = [(name, 0) for name in self.names if self.classes[name].track == "baseline"]
        in_doubt = final is None or final.verdict == "tie" or analysis.baseline_unbeaten
        if in_doubt and (contestants or baselines):
            say(
                f"  the decision is in doubt on seed {self.seeds[0]}: running seeds {', '.join(map(str, rest))} "
                f"for {', '.join(name for name, _ in contestants + baselines)}"
            )
            run([(name, n, seed) for name, n in contestants + baselines for seed in rest])
        measured = set(contestants + baselines) if in_doubt else set()
        why = (
            "extra seeds run only for the decision's two contestants and the baseline"
            if in_doubt else f"the decision was clear on seed {self.seeds[0]}: extra seeds would not change it"
        )
        return _left_out(ran, measured, rest, why)

    def _dominated(
        self,
        active: Sequence[str],
        n: int,
        previous: int,
        trials: Sequence[Mapping[str, Any]],
        predictions: Mapping[TrialKey, Sequence[str]],
    ) -> list[Domination]:
        """Return the active strategies dominated at `n` and `previous` by a faster one of their track."""
        first = self.seeds[0]
        by_key = {(t["strategy"], t["n_per_class"], t["seed"]): t for t in trials}
        found = []
        for name in active:
            track = self.classes[name].track
            if track == "baseline" or (name, n, first) not in by_key or (name, previous, first) not in by_key:
                continue
            work = self.work(name, n)
            if track == "finetune" and work > 0:
                continue  # trains weights on a budget that grows with the data: it can overtake late
            for other in active:
                if other == name or self.classes[other].track != track:
                    continue
                if (other, n, first) not in by_key or (other, previous, first) not in by_key:
                    continue
                other_work = self.work(other, n)
                if other_work >= work or other in {d.strategy for d in found}:
                    continue
                now = self._paired(other, name, n, predictions)
                before = self._paired(other, name, previous, predictions)
                if now.ci_low > 0 and before.ci_low > 0:
                    found.append(Domination(name, other, n, now.difference, now.ci_low, now.ci_high, work, other_work))
                    break
        return found

    def _paired(self, a: str, b: str, n: int, predictions: Mapping[TrialKey, Sequence[str]]) -> Any:
        first = self.seeds[0]
        run = (self.test_ids[first], self.gold[first], predictions[(a, n, first)], predictions[(b, n, first)])
        return paired_seeds_bootstrap([run], self.scoring, self.metric, seed=n)


def repeated(cls: type) -> bool:
    """Return whether a strategy class is run on every seed's fold partition by a default
    cross-validated run: it learns from examples on the frozen encoder's cached vectors alone
    (`Strategy.repeatable`: no fine-tune, no language model), a fit of milliseconds to seconds."""
    return cls.track != "baseline" and cls.needs_examples and bool(getattr(cls, "repeatable", False))


def _left_out(
    ran: Sequence[tuple[str, int]], measured: set[tuple[str, int]], seeds: list[int], why: str
) -> list[dict[str, Any]]:
    """Return, per strategy, the sizes run on the first seed only, as entries of results.json's `skipped`."""
    sizes: dict[str, list[int]] = {}
    for name, n in ran:
        if (name, n) not in measured:
            sizes.setdefault(name, []).append(n)
    return [{"strategy": name, "n_per_class": found, "seeds": seeds, "reason": why} for name, found in sizes.items()]
