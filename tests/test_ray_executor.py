"""--executor ray on a local Ray (two CPUs): the same trials as in-process, a killed worker retried,
a killed or interrupted driver resumed on either executor.

One Ray is started for the module (it takes seconds); drivers started as processes join it by
its address. Runs use the tiny encoder (tests/tiny_encoder.py) and test_resume's task with a
shorter `full` (60 steps): the kills below land on whatever trials are running, so no trial
need be long.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.cli import app
from shouldtune.experiment import run_experiment
from shouldtune.reproducibility import comparable
from shouldtune.store import Store
from shouldtune.task import load_task
from run_process import saved_trials, start

DATA = Path(__file__).parent / "data"
TRIALS = 7  # majority at 0; few-shot-knn, linear-probe and full at 2, then at 4
TRIAL_TITLE = "ray::_trial_task"  # a Ray worker's process title while it runs a trial


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_folder: Path) -> Path:
    task = tmp_path_factory.mktemp("ray") / "task.yaml"
    task.write_text(
        f"name: ray\ndata: {DATA / 'trec_small_train.jsonl'}\ntest: {DATA / 'trec_small_test.jsonl'}\n"
        "sizes: [2, 4]\nseeds: 1\nstrategies: [majority, few-shot-knn, linear-probe, full]\n"
        "strategy_params:\n  full: {max_steps: 60, batch_size: 4, epochs: 100}\n"
        f"backend: {{model: {tiny_encoder_folder}}}\n"
    )
    return task


@pytest.fixture(scope="module")
def ray_address() -> str:
    """A local Ray of two CPUs for the whole module; its address, for drivers in other processes."""
    ray = pytest.importorskip("ray")
    import logging

    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield context.address_info["address"]
    ray.shutdown()


def run_library(task_file: Path, store: Path, executor: str, *, fresh: bool = False) -> tuple[dict, str]:
    """Run the task with the library on `executor`; return results.json and what it said."""
    lines: list[str] = []
    result = run_experiment(load_task(task_file, executor=executor), store_path=store, fresh=fresh, say=lines.append)
    return json.loads(json.dumps(result.to_json())), "\n".join(lines)


def same_run(results: dict) -> dict:
    """Return the results without what varies between runs and the executor the task named."""
    stable = comparable(results)
    stable["task"].pop("executor")
    return stable


@pytest.fixture(scope="module")
def in_process(task_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    results, _ = run_library(task_file, tmp_path_factory.mktemp("local") / "store.db", "local")
    assert len(results["trials"]) == TRIALS
    return results


def test_executor_changes_no_identity(task_file: Path):
    local, ray = load_task(task_file), load_task(task_file, executor="ray", ray_address="10.0.0.1:6379", ray_cpus_per_trial=4)
    assert local.hash_fields() == ray.hash_fields()


def test_without_ray_the_cli_says_how_to_install_it(task_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "ray" else find_spec(name, *rest))
    result = CliRunner().invoke(
        app, ["run", str(task_file), "--store", str(tmp_path / "store.db"), "--out", str(tmp_path / "out"), "--executor", "ray"]
    )
    assert result.exit_code == 2
    assert "pip install 'shouldtune[ray]'" in " ".join(result.stderr.split())
    assert not (tmp_path / "store.db").exists()  # said before any work


def test_gpus_go_to_trials_that_run_the_model_on_a_gpu():
    pytest.importorskip("ray")
    from shouldtune.executors.ray_tasks import trial_resources
    from shouldtune.strategies.registry import strategy_class

    full, knn = strategy_class("full", "encoder"), strategy_class("few-shot-knn", "encoder")
    assert trial_resources(full, "cuda", 4) == {"num_cpus": 4, "num_gpus": 1}
    assert trial_resources(full, "cpu", 1) == {"num_cpus": 1, "num_gpus": 0}
    assert trial_resources(knn, "cuda:1", 1) == {"num_cpus": 1, "num_gpus": 0}  # reads cached vectors only


def test_ray_gives_the_in_process_trials(task_file: Path, ray_address: str, in_process: dict, tmp_path: Path):
    results, output = run_library(task_file, tmp_path / "store.db", "ray")
    assert "running trials on Ray: 2 CPUs" in output
    assert same_run(results) == same_run(in_process)  # every metric and prediction, in the same order


def test_a_killed_worker_is_retried(task_file: Path, ray_address: str, in_process: dict, tmp_path: Path):
    finished: dict = {}

    def run() -> None:
        try:
            finished["results"], _ = run_library(task_file, tmp_path / "store.db", "ray")
        except BaseException as err:  # noqa: BLE001 - handed to the test's thread
            finished["error"] = err

    driver = threading.Thread(target=run)
    driver.start()
    killed = None
    deadline = time.monotonic() + 300
    while driver.is_alive() and killed is None and time.monotonic() < deadline:
        for pid in running_trials():
            os.kill(pid, signal.SIGKILL)
            killed = pid
            break
        time.sleep(0.05)
    driver.join(timeout=600)
    assert killed is not None, "no trial was seen running"
    assert "error" not in finished, finished.get("error")
    assert same_run(finished["results"]) == same_run(in_process)


def test_a_killed_driver_resumes_locally_to_the_same_results(task_file: Path, ray_address: str, in_process: dict, tmp_path: Path):
    process = start(task_file, tmp_path, "--executor", "ray", "--ray-address", ray_address)
    saved = wait_for_trials(process, tmp_path / "store.db", at_least=1)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    saved = saved_trials(tmp_path / "store.db")
    assert 1 <= saved < TRIALS, "the kill did not land mid-run"
    with Store(tmp_path / "store.db") as store:
        (killed,) = store.runs()
    assert killed.status == "interrupted"

    result = CliRunner().invoke(
        app, ["run", str(task_file), "--store", str(tmp_path / "store.db"), "--out", str(tmp_path / "out"), "--executor", "local"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"reusing {saved} of {TRIALS} finished trials" in " ".join(result.output.split())
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["reused_trials"] == saved
    assert comparable(results) == comparable(in_process)  # both ended on the local executor: the same document


def test_ctrl_c_cancels_the_trials_and_says_how_to_resume(task_file: Path, ray_address: str, in_process: dict, tmp_path: Path):
    process = start(task_file, tmp_path, "--executor", "ray", "--ray-address", ray_address)
    wait_for_trials(process, tmp_path / "store.db", at_least=1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[:1500] + stderr[-1500:]
    assert "Traceback" not in stdout + stderr
    assert "To resume, run the same command again: shouldtune run" in " ".join(stderr.split())
    deadline = time.monotonic() + 30
    while running_trials() and time.monotonic() < deadline:  # cancelled: their workers are stopped
        time.sleep(0.2)
    assert not running_trials()
    saved = saved_trials(tmp_path / "store.db")

    results, _ = run_library(task_file, tmp_path / "store.db", "ray")  # resumed on Ray
    assert results["reused_trials"] == saved
    assert same_run(results) == same_run(in_process)


def wait_for_trials(process: subprocess.Popen, store: Path, at_least: int) -> int:
    """Return the trials saved once there are `at_least`, while the run goes on."""
    deadline = time.monotonic() + 300
    while (saved := saved_trials(store)) < at_least:
        if process.poll() is not None:
            pytest.fail(f"the run ended early: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run saved no {at_least} trials in 300 s")
        time.sleep(0.05)
    return saved


def running_trials() -> list[int]:
    """Return the process ids of this test's Ray workers that are running a trial."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    mine, todo = [], [os.getpid()]
    while todo:  # this process started the Ray (raylet, then its workers): only its descendants
        pid = todo.pop()
        for child in children.get(pid, []):
            mine.append(child)
            todo.append(child)
    running = []
    for pid in mine:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(TRIAL_TITLE.encode()):
                running.append(pid)
        except OSError:
            continue
    return running
