"""The whole comparison on a real local LLM: opt-in (`make test-slow`), needs SHOULDTUNE_HF_MODEL.

    SHOULDTUNE_HF_MODEL=/models/SmolLM2-135M-Instruct .venv/bin/python -m pytest -m slow tests/test_hf_slow.py

The folder must hold a Hugging Face causal LM saved with safetensors (config.json, tokenizer
files, *.safetensors). On a GPU it is picked automatically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.cli import app

DATA = Path(__file__).parent / "data"
MODEL = os.environ.get("SHOULDTUNE_HF_MODEL")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL or not Path(MODEL).is_dir(), reason="set SHOULDTUNE_HF_MODEL to a local model folder"),
]


@pytest.mark.parametrize(
    ("task_type", "data"),
    [("classification", "trec_small"), ("generation", "e2e_small"), ("extraction", "snips_small")],
)
def test_whole_comparison_on_a_real_model(task_type: str, data: str, tmp_path: Path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run", "--backend", "hf", "--model", str(MODEL), "--task-type", task_type,
            "--data", str(DATA / f"{data}_train.jsonl"), "--test", str(DATA / f"{data}_test.jsonl"),
            "--sizes", "0,4", "--seeds", "1", "--max-new-tokens", "48", "--batch-size", "8",
            "--param", "lora.max_steps=30", "--param", "lora+few-shot.max_steps=30",
            "--out", str(out), "--store", str(tmp_path / "store.db"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    trials = {(t["strategy"], t["n_per_class"]): t for t in results["trials"]}
    assert {"zero-shot", "few-shot", "few-shot-knn", "prompt-search", "lora", "lora+few-shot"} <= {s for s, _ in trials}
    lora = trials[("lora", 4)]["details"]
    assert lora["final_loss"] < lora["first_loss"]
    metric = results["task"]["metric"]
    # A real model does better than nothing on these easy slices with four examples.
    assert max(t["metrics"][metric] for t in results["trials"] if t["track"] != "baseline") > 0.0
