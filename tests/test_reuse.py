"""Trial-level reuse: a trial is found again by what determines its outputs, from any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from shouldtune.experiment import run_experiment
from shouldtune.task import load_task

DATA = Path(__file__).parent / "data"
STRATEGIES = ("majority", "few-shot-knn", "linear-probe", "full")


def task(**changes):
    settings = dict(
        data=str(DATA / "trec_small_train.jsonl"), test=str(DATA / "trec_small_test.jsonl"),
        strategies=STRATEGIES, strategy_params={"full": {"max_steps": 2}}, sizes=(0, 4), seeds=1, exhaustive=True,
    )
    return load_task(None, **{**settings, **changes})


@pytest.fixture
def first_run(tmp_path):
    store = tmp_path / "store.db"
    result = run_experiment(task(), store_path=store)
    assert result.reused_trials == 0
    return store, {(t["strategy"], t["n_per_class"], t["seed"]): t for t in result.trials}


def ran(store: Path, lines: list[str], **changes) -> tuple[set[tuple[str, int, int]], object]:
    """Return the trials a run computed (not reused) and its result."""
    result = run_experiment(task(**changes), store_path=store, say=lines.append)
    fresh = {(line.split()[0], int(line.split()[1][2:]), int(line.split()[2][5:])) for line in lines if line.startswith("  ") and " n=" in line}
    return fresh, result


def test_another_metric_retrains_nothing(first_run):
    store, before = first_run
    lines: list[str] = []
    fresh, result = ran(store, lines, metric="accuracy")
    assert fresh == set() and result.reused_trials == len(before)
    assert any(line.startswith(f"reusing {len(before)} of {len(before)} finished trials") for line in lines)
    # The same trials, times and all: nothing was measured again.
    assert {(t["strategy"], t["n_per_class"]): t["fit_seconds"] for t in result.trials} == {
        (k[0], k[1]): t["fit_seconds"] for k, t in before.items()
    }


def test_an_extra_size_seed_or_strategy_runs_only_what_is_new(first_run):
    store, before = first_run
    fresh, _ = ran(store, [], sizes=(0, 4, 8))
    assert fresh == {("few-shot-knn", 8, 0), ("linear-probe", 8, 0), ("full", 8, 0)}
    fresh, _ = ran(store, [], seeds=2)
    assert fresh == {(name, n, 1) for name, n in (("majority", 0), ("few-shot-knn", 4), ("linear-probe", 4), ("full", 4))}
    fresh, _ = ran(store, [], strategies=(*STRATEGIES, "zero-shot"))
    assert fresh == {("zero-shot", 0, 0)}


def test_settings_that_change_outputs_do_change_the_key(first_run):
    store, before = first_run
    fresh, _ = ran(store, [], strategy_params={"full": {"max_steps": 3}})
    assert fresh == {("full", 4, 0)}  # only the strategy whose settings changed
    fresh, _ = ran(store, [], template="Question: {text}")
    assert fresh == set(before)  # the prompt settings are part of every trial's identity


def test_a_trial_of_the_same_run_whose_identity_changed_runs_again(first_run, monkeypatch):
    # A release that changes a strategy's defaults keeps the run's id (the task is the same) but
    # not the strategy's trial identity: its trials must be computed again, not read back.
    import shouldtune.experiment as experiment

    store, before = first_run
    original = experiment.trial_key
    monkeypatch.setattr(
        experiment, "trial_key",
        lambda task, contestant, *rest: original(task, contestant, *rest) + ("-changed" if contestant.strategy == "full" else ""),
    )
    fresh, result = ran(store, [])
    assert fresh == {("full", 4, 0)}
    assert result.reused_trials == len(before) - 1
    fresh, _ = ran(store, [])  # saved under its new identity: found again
    assert fresh == set()


def test_fresh_computes_every_trial_again(first_run):
    store, before = first_run
    result = run_experiment(task(), store_path=store, fresh=True)
    assert result.reused_trials == 0 and len(result.trials) == len(before)
