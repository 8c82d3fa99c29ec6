"""Backends as plug-ins: a backend defined here, in the test suite, runs a whole comparison;
strategies are refused, before any work, by the capability they miss; one run mixes backends."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field

from shouldtune.backends.registry import BackendSpec, OpenBackend, backend_spec
from shouldtune.errors import TaskFileError
from shouldtune.task import load_task

DATA = Path(__file__).parent / "data"


# --- a toy backend: bag-of-words hashing vectors (scikit-learn), no weights to tune -------------


class HashingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["hashing"] = "hashing"
    dimension: int = Field(default=512, ge=8, description="Length of the hashed vectors.")


class HashingEncoder:
    """Embeds a text as its L2-normalised hashed word and word-pair counts."""

    def __init__(self, dimension: int) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vectorizer = HashingVectorizer(n_features=dimension, ngram_range=(1, 2), alternate_sign=False, norm=None)
        self._dimension = dimension
        self.closed = False

    @property
    def model_id(self) -> str:
        return f"hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.vectorizer.transform(list(texts)).toarray().astype(np.float32) + 1e-6
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def close(self) -> None:
        self.closed = True


OPENED: list[OpenBackend] = []


def open_hashing(settings: HashingSettings, store: Any, progress: Any = None) -> OpenBackend:
    from shouldtune.backends.cache import CachedEncoder

    encoder = CachedEncoder(HashingEncoder(settings.dimension), store)
    OPENED.append(OpenBackend(alias="hashing", spec=HASHING, model_id=encoder.model_id, encoder=encoder))
    return OPENED[-1]


HASHING = BackendSpec(
    kind="hashing",
    settings=HashingSettings,
    capabilities=frozenset({"embed"}),
    family="encoder",
    charges="compute",
    open=open_hashing,
    summary="hashed bag of words",
)


@pytest.fixture
def hashing_backend(monkeypatch):
    from shouldtune.backends import registry

    monkeypatch.setitem(registry._REGISTERED, "hashing", HASHING)
    OPENED.clear()
    yield HASHING


def test_a_backend_defined_in_the_tests_runs_a_whole_comparison(hashing_backend, tmp_path, runner_app):
    runner, app = runner_app
    out = tmp_path / "out"
    result = runner.invoke(app, [
        "run", "--data", str(DATA / "trec_small_train.jsonl"), "--test", str(DATA / "trec_small_test.jsonl"),
        "--backend", "hashing", "--sizes", "0,4,8", "--seeds", "1", "--store", str(tmp_path / "s.db"), "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    ran = {t["strategy"] for t in results["trials"]}
    # Every strategy the backend's capabilities allow, and none that needs more (setfit, full).
    assert ran == {"majority", "zero-shot", "few-shot-knn", "prompt-search", "linear-probe"}
    assert {t["backend"] for t in results["trials"]} == {"hashing"}
    assert {t["model"] for t in results["trials"]} == {"hashing-512"}
    assert results["recommendation"]["choice"] in ("prompt", "finetune", "either", "collect-more-data")
    # Hashed word counts know which words go with which label: a linear probe beats the majority label.
    final = {t["strategy"]: t["metrics"]["macro_f1"] for t in results["trials"] if t["n_per_class"] in (0, 8)}
    assert final["linear-probe"] > final["majority"]
    assert OPENED and all(backend.encoder is None for backend in OPENED), "every opened backend is closed"


def test_a_strategy_is_refused_by_the_capability_its_backend_lacks(hashing_backend):
    with pytest.raises(TaskFileError) as caught:
        load_task(None, data=str(DATA / "trec_small_train.jsonl"), backend={"name": "hashing"}, strategies=("zero-shot", "setfit"))
    message = str(caught.value)
    assert "'setfit' needs the 'tune-encoder' capability, which the hashing backend lacks" in message
    assert "linear-probe" in message and "full" not in message.split("Fix:")[-1]


def test_an_unknown_backend_or_setting_gets_a_did_you_mean():
    with pytest.raises(TaskFileError, match="unknown backend 'hff'.*did you mean 'hf'"):
        load_task(None, data=str(DATA / "trec_small_train.jsonl"), backend={"name": "hff", "model": "x"})
    with pytest.raises(TaskFileError, match="the encoder backend has no setting 'dtype'.*setting of the hf backend"):
        load_task(None, data=str(DATA / "trec_small_train.jsonl"), backend={"name": "encoder", "dtype": "float16"})
    with pytest.raises(TaskFileError, match="the hf backend needs a model"):
        load_task(None, data=str(DATA / "trec_small_train.jsonl"), backend={"name": "hf"})


def test_a_strategy_bound_to_an_undeclared_backend_names_the_known_ones():
    with pytest.raises(TaskFileError, match="no backend named 'smal'.*did you mean 'small'"):
        load_task(
            None, data=str(DATA / "trec_small_train.jsonl"),
            backends={"small": {"name": "encoder"}}, strategies=("zero-shot", "full@smal"),
        )


def test_the_bundled_encoder_needs_no_declaring_and_params_bind_by_contestant(tiny_lm_folder):
    task = load_task(
        None, data=str(DATA / "trec_small_train.jsonl"), backend={"name": "hf", "model": str(tiny_lm_folder)},
        strategies=("zero-shot", "full@encoder"), strategy_params={"full@encoder": {"max_steps": 3}},
    )
    contestants = {c.name: (c.strategy, c.backend, c.kind) for c in task.contestants()}
    assert contestants == {"zero-shot": ("zero-shot", "hf", "hf"), "full@encoder": ("full", "encoder", "encoder")}
    assert task.params_of(task.contestant("full@encoder")) == {"max_steps": 3}


def test_backend_settings_that_change_no_output_change_no_trial_key(tiny_lm_folder):
    from shouldtune.planning import prepare, trial_key

    def key(**backend: Any) -> str:
        task = load_task(None, data=str(DATA / "trec_small_train.jsonl"), backend={"name": "hf", "model": str(tiny_lm_folder), **backend})
        return trial_key(task, task.contestant("few-shot"), "m@1", 4, 0, prepare(task).splits[0])

    assert key() == key(allow_download=True) == key(trust_remote_code=True)
    assert key() != key(max_new_tokens=3)
    spec = backend_spec("hf")
    assert "allow_download" not in spec.output_settings(spec.settings(model="x"))


@pytest.fixture
def runner_app():
    from typer.testing import CliRunner

    from shouldtune.cli import app

    return CliRunner(), app


# --- one run across two backends ------------------------------------------------------------


def test_one_run_prompts_a_language_model_and_fine_tunes_the_encoder(tiny_lm_folder, tmp_path, one_torch_thread):
    from shouldtune.experiment import run_experiment
    from shouldtune.report.outputs import write_outputs

    task = load_task(
        None,
        data=str(DATA / "trec_small_train.jsonl"), test=str(DATA / "trec_small_test.jsonl"),
        backend={"name": "hf", "model": str(tiny_lm_folder), "max_new_tokens": 4},
        strategies=("majority", "zero-shot", "few-shot", "linear-probe@encoder", "full@encoder"),
        strategy_params={"full@encoder": {"max_steps": 2}, "few-shot": {"k": 2}},
        sizes=(0, 4), seeds=1,
    )
    result = run_experiment(task, store_path=tmp_path / "s.db")
    backends = {t["strategy"]: (t["backend"], t["model"].split("@")[0]) for t in result.trials}
    lm = tiny_lm_folder.name
    assert backends == {
        "majority": ("hf", lm), "zero-shot": ("hf", lm), "few-shot": ("hf", lm),
        "linear-probe@encoder": ("encoder", "all-MiniLM-L6-v2"), "full@encoder": ("encoder", "all-MiniLM-L6-v2"),
    }
    # Only the language model's trials count tokens; the encoder's are charged by their time.
    assert all(("tokens" in t) == (t["backend"] == "hf" and t["track"] != "baseline") for t in result.trials)
    assert set(result.to_json()["backend"]["backends"]) == {"hf", "encoder"}
    # The decision compares the best of each track whatever its backend, and charges each by its own.
    final = result.analysis.final
    assert final.prompt.strategy in ("zero-shot", "few-shot") and final.finetune.strategy.endswith("@encoder")
    cost = next(c for c in result.recommendation.criteria if c.name == "cost")
    assert "each charged by its backend" in cost.sentence
    assert f"{final.finetune.strategy} on the encoder backend by compute time" in cost.sentence
    out = tmp_path / "out"
    write_outputs(result.to_json(), out)
    report = (out / "report.md").read_text()
    assert "Backends: encoder: encoder (all-MiniLM-L6-v2@" in report and f"hf: hf ({lm}@" in report
    assert "full@encoder" in report


# --- the prompt-wording analysis on a language model -----------------------------------------


def test_prompt_wording_analysis_appears_on_an_hf_run(tiny_lm_folder, tmp_path, one_torch_thread):
    from shouldtune.experiment import run_experiment

    task = load_task(
        None,
        data=str(DATA / "trec_small_train.jsonl"), test=str(DATA / "trec_small_test.jsonl"),
        backend={"name": "hf", "model": str(tiny_lm_folder), "max_new_tokens": 4},
        strategies=("majority", "prompt-search"), strategy_params={"prompt-search": {"k": 1, "budget": 40}},
        sizes=(4,), seeds=1,
    )
    result = run_experiment(task, store_path=tmp_path / "s.db")
    variants = result.analysis.prompt_variants
    assert [v.strategy for v in variants] == ["prompt-search"]
    assert variants[0].candidates >= 2 and variants[0].high >= variants[0].low
    assert 0 < variants[0].p_value <= 1  # the LM's wordings were tested against chance too
