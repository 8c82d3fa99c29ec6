"""End to end through the CLI, on a small slice of real TREC questions, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.cli import app

STRATEGIES = "majority,zero-shot,few-shot-knn,prompt-search,linear-probe,full"


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def task_file(tmp_path: Path, trec_train: Path, trec_test: Path) -> Path:
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: trec-slice\ndata: {trec_train}\ntest: {trec_test}\nsizes: [0, 2, 4]\nseeds: 2\n"
        f"strategies: [{STRATEGIES}]\nstrategy_params:\n  full:\n    max_steps: 4\n    batch_size: 6\n"
        "label_descriptions:\n  HUM: a question about a person\n  LOC: a question about a place\n"
        "  NUM: a question asking for a number\n"
    )
    return task


def test_run_writes_results_report_and_reuses_trials(tmp_path: Path, task_file: Path):
    out, store = tmp_path / "out", tmp_path / "store.db"
    first = run_cli("run", str(task_file), "--out", str(out), "--store", str(store))
    assert first.exit_code == 0, first.output
    assert "Recommendation:" in first.output
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == 1
    assert results["data"]["labels"] == ["HUM", "LOC", "NUM"]
    assert results["data"]["test_size"] == 30
    assert {t["strategy"] for t in results["trials"]} == set(STRATEGIES.split(","))
    # zero-shot and majority need no examples: one point at n=0; the rest at every size > 0.
    sizes = {(t["strategy"], t["n_per_class"]) for t in results["trials"]}
    assert ("zero-shot", 0) in sizes and ("zero-shot", 2) not in sizes
    assert {("full", 2), ("full", 4), ("linear-probe", 4)} <= sizes
    for trial in results["trials"]:
        assert 0.0 <= trial["metrics"]["accuracy"] <= 1.0
        assert trial["fit_seconds"] >= 0 and trial["predict_seconds"] >= 0
        assert trial["track"] == "baseline" or trial["predict_seconds"] > 0
        low, high = trial["metrics_ci"]["accuracy"]
        assert low <= trial["metrics"]["accuracy"] <= high
    assert results["recommendation"]["choice"] in {"prompt", "finetune", "either", "collect-more-data"}
    assert all(any(ch.isdigit() for ch in reason) for reason in results["recommendation"]["reasons"])
    assert {c["name"] for c in results["recommendation"]["criteria"]} >= {"quality", "data", "cost", "latency"}
    assert results["recommendation"]["assumptions"]["placeholder_prices"] is True
    assert results["analysis"]["decision_size"] == 4 and results["analysis"]["paired"] is True
    assert results["test"]["sets"][0]["gold"][:1] and len(results["test"]["sets"][0]["texts"]) == 30
    assert all(t["latency_ms"]["p95"] >= t["latency_ms"]["p50"] >= 0 for t in results["trials"])
    assert "## Learning curves" in (out / "report.md").read_text()
    assert 'id="plot-curves"' in (out / "report.html").read_text()
    # Each distinct text embedded at most once for the frozen encoder.
    assert results["embedding"]["texts_embedded"] <= 36 + 30 + 3 + 200

    prices = tmp_path / "prices.yaml"
    prices.write_text("compute_per_hour: 2.5\n")
    again = run_cli("run", str(task_file), "--out", str(out), "--store", str(store),
                    "--requests-per-month", "5000", "--prices", str(prices))
    assert again.exit_code == 0
    rerun = json.loads((out / "results.json").read_text())
    assert rerun["reused_trials"] == len(results["trials"])
    assumptions = rerun["recommendation"]["assumptions"]
    assert assumptions["requests_per_month"] == 5000 and assumptions["prices"]["compute_per_hour"] == 2.5
    assert not assumptions["placeholder_prices"]
    assert [t["metrics"] for t in rerun["trials"]] == [t["metrics"] for t in results["trials"]]


def test_flags_override_the_task_file(tmp_path: Path, task_file: Path):
    out = tmp_path / "out"
    result = run_cli(
        "run", str(task_file), "--strategies", "zero-shot,linear-probe", "--sizes", "2", "--seeds", "1",
        "--out", str(out), "--store", str(tmp_path / "s.db"),
    )
    assert result.exit_code == 0, result.output
    trials = json.loads((out / "results.json").read_text())["trials"]
    assert {(t["strategy"], t["n_per_class"]) for t in trials} == {("zero-shot", 0), ("linear-probe", 2)}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "missing.csv"], "missing.csv"),
        (["--sizes", "0,-4"], "sizes"),
        (["--sizes", "a,b"], "--sizes"),
        (["--prices", "missing-prices.yaml"], "missing-prices.yaml"),
        (["--requests-per-month", "-5"], "--requests-per-month"),
        (["--strategies", "zero-shot,setfitt"], "did you mean 'setfit'"),
        (["--text-column", "question"], "question"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, trec_train: Path, args: list[str], expected: str):
    base = ["--data", str(trec_train)] if args[0] != "--data" else []
    completed = subprocess.run(
        [sys.executable, "-m", "shouldtune.cli", "run", *base, *args, "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert completed.returncode == 2, completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stderr
    assert expected in lines[0] and "Fix:" in lines[0]
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_task_key_suggests_the_right_one(tmp_path: Path, trec_train: Path):
    task = tmp_path / "task.yaml"
    task.write_text(f"data: {trec_train}\nlabel_colum: label\n")
    result = run_cli("run", str(task), "--store", str(tmp_path / "s.db"))
    assert result.exit_code == 2
    assert "unknown key 'label_colum'" in result.output and "label_column" in result.output


def test_help_is_instant_and_lists_commands():
    completed = subprocess.run([sys.executable, "-m", "shouldtune.cli", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0
    assert "run" in completed.stdout and "demo" in completed.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, shouldtune.cli; print('torch' in sys.modules)"], capture_output=True, text=True
    )
    assert probe.stdout.strip() == "False"


def test_mapping_flags_add_to_the_task_file(tmp_path: Path, trec_train: Path):
    from shouldtune.cli import _strategy_params
    from shouldtune.task import load_task

    task_path = tmp_path / "task.yaml"
    task_path.write_text(f"data: {trec_train}\nlabel_descriptions: {{HUM: a person}}\nstrategy_params: {{full: {{epochs: 2}}}}\n")
    task = load_task(
        task_path,
        label_descriptions={"LOC": "a place"},
        strategy_params=_strategy_params(["full.max_steps=5", "setfit.body_learning_rate=1e-5"]),
    )
    assert task.label_descriptions == {"HUM": "a person", "LOC": "a place"}
    assert task.strategy_params == {"full": {"epochs": 2, "max_steps": 5}, "setfit": {"body_learning_rate": 1e-5}}
