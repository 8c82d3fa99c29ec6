"""After the decision: runs, show, report, export and predict; an export works with nothing else.

Strategies' own save/load runs on the bundled encoder; the end-to-end exports come from a small
run on the tiny encoder (tests/tiny_encoder.py), whose model and data are deleted before
predicting, as on another machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_strategies import FAST, TEST_TEXTS, TRAIN
from typer.testing import CliRunner

from shouldtune.backends.cache import CachedEncoder
from shouldtune.backends.encoder import SentenceEncoder
from shouldtune.cli import app
from shouldtune.errors import ExportError
from shouldtune.experiment import run_experiment
from shouldtune.export import choose_strategy
from shouldtune.predict import load_exported
from shouldtune.store import Store
from shouldtune.strategies.base import StrategyContext
from shouldtune.strategies.registry import STRATEGIES, build, strategy_class
from shouldtune.task import load_task

DATA = Path(__file__).parent / "data"
EXPORTED = ("few-shot-knn", "linear-probe", "full")  # one per kind: a prompt, a head, a whole encoder


def cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run(task_file: Path, store: Path) -> dict:
    """Run a task with the library (no report files: this module tests what comes after); return results.json."""
    result = run_experiment(load_task(task_file), store_path=store)
    return json.loads(json.dumps(result.to_json()))


@pytest.fixture(scope="module")
def tiny_encoder(tiny_encoder_folder: Path) -> CachedEncoder:
    return CachedEncoder(SentenceEncoder(tiny_encoder_folder))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_a_saved_strategy_loads_and_predicts_the_same(name: str, tiny_encoder: CachedEncoder, tmp_path: Path):
    fitted = build(name, StrategyContext(encoder=tiny_encoder, seed=0), FAST.get(name)).fit(TRAIN)
    fitted.save(tmp_path)
    loaded = strategy_class(name).load(tmp_path, StrategyContext(encoder=tiny_encoder))
    assert loaded.predict(TEST_TEXTS) == fitted.predict(TEST_TEXTS)
    files = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()}
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".bin", ".pt", ".joblib"))]
    if fitted.track == "prompt":
        assert "prompt.yaml" in files
    if name in ("setfit", "full"):
        assert {"head.safetensors", "encoder/model.safetensors", "encoder/modules.json"} <= files


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_folder: Path) -> dict:
    """A finished run on the tiny encoder, its exports, and then its model and data deleted."""
    folder = tmp_path_factory.mktemp("finished")
    model = shutil.copytree(tiny_encoder_folder, folder / "model")
    for name in ("trec_small_train.jsonl", "trec_small_test.jsonl"):
        shutil.copy(DATA / name, folder / name)
    task = folder / "task.yaml"
    task.write_text(
        "name: trec-tiny\ndata: trec_small_train.jsonl\ntest: trec_small_test.jsonl\nsizes: [2, 4]\nseeds: 2\n"
        "strategies: [majority, zero-shot, few-shot-knn, linear-probe, full]\n"
        "strategy_params:\n  full: {max_steps: 3, batch_size: 6}\n"
        f"backend: {{model: {model}}}\n"
    )
    store = folder / "store.db"
    results = run(task, store)
    exports = {}
    for name in EXPORTED:
        exported = cli("export", results["run_id"][:5], "--strategy", name, "--out", str(folder / "exports" / name),
                       "--store", str(store))
        assert exported.exit_code == 0, exported.output
        assert "warning" not in exported.output  # the refit reproduced the trial's predictions
        exports[name] = folder / "exports" / name
    with Store(store) as opened:
        trials = opened.trials(results["run_id"])
    # As on another machine: the run's model and data are gone; the test file is kept elsewhere.
    test_file = shutil.copy(folder / "trec_small_test.jsonl", tmp_path_factory.mktemp("elsewhere") / "test.jsonl")
    shutil.rmtree(model)
    for name in ("trec_small_train.jsonl", "trec_small_test.jsonl"):
        (folder / name).unlink()
    return {"results": results, "store": store, "exports": exports, "trials": trials, "test": Path(test_file)}


def _largest_first_seed(finished: dict, name: str) -> tuple[str, int, int]:
    sizes = [t["n_per_class"] for t in finished["results"]["trials"] if t["strategy"] == name]
    return name, max(sizes), finished["results"]["task"]["seed"]


@pytest.mark.parametrize("name", EXPORTED)
def test_an_export_describes_itself(finished: dict, name: str):
    folder = finished["exports"][name]
    manifest = json.loads((folder / "shouldtune.json").read_text())
    key = _largest_first_seed(finished, name)
    trial = finished["trials"][key].record
    assert manifest["strategy"] == name and manifest["run_id"] == finished["results"]["run_id"]
    # Format 1, as before the hf backend could be exported: an older shouldtune still reads it.
    assert manifest["format_version"] == 1 and not {"backend", "task_type", "hf"} & set(manifest)
    assert (manifest["n_per_class"], manifest["seed"]) == key[1:] == (4, 0)
    assert manifest["test_metrics"] == trial.metrics and manifest["labels"] == ["HUM", "LOC", "NUM"]
    assert manifest["encoder"] == ("fine-tuned" if name == "full" else "copied")
    assert (folder / "encoder" / "model.safetensors").is_file() and (folder / "README.md").is_file()
    if name == "few-shot-knn":
        prompt = (folder / "prompt.yaml").read_text()
        assert "demonstrations:" in prompt and prompt.count("- text:") == trial.train_examples == 12
    else:
        assert (folder / "head.safetensors").is_file()


@pytest.mark.parametrize("name", EXPORTED)
def test_predict_on_the_runs_test_file_reproduces_the_trial(finished: dict, name: str, tmp_path: Path):
    out = tmp_path / "predictions.jsonl"
    trial = finished["trials"][_largest_first_seed(finished, name)]
    command = ["predict", str(finished["exports"][name]), str(finished["test"]), "--out", str(out)]
    if name == "full":  # a fresh process that has only the folder and the package
        completed = subprocess.run(
            [sys.executable, "-m", "shouldtune.cli", *command], capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        assert completed.returncode == 0, completed.stderr
        output = completed.stdout
    else:
        result = cli(*command)
        assert result.exit_code == 0, result.output
        output = result.output
    predictions = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["prediction"] for p in predictions] == trial.predictions
    assert [p["text"] for p in predictions] == [json.loads(line)["text"] for line in finished["test"].read_text().splitlines()]
    for metric, value in trial.record.metrics.items():
        assert f"{metric} {value:.3f}" in output


def test_predict_without_labels_writes_predictions_only(finished: dict, tmp_path: Path):
    texts = tmp_path / "new.csv"
    texts.write_text("text\nWho wrote Hamlet ?\nWhere is Lake Geneva ?\n")
    result = cli("predict", str(finished["exports"]["linear-probe"]), str(texts), "--out", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 0, result.output
    assert "accuracy" not in result.output
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [line["text"] for line in lines] == ["Who wrote Hamlet ?", "Where is Lake Geneva ?"]
    assert {line["prediction"] for line in lines} <= {"HUM", "LOC", "NUM"}


def test_runs_show_and_report(finished: dict, tmp_path: Path):
    run_id, store = finished["results"]["run_id"], str(finished["store"])
    listed = cli("runs", "--store", store)
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if run_id in line)
    assert "trec-tiny" in row and "finished" in row and f" {len(finished['results']['trials'])} " in row
    assert finished["results"]["recommendation"]["choice"] in row
    shown = cli("show", run_id[:4], "--store", store)
    assert shown.exit_code == 0 and "Recommendation:" in shown.output and run_id in shown.output
    reported = cli("report", run_id, "--out", str(tmp_path / "again"), "--store", store)
    assert reported.exit_code == 0, reported.output
    assert json.loads((tmp_path / "again" / "results.json").read_text()) == finished["results"]
    unknown = cli("show", run_id[:-1] + "x", "--store", store)
    assert unknown.exit_code == 2 and f"did you mean {run_id!r}" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--strategy", "few-shot"], "did you mean 'few-shot-knn'"),
        (["--strategy", "setfit"], "the run has no strategy 'setfit'"),
        (["--strategy", "zero-shot"], "which is no longer there"),  # the data was deleted after the run
    ],
)
def test_export_refuses_with_one_line(finished: dict, args: list[str], expected: str, tmp_path: Path):
    out = tmp_path / "export"
    result = cli("export", finished["results"]["run_id"], *args, "--out", str(out), "--store", str(finished["store"]))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Fix:" in lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".export")]


def test_export_into_a_folder_that_is_not_empty_is_refused(finished: dict, tmp_path: Path):
    (tmp_path / "keep.txt").write_text("mine")
    result = cli("export", finished["results"]["run_id"], "--out", str(tmp_path), "--store", str(finished["store"]))
    assert result.exit_code == 2 and "not an empty folder" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_an_unfinished_run_cannot_be_exported(tmp_path: Path):
    with Store(tmp_path / "store.db") as store:
        store.start_run("0123456789ab", {"name": "half"})
    result = cli("export", "0123", "--out", str(tmp_path / "x"), "--store", str(tmp_path / "store.db"))
    assert result.exit_code == 2 and "has not finished" in result.stderr and "Fix:" in result.stderr


def test_predict_refuses_a_folder_that_is_not_an_export(tmp_path: Path):
    result = cli("predict", str(tmp_path), str(DATA / "trec_small_test.jsonl"), "--out", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 2 and "not an exported strategy" in result.stderr
    with pytest.raises(ExportError, match="no such folder"):
        load_exported(tmp_path / "missing")


def test_best_of_a_track_is_its_highest_score_at_its_largest_size():
    def point(strategy: str, track: str, n: int, mean: float) -> dict:
        return {"strategy": strategy, "track": track, "n_per_class": n, "metric": "macro_f1", "mean": mean,
                "ci_low": mean - 0.1, "ci_high": mean + 0.1, "seeds": 1}

    results = {
        "task": {"metric": "macro_f1", "seed": 0},
        "trials": [{"strategy": s} for s in ("zero-shot", "few-shot-knn", "linear-probe")],
        "curves": [
            point("zero-shot", "prompt", 0, 0.6),
            point("few-shot-knn", "prompt", 4, 0.9),
            point("few-shot-knn", "prompt", 8, 0.5),  # its largest size counts, not its best
            point("linear-probe", "finetune", 8, 0.7),
        ],
        "recommendation": {"choice": "either", "strategy": "linear-probe"},
    }
    assert choose_strategy(results, "best-prompt") == "zero-shot"
    assert choose_strategy(results, "best-finetune") == "linear-probe"
    assert choose_strategy(results, "recommended") == "linear-probe"
    assert choose_strategy(results, "few-shot-knn") == "few-shot-knn"


def test_an_export_on_the_bundled_encoder_does_not_copy_it(tmp_path: Path):
    store, out = str(tmp_path / "store.db"), tmp_path / "exported"
    task = tmp_path / "task.yaml"
    task.write_text(
        f"data: {DATA / 'trec_small_train.jsonl'}\ntest: {DATA / 'trec_small_test.jsonl'}\n"
        "strategies: [linear-probe]\nsizes: [2]\nseeds: 1\n"
    )
    results = run(task, tmp_path / "store.db")
    assert cli("export", results["run_id"], "--strategy", "best-finetune", "--out", str(out), "--store", store).exit_code == 0
    manifest = json.loads((out / "shouldtune.json").read_text())
    assert manifest["encoder"] == "bundled" and manifest["backend_model"] == results["backend"]["model"]
    assert not (out / "encoder").exists()
    predicted = cli("predict", str(out), str(DATA / "trec_small_test.jsonl"), "--out", str(tmp_path / "p.jsonl"))
    assert predicted.exit_code == 0, predicted.output
    assert f"accuracy {results['trials'][0]['metrics']['accuracy']:.3f}" in predicted.output


def _random_head(folder: Path) -> None:
    (folder / "head.safetensors").write_bytes(bytes(range(256)) * 20)


def _edit_manifest(**changes: object):
    def edit(folder: Path) -> None:
        manifest = json.loads((folder / "shouldtune.json").read_text())
        (folder / "shouldtune.json").write_text(json.dumps({**manifest, **changes}))
    return edit


def _drop_encoder_weights(folder: Path) -> None:
    (folder / "encoder" / "model.safetensors").unlink()


def _drop_encoder(folder: Path) -> None:
    shutil.rmtree(folder / "encoder")


# case -> (the export it tampers with, how, what the one line must say)
TAMPERED = {
    "head weights are random bytes": ("linear-probe", _random_head, ["head.safetensors", "not a readable safetensors file"]),
    "encoder edited to a path": ("linear-probe", _edit_manifest(encoder="/etc"), ["shouldtune.json", "encoder '/etc'"]),
    "labels edited": ("linear-probe", _edit_manifest(labels=["HUM", "LOC", "PLACE"]), ["not the labels the strategy was saved with"]),
    "strategy edited": ("linear-probe", _edit_manifest(strategy="linear"), ["strategy 'linear' is not a shouldtune strategy"]),
    "fine-tuned encoder's weights gone": ("full", _drop_encoder_weights, ["encoder", "the encoder cannot be loaded"]),
    "fine-tuned encoder gone": ("full", _drop_encoder, ["modules.json", "missing from the exported folder"]),
    "copied encoder gone": ("few-shot-knn", _drop_encoder, ["encoder", "missing from the exported folder"]),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_predict_refuses_a_tampered_export_with_one_line(finished: dict, case: str, tmp_path: Path):
    name, tamper, expected = TAMPERED[case]
    folder = Path(shutil.copytree(finished["exports"][name], tmp_path / "export"))
    tamper(folder)
    out = tmp_path / "p.jsonl"
    result = cli("predict", str(folder), str(finished["test"]), "--out", str(out))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Fix:" in lines[0] and "Traceback" not in result.output, result.stderr
    for part in expected:
        assert part in lines[0], lines[0]
    assert not out.exists()


def test_predict_warns_about_gold_labels_the_model_never_saw(finished: dict, tmp_path: Path):
    texts = tmp_path / "new.csv"
    texts.write_text("text,label\nWho wrote Hamlet ?,HUM\nWhat is a lorry ?,DESC\nWhy is the sky blue ?,DESC\n")
    result = cli("predict", str(finished["exports"]["linear-probe"]), str(texts), "--out", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 0, result.output
    assert "2 of 3 gold labels are labels the model never saw ('DESC')" in " ".join(result.stderr.split())


def test_predict_on_an_empty_file_asks_for_texts(finished: dict, tmp_path: Path):
    (tmp_path / "empty.csv").write_text("")
    result = cli("predict", str(finished["exports"]["linear-probe"]), str(tmp_path / "empty.csv"), "--out", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 2 and "the file is empty" in result.stderr and "texts to label" in result.stderr
    assert "labelled examples" not in result.stderr


def test_exported_files_and_predictions_follow_the_umask(finished: dict, tmp_path: Path):
    # mkstemp, mkdtemp and safetensors make files private (0600); what the user asked for follows the umask.
    import os

    mask = os.umask(0o027)
    try:
        result = cli("predict", str(finished["exports"]["linear-probe"]), str(finished["test"]), "--out", str(tmp_path / "p.jsonl"))
    finally:
        os.umask(mask)
    assert result.exit_code == 0
    assert (tmp_path / "p.jsonl").stat().st_mode & 0o777 == 0o640
    for path in [finished["exports"]["full"], *finished["exports"]["full"].rglob("*")]:  # exported under `mask`
        assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~mask, path
