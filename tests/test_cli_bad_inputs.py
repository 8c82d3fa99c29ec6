"""Bad input through `shouldtune run`: exit 2, one line naming where and the fix, nothing half-written.

The data-file corpus (tests/bad_inputs and the files test_bad_inputs.py builds) is run through
the CLI in-process; task, store and output-folder cases are added here; a few cases go through
a real subprocess too, so the installed entry point is what is tested.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_bad_inputs import BAD_INPUTS, COMMITTED, GENERATED
from typer.testing import CliRunner

from shouldtune.cli import app

DATA = Path(__file__).parent / "data"
TRAIN = DATA / "trec_small_train.jsonl"


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[bool]:
    """Make `folder` unwritable for the duration (chmod, or chattr +i for root); yield whether it worked."""
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0 and shutil.which("chattr"):  # root ignores permission bits
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        probe = folder / ".probe"
        try:
            probe.touch()
            probe.unlink()
            worked = False
        except OSError:
            worked = True
        yield worked
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def assert_clean_failure(stderr: str, stdout: str, exit_code: int, expected: list[str], tmp_path: Path, store: Path) -> None:
    """Exit 2, exactly one stderr line holding `expected` and a fix, no traceback, nothing written."""
    assert exit_code == 2, stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Fix:" in lines[0], lines[0]
    for part in expected:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    assert "Traceback" not in stderr + stdout
    assert "" not in stdout.splitlines(), repr(stdout)  # no blank line: stdout holds at most the data warnings
    assert not (tmp_path / "out").exists()
    if store.is_file() and store.read_bytes()[:16] == b"SQLite format 3\x00":
        db = sqlite3.connect(store)
        try:
            has_runs = db.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone()
            assert not has_runs or db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        finally:
            db.close()


def invoke(args: list[str], tmp_path: Path, store: Path | None = None):
    """Run `shouldtune run ARGS` in-process, with a store and --out in tmp_path unless ARGS has its own."""
    store = store or tmp_path / "store.db"
    extra = ["--store", str(store)] + ([] if "--out" in args else ["--out", str(tmp_path / "out")])
    return CliRunner().invoke(app, ["run", *args, *extra], catch_exceptions=False), store


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_bad_data_file_stops_the_run_cleanly(name: str, tmp_path: Path):
    result, store = invoke(["--data", str(BAD_INPUTS / name)], tmp_path)
    assert_clean_failure(result.stderr, result.stdout, result.exit_code, [name, *COMMITTED[name]], tmp_path, store)


@pytest.mark.parametrize("build", list(GENERATED), ids=lambda build: build.__name__[1:])
def test_generated_bad_data_file_stops_the_run_cleanly(build: Callable[[Path], Path], tmp_path: Path):
    path = build(tmp_path)
    result, store = invoke(["--data", str(path)], tmp_path)
    assert_clean_failure(result.stderr, result.stdout, result.exit_code, [path.name, *GENERATED[build]], tmp_path, store)


def _task(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(f"data: {TRAIN}\n{text}")
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "a.csv").symlink_to("b.csv")
    (tmp_path / "b.csv").symlink_to("a.csv")
    return tmp_path / "a.csv"


def _linked(tmp_path: Path, name: str, target: str) -> Path:
    (tmp_path / name).symlink_to(target)
    return tmp_path / name


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe.csv")
    return tmp_path / "pipe.csv"


def _not_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be\n")
    return blocker


# case -> (its `shouldtune run` arguments, built in tmp_path; what the one line must say)
CASES: dict[str, Callable[[Path], tuple[list[str], list[str]]]] = {
    "task file with an unknown key": lambda tmp: (
        [str(_task(tmp, "label_colum: label\n"))], ["task.yaml", "unknown key 'label_colum'", "did you mean 'label_column'"]
    ),
    "negative size in a task file": lambda tmp: (
        [str(_task(tmp, "sizes: [4, -1]\n"))], ["task.yaml", "'sizes'", "sizes must be 0 or more"]
    ),
    "negative size flag": lambda tmp: (["--data", str(TRAIN), "--sizes", "0,-4"], ["'sizes'", "got -4"]),
    "sizes that are not numbers": lambda tmp: (["--data", str(TRAIN), "--sizes", "4,eight"], ["option '--sizes'", "whole numbers"]),
    "task file not found": lambda tmp: ([str(tmp / "tsak.yaml")], ["tsak.yaml", "task file not found"]),
    "task file not YAML": lambda tmp: ([str(_task(tmp, "sizes: [4\nseeds: 2\n"))], ["task.yaml", "not valid YAML", "row"]),
    "task file is a list": lambda tmp: ([str(_write(tmp / "list.yaml", "- a\n- b\n"))], ["list.yaml", "expected a mapping"]),
    "missing test file": lambda tmp: (
        ["--data", str(TRAIN), "--test", str(tmp / "test.jsonl")], ["test.jsonl", "file not found"]
    ),
    "test label unseen in training": lambda tmp: (
        ["--data", str(TRAIN), "--test", str(BAD_INPUTS / "one_class.csv")], ["one_class.csv", "row 1", "'spam' is not in the training file"]
    ),
    "unknown strategy": lambda tmp: (["--data", str(TRAIN), "--strategies", "zero-shot,setfitt"], ["'strategies'", "did you mean 'setfit'"]),
    "unknown strategy setting": lambda tmp: (
        [str(_task(tmp, "strategy_params: {full: {epoch: 2}}\n"))], ["strategy_params.full", "did you mean 'epochs'"]
    ),
    "template without {text}": lambda tmp: (["--data", str(TRAIN), "--template", "Question:"], ["'template'", "must contain {text}"]),
    "text and label the same column": lambda tmp: (["--data", str(TRAIN), "--text-column", "label"], ["trec_small_train.jsonl", "both 'label'"]),
    "text column not in the file": lambda tmp: (["--data", str(TRAIN), "--text-column", "question"], ["column 'question'", "available: text, label"]),
    "data is a folder": lambda tmp: (["--data", str(DATA)], ["data", "is a folder", "one of its data files"]),
    "numeric labels of a regression": lambda tmp: (
        ["--data", str(_write(tmp / "scores.csv", "text,label\n" + "".join(f"review {i},0.{i}3\n" for i in range(1, 9))))],
        ["scores.csv", "row 1", "label '0.13' has 1 example"],
    ),
    "model folder that is not a model": lambda tmp: (["--data", str(TRAIN), "--model", str(DATA)], ["'model'", "not a sentence-transformers model folder"]),
    "output folder under a file": lambda tmp: (
        ["--data", str(TRAIN), "--out", str(_not_a_file(tmp) / "out")], ["file.txt", "cannot be created", "--out"]
    ),
    "output folder is a file": lambda tmp: (["--data", str(TRAIN), "--out", str(_not_a_file(tmp))], ["file.txt", "is a file, not a folder"]),
    "setting value out of range (flag)": lambda tmp: (
        ["--data", str(TRAIN), "--strategies", "majority,linear-probe", "--param", "linear-probe.C=0"],
        ["setting 'strategy_params.linear-probe.C'", "0 is not allowed", "greater than 0", "C takes a number greater than 0"],
    ),
    "setting value of the wrong type (task file)": lambda tmp: (
        [str(_task(tmp, 'strategy_params: {linear-probe: {C: "high"}}\n'))],
        ["task.yaml", "strategy_params.linear-probe.C", "'high' is not allowed", "valid number"],
    ),
    "negative whole-number setting (task file)": lambda tmp: (
        [str(_task(tmp, "strategy_params: {linear-probe: {max_iter: -3}}\n"))],
        ["task.yaml", "strategy_params.linear-probe.max_iter", "-3 is not allowed", "a whole number greater than 0"],
    ),
    "setting of an llm strategy out of range": lambda tmp: (
        [str(_task(tmp, "backend: {name: hf, model: m}\nstrategy_params: {lora: {dropout: 1.5}}\n"))],
        ["strategy_params.lora.dropout", "1.5 is not allowed", "at least 0 and less than 1"],
    ),
    "negative seed": lambda tmp: (["--data", str(TRAIN), "--strategies", "majority", "--seed", "-5"], ["'seed'", "got -5"]),
    "empty strategy list": lambda tmp: (["--data", str(TRAIN), "--strategies", ","], ["'strategies'", "at least one strategy"]),
    "one fold": lambda tmp: (["--data", str(TRAIN), "--strategies", "majority", "--folds", "1"], ["'folds'", "got 1"]),
    "unknown validation": lambda tmp: (["--data", str(TRAIN), "--validation", "kfold"], ["'validation'", "'cv'"]),
    "min-gain out of range": lambda tmp: (["--data", str(TRAIN), "--min-gain", "2"], ["'min_gain'", "got 2"]),
    "duplicate key in a task file": lambda tmp: (
        [str(_task(tmp, "seeds: 2\nseeds: 3\n"))], ["task.yaml", "row 3", "key 'seeds' is given twice"]
    ),
    "python tag in a task file": lambda tmp: (
        [str(_task(tmp, "name: !!python/object/apply:os.system [echo hi]\n"))],
        ["task.yaml", "YAML tags such as '!!python/object/apply:os.system' are not allowed", "without a"],
    ),
    "symbolic-link loop as data": lambda tmp: (["--data", str(_loop(tmp))], ["a.csv", "loops back to itself"]),
    "device file named .csv": lambda tmp: (["--data", str(_linked(tmp, "zero.csv", "/dev/zero"))], ["zero.csv", "character device"]),
    "FIFO named .csv": lambda tmp: (["--data", str(_fifo(tmp))], ["pipe.csv", "FIFO"]),
    "task file that is a FIFO": lambda tmp: ([str(_linked(tmp, "task.yaml", str(_fifo(tmp))))], ["task.yaml", "is not a regular file"]),
    "output folder that cannot be made (/proc)": lambda tmp: (
        ["--data", str(TRAIN), "--strategies", "majority", "--out", "/proc/nope"], ["/proc/nope", "cannot be written", "--out"]
    ),
    "empty output folder": lambda tmp: (["--data", str(TRAIN), "--strategies", "majority", "--out", ""], ["option '--out'", "is empty"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_task_or_setting_stops_the_run_cleanly(case: str, tmp_path: Path):
    args, expected = CASES[case](tmp_path)
    result, store = invoke(args, tmp_path)
    assert_clean_failure(result.stderr, result.stdout, result.exit_code, expected, tmp_path, store)


def test_store_under_a_file_stops_the_run_cleanly(tmp_path: Path):
    store = _not_a_file(tmp_path) / "store.db"
    result, _ = invoke(["--data", str(TRAIN)], tmp_path, store)
    assert_clean_failure(result.stderr, result.stdout, result.exit_code, ["file.txt", "cannot open the store"], tmp_path, store)


def test_store_in_a_read_only_folder_stops_the_run_cleanly(tmp_path: Path):
    with read_only_folder(tmp_path / "locked") as locked:
        if not locked:
            pytest.skip("cannot make a folder read-only here (root without chattr)")
        result, store = invoke(["--data", str(TRAIN)], tmp_path, tmp_path / "locked" / "store.db")
        assert_clean_failure(result.stderr, result.stdout, result.exit_code, ["locked", "cannot open the store"], tmp_path, store)
        assert list((tmp_path / "locked").iterdir()) == []


def test_store_that_is_not_a_database_is_left_alone(tmp_path: Path):
    store = tmp_path / "notes.db"
    store.write_text("my notes, not a database\n" * 100)
    result, _ = invoke(["--data", str(TRAIN)], tmp_path, store)
    assert_clean_failure(result.stderr, result.stdout, result.exit_code, ["notes.db", "not a database"], tmp_path, store)
    assert store.read_text() == "my notes, not a database\n" * 100


def test_markup_in_bad_data_is_printed_as_written(tmp_path: Path):
    path = tmp_path / "brackets.csv"
    path.write_text("text,label\n[/bold] free money,[/spam]\nlunch?,ham\n")
    result, store = invoke(["--data", str(path)], tmp_path)
    assert_clean_failure(result.stderr, result.stdout, result.exit_code, ["label '[/spam]' has 1 example"], tmp_path, store)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", str(BAD_INPUTS / "jsonl_broken_line.jsonl")], ["jsonl_broken_line.jsonl", "row 3", "not valid JSON"]),
        (["--data", str(TRAIN), "--store", "{blocker}/store.db"], ["file.txt", "cannot open the store"]),
    ],
    ids=["broken-jsonl", "store-under-a-file"],
)
def test_the_installed_command_fails_the_same_way(args: list[str], expected: list[str], tmp_path: Path):
    blocker = _not_a_file(tmp_path)
    args = [arg.replace("{blocker}", str(blocker)) for arg in args]
    if "--store" not in args:
        args += ["--store", str(tmp_path / "store.db")]
    completed = subprocess.run(
        [sys.executable, "-m", "shouldtune.cli", "run", *args, "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    store = Path(args[args.index("--store") + 1])
    assert_clean_failure(completed.stderr, completed.stdout, completed.returncode, expected, tmp_path, store)


def test_every_case_is_listed_in_cases_md():
    listed = (Path(__file__).parent / "bad_inputs" / "CASES.md").read_text()
    for case in CASES:
        assert f"| {case} |" in listed, f"{case!r} is not in tests/bad_inputs/CASES.md"


def _sqlite(path: Path, *statements: str) -> Path:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()
    return path


def test_another_programs_database_is_not_taken_for_a_store(tmp_path: Path):
    store = _sqlite(tmp_path / "app.db", "CREATE TABLE customers (id INT)", "INSERT INTO customers VALUES (1)")
    before = store.read_bytes()
    result, _ = invoke(["--data", str(TRAIN), "--strategies", "majority"], tmp_path, store)
    assert_clean_failure(result.stderr, result.stdout, result.exit_code, ["app.db", "not a shouldtune store", "customers"], tmp_path, store)
    assert store.read_bytes() == before and not list(tmp_path.glob("app.db-*"))  # not even switched to WAL
    listed = CliRunner().invoke(app, ["runs", "--store", str(store)])
    assert listed.exit_code == 2 and "not a shouldtune store" in listed.stderr


def test_a_store_whose_schema_version_is_not_a_number_is_one_line(tmp_path: Path):
    from shouldtune.store import Store

    with Store(tmp_path / "s.db"):
        pass
    _sqlite(tmp_path / "s.db", "UPDATE meta SET value='abc' WHERE key='schema_version'")
    for args in (["runs"], ["show", "abc"]):
        result = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "s.db")])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output
        assert "schema version 'abc', not a number" in lines[0] and "Fix:" in lines[0]


def test_a_bad_value_is_said_once(tmp_path: Path):
    result, _ = invoke(["--data", str(TRAIN), "--sizes", "0,-4"], tmp_path)
    assert result.exit_code == 2 and result.stderr.count("got") == 1, result.stderr


def test_warnings_are_said_once_and_unknown_label_descriptions_warned(tmp_path: Path):
    result, _ = invoke(
        ["--data", str(TRAIN), "--strategies", "majority", "--sizes", "0,999", "--seeds", "1",
         "--label-description", "HUMAN=a person", "--label-description", "LOC=a place"],
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("capped at") == 1
    said = " ".join(result.output.split())
    assert "the label description for 'HUMAN' is ignored: the data has no such label (did you mean 'HUM'?)" in said
    assert "'LOC' is ignored" not in said


def test_a_run_whose_trial_raised_is_failed_and_show_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from shouldtune.strategies.baseline import Majority

    def broken(self, train):
        raise RuntimeError("the baseline broke")

    monkeypatch.setattr(Majority, "fit", broken)
    store = tmp_path / "store.db"
    with pytest.raises(RuntimeError, match="the baseline broke"):  # a bug, not bad input: the traceback is the report
        invoke(["--data", str(TRAIN), "--strategies", "majority", "--seeds", "1"], tmp_path, store)
    listed = CliRunner().invoke(app, ["runs", "--store", str(store)])
    assert "failed" in listed.output and "interrupted" not in listed.output
    from shouldtune.store import Store

    with Store(store, create=False) as opened:
        run_id = opened.runs()[0].run_id
    shown = CliRunner().invoke(app, ["show", run_id, "--store", str(store)])
    line = " ".join(shown.stderr.split())
    assert shown.exit_code == 2 and "failed: trial majority n=0 seed=0 raised RuntimeError: the baseline broke" in line
    assert "run the same" not in line and "would fail the same way" in line
