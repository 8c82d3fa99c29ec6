"""Export and predict on the hf backend: every LLM strategy saves and loads itself; a run on a
tiny random LM exports a prompt strategy and a LoRA one whose predictions reproduce the trial's.

The run's data is deleted before predicting, as on another machine; the model stays, since an
export names it and does not copy it, and moving it is the error case tested last.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_hf_strategies import TEST_TEXTS, TRAIN, make
from typer.testing import CliRunner

from shouldtune.cli import app
from shouldtune.errors import ExportError
from shouldtune.experiment import run_experiment
from shouldtune.export import Manifest
from shouldtune.predict import load_exported
from shouldtune.store import Store
from shouldtune.strategies.base import StrategyContext
from shouldtune.strategies.registry import default_strategies, strategy_class
from shouldtune.task import load_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DATA = Path(__file__).parent / "data"
EXPORTED = ("few-shot", "lora")  # a prompt and a LoRA adapter


def cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("name", default_strategies("hf"))
def test_a_saved_llm_strategy_loads_and_predicts_the_same(name: str, tiny_llm, encoder, tmp_path: Path):
    fitted = make(name, tiny_llm, encoder, seed=1).fit(TRAIN)
    fitted.save(tmp_path)
    context = StrategyContext(encoder=encoder, llm=tiny_llm, seed=1)
    loaded = strategy_class(name, "hf").load(tmp_path, context)
    assert loaded.predict(TEST_TEXTS) == fitted.predict(TEST_TEXTS)
    assert loaded.describe() == fitted.describe()
    files = _files(tmp_path)
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".bin", ".pt", ".joblib"))]
    if name == "majority":
        return
    prompt = (tmp_path / "prompt.yaml").read_text()
    assert "instruction:" in prompt and "template:" in prompt
    if name in ("few-shot", "prompt-search", "lora+few-shot"):
        assert prompt.count("- input:") == fitted.describe()["k"]  # the demonstrations shown with every input
    if name == "few-shot-knn":
        assert prompt.count("- input:") == len(TRAIN)  # the pool the nearest are found in
    if fitted.track == "finetune":
        assert {"adapter/adapter_model.safetensors", "adapter/adapter_config.json"} <= files


def test_a_saved_prompt_can_be_edited(tiny_llm, tmp_path: Path):
    make("zero-shot", tiny_llm).fit(TRAIN).save(tmp_path)
    prompt = tmp_path / "prompt.yaml"
    prompt.write_text(prompt.read_text().replace("template: '{text}'", "template: 'Question: {text}'"))
    loaded = strategy_class("zero-shot", "hf").load(tmp_path, StrategyContext(encoder=None, llm=tiny_llm))
    assert "Input: Question: Where is Rome ?" in loaded.prompts(["Where is Rome ?"])[0]


def test_an_edited_setting_is_checked_as_a_task_setting_is(tiny_llm, tmp_path: Path):
    make("few-shot", tiny_llm).fit(TRAIN).save(tmp_path)
    prompt = tmp_path / "prompt.yaml"
    prompt.write_text(prompt.read_text().replace("k: 2", "k: -1"))
    with pytest.raises(ExportError, match=r"prompt.yaml: settings.k: -1 is not allowed.*Fix: k takes a whole number"):
        strategy_class("few-shot", "hf").load(tmp_path, StrategyContext(encoder=None, llm=tiny_llm))


def _run(folder: Path, model: Path, data: str, task_type: str, strategies: str, params: str) -> tuple[dict, Path]:
    """Run an hf task on a copy of the data in `folder`; return results.json and the store."""
    for split in ("train", "test"):
        shutil.copy(DATA / f"{data}_{split}.jsonl", folder / f"{split}.jsonl")
    task = folder / "task.yaml"
    task.write_text(
        f"name: {data}\ntask_type: {task_type}\ndata: train.jsonl\ntest: test.jsonl\nsizes: [2]\nseeds: 1\n"
        f"strategies: [{strategies}]\nstrategy_params:\n{params}"
        f"backend: {{name: hf, model: {model}, device: cpu, max_new_tokens: 4}}\n"
    )
    store = folder / "store.db"
    results = run_experiment(load_task(task), store_path=store)
    return json.loads(json.dumps(results.to_json())), store


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_lm_folder: Path) -> dict:
    """A classification run on the tiny LM, its exports, and then its data deleted."""
    folder = tmp_path_factory.mktemp("hf-finished")
    model = Path(shutil.copytree(tiny_lm_folder, folder / "model"))
    results, store = _run(
        folder, model, "trec_small", "classification", ", ".join(EXPORTED),
        "  lora: {max_steps: 2, batch_size: 3}\n  few-shot: {k: 2}\n",
    )
    exports = {}
    for name in EXPORTED:
        exported = cli("export", results["run_id"][:5], "--strategy", name, "--out", str(folder / "exports" / name),
                       "--store", str(store))
        assert exported.exit_code == 0, exported.output
        assert "warning" not in exported.output  # the refit reproduced the trial's predictions
        exports[name] = folder / "exports" / name
    with Store(store) as opened:
        trials = opened.trials(results["run_id"])
    test = shutil.copy(folder / "test.jsonl", folder / "kept_test.jsonl")
    for name in ("train.jsonl", "test.jsonl", "task.yaml"):
        (folder / name).unlink()
    return {"results": results, "exports": exports, "trials": trials, "test": Path(test), "model": model}


@pytest.mark.parametrize("name", EXPORTED)
def test_export_names_the_model_and_its_settings(finished: dict, name: str):
    folder = finished["exports"][name]
    manifest = json.loads((folder / "shouldtune.json").read_text())
    assert manifest["format_version"] == 2 and manifest["backend"] == "hf" and manifest["task_type"] == "classification"
    assert manifest["backend_model"] == finished["results"]["backend"]["model"]
    hf = manifest["hf"]
    assert hf["model"] == str(finished["model"]) and hf["model_folder"] == str(finished["model"].resolve())
    assert (hf["dtype"], hf["max_new_tokens"], hf["classify_by"], hf["template"]) == ("float32", 4, "likelihood", "{text}")
    assert manifest["encoder"] == "none" and not (folder / "encoder").exists()
    files = _files(folder)
    assert {"shouldtune.json", "README.md", "prompt.yaml"} <= files
    assert ("adapter/adapter_model.safetensors" in files) == (name == "lora")
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl"))]
    assert "not in this folder" in (folder / "README.md").read_text()


@pytest.mark.parametrize("name", EXPORTED)
def test_predict_on_the_runs_test_file_reproduces_the_trial(finished: dict, name: str, tmp_path: Path):
    out = tmp_path / "predictions.jsonl"
    (trial,) = [t for key, t in finished["trials"].items() if key[0] == name]
    result = cli("predict", str(finished["exports"][name]), str(finished["test"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    predictions = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["prediction"] for p in predictions] == trial.predictions
    for metric, value in trial.record.metrics.items():
        assert f"{metric} {value:.3f}" in result.output


def test_a_moved_model_is_one_line_naming_the_folder_and_the_fix(finished: dict, tmp_path: Path):
    moved = tmp_path / "moved-model"
    shutil.move(finished["model"], moved)
    try:
        out = tmp_path / "p.jsonl"
        result = cli("predict", str(finished["exports"]["lora"]), str(finished["test"]), "--out", str(out))
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
        assert str(finished["model"].resolve()) in lines[0] and "--model" in lines[0] and "Fix:" in lines[0]
        assert not out.exists()
        # ...and --model says where it is now.
        again = cli("predict", str(finished["exports"]["lora"]), str(finished["test"]), "--out", str(out), "--model", str(moved))
        assert again.exit_code == 0, again.output
        assert "warning" not in again.output  # the same weights, in another folder
        (trial,) = [t for key, t in finished["trials"].items() if key[0] == "lora"]
        assert [json.loads(line)["prediction"] for line in out.read_text().splitlines()] == trial.predictions
        wrong = cli("predict", str(finished["exports"]["lora"]), str(finished["test"]), "--out", str(out),
                    "--model", str(tmp_path / "nowhere"))
        assert wrong.exit_code == 2 and "option '--model'" in wrong.stderr
    finally:
        shutil.move(moved, finished["model"])


def test_a_lora_export_without_its_adapter_weights_is_refused(finished: dict, tmp_path: Path):
    folder = Path(shutil.copytree(finished["exports"]["lora"], tmp_path / "export"))
    (folder / "adapter" / "adapter_model.safetensors").unlink()
    with pytest.raises(ExportError, match="adapter_model.safetensors: missing from the exported folder"):
        load_exported(folder)


def test_manifest_format_versions(finished: dict, tmp_path: Path):
    folder = Path(shutil.copytree(finished["exports"]["few-shot"], tmp_path / "export"))
    path = folder / "shouldtune.json"
    document = json.loads(path.read_text())
    assert Manifest.read(folder).to_json() == document
    path.write_text(json.dumps({**document, "format_version": 3}))
    with pytest.raises(ExportError, match="this shouldtune reads up to 2"):
        Manifest.read(folder)
    path.write_text(json.dumps({**document, "format_version": 1}))
    with pytest.raises(ExportError, match="format 1, which has no backend, hf, task_type"):
        Manifest.read(folder)
    without = {key: value for key, value in document.items() if key != "hf"}
    path.write_text(json.dumps(without))
    with pytest.raises(ExportError, match="hf settings must be there"):
        Manifest.read(folder)


def test_a_generation_export_writes_the_generated_outputs(tmp_path: Path, tiny_lm_folder: Path):
    model = Path(shutil.copytree(tiny_lm_folder, tmp_path / "model"))
    results, store = _run(
        tmp_path, model, "e2e_small", "generation", "lora+few-shot",
        "  lora+few-shot: {max_steps: 2, batch_size: 2, k: 2}\n",
    )
    out = tmp_path / "export"
    exported = cli("export", results["run_id"], "--strategy", "lora+few-shot", "--out", str(out), "--store", str(store))
    assert exported.exit_code == 0, exported.output
    assert "warning" not in exported.output and "examples in all" in exported.output
    assert json.loads((out / "shouldtune.json").read_text())["labels"] == []
    predicted = cli("predict", str(out), str(tmp_path / "test.jsonl"), "--out", str(tmp_path / "p.jsonl"))
    assert predicted.exit_code == 0, predicted.output
    with Store(store) as opened:
        (trial,) = opened.trials(results["run_id"]).values()
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    by_input: dict[str, str] = {}  # the run's test set holds each input once
    for row in rows:
        assert by_input.setdefault(row["text"], row["prediction"]) == row["prediction"]
    assert list(by_input.values()) == trial.predictions
    for metric, value in trial.record.metrics.items():
        assert f"{metric} {value:.3f}" in predicted.output
    # Export fits the strategy again, so it needs the model where the run read it.
    model.rename(tmp_path / "elsewhere")
    again = cli("export", results["run_id"], "--strategy", "lora+few-shot", "--out", str(tmp_path / "again"), "--store", str(store))
    assert again.exit_code == 2 and "Traceback" not in again.output
    assert f"the run's model {str(model)!r} cannot be opened" in again.stderr and "put the model back" in again.stderr


def test_predict_warns_when_the_model_has_other_weights(finished: dict, tmp_path: Path):
    from hf_tiny import build_tiny_lm

    other = build_tiny_lm(tmp_path / "other", seed=1)  # the same tokenizer and shape, other weights
    result = cli("predict", str(finished["exports"]["few-shot"]), str(finished["test"]), "--out", str(tmp_path / "p.jsonl"),
                 "--model", str(other))
    assert result.exit_code == 0, result.output
    assert "(other weights); predictions may differ" in " ".join(result.stderr.split())
