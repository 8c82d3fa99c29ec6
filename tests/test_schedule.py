"""The adaptive plan: sizes first, what cannot win left out (and said), extra seeds only in doubt."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.analysis.metrics import LabelScoring
from shouldtune.cli import app
from shouldtune.experiment import run_experiment
from shouldtune.schedule import Schedule
from shouldtune.task import load_task

GOLD = ["A", "B"] * 20
RIGHT = list(GOLD)
WRONG = ["B" if g == "A" else "A" for g in GOLD]
HALF = RIGHT[:20] + WRONG[20:]


class Final:
    """A stand-in for the analysis `Schedule` reads: the final comparison's verdict and contestants."""

    def __init__(self, verdict: str) -> None:
        self.verdict = verdict
        self.prompt = type("Point", (), {"strategy": "few-shot-knn", "measured_at": 8})()
        self.finetune = type("Point", (), {"strategy": "linear-probe", "measured_at": 16})()


class Analysis:
    def __init__(self, verdict: str) -> None:
        self.final = Final(verdict)
        self.baseline_unbeaten = False


def encoder_classes(*names: str) -> dict[str, type]:
    from shouldtune.strategies.registry import strategy_class

    return {name: strategy_class(name, "encoder") for name in names}


def schedule(work: dict[str, float], exhaustive: bool = False) -> Schedule:
    return Schedule(
        ["majority", "few-shot-knn", "prompt-search", "linear-probe"], [0, 4, 8, 16], [0, 1, 2],
        encoder_classes("majority", "few-shot-knn", "prompt-search", "linear-probe"),
        LabelScoring(("A", "B")), "accuracy", {s: GOLD for s in (0, 1, 2)}, {s: "t" for s in (0, 1, 2)},
        lambda name, n: work.get(name, 0.0), exhaustive=exhaustive,
    )


def simulate(plan: Schedule, outcome: dict[str, list[str]], verdict: str) -> tuple[list[tuple], list[dict]]:
    ran: list[tuple] = []
    trials: list[dict] = []
    predictions: dict = {}

    def run(keys):
        for key in keys:
            ran.append(key)
            trials.append({"strategy": key[0], "n_per_class": key[1], "seed": key[2], "fit_seconds": 0, "predict_seconds": 0})
            predictions[key] = outcome[key[0]]

    skipped = plan.execute(run, trials, predictions, lambda: Analysis(verdict), lambda line: None)
    return ran, skipped


def test_sizes_run_smallest_first_on_the_first_seed_then_nothing_more_when_clear():
    outcome = {"majority": WRONG, "few-shot-knn": HALF, "prompt-search": HALF, "linear-probe": RIGHT}
    ran, skipped = simulate(schedule({}), outcome, verdict="finetune")
    assert [key[1] for key in ran] == sorted(key[1] for key in ran)  # sizes first
    assert {key[2] for key in ran} == {0}  # the decision was clear: no extra seeds
    assert len(ran) == 1 + 3 * 3
    assert all("clear on seed 0" in entry["reason"] for entry in skipped)


def test_a_dominated_and_costlier_strategy_stops_and_the_reason_is_kept():
    # prompt-search is beaten by few-shot-knn at 4 and 8 and does more work: not run at 16.
    outcome = {"majority": WRONG, "few-shot-knn": RIGHT, "prompt-search": HALF, "linear-probe": RIGHT}
    ran, skipped = simulate(schedule({"prompt-search": 100.0}), outcome, verdict="tie")
    assert ("prompt-search", 8, 0) in ran and ("prompt-search", 16, 0) not in ran
    dropped = next(entry for entry in skipped if entry["strategy"] == "prompt-search" and entry["n_per_class"] == [16])
    assert "few-shot-knn beats it with confidence at 8 per class" in dropped["reason"]
    # In doubt: the two contestants and the baseline get the other seeds, nobody else does.
    extra = {key for key in ran if key[2] != 0}
    contestants = (("few-shot-knn", 8), ("linear-probe", 16), ("majority", 0))
    assert extra == {(name, n, seed) for name, n in contestants for seed in (1, 2)}


def test_a_fine_tune_that_trains_weights_is_never_stopped_early():
    # full-like: behind linear-probe at 4 and 8, but its training grows with the data.
    plan = Schedule(
        ["majority", "few-shot-knn", "linear-probe", "full"], [0, 4, 8, 16], [0],
        encoder_classes("majority", "few-shot-knn", "linear-probe", "full"),
        LabelScoring(("A", "B")), "accuracy", {0: GOLD}, {0: "t"}, lambda name, n: 16.0 * n if name == "full" else 0.0,
    )
    outcome = {"majority": WRONG, "few-shot-knn": HALF, "linear-probe": RIGHT, "full": HALF}
    ran, skipped = simulate(plan, outcome, verdict="finetune")
    assert ("full", 16, 0) in ran and skipped == []


def test_a_dominated_but_cheaper_strategy_keeps_running():
    outcome = {"majority": WRONG, "few-shot-knn": RIGHT, "prompt-search": HALF, "linear-probe": RIGHT}
    ran, _ = simulate(schedule({"few-shot-knn": 100.0}), outcome, verdict="finetune")
    assert ("prompt-search", 16, 0) in ran


def test_exhaustive_runs_the_whole_grid():
    outcome = {"majority": WRONG, "few-shot-knn": RIGHT, "prompt-search": HALF, "linear-probe": RIGHT}
    plan = schedule({"prompt-search": 100.0}, exhaustive=True)
    ran, skipped = simulate(plan, outcome, verdict="finetune")
    assert ran == plan.grid() and len(ran) == 3 * (1 + 3 * 3) and skipped == []


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_folder: Path) -> Path:
    data = Path(__file__).parent / "data"
    task = tmp_path_factory.mktemp("schedule") / "task.yaml"
    task.write_text(
        f"name: plan\ndata: {data / 'trec_small_train.jsonl'}\ntest: {data / 'trec_small_test.jsonl'}\n"
        "sizes: [2, 4]\nseeds: 2\nstrategies: [majority, few-shot-knn, linear-probe]\n"
        f"backend: {{model: {tiny_encoder_folder}}}\n"
    )
    return task


def test_exhaustive_after_a_default_run_reuses_its_trials_and_fills_the_rest(task_file: Path, tmp_path: Path):
    store = tmp_path / "store.db"
    default = run_experiment(load_task(task_file), store_path=store).to_json()
    lines: list[str] = []
    full = run_experiment(load_task(task_file, exhaustive=True), store_path=store, say=lines.append).to_json()
    assert full["run_id"] == default["run_id"]  # exhaustive changes no trial, so it is the same run
    assert len(full["trials"]) == 2 * (1 + 2 * 2) and full["skipped"] == []
    assert full["reused_trials"] == len(default["trials"])
    assert any(f"reusing {len(default['trials'])} of 10" in line for line in lines)


def test_plan_prints_trials_and_estimates_and_touches_nothing(task_file: Path, tmp_path: Path):
    store = tmp_path / "store.db"
    result = CliRunner().invoke(app, ["run", str(task_file), "--plan", "--store", str(store), "--strategies",
                                      "majority,linear-probe,setfit"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "setfit finetune 2 trials on the first seed, 4 in all" in text
    assert "estimated wait: about" in text and "to train on one (forward and backward)" in text
    assert "majority baseline 1 trial on the first seed, 2 in all" in text  # one trial, not "1 trials"
    assert "when the first seed settles the decision" in text  # a hold-out: extra seeds run when in doubt
    assert "a training step besides (the optimiser's update)" in text
    assert not store.exists() and not (tmp_path / "runs").exists()


def test_a_cross_validated_plan_does_not_promise_extra_seeds_the_run_never_runs():
    from shouldtune.plan import RunPlan, StrategyPlan, describe

    setfit = StrategyPlan("setfit", "finetune", (4, 7), 2, 6, (2, 5), 100.0)
    plan = RunPlan((setfit,), (0, 4, 7), 3, "5-fold", 16, 16, 0.004, 0.012, 0.1, 0.2, cross_validated=True)
    last = describe(plan)[-1]
    assert last == "estimated wait: about 3.3 min (cross-validated: the other seeds run only for the strategies that " \
                   "fit on the frozen vectors, in seconds; 10.0 min for every seed of every strategy, --exhaustive)"
    assert "  setfit         finetune  2 trials on the first seed, 6 in all, 2 to 5 fits each (folds): about 3.3 min " \
           "(all seeds: 10.0 min)" in describe(plan)


def test_a_cross_validated_plan_counts_one_fit_per_fold():
    from shouldtune.plan import _trial_seconds
    from shouldtune.strategies.registry import strategy_class

    setfit = strategy_class("setfit", "encoder")
    per_fit = setfit(None).work(48, 6) * 0.05  # 48 examples of 6 labels, 50 ms per text trained on
    # A hold-out fits once; five folds fit five times, two folds twice. Each embeds the test set once.
    hold_out = _trial_seconds(setfit, {}, [48], 6, 100, [1], 0.01, 0.05)
    five_folds = _trial_seconds(setfit, {}, [48], 6, 60, [5], 0.01, 0.05)
    assert hold_out == pytest.approx(per_fit + 100 * 0.01)
    assert five_folds == pytest.approx(5 * per_fit + 60 * 0.01)
    two_then_five = _trial_seconds(setfit, {}, [48, 48], 6, 60, [2, 5], 0.01, 0.05)
    assert two_then_five == pytest.approx((2 + 5) / 2 * per_fit + 60 * 0.01)


def test_a_plan_counts_a_cost_per_training_step_besides_the_texts():
    from shouldtune.plan import _trial_seconds
    from shouldtune.strategies.registry import strategy_class

    # 12 texts of 2 labels (a fold of a 16-example budget): setfit's 100 steps each hold 12 texts, so 100 ms a
    # step for the optimiser weighs about as much as 8 ms for each of the step's texts.
    setfit, full = strategy_class("setfit", "encoder"), strategy_class("full", "encoder")
    with_steps = _trial_seconds(setfit, {}, [12], 2, 0, [1], 0.01, 0.008, 0.1)
    texts_only = _trial_seconds(setfit, {}, [12], 2, 0, [1], 0.01, 0.008)
    assert texts_only == pytest.approx(100 * 12 * 0.008)
    assert with_steps == pytest.approx(texts_only + 100 * 0.1)
    # full takes 4 epochs of ceil(48 / 16) steps: 12 steps, each with the same fixed cost...
    assert _trial_seconds(full, {}, [48], 6, 0, [1], 0.01, 0.008, 0.1) == pytest.approx(12 * 16 * 0.008 + 12 * 0.1)
    # ...and with a floor of 25: 8 epochs of 48 texts, then one batch of 16.
    assert _trial_seconds(full, {"min_steps": 25}, [48], 6, 0, [1], 0.01, 0.008, 0.1) == pytest.approx((8 * 48 + 16) * 0.008 + 25 * 0.1)


def test_a_plan_counts_the_texts_prompt_search_embeds_to_choose_its_prompt():
    from shouldtune.plan import _trial_seconds
    from shouldtune.strategies.base import StrategyContext
    from shouldtune.strategies.registry import strategy_class

    search = strategy_class("prompt-search", "encoder")
    per_fit = search(StrategyContext(encoder=None)).work(48, 6) * 0.01  # every candidate prompt on every example, 10 ms per text embedded
    assert per_fit > 0
    assert _trial_seconds(search, {}, [48], 6, 60, [5], 0.01, 0.05) == pytest.approx(5 * per_fit)
    # Strategies on the cached encoder's own embeddings plan no computing.
    assert _trial_seconds(strategy_class("linear-probe", "encoder"), {}, [48], 6, 60, [5], 0.01, 0.05) == 0.0


def test_only_strategies_that_say_they_fit_on_the_frozen_vectors_are_repeated_and_the_split_says_which():
    from shouldtune.planning import prepare, split_text
    from shouldtune.schedule import repeated
    from shouldtune.strategies.base import Strategy

    classes = encoder_classes("majority", "zero-shot", "few-shot-knn", "prompt-search", "linear-probe", "setfit", "full")
    assert [name for name, cls in classes.items() if repeated(cls)] == ["few-shot-knn", "prompt-search", "linear-probe"]

    class PlugInFineTune(Strategy):  # needs only the encoder, as the base class assumes, but trains for minutes
        name = "plug-in"
        track = "finetune"

    assert not repeated(PlugInFineTune)  # repeating is a strategy's own claim, not read off what it requires

    data = Path(__file__).parent / "data" / "trec_small_train.jsonl"
    task = load_task(None, data=data, strategies=["majority", "full"], seeds=3)
    prepared = prepare(task)
    assert ", 1 repeat:" in split_text(task, prepared.test, prepared.splits, prepared.seeds, encoder_classes("majority", "full"))
    named = split_text(task, prepared.test, prepared.splits, prepared.seeds, classes)
    assert "3 repeats for few-shot-knn, prompt-search and linear-probe (fits on the frozen vectors), 1 for the rest" in named
