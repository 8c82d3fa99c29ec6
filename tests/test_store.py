"""The store: schema versions and migrations, concurrent writers, finding runs, dead runs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.cli import app
from shouldtune.errors import StoreError
from shouldtune.store import _SCHEMA_V1, MIGRATIONS, SCHEMA_VERSION, Store


def _trial(strategy: str, n: int, seed: int) -> dict:
    # A trial as release 0.1 recorded it: no backend, no folds, no latency.
    return {
        "strategy": strategy, "track": "prompt", "n_per_class": n, "seed": seed, "train_examples": 0,
        "metrics": {"accuracy": 0.5}, "metrics_ci": {"accuracy": [0.3, 0.7]}, "fit_seconds": 0.1,
        "predict_seconds": 0.2, "examples_per_second": 10.0, "details": {"validation_macro_f1": {"task": 0.4}, "chosen": "task"},
    }


def _v1_store(path: Path) -> None:
    """Write a store exactly as shouldtune with schema version 1 wrote it: one run, two trials."""
    db = sqlite3.connect(path)
    for statement in _SCHEMA_V1:
        db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute(
        "INSERT INTO runs VALUES ('abc123def456', 1.0, 2.0, 'finished', ?, ?)",
        (json.dumps({"name": "old-task", "seed": 0}), json.dumps({"recommendation": {"choice": "prompt"}})),
    )
    for seed in (0, 1):
        db.execute(
            "INSERT INTO trials VALUES ('abc123def456', 'zero-shot', 0, ?, ?, ?, 1.0)",
            (seed, json.dumps(_trial("zero-shot", 0, seed)), json.dumps(["a", "b"])),
        )
    db.commit()
    db.close()


def test_new_store_is_at_the_current_version_in_wal_mode(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._version() == SCHEMA_VERSION == max(MIGRATIONS)


def test_v1_store_is_migrated_and_keeps_its_runs_and_trials(tmp_path: Path):
    path = tmp_path / "old.db"
    _v1_store(path)
    with Store(path) as store:
        assert store._version() == SCHEMA_VERSION
        (run,) = store.runs()
        assert (run.run_id, run.name, run.status, run.trials) == ("abc123def456", "old-task", "finished", 2)
        assert run.results == {"recommendation": {"choice": "prompt"}}
        trials = store.trials("abc123def456")
        assert set(trials) == {("zero-shot", 0, 0), ("zero-shot", 0, 1)}
        assert trials[("zero-shot", 0, 1)].predictions == ["a", "b"]
        assert trials[("zero-shot", 0, 1)].record.search.validation_scores == {"task": 0.4}  # read under its old name
        store.start_run("new", {"name": "new-task"})  # the migrated columns are written
    with Store(path) as store:  # opening it again changes nothing
        assert [run.name for run in store.runs()] == ["new-task", "old-task"]
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "old.db"
    _v1_store(path)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE runs ADD COLUMN half_done TEXT")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(MIGRATIONS, 2, broken)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta").fetchone()[0] == "1"
    assert "half_done" not in [row[1] for row in db.execute("PRAGMA table_info(runs)")]


def test_store_from_a_newer_shouldtune_is_refused_with_one_line(tmp_path: Path):
    path = tmp_path / "new.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as caught:
        Store(path)
    assert "newer shouldtune (schema 99" in str(caught.value) and "\n" not in str(caught.value)
    result = CliRunner().invoke(app, ["runs", "--store", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "new.db" in lines[0] and "schema 99" in lines[0] and "Fix: upgrade" in lines[0]


_WRITER = """
import sys, time
from pathlib import Path
from shouldtune.records import TrialRecord
from shouldtune.store import Store
path, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = Store(path)
store.start_run(name, {"name": name})
while not go.exists():
    time.sleep(0.005)
for i in range(50):
    store.save_trial(name, TrialRecord("s", "prompt", i, 0, 8, {"accuracy": 0.5}, {}, 0.1, 0.1, None), ["x"] * 100)
    store.put_embeddings("m", {f"{name}-{i}": __import__("numpy").ones(8, dtype="float32")})
store.close()
"""


def test_two_processes_writing_at_once_leave_the_store_consistent(tmp_path: Path):
    path, go = tmp_path / "shared.db", tmp_path / "go"
    Store(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, str(go)], stderr=subprocess.PIPE, text=True)
        for name in ("run-a", "run-b")
    ]
    time.sleep(0.5)  # both connected and waiting
    go.touch()
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = dict(db.execute("SELECT run_id, count(*) FROM trials GROUP BY run_id").fetchall())
    assert counts == {"run-a": 50, "run-b": 50}
    assert db.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 100


def test_two_processes_opening_an_old_store_at_once_migrate_it_once(tmp_path: Path):
    path = tmp_path / "old.db"
    _v1_store(path)
    script = "import sys; from shouldtune.store import Store; Store(sys.argv[1]).close()"
    openers = [subprocess.Popen([sys.executable, "-c", script, str(path)], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for opener in openers:
        assert opener.wait(timeout=60) == 0, opener.stderr.read()
    with Store(path) as store:
        assert store._version() == SCHEMA_VERSION and len(store.trials("abc123def456")) == 2


def test_a_run_whose_process_is_gone_is_listed_as_interrupted(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        store.start_run("mine", {"name": "alive"})
        store.start_run("dead", {"name": "killed"})
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        store._db.execute("UPDATE runs SET pid=? WHERE run_id='dead'", (int(gone.stdout),))
        store._db.commit()
        status = {run.run_id: run.status for run in store.runs()}
    assert status == {"mine": "running", "dead": "interrupted"}
    assert os.getpid() != int(gone.stdout)


def test_runs_are_found_by_id_or_unique_prefix(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(StoreError, match="holds no runs"):
            store.find_run("abc")
        for run_id in ("abc111", "abc222", "def333"):
            store.start_run(run_id, {"name": run_id})
        assert store.find_run("def").run_id == "def333"
        assert store.find_run("abc111").run_id == "abc111"
        with pytest.raises(StoreError, match="start of 2 runs: .*give more characters"):
            store.find_run("abc")
        with pytest.raises(StoreError, match="no run 'abc112'.*did you mean 'abc111'"):
            store.find_run("abc112")
        with pytest.raises(StoreError, match="has not finished .*running the same `shouldtune run`"):
            store.find_run("def", finished=True)


def test_reading_commands_never_create_a_store(tmp_path: Path):
    for command in (["runs"], ["show", "abc"], ["report", "abc"], ["export", "abc", "--out", str(tmp_path / "x")]):
        result = CliRunner().invoke(app, [*command, "--store", str(tmp_path / "typo.db")])
        assert result.exit_code == 2 and "no store here" in result.stderr, command
    assert list(tmp_path.iterdir()) == []
