"""Never lose a run: the same command gives the same results; a killed or interrupted run resumes to them.

Runs use the tiny encoder (tests/tiny_encoder.py) so that `full` trains in a few seconds, long
enough for a signal to land in the middle of training.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.cli import app
from shouldtune.experiment import run_experiment
from shouldtune.reproducibility import VARYING, VARYING_WHEN_EITHER, comparable
from shouldtune.store import Store
from shouldtune.task import load_task
from run_process import saved_trials, start

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).parent.parent / "docs" / "results-schema.md"
# Sizes first: majority (at 0), then few-shot-knn, linear-probe and full at 2, then the same at 4: 7 trials.
TRIALS = 7
BEFORE_FULL = 3  # trials saved before the first full fine-tune starts


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_folder: Path) -> Path:
    task = tmp_path_factory.mktemp("resume") / "task.yaml"
    task.write_text(
        f"name: resume\ndata: {DATA / 'trec_small_train.jsonl'}\ntest: {DATA / 'trec_small_test.jsonl'}\n"
        "sizes: [2, 4]\nseeds: 1\nstrategies: [majority, few-shot-knn, linear-probe, full]\n"
        "strategy_params:\n  full: {max_steps: 200, batch_size: 4, epochs: 100}\n"
        f"backend: {{model: {tiny_encoder_folder}}}\n"
    )
    return task


def run(task_file: Path, folder: Path, *extra: str) -> tuple[dict, str]:
    """Run the task through the CLI, in-process, with its store and output in `folder`; return results.json and the output."""
    result = CliRunner().invoke(
        app, ["run", str(task_file), "--store", str(folder / "store.db"), "--out", str(folder / "out"), *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    # Rich wraps long lines at the terminal width: compare words, not line breaks.
    return json.loads((folder / "out" / "results.json").read_text()), " ".join(result.output.split())


def run_library(task_file: Path, folder: Path, *, fresh: bool = False) -> tuple[dict, str]:
    """Run the task with the library (no report files to write), the same as `run`."""
    lines: list[str] = []
    result = run_experiment(load_task(task_file), store_path=folder / "store.db", fresh=fresh, say=lines.append)
    return json.loads(json.dumps(result.to_json())), "\n".join(lines)


@pytest.fixture(scope="module")
def uninterrupted(task_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The results of the task run from start to end in one go, and the folder of its store."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    results, _ = run_library(task_file, folder)
    assert len(results["trials"]) == TRIALS and results["reused_trials"] == 0
    return results, folder


def wait_until_training(process: subprocess.Popen, store: Path) -> None:
    """Return once every trial before the first `full` is saved, so `full` is training."""
    deadline = time.monotonic() + 300
    while saved_trials(store) < BEFORE_FULL:
        if process.poll() is not None:
            pytest.fail(f"the run ended early: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run saved no trials in 300 s")
        time.sleep(0.05)
    time.sleep(0.3)  # well into the first full fine-tune (200 optimiser steps, about a second)


def assert_intact(store: Path) -> None:
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_the_same_command_twice_gives_the_same_results(task_file: Path, uninterrupted: tuple[dict, Path]):
    first, folder = uninterrupted
    again, output = run_library(task_file, folder, fresh=True)  # every trial fitted again
    assert again["reused_trials"] == 0 and "reusing" not in output
    assert again["run_id"] == first["run_id"]
    assert comparable(again) == comparable(first)
    # Timings are measured, so they are what differs.
    assert [t["fit_seconds"] for t in again["trials"]] != [t["fit_seconds"] for t in first["trials"]]
    resumed, output = run_library(task_file, folder)  # nothing left to do: every trial reused
    assert resumed["reused_trials"] == TRIALS and f"reusing {TRIALS} of {TRIALS} finished trials" in output
    assert comparable(resumed) == comparable(first)


def test_every_varying_field_is_documented():
    schema = DOCS.read_text()
    for path in (*VARYING, VARYING_WHEN_EITHER):
        assert f"`{path}`" in schema, f"{path} is not listed in docs/results-schema.md"


def test_killed_run_resumes_with_its_finished_trials_to_the_same_results(
    task_file: Path, uninterrupted: tuple[dict, Path], tmp_path: Path
):
    process = start(task_file, tmp_path)
    wait_until_training(process, tmp_path / "store.db")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    saved = saved_trials(tmp_path / "store.db")
    assert BEFORE_FULL <= saved < TRIALS, "the kill did not land during the full fine-tunes"
    assert_intact(tmp_path / "store.db")
    with Store(tmp_path / "store.db") as store:
        (killed,) = store.runs()
    assert killed.status == "interrupted" and killed.results is None

    results, output = run(task_file, tmp_path)
    assert f"reusing {saved} of {TRIALS} finished trials" in output
    assert results["reused_trials"] == saved
    assert comparable(results) == comparable(uninterrupted[0])


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(task_file: Path, uninterrupted: tuple[dict, Path], tmp_path: Path):
    process = start(task_file, tmp_path)
    wait_until_training(process, tmp_path / "store.db")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stdout + stderr
    assert f"To resume, run the same command again: shouldtune run {task_file}" in " ".join(stderr.split())
    assert not (tmp_path / "out").exists()
    saved = saved_trials(tmp_path / "store.db")
    assert saved >= BEFORE_FULL
    assert_intact(tmp_path / "store.db")
    with Store(tmp_path / "store.db") as store:
        assert [run.status for run in store.runs()] == ["interrupted"]

    results, _ = run_library(task_file, tmp_path)
    assert results["reused_trials"] == saved
    assert comparable(results) == comparable(uninterrupted[0])


def test_the_resume_hint_drops_fresh(task_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Ctrl-C during `run --fresh` must not suggest --fresh again: that would discard the saved trials."""
    from shouldtune.strategies.baseline import Majority

    def interrupted(self, train):
        raise KeyboardInterrupt

    monkeypatch.setattr(Majority, "fit", interrupted)
    args = ["run", str(task_file), "--store", str(tmp_path / "store.db"), "--fresh"]
    monkeypatch.setattr(sys, "argv", ["shouldtune", *args])
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 130
    hint = " ".join(result.stderr.split())
    assert f"To resume, run the same command again: shouldtune run {task_file} --store" in hint
    assert "--fresh" not in hint
