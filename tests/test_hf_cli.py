"""`shouldtune run --backend hf` end to end on a tiny LM: classification, generation, extraction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.cli import app
from shouldtune.errors import TaskFileError
from shouldtune.task import METRICS_BY_TYPE, load_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DATA = Path(__file__).parent / "data"

# Between them the three runs use every hf strategy; LoRA takes two optimiser steps.
CASES = {
    "classification": ("trec_small", "majority,zero-shot,few-shot,lora", ["accuracy", "macro_f1"]),
    "generation": ("e2e_small", "majority,zero-shot,few-shot-knn,lora+few-shot", ["exact_match", "token_f1", "rouge_l", "chrf", "bleu"]),
    "extraction": ("snips_small", "zero-shot,prompt-search,lora", ["field_f1", "field_precision", "field_recall", "exact_match"]),
}


@pytest.mark.parametrize("task_type", list(CASES))
def test_run_on_a_local_llm_writes_every_metric_and_both_tracks(task_type: str, tiny_lm_folder: Path, tmp_path: Path):
    data, strategies, metrics = CASES[task_type]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run", "--backend", "hf", "--model", str(tiny_lm_folder), "--task-type", task_type,
            "--data", str(DATA / f"{data}_train.jsonl"), "--test", str(DATA / f"{data}_test.jsonl"),
            "--sizes", "0,2", "--seeds", "1", "--strategies", strategies, "--max-new-tokens", "4",
            "--param", "lora.max_steps=2", "--param", "lora+few-shot.max_steps=2", "--param", "prompt-search.budget=6",
            "--out", str(out), "--store", str(tmp_path / "store.db"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["backend"]["name"] == "hf" and results["task"]["task_type"] == task_type
    assert results["task"]["metric"] == METRICS_BY_TYPE[task_type][0]
    assert {t["track"] for t in results["trials"]} >= {"prompt", "finetune"}
    assert {t["strategy"] for t in results["trials"]} == set(strategies.split(","))
    for trial in results["trials"]:
        assert list(trial["metrics"]) == metrics
        for name in metrics:
            low, high = trial["metrics_ci"][name]
            assert 0.0 <= low <= trial["metrics"][name] <= high <= 1.0
        if trial["track"] == "baseline":
            assert "tokens" not in trial  # it asks the model nothing
            continue
        assert trial["tokens"]["prompt_per_request"] > 0 and trial["tokens"]["output_per_request"] > 0
        assert (trial["tokens"]["training"] > 0) == (trial["track"] == "finetune")
    if task_type != "classification":
        assert results["data"]["labels"] == []
        # n counts all examples: two training examples at n=2, not two per output.
        assert {t["train_examples"] for t in results["trials"] if t["n_per_class"] == 2} == {2}
        # ...and every sentence says so: no classes, labels or "per class" for free-text outputs.
        written = (out / "report.md").read_text() + (out / "report.html").read_text() + result.output
        assert "per class" not in written and "most frequent label" not in written
        assert "training examples" in written
    assert {point["metric"] for point in results["curves"]} == set(metrics)
    assert results["recommendation"]["choice"] in {"prompt", "finetune", "either", "collect-more-data"}


def test_defaults_follow_the_task_type(tmp_path: Path, tiny_lm_folder: Path):
    task = load_task(data=str(DATA / "e2e_small_train.jsonl"), task_type="generation", backend={"name": "hf", "model": str(tiny_lm_folder)})
    assert (task.text_column, task.label_column, task.metric) == ("input", "output", "rouge_l")
    assert load_task(data="x.csv").metric == "macro_f1"
    with pytest.raises(TaskFileError, match="did you mean 'field_f1'"):
        load_task(data="x.csv", task_type="extraction", metric="field-f1", backend={"name": "hf", "model": "m"})
    with pytest.raises(TaskFileError, match="only classifies"):
        load_task(data="x.csv", task_type="generation")
    with pytest.raises(TaskFileError, match="needs a model"):
        load_task(data="x.csv", backend="hf")


def test_strategy_names_are_checked_per_backend():
    with pytest.raises(TaskFileError, match="runs on the encoder backend, not on hf"):
        load_task(data="x.csv", backend={"name": "hf", "model": "m"}, strategies=("setfit",))
    with pytest.raises(TaskFileError, match="runs on the hf backend"):
        load_task(data="x.csv", strategies=("lora",))
    with pytest.raises(TaskFileError, match="did you mean 'lora'"):
        load_task(data="x.csv", backend={"name": "hf", "model": "m"}, strategies=("lroa",))


def test_backend_flags_add_to_the_task_file(tmp_path: Path):
    task_file = tmp_path / "task.yaml"
    task_file.write_text("data: train.jsonl\ntask_type: extraction\nmetric: my_metric.py:score\nbackend: {name: hf, model: m, dtype: bfloat16}\n")
    task = load_task(task_file, backend={"model": "other", "max_new_tokens": 12})
    assert (task.backend.name, task.backend.model, task.backend.dtype, task.backend.max_new_tokens) == ("hf", "other", "bfloat16", 12)
    # A metric file is found beside the task file, as data files are.
    assert task.metric == f"{tmp_path / 'my_metric.py'}:score"


def test_missing_model_is_one_line_exit_2(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["run", "--backend", "hf", "--model", str(tmp_path / "no-model"), "--data", str(DATA / "trec_small_train.jsonl"), "--store", str(tmp_path / "s.db")]
    )
    assert result.exit_code == 2
    assert "model folder not found" in result.output and "Traceback" not in result.output
