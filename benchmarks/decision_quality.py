"""Decision quality: is shouldtune's recommendation from a small budget right on a large test set?

Run (the full benchmark; see docs/benchmarks.md for its cost):
    .venv/bin/python benchmarks/decision_quality.py --out runs/decision-quality

For each dataset with a large test set, budget (labelled examples per class) and draw, it
simulates a user who has only that budget: the budget is written to a JSONL file and the
default comparison runs on it with no test file, as `shouldtune run --data budget.jsonl`
would. Then every strategy the run ran is exported (its trial at the largest size and first
seed, refitted), loaded back, and scored on the large test set with the run's decision
metric. Per case it reports the choice, the recommended strategy, each strategy's large-set
score, the regret (best strategy's large-set score minus the recommended one's), whether the
recommended strategy's track is the track that wins on the large set, for "either"
whether the two tracks' best are within 2 points there, and the rivals the run named beside
the recommended strategy (its track's strategies not told apart from it): whether the
large-set best is among the named, and the regret of the better of them.

Writes OUT/decision_quality.json (every case) and OUT/decision_quality.md (the tables).

A task held back from every rule of the decision (asked for by name, never run by default):
    .venv/bin/python benchmarks/decision_quality.py --datasets trec_fine --budgets 8 --seeds 3 --out runs/held-back

Re-judge earlier cases with this release's decision (no training; seconds):
    .venv/bin/python benchmarks/decision_quality.py --rejudge runs/decision-quality/decision_quality.json --out runs/rejudged

Each case's run is decided afresh from its store, as `shouldtune report` does, and the new
recommendation is held against the large-set scores recorded for that case. A change to the
decision is measured this way before the benchmark is run again in full.

Stores hold fine-tuned exports' embeddings and live under runs/, outside the project. A case's
record holds only its evidence (the run's results and predictions) and how it was judged; the
project keeps the benchmark's records in benchmarks/records/decision-quality/, so every recorded
case can be decided afresh from a clean clone (tests/test_benchmark_records.py does, for each):
    .venv/bin/python benchmarks/decision_quality.py ... --records benchmarks/records/decision-quality
    .venv/bin/python benchmarks/decision_quality.py --rejudge benchmarks/records/decision-quality/*.json.gz --out runs/rejudged
`--records` writes the record of every case a command decides (run, re-run or re-judged).

Run earlier cases again on their stores (a release that runs more trials, e.g. more fold
partitions for some strategies; minutes where it adds only cheap trials):
    .venv/bin/python benchmarks/decision_quality.py --rejudge runs/decision-quality/decision_quality.json --rerun --out runs/rerun

Each case's budget is drawn again (the same bytes), the default comparison runs on the case's
store, reusing every trial already there, and its decision is held against the recorded
large-set scores (nothing is exported: the strategies handed over are fitted as before). A
release that changes how a strategy trains names it in `--rescore`: it is exported and scored on
the large set again.
    .venv/bin/python benchmarks/decision_quality.py --rejudge runs/decision-quality/decision_quality.json --rerun --rescore full --out runs/rerun
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = ("sst2", "trec", "banking77", "sms_spam")
# Tasks no decision rule was read off: asked for by name, never run by default (see load_dataset).
HELD_BACK = ("trec_fine",)
HELD_BACK_MIN_TEST = 8  # trec_fine keeps the fine labels with at least this many test questions
NATURAL_MINIMUM = 2  # a natural budget holds at least this many of every label (stratified folds need 2)
SMS_SPAM_TEST_FRACTION = 1 / 3  # sms_spam has no official split: a third of its distinct texts is the large test set
REGRET_TOLERANCE = 0.01  # a case is "right enough" when its regret is at most 1 point of the metric
EITHER_TOLERANCE = 0.02  # "either" is right when the two tracks' best are within 2 points on the large set
PROMPT, FINETUNE, BASELINE = "prompt", "finetune", "baseline"
# The recommendation's own odds, where the version under test reports them (read with .get).
ODDS_FIELDS = ("confidence", "probability", "expected_difference", "more_examples_per_class")
QUALITY_NUMBERS = ("difference", "ci_low", "ci_high", "p_finetune_better")


@dataclass(frozen=True)
class Settings:
    """What to run: the command line, resolved."""

    datasets: tuple[str, ...]
    budgets: tuple[int, ...]  # labelled examples per class a simulated user has
    draws: int  # draws of each budget, seeds 0..draws-1
    max_test: int | None
    strategies: tuple[str, ...] | None  # None: the product's default set
    sizes: tuple[int, ...] | None  # None: the product's default sizes
    data_root: Path
    out: Path
    store: Path
    cases_folder: Path  # each case's budget file (and exports, if kept)
    keep_exports: bool
    rejudge: tuple[Path, ...] = ()  # earlier decision_quality.json files to decide afresh instead of running
    rerun: bool = False  # with rejudge: run each case again on its store (finished trials reused) before deciding
    rescore: tuple[str, ...] = ()  # with rerun: strategies exported and scored on the large set again
    natural: bool = False  # budgets in the pool's label proportions, not per_class of every label
    first_draw: int = 0  # the draws run are first_draw .. first_draw + draws - 1
    records: Path | None = None  # a folder: each case decided is written there as a record (see write_record)


@dataclass(frozen=True)
class LabelledTexts:
    """Texts and their labels, in a fixed order."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Dataset:
    """A dataset split into the pool users draw their budgets from and a large test set they never see."""

    name: str
    pool: LabelledTexts
    test: LabelledTexts

    @property
    def label_set(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.pool.labels) | set(self.test.labels)))


@dataclass(frozen=True)
class StrategyScore:
    """One strategy of a run, exported and scored on the large test set."""

    strategy: str
    track: str
    n_per_class: int  # the size of the exported trial (the run's largest for this strategy)
    run_score: float  # the trial's score on the run's own (small) test set
    large_set_score: float
    refit_mismatches: int  # run test predictions where the refitted export differs from the trial (0: reproduced)


@dataclass(frozen=True)
class CaseResult:
    """One simulated user: what shouldtune recommended from the budget, and how it holds on the large set."""

    dataset: str
    budget_per_class: int
    draw: int
    budget_examples: int
    test_examples: int
    metric: str
    run_id: str
    choice: str
    recommended: str
    recommended_track: str
    summary: str
    scores: tuple[StrategyScore, ...]
    best_strategy: str
    best_prompt: str | None
    best_finetune: str | None
    winning_track: str  # the track of the best strategy on the large set (baseline when it beats both)
    regret: float | None  # None when the run named no strategy
    track_right: bool | None
    either_right: bool | None  # only for choice "either": the tracks' best within 2 points on the large set
    odds: dict[str, Any]  # the recommendation's probability and interval fields, as it reports them
    wall_seconds: float
    refusal: str | None = None  # the one-line error when the run refused the budget (choice "refused")
    rivals: tuple[str, ...] = ()  # the recommended strategy's track's strategies the run did not tell apart from it
    best_named: bool | None = None  # the large-set best is the recommended strategy or a named rival
    regret_of_named: float | None = None  # the regret of the better (on the large set) of the recommended and its rivals
    store: str | None = None  # the run's store, where it is not the document's (re-judged cases from several files)


# --- data -----------------------------------------------------------------------------------


def read_jsonl(path: Path, label_field: str = "label") -> LabelledTexts:
    """Return the texts and labels (`label_field`) of a shared dataset's JSONL file."""
    from shouldtune.data import read_examples

    examples = read_examples(path, "text", label_field)
    return LabelledTexts(examples.texts, examples.labels)


def only_labels(examples: LabelledTexts, kept: Collection[str]) -> LabelledTexts:
    """Return the examples whose label is in `kept`."""
    rows = [(t, label) for t, label in zip(examples.texts, examples.labels) if label in kept]
    return LabelledTexts(tuple(t for t, _ in rows), tuple(label for _, label in rows))


def distinct(examples: LabelledTexts, leave_out: Collection[str] = ()) -> LabelledTexts:
    """Return the examples with each text once (first occurrence), without the texts in `leave_out`."""
    seen = set(leave_out)
    texts, labels = [], []
    for text, label in zip(examples.texts, examples.labels):
        if text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label)
    return LabelledTexts(tuple(texts), tuple(labels))


def by_label(examples: LabelledTexts) -> dict[str, list[str]]:
    """Return each label's texts, in order."""
    grouped: dict[str, list[str]] = {}
    for text, label in zip(examples.texts, examples.labels):
        grouped.setdefault(label, []).append(text)
    return dict(sorted(grouped.items()))


def stratified_slice(examples: LabelledTexts, size: int, seed: str) -> LabelledTexts:
    """Return about `size` examples, each label's share kept (largest remainders), drawn with `seed`."""
    if size >= len(examples):
        return examples
    grouped = by_label(examples)
    quotas = {label: size * len(texts) / len(examples) for label, texts in grouped.items()}
    counts = {label: int(quota) for label, quota in quotas.items()}
    by_remainder = sorted(quotas, key=lambda label: (counts[label] - quotas[label], label))
    for label in by_remainder[: size - sum(counts.values())]:
        counts[label] += 1
    rng = random.Random(seed)
    chosen = {label: set(rng.sample(texts, counts[label])) for label, texts in grouped.items()}
    kept = [(t, label) for t, label in zip(examples.texts, examples.labels) if t in chosen[label]]
    return LabelledTexts(tuple(t for t, _ in kept), tuple(label for _, label in kept))


def without(examples: LabelledTexts, part: LabelledTexts) -> LabelledTexts:
    """Return the examples whose texts are not in `part`."""
    return distinct(examples, leave_out=set(part.texts))


def load_dataset(name: str, data_root: Path, max_test: int | None) -> Dataset:
    """Return a shared dataset as a pool and a large test set with no text in common.

    `trec_fine` is a held-back task: TREC's questions with their fine labels (`fine_label`,
    e.g. NUM:date against NUM:count), those with at least HELD_BACK_MIN_TEST test questions (14
    labels, 399 test questions), so that every label's F1 on the large set rests on some
    questions. Its texts are trec's, but no decision rule was tuned on its labels.
    """
    folder = data_root / name
    if name == "trec_fine":
        test = distinct(read_jsonl(data_root / "trec" / "test.jsonl", "fine_label"))
        kept = {label for label, count in Counter(test.labels).items() if count >= HELD_BACK_MIN_TEST}
        test = only_labels(test, kept)
        pool = only_labels(without(read_jsonl(data_root / "trec" / "train.jsonl", "fine_label"), test), kept)
    elif name == "sms_spam":  # one file: carve a stratified test set out of it
        everything = distinct(read_jsonl(folder / "all.jsonl"))
        test = stratified_slice(everything, round(len(everything) * SMS_SPAM_TEST_FRACTION), seed=f"{name}-test")
        pool = without(everything, test)
    else:
        test = distinct(read_jsonl(folder / "test.jsonl"))
        pool = without(read_jsonl(folder / "train.jsonl"), test)  # no test text in any user's budget
    if max_test is not None:
        test = stratified_slice(test, max_test, seed=f"{name}-max-test")
    return Dataset(name, pool, test)


def naturally_drawn(dataset: Dataset) -> Dataset:
    """Return the dataset renamed for natural budgets (`DATASET-natural`): its cases, and the
    seeds of its draws, are its own."""
    return replace(dataset, name=f"{dataset.name}-natural")


def draw_budget(dataset: Dataset, per_class: int, draw: int, natural: bool = False) -> LabelledTexts:
    """Return `per_class` examples of every label (all it has, if fewer), drawn with seed `draw`;
    `natural`: per_class × labels examples in all, each label's share of the pool kept (at
    least NATURAL_MINIMUM of each), as a user who labels what arrives would have.

    Each label's pool is shuffled once per (dataset, draw), so one draw's smaller budgets are
    part of its larger ones, as a user who labels more keeps what they had.
    """
    pools = by_label(dataset.pool)
    counts = natural_counts(pools, per_class * len(pools)) if natural else dict.fromkeys(pools, per_class)
    texts, labels = [], []
    for label, pool in pools.items():
        shuffled = list(pool)
        random.Random(f"{dataset.name}-{label}-{draw}").shuffle(shuffled)
        taken = shuffled[: counts[label]]
        texts += taken
        labels += [label] * len(taken)
    order = list(range(len(texts)))
    random.Random(f"{dataset.name}-order-{per_class}-{draw}").shuffle(order)  # not sorted by label, as real data
    return LabelledTexts(tuple(texts[i] for i in order), tuple(labels[i] for i in order))


def natural_counts(pools: dict[str, list[str]], size: int) -> dict[str, int]:
    """Return how many of each label a budget of about `size` holds in the pools' proportions
    (largest remainders), at least NATURAL_MINIMUM of each (and never more than a label has)."""
    total = sum(len(pool) for pool in pools.values())
    quotas = {label: size * len(pool) / total for label, pool in pools.items()}
    counts = {label: int(quota) for label, quota in quotas.items()}
    by_remainder = sorted(quotas, key=lambda label: (counts[label] - quotas[label], label))
    for label in by_remainder[: size - sum(counts.values())]:
        counts[label] += 1
    return {label: min(max(count, NATURAL_MINIMUM), len(pools[label])) for label, count in counts.items()}


def write_jsonl(examples: LabelledTexts, path: Path) -> None:
    """Write the examples as a user's JSONL file with `text` and `label` columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for text, label in zip(examples.texts, examples.labels):
            handle.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")


# --- one case -------------------------------------------------------------------------------


def plain(line: str) -> str:
    """Return a progress line of the library without its Rich markup."""
    from rich.text import Text

    try:
        return Text.from_markup(line).plain
    except Exception:  # a line whose brackets are not markup: print it as it is
        return line


def score_strategy(
    store_path: Path, run: Any, strategy: str, export_folder: Path, test: LabelledTexts, label_set: Sequence[str]
) -> StrategyScore:
    """Return `strategy` of the run exported, loaded back, and scored on the large test set."""
    from shouldtune.analysis.metrics import scores
    from shouldtune.export import export_run
    from shouldtune.predict import load_exported
    from shouldtune.store import Store

    exported = export_run(store_path, run.run_id, strategy, export_folder)
    with Store(store_path) as store:  # lends its embedding cache: the large test set is embedded once per encoder
        loaded = load_exported(export_folder, store)
        predicted = loaded.strategy.predict(list(test.texts))
    metric = run.task.metric
    manifest = exported.manifest
    return StrategyScore(
        strategy=strategy,
        track=manifest.track,
        n_per_class=manifest.n_per_class,
        run_score=float(manifest.test_metrics[metric]),
        large_set_score=scores(test.labels, predicted, label_set)[metric],
        refit_mismatches=exported.mismatches,
    )


def budget_arguments(parser: argparse.ArgumentParser, draws: str) -> argparse.ArgumentParser:
    """Add the options of a script that fits strategies on draws of one budget: dataset, budget, draws."""
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--per-class", type=int, default=7, help="The budget: labelled examples per class.")
    parser.add_argument("--draws", default=draws, help="Comma-separated draws of the budget.")
    parser.add_argument("--max-test", type=int, default=1000)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    return parser


def fit_and_score(name: str, params: dict[str, Any], budget: LabelledTexts, dataset: Dataset, encoder: Any) -> tuple[float, float, Any]:
    """Return `name` fitted on `budget` (seed 0) with `params`: its macro-F1 on the large test set, its fit
    seconds, and the fitted strategy."""
    from shouldtune.analysis.metrics import scores
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    train = TrainingSet(budget.texts, budget.labels, tuple(sorted(set(budget.labels))))
    start = time.perf_counter()
    strategy = build(name, StrategyContext(encoder=encoder, seed=0), params).fit(train)
    seconds = time.perf_counter() - start
    predicted = strategy.predict(list(dataset.test.texts))
    return scores(dataset.test.labels, predicted, dataset.label_set)["macro_f1"], seconds, strategy


def best_of(scored: Sequence[StrategyScore], track: str | None = None) -> StrategyScore | None:
    """Return the best-scoring strategy on the large set (of one track, if given); earliest on ties."""
    candidates = [s for s in scored if track is None or s.track == track]
    return max(candidates, key=lambda s: s.large_set_score) if candidates else None


def winner(best: StrategyScore | None, best_prompt: StrategyScore | None, best_finetune: StrategyScore | None) -> str:
    """Return the track that wins on the large set: baseline if it beats both, else the better track's."""
    if best is None or best.track == BASELINE or best_prompt is None or best_finetune is None:
        return best.track if best is not None else BASELINE
    return PROMPT if best_prompt.large_set_score > best_finetune.large_set_score else FINETUNE


def read_odds(recommendation: dict[str, Any]) -> dict[str, Any]:
    """Return the recommendation's probability and interval fields that this version reports."""
    odds = {key: recommendation.get(key) for key in ODDS_FIELDS if recommendation.get(key) is not None}
    for criterion in recommendation.get("criteria") or ():
        if criterion.get("name") == "quality":
            numbers = criterion.get("numbers") or {}
            odds.update({f"quality.{key}": numbers[key] for key in QUALITY_NUMBERS if numbers.get(key) is not None})
    return odds


def judge(
    dataset: Dataset, per_class: int, draw: int, budget: LabelledTexts, run: Any,
    scored: tuple[StrategyScore, ...], wall_seconds: float,
) -> CaseResult:
    """Return the case's result: the run's recommendation held against the large-set scores."""
    recommendation = run.recommendation.to_json()
    return judge_recommendation(
        dataset.name, per_class, draw, len(budget), len(dataset.test), run.task.metric, run.run_id,
        recommendation, scored, wall_seconds, rivals_of(run.analysis, recommendation.get("strategy") or ""),
    )


def rivals_of(analysis: Any, strategy: str) -> tuple[str, ...]:
    """Return the strategies the analysis did not tell apart from `strategy` within its track."""
    return tuple(r.rival for r in analysis.rivals if r.contestant == strategy)


def judge_recommendation(
    dataset: str, per_class: int, draw: int, budget_examples: int, test_examples: int, metric: str, run_id: str,
    recommendation: dict[str, Any], scored: tuple[StrategyScore, ...], wall_seconds: float,
    rivals: Sequence[str] = (),
) -> CaseResult:
    """Return a recommendation (as results.json holds it) held against the large-set scores."""
    by_name = {s.strategy: s for s in scored}
    chosen = by_name.get(recommendation.get("strategy") or "")
    named = [by_name[name] for name in (chosen.strategy if chosen else None, *rivals) if name in by_name]
    best = best_of(scored)
    best_prompt, best_finetune = best_of(scored, PROMPT), best_of(scored, FINETUNE)
    winning_track = winner(best, best_prompt, best_finetune)
    either_right = None
    if recommendation["choice"] == "either" and best_prompt is not None and best_finetune is not None:
        either_right = abs(best_prompt.large_set_score - best_finetune.large_set_score) <= EITHER_TOLERANCE
    return CaseResult(
        dataset=dataset,
        budget_per_class=per_class,
        draw=draw,
        budget_examples=budget_examples,
        test_examples=test_examples,
        metric=metric,
        run_id=run_id,
        choice=recommendation["choice"],
        recommended=chosen.strategy if chosen else "",
        recommended_track=chosen.track if chosen else "",
        summary=recommendation.get("summary", ""),
        scores=scored,
        best_strategy=best.strategy if best else "",
        best_prompt=best_prompt.strategy if best_prompt else None,
        best_finetune=best_finetune.strategy if best_finetune else None,
        winning_track=winning_track,
        regret=round(best.large_set_score - chosen.large_set_score, 6) if best and chosen else None,
        track_right=chosen.track == winning_track if chosen else None,
        either_right=either_right,
        odds=read_odds(recommendation),
        wall_seconds=round(wall_seconds, 1),
        rivals=tuple(rivals),
        best_named=any(s.strategy == best.strategy for s in named) if best and chosen else None,
        regret_of_named=(
            round(best.large_set_score - max(s.large_set_score for s in named), 6) if best and chosen else None
        ),
    )


def rejudge_case(case: dict[str, Any], store_path: Path) -> CaseResult:
    """Return a recorded case decided afresh from its stored run, judged on its recorded large-set scores."""
    from shouldtune.store import Store

    with Store(store_path, create=False) as store:
        run = store.find_run(case["run_id"], finished=True)
        predictions = store.predictions(run.run_id)
    return replace(decide_again(case, run.results, predictions), store=str(store_path))


def decide_again(
    case: dict[str, Any], results: dict[str, Any], predictions: dict[tuple[str, int, int], Any]
) -> CaseResult:
    """Return a recorded case decided afresh by this release from its run's results and predictions,
    judged on its recorded large-set scores."""
    from shouldtune.recommend import decide

    analysis, recommendation = decide(results, predictions or None)
    scored = tuple(StrategyScore(**score) for score in case["scores"])
    return judge_recommendation(
        case["dataset"], case["budget_per_class"], case["draw"], case["budget_examples"], case["test_examples"],
        case["metric"], case["run_id"], recommendation.to_json(), scored, case["wall_seconds"],
        rivals_of(analysis, recommendation.strategy),
    )


# --- records: a case's evidence, kept with the project ----------------------------------------

RECORD_FORMAT = "shouldtune decision-quality record 1"


def record_name(case: CaseResult) -> str:
    """Return the file name of a case's record: DATASET-PERCLASS-drawD.json.gz."""
    return f"{case.dataset}-{case.budget_per_class}-draw{case.draw}.json.gz"


def write_record(case: CaseResult, store_path: Path, folder: Path) -> Path:
    """Write a decided case's record to `folder`; return its path.

    A record holds what the case's decision is made from, without the store: the run's results
    document and its trials' predictions on the budget, beside the case as judged (the large-set
    scores of every strategy exported). `--rejudge RECORD...` decides it afresh from the record
    alone, so a change to the decision can be judged on every recorded case from a clean clone,
    in seconds. The bytes are the same for the same case (sorted keys, no time stamp in the gzip).
    """
    from shouldtune import __version__
    from shouldtune.store import Store

    with Store(store_path, create=False) as store:
        run = store.find_run(case.run_id, finished=True)
        predictions = store.predictions(run.run_id)
    document = {
        "format": RECORD_FORMAT,
        "shouldtune": __version__,
        "results": run.results,
        "predictions": [[strategy, n, seed, list(answers)] for (strategy, n, seed), answers in sorted(predictions.items())],
    }
    return save_record(document, case, folder)


def save_record(document: dict[str, Any], case: CaseResult, folder: Path) -> Path:
    """Write a record's evidence with `case` (as judged) to `folder`; return its path."""
    document = {**document, "case": {**asdict(case), "store": None}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / record_name(case)
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return path


def read_record(path: Path) -> dict[str, Any]:
    """Return a record written by `write_record`."""
    document = json.loads(gzip.decompress(path.read_bytes()))
    if document.get("format") != RECORD_FORMAT:
        raise ValueError(f"{path}: not a decision-quality record (format {document.get('format')!r})")
    return document


def decide_record(document: dict[str, Any]) -> CaseResult:
    """Return the case of a record (as `read_record` returns it) decided afresh by this release, with no
    store, judged on its recorded large-set scores."""
    predictions = {(strategy, int(n), int(seed)): answers for strategy, n, seed, answers in document["predictions"]}
    return replace(decide_again(document["case"], document["results"], predictions), store=None)


def case_task(
    dataset: Dataset, per_class: int, draw: int, natural: bool, settings: Settings, case_folder: Path
) -> tuple[LabelledTexts, Any]:
    """Return a case's budget, written as the user's JSONL file in `case_folder`, and the default
    comparison's task on it (the same bytes and settings every time, so its trials are reused)."""
    from shouldtune import load_task

    budget = draw_budget(dataset, per_class, draw, natural)
    data_file = case_folder / "budget.jsonl"
    write_jsonl(budget, data_file)
    task = load_task(
        data=data_file, name=f"{dataset.name}-{per_class}-per-class-draw-{draw}",
        strategies=settings.strategies, sizes=settings.sizes,
    )
    return budget, task


def rerun_case(case: dict[str, Any], store_path: Path, settings: Settings, datasets: dict[str, Dataset], say: Any) -> CaseResult:
    """Return a recorded case run again on its store (its finished trials reused) and judged on its
    recorded large-set scores; the strategies of `settings.rescore` (whose training changed) are
    exported and scored on the large set again."""
    from shouldtune import run_experiment

    start = time.perf_counter()
    name = case["dataset"]
    natural = name.endswith("-natural")
    if name not in datasets:
        loaded = load_dataset(name.removesuffix("-natural"), settings.data_root, settings.max_test)
        datasets[name] = naturally_drawn(loaded) if natural else loaded
    per_class, draw = case["budget_per_class"], case["draw"]
    case_folder = settings.cases_folder / f"{name}-{per_class}-draw{draw}"
    budget, task = case_task(datasets[name], per_class, draw, natural, settings, case_folder)
    run = run_experiment(task, store_path=store_path, say=lambda line: say(f"    {plain(line)}"))
    recommendation = run.recommendation.to_json()
    scored, dataset = [StrategyScore(**score) for score in case["scores"]], datasets[name]
    for at, score in enumerate(scored):
        if score.strategy in settings.rescore:
            scored[at] = score_strategy(
                store_path, run, score.strategy, case_folder / "export" / score.strategy, dataset.test, dataset.label_set
            )
            say(f"    {score.strategy}: {scored[at].large_set_score:.3f} on the large set (was {score.large_set_score:.3f})")
    if not settings.keep_exports:
        shutil.rmtree(case_folder / "export", ignore_errors=True)
    judged = judge_recommendation(
        name, per_class, draw, len(budget), case["test_examples"], run.task.metric, run.run_id, recommendation,
        tuple(scored), time.perf_counter() - start,
        rivals_of(run.analysis, recommendation.get("strategy") or ""),
    )
    return replace(judged, store=str(store_path))


def refused(dataset: Dataset, per_class: int, draw: int, budget: LabelledTexts, error: Exception, wall_seconds: float) -> CaseResult:
    """Return the result of a case whose run stopped on the user's input, as `shouldtune run` would (exit 2)."""
    return CaseResult(
        dataset=dataset.name, budget_per_class=per_class, draw=draw, budget_examples=len(budget),
        test_examples=len(dataset.test), metric="", run_id="", choice="refused", recommended="",
        recommended_track="", summary="", scores=(), best_strategy="", best_prompt=None, best_finetune=None,
        winning_track="", regret=None, track_right=None, either_right=None, odds={},
        wall_seconds=round(wall_seconds, 1), refusal=str(error),
    )


def run_case(
    dataset: Dataset, per_class: int, draw: int, settings: Settings, case_folder: Path, say: Any
) -> CaseResult:
    """Simulate one user with `per_class` examples per class, draw `draw`; return the judged result."""
    from shouldtune import run_experiment
    from shouldtune.errors import InputError

    start = time.perf_counter()
    budget, task = case_task(dataset, per_class, draw, settings.natural, settings, case_folder)
    try:
        run = run_experiment(task, store_path=settings.store, say=lambda line: say(f"    {plain(line)}"))
    except InputError as err:  # a user would see this one line and get nothing: count it, go on
        say(f"    refused: {err}")
        return refused(dataset, per_class, draw, budget, err, time.perf_counter() - start)
    strategies = list(dict.fromkeys(trial["strategy"] for trial in run.trials))
    scored = []
    for strategy in strategies:
        export_folder = case_folder / "export" / strategy
        scored.append(score_strategy(settings.store, run, strategy, export_folder, dataset.test, dataset.label_set))
        say(f"    {strategy}: {scored[-1].large_set_score:.3f} on the large set ({len(dataset.test)} examples)")
    if not settings.keep_exports:
        shutil.rmtree(case_folder / "export", ignore_errors=True)  # a fine-tuned encoder is ~90 MB; 36 cases would fill a disk
    return judge(dataset, per_class, draw, budget, run, tuple(scored), time.perf_counter() - start)


# --- summary and tables ---------------------------------------------------------------------


def share(flags: Sequence[bool]) -> str:
    """Return `k/n (p%, 95% CI low–high%)`, or `-` for no cases.

    The interval (Wilson's) is what the cases say about the share over cases like them: on a
    few dozen cases a bar of 90% can lie inside it whichever side of the bar the share falls.
    """
    if not flags:
        return "-"
    from scipy.stats import binomtest

    k, n = sum(flags), len(flags)
    interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return f"{k}/{n} ({k / n:.0%}, 95% CI {interval.low:.0%}–{interval.high:.0%})"


def summary_lines(cases: Sequence[CaseResult], total_seconds: float) -> list[str]:
    """Return the summary: regret ≤ 1 point, right "either"s, mean regret, wall time per case."""
    regrets = [c.regret for c in cases if c.regret is not None]
    either = [c.either_right for c in cases if c.either_right is not None]
    tracks = [c.track_right for c in cases if c.track_right is not None]
    named = [c.best_named for c in cases if c.best_named is not None]
    named_regrets = [c.regret_of_named for c in cases if c.regret_of_named is not None]
    refusals = [c.refusal is not None for c in cases]
    mean_regret = f"{sum(regrets) / len(regrets):.3f}" if regrets else "-"
    per_case = sum(c.wall_seconds for c in cases) / len(cases) if cases else 0.0
    lines = {
        "cases": str(len(cases)),
        "refused by the run": share(refusals),
        f"regret <= {REGRET_TOLERANCE:.2f} (of cases decided)": share([r <= REGRET_TOLERANCE + 1e-9 for r in regrets]),
        f"'either' right (within {EITHER_TOLERANCE:.2f})": share(either),
        "recommended track wins": share(tracks),
        "best named (recommended or a rival)": share(named),
        f"better of the named: regret <= {REGRET_TOLERANCE:.2f}": share([r <= REGRET_TOLERANCE + 1e-9 for r in named_regrets]),
        "mean regret": mean_regret,
        "wall time per case": f"{per_case:.0f} s",
        "total wall time": f"{total_seconds:.0f} s",
    }
    width = max(map(len, lines)) + 2
    return [name.ljust(width) + value for name, value in lines.items()]


def number(value: Any) -> str:
    """Return a float with 3 decimals; anything else as it prints."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def case_table(cases: Sequence[CaseResult]) -> list[str]:
    """Return the markdown table of cases: the decision and how it held on the large set."""
    rows = [
        "| dataset | per class | draw | choice | recommended | rivals | best on large set | regret | track right "
        "| either right | odds | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        regret = "-" if c.regret is None else f"{c.regret:.3f}"
        odds = ", ".join(f"{key} {number(value)}" for key, value in c.odds.items()) or "-"
        rows.append(
            f"| {c.dataset} | {c.budget_per_class} | {c.draw} | {c.choice} | {c.recommended or '-'} "
            f"| {', '.join(c.rivals) or '-'} | {c.best_strategy or '-'} | {regret} | {flag(c.track_right)} | {flag(c.either_right)} | {odds} | {c.wall_seconds:.0f} |"
        )
    return rows


def grid_table(cases: Sequence[CaseResult]) -> list[str]:
    """Return the cases as a grid: a row per dataset and budget, a column per draw, each cell the
    strategy handed over and its regret (bold: within the bar; † the recommended track is not the
    one that wins on the large set). docs/benchmarks.md's "Where it stands" is this table."""
    draws = sorted({c.draw for c in cases})
    rows = ["| dataset | per class | " + " | ".join(f"draw {d}" for d in draws) + " |", "|---|---|" + "---|" * len(draws)]
    by_cell = {(c.dataset, c.budget_per_class, c.draw): c for c in cases}
    for dataset, per_class in dict.fromkeys((c.dataset, c.budget_per_class) for c in cases):
        cells = []
        for draw in draws:
            c = by_cell.get((dataset, per_class, draw))
            if c is None or c.regret is None:
                cells.append("" if c is None else c.choice)
                continue
            text = f"{c.recommended or c.choice}, {number(c.regret) if c.regret else '0'}"
            text = f"**{text}**" if c.regret <= REGRET_TOLERANCE + 1e-9 else text
            cells.append(text + (" †" if c.track_right is False else ""))
        rows.append(f"| {dataset} | {per_class} | " + " | ".join(cells) + " |")
    return rows


def score_table(cases: Sequence[CaseResult]) -> list[str]:
    """Return the markdown table of every strategy's large-set score per case (the recommended in bold)."""
    strategies = list(dict.fromkeys(s.strategy for c in cases for s in c.scores))
    rows = [
        "| dataset | per class | draw | " + " | ".join(strategies) + " |",
        "|---|---|---|" + "---|" * len(strategies),
    ]
    for c in cases:
        by_name = {s.strategy: s for s in c.scores}
        cells = []
        for name in strategies:
            score = by_name.get(name)
            text = "-" if score is None else f"{score.large_set_score:.3f}"
            cells.append(f"**{text}**" if name == c.recommended else text)
        rows.append(f"| {c.dataset} | {c.budget_per_class} | {c.draw} | " + " | ".join(cells) + " |")
    return rows


def write_outputs(cases: Sequence[CaseResult], settings: Settings, total_seconds: float) -> None:
    """Write decision_quality.json (every case) and decision_quality.md (the tables and summary)."""
    from shouldtune import __version__

    document = {
        "shouldtune": __version__,
        "settings": {
            "datasets": settings.datasets, "budgets": settings.budgets, "seeds": settings.draws,
            "max_test": settings.max_test, "strategies": settings.strategies, "sizes": settings.sizes,
            "store": str(settings.store), "data_root": str(settings.data_root), "natural": settings.natural,
            "first_draw": settings.first_draw,
        },
        "summary": summary_lines(cases, total_seconds),
        "cases": [asdict(case) for case in cases],
    }
    (settings.out / "decision_quality.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    metric = next((c.metric for c in cases if c.metric), "macro_f1")
    markdown = [
        f"# Decision quality ({metric} on the large test set)", "",
        *case_table(cases), "", "Large-set score of every strategy (the recommended one in bold):", "",
        *score_table(cases), "", "The strategy handed over and its regret (bold: within the bar; † the track is wrong):", "",
        *grid_table(cases), "", "```", *summary_lines(cases, total_seconds), "```", "",
    ]
    (settings.out / "decision_quality.md").write_text("\n".join(markdown), encoding="utf-8")


# --- command line ---------------------------------------------------------------------------


def comma_ints(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split(",") if part.strip())


def comma_names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_args(argv: Sequence[str] | None) -> Settings:
    """Return the settings from the command line; the store is a fresh one under --out unless --store names one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=comma_names, default=DATASETS, help=f"default: {','.join(DATASETS)}; held back: {','.join(HELD_BACK)}")
    parser.add_argument("--budgets", type=comma_ints, default=(8, 32, 64), help="labelled examples per class; default 8,32,64")
    parser.add_argument("--seeds", type=int, default=1, help="draws of each budget (seeds 0..N-1); default 1")
    parser.add_argument(
        "--first-draw", type=int, default=0, metavar="K",
        help="start at draw K (seeds K..K+N-1): more draws without running the earlier ones again; default 0",
    )
    parser.add_argument("--max-test", type=int, default=None, help="a stratified slice of the large test set, for speed")
    parser.add_argument("--strategies", type=comma_names, default=None, help="passed to the run; default: the product's")
    parser.add_argument("--sizes", type=comma_ints, default=None, help="passed to the run; default: the product's")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help=f"default: {DATA_ROOT}")
    parser.add_argument("--out", type=Path, default=Path("runs/decision-quality"))
    parser.add_argument("--store", type=Path, default=None, help="default: a fresh store under --out")
    parser.add_argument("--keep-exports", action="store_true", help="keep every exported strategy folder")
    parser.add_argument(
        "--natural", action="store_true",
        help="draw each budget in the pool's label proportions (budget x labels examples in all, at least "
        f"{NATURAL_MINIMUM} of each label; cases named DATASET-natural) instead of the budget of every label",
    )
    parser.add_argument(
        "--rejudge", type=Path, nargs="+", default=(), metavar="FILE",
        help="decide the cases of these decision_quality.json files (from their stores) or records (*.json.gz, "
        "from the record alone) afresh; trains nothing",
    )
    parser.add_argument(
        "--records", type=Path, default=None, metavar="DIR",
        help="write each case decided to DIR as a record (its run's results and predictions, and the large-set "
        "scores; DATASET-PERCLASS-drawD.json.gz); --rejudge reads records as well as JSON files",
    )
    parser.add_argument(
        "--rerun", action="store_true",
        help="with --rejudge: run each case again on its store first (finished trials reused, new ones run)",
    )
    parser.add_argument(
        "--rescore", type=lambda text: tuple(s for s in text.split(",") if s), default=(), metavar="STRATEGIES",
        help="with --rerun: export these strategies (comma-separated; a release changed how they train) and score "
        "them on the large set again; the others keep their recorded scores",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.datasets if name not in DATASETS + HELD_BACK]
    if unknown:
        parser.error(f"unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS + HELD_BACK)}")
    if args.rerun and not args.rejudge:
        parser.error("--rerun runs the cases of --rejudge JSON files again: name them")
    if args.rerun and any(path.name.endswith(".json.gz") for path in args.rejudge):
        parser.error("--rerun runs a case again on its store; a record holds no store: name decision_quality.json files")
    if args.rescore and not args.rerun:
        parser.error("--rescore scores strategies that --rerun trained again: add --rerun")
    if args.seeds < 1:
        parser.error("--seeds must be 1 or more")
    if args.first_draw < 0:
        parser.error("--first-draw must be 0 or more")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Settings(
        datasets=args.datasets, budgets=args.budgets, draws=args.seeds, max_test=args.max_test,
        strategies=args.strategies, sizes=args.sizes, data_root=args.data_root, out=args.out,
        store=args.store or args.out / f"store-{stamp}.db", cases_folder=args.out / f"cases-{stamp}",
        keep_exports=args.keep_exports, rejudge=tuple(args.rejudge), natural=args.natural,
        first_draw=args.first_draw, rerun=args.rerun, rescore=args.rescore, records=args.records,
    )


def outcome(case: CaseResult) -> str:
    """Return the progress line that closes a case."""
    if case.refusal is not None:
        return f"refused by the run; {case.wall_seconds:.0f} s"
    regret = "-" if case.regret is None else f"{case.regret:.3f}"
    return (
        f"{case.choice} ({case.recommended or 'no strategy'}); best on the large set {case.best_strategy}; "
        f"regret {regret}; {case.wall_seconds:.0f} s"
    )


def was_and_now(recorded: dict[str, Any], now: CaseResult) -> str:
    """Return the line that closes a re-judged case: what was recorded, and what this release decides."""
    return (
        f"{recorded['dataset']}, {recorded['budget_per_class']} per class, draw {recorded['draw']}: was {recorded['choice']} "
        f"({recorded['recommended'] or 'no strategy'}, regret {number(recorded['regret'])}); now {outcome(now)}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_args(argv)
    settings.out.mkdir(parents=True, exist_ok=True)

    def say(line: str) -> None:
        print(line, flush=True)

    start = time.perf_counter()
    cases: list[CaseResult] = []
    if settings.rejudge:
        datasets: dict[str, Dataset] = {}
        for path in settings.rejudge:
            if path.name.endswith(".json.gz"):  # a record: the case's evidence itself, no store
                record = read_record(path)
                cases.append(decide_record(record))
                say(was_and_now(record["case"], cases[-1]))
                if settings.records is not None:  # the same evidence, the case as this release judges it
                    save_record(record, cases[-1], settings.records)
                continue
            document = json.loads(path.read_text(encoding="utf-8"))
            store = Path(document["settings"]["store"])
            for case in document["cases"]:
                if case.get("refusal") is not None:
                    continue
                found = Path(case.get("store") or store)
                cases.append(
                    rerun_case(case, found, settings, datasets, say) if settings.rerun else rejudge_case(case, found)
                )
                say(was_and_now(case, cases[-1]))
                if settings.records is not None:
                    write_record(cases[-1], found, settings.records)
        finish(cases, settings, time.perf_counter() - start)
        return
    total = len(settings.datasets) * len(settings.budgets) * settings.draws
    for name in settings.datasets:
        dataset = load_dataset(name, settings.data_root, settings.max_test)
        if settings.natural:
            dataset = naturally_drawn(dataset)
        say(f"{name}: pool {len(dataset.pool)}, large test set {len(dataset.test)}, {len(dataset.label_set)} labels")
        for per_class in settings.budgets:
            for draw in range(settings.first_draw, settings.first_draw + settings.draws):
                say(f"[{len(cases) + 1}/{total}] {name}, {per_class} per class, draw {draw}")
                case_folder = settings.cases_folder / f"{name}-{per_class}-draw{draw}"
                case = run_case(dataset, per_class, draw, settings, case_folder, say)
                cases.append(case)
                say(f"  -> {outcome(case)}")
                if settings.records is not None and case.refusal is None:
                    write_record(case, settings.store, settings.records)
                write_outputs(cases, settings, time.perf_counter() - start)  # partial results survive a stop
    finish(cases, settings, time.perf_counter() - start)


def finish(cases: Sequence[CaseResult], settings: Settings, total_seconds: float) -> None:
    """Write the outputs and print the tables and the summary."""
    write_outputs(cases, settings, total_seconds)
    print("\n".join(["", *case_table(cases), "", *score_table(cases), "", *grid_table(cases), "", *summary_lines(cases, total_seconds)]))
    print(f"wrote {settings.out / 'decision_quality.json'} and {settings.out / 'decision_quality.md'}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
