"""Small data without a test file is cross-validated: every example scored, resumable and reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shouldtune.experiment import run_experiment
from shouldtune.export import export_run
from shouldtune.report.markdown import render_markdown
from shouldtune.reproducibility import comparable
from shouldtune.task import load_task

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_folder: Path) -> Path:
    task = tmp_path_factory.mktemp("cv") / "task.yaml"
    task.write_text(
        f"name: cv\ndata: {DATA / 'trec_small_train.jsonl'}\nsizes: [2, 4, 8, 10]\nseeds: 2\nexhaustive: true\n"
        "strategies: [majority, few-shot-knn, linear-probe, full]\n"
        "strategy_params:\n  full: {max_steps: 4, batch_size: 4}\n"
        f"backend: {{model: {tiny_encoder_folder}}}\n"
    )
    return task


def run(task_file: Path, store: Path, **options) -> tuple[dict, list[str]]:
    lines: list[str] = []
    result = run_experiment(load_task(task_file), store_path=store, say=lines.append, **options)
    return json.loads(json.dumps(result.to_json())), lines


def test_every_example_is_scored_by_models_that_never_saw_it_and_the_run_repeats(task_file: Path, tmp_path: Path):
    first, lines = run(task_file, tmp_path / "store.db")
    rows = len((DATA / "trec_small_train.jsonl").read_text().splitlines())
    assert first["data"]["validation"] == "cv" and first["data"]["folds"] == 5
    assert first["data"]["test_size"] == rows and "5-fold cross-validation" in first["data"]["split"]
    assert "2 repeats" in first["data"]["split"]
    # 2 and 4 of each label fit in half of the 12 (2 folds), 8 in two thirds (3 folds); the largest size, which
    # trains on every fold's whole training part, and the baseline take all 5.
    assert {(t["n_per_class"], t["folds"]) for t in first["trials"]} == {(0, 5), (2, 2), (4, 2), (8, 3), (10, 5)}
    (test_set,) = first["test"]["sets"]  # both repeats score the same examples: paired across seeds
    assert sorted(test_set["seeds"]) == [0, 1] and len(test_set["gold"]) == rows
    # 12 examples of each label; a fold's training part holds 4/5 of them: 9 or 10. The
    # largest size trains on every fold's whole training part.
    assert first["data"]["largest_per_class"] == 10 and first["data"]["pool_per_class"] == 9

    again, _ = run(task_file, tmp_path / "store.db", fresh=True)
    assert comparable(again) == comparable(first)
    resumed, lines = run(task_file, tmp_path / "store.db")
    assert resumed["reused_trials"] == len(first["trials"]) and comparable(resumed) == comparable(first)


def test_an_export_of_a_cross_validated_run_learns_from_every_example(task_file: Path, tmp_path: Path):
    results, _ = run(task_file, tmp_path / "store.db")
    exported = export_run(tmp_path / "store.db", results["run_id"], "linear-probe", tmp_path / "export")
    assert exported.mismatches == 0
    assert exported.manifest.train_examples == results["data"]["train_size"]


def test_imbalanced_small_data_is_decided_on_the_whole_pool(tmp_path: Path, tiny_encoder_folder: Path):
    # 12 HUM, 12 LOC and 3 NUM questions: 3 folds (NUM has 3). A fold trains on 8, 8 and 2.
    rows = (DATA / "trec_small_train.jsonl").read_text().splitlines()
    kept = [row for row in rows if json.loads(row)["label"] != "NUM"] + [r for r in rows if json.loads(r)["label"] == "NUM"][:3]
    data = tmp_path / "imbalanced.jsonl"
    data.write_text("\n".join(kept) + "\n")
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: imbalanced\ndata: {data}\nsizes: [2, 4, 16]\n"
        f"strategies: [majority, few-shot-knn, linear-probe]\nbackend: {{model: {tiny_encoder_folder}}}\n"
    )
    results, lines = run(task, tmp_path / "store.db")
    assert results["data"]["folds"] == 3
    # The curve does not stop at the smallest class's 2: it ends where a trial trains on everything.
    assert results["data"]["pool_per_class"] == 2 and results["data"]["largest_per_class"] == 8
    assert results["data"]["sizes"] == [2, 4, 8]
    assert any("16 exceed the 8 examples per class the largest class has" in line for line in lines)
    probes = {t["n_per_class"]: t["train_examples"] for t in results["trials"] if t["strategy"] == "linear-probe"}
    assert probes == {2: 6, 4: 10, 8: 18}  # a fold's mean: 4 + 4 + 2 at 4 per class; its whole pool at 8
    data_criterion = next(c for c in results["recommendation"]["criteria"] if c["name"] == "data")
    assert "up to 8 per class (its smallest class 2)" in data_criterion["sentence"]
    assert "classes of 2 to 8 examples where the trials train" in render_markdown(results)
    exported = export_run(tmp_path / "store.db", results["run_id"], "linear-probe", tmp_path / "export")
    assert exported.mismatches == 0 and exported.manifest.train_examples == 27


def test_a_default_run_deals_the_folds_every_way_only_for_strategies_on_the_frozen_vectors(
    tmp_path: Path, tiny_encoder_folder: Path
):
    # A score read off one fold partition moves with which examples share a fold. Strategies that fit on the
    # cached vectors are repeated over every seed's partition for free; the fine-tune, whose fits are the wait, is not.
    from shouldtune.analysis.metrics import LabelScoring
    from shouldtune.analysis.run import analyse

    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: partitions\ndata: {DATA / 'trec_small_train.jsonl'}\nsizes: [4, 10]\nseeds: 3\n"
        "strategies: [majority, few-shot-knn, linear-probe, full]\n"
        "strategy_params:\n  full: {max_steps: 4, batch_size: 4}\n"
        f"backend: {{model: {tiny_encoder_folder}}}\n"
    )
    lines: list[str] = []
    result = run_experiment(load_task(task), store_path=tmp_path / "store.db", say=lines.append)
    results = json.loads(json.dumps(result.to_json()))
    seeds = {}
    for t in results["trials"]:
        seeds.setdefault((t["strategy"], t["n_per_class"]), set()).add(t["seed"])
    assert seeds[("few-shot-knn", 10)] == seeds[("linear-probe", 4)] == {0, 1, 2}
    assert seeds[("full", 4)] == seeds[("full", 10)] == seeds[("majority", 0)] == {0}
    assert any("dealing the folds 2 more ways for few-shot-knn, linear-probe" in line for line in lines)
    assert "3 repeats for few-shot-knn and linear-probe (fits on the frozen vectors), 1 for the rest" in results["data"]["split"]
    left_out = {entry["strategy"]: entry for entry in results["skipped"]}
    assert set(left_out) == {"majority", "full"} and left_out["full"]["seeds"] == [1, 2]

    # The difference between a strategy run on three partitions and one run on one reads all three.
    analysis = analyse(results, result.predictions)
    gold = results["test"]["sets"][0]["gold"]
    scoring = LabelScoring(tuple(results["data"]["labels"]))

    def score(key: tuple[str, int, int]) -> float:
        whole = scoring.statistics(gold, result.predictions[key]).sum(axis=0, keepdims=True)
        return float(scoring.evaluate(whole)[results["task"]["metric"]][0])

    final = analysis.final
    assert final.prompt.strategy == "few-shot-knn" and final.finetune.strategy in {"linear-probe", "full"}
    prompt, finetune = (final.prompt.strategy, final.prompt.measured_at), (final.finetune.strategy, final.finetune.measured_at)
    knn = [score((*prompt, s)) for s in (0, 1, 2)]
    assert len(set(knn)) > 1  # the partitions do give different scores
    other = [score((*finetune, s)) for s in (0, 1, 2) if (*finetune, s) in result.predictions]
    assert final.seeds == 3
    assert abs(final.difference - (sum(other) / len(other) - sum(knn) / 3)) < 1e-9
