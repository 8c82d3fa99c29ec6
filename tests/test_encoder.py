"""The embed path: same vectors as plain `encode`, in the caller's order; torch's thread count."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from shouldtune.backends.encoder import encode, length_order
from shouldtune.threads import available_cores, torch_threads, use_available_cores

# Lengths out of order, so that arrival-order and length-order batches differ.
TEXTS = [
    "hi",
    "where is the card I ordered two weeks ago, it still has not arrived at my address",
    "refund please",
    "a stirring , funny and finally transporting re-imagining of beauty and the beast",
    "ok",
    "why was I charged a fee for a transfer to my own account in another bank",
    "what is the exchange rate",
]


class RecordingProgress:
    """A stand-in for Rich's Progress that records what it was told."""

    def __init__(self) -> None:
        self.total = 0
        self.advanced = 0
        self.removed = False

    def add_task(self, description: str, total: int) -> int:
        self.total = total
        return 1

    def advance(self, task: int, amount: int) -> None:
        self.advanced += amount

    def remove_task(self, task: int) -> None:
        self.removed = True


def test_length_order_is_longest_first_and_stable():
    assert length_order(object(), ["aa", "b", "cccc", "dd"]).tolist() == [2, 0, 3, 1]


def test_embed_gives_plain_encode_vectors_in_the_callers_order(encoder):
    model = encoder.encoder.model
    progress = RecordingProgress()
    ours = encode(model, TEXTS, batch_size=3, progress=progress)
    plain = model.encode(TEXTS, batch_size=3, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == plain.shape
    np.testing.assert_allclose(ours, plain, atol=1e-5)
    assert (progress.total, progress.advanced, progress.removed) == (len(TEXTS), len(TEXTS), True)


def test_full_fine_tune_predicts_in_the_callers_order(tiny_encoder_folder, one_torch_thread):
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    labels = ("long", "short")
    train = TrainingSet(tuple(TEXTS), tuple("long" if len(t) > 20 else "short" for t in TEXTS), labels)
    context = StrategyContext(encoder=CachedEncoder(SentenceEncoder(tiny_encoder_folder)))
    strategy = build("full", context, {"max_steps": 2, "batch_size": 4}).fit(train)
    together = strategy.predict(TEXTS)
    alone = [strategy.predict([text])[0] for text in TEXTS]
    assert together == alone


def fake_topology(root: Path, cores_of_cpus: dict[int, int]) -> Path:
    """Write a sysfs-like CPU topology: cpu N on physical core `cores_of_cpus[N]` of package 0."""
    for cpu, core in cores_of_cpus.items():
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "physical_package_id").write_text("0\n")
        (folder / "core_id").write_text(f"{core}\n")
    return root


def test_cores_follow_the_affinity_counting_hyperthreads_once(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    # cpus 0 and 2 are the two hyperthreads of core 0, cpus 1 and 3 of core 1; cpu 4 is not ours.
    topology = fake_topology(tmp_path, {0: 0, 1: 1, 2: 0, 3: 1, 4: 2})
    assert available_cores(topology) == 2
    assert available_cores(tmp_path / "missing") == 4  # no topology: each CPU a core


def test_cores_without_an_affinity_call_are_the_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cores() == 6


def test_threads_keep_the_users_setting_but_never_exceed_the_cores():
    assert torch_threads(4, {}) == 4
    assert torch_threads(4, {"OMP_NUM_THREADS": "2"}) == 2
    assert torch_threads(4, {"OMP_NUM_THREADS": "16"}) == 4
    assert torch_threads(4, {"OMP_NUM_THREADS": "0"}) == 4
    assert torch_threads(4, {"OMP_NUM_THREADS": "two"}) == 4


def test_processes_side_by_side_share_the_cores():
    assert torch_threads(4, {}, workers=2) == 2
    assert torch_threads(3, {}, workers=2) == 1
    assert torch_threads(2, {}, workers=5) == 1
    assert torch_threads(8, {"OMP_NUM_THREADS": "6"}, workers=2) == 4


def test_use_available_cores_sets_torch(monkeypatch):
    import torch

    from shouldtune import threads

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    try:
        assert use_available_cores() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_runtime_is_part_of_the_embedding_cache_key(tiny_encoder_folder, monkeypatch):
    from shouldtune.backends import onnx
    from shouldtune.backends.encoder import SentenceEncoder

    monkeypatch.setattr(onnx, "onnx_runtime", lambda: None)  # the key needs no ONNX packages
    torch_id = SentenceEncoder(tiny_encoder_folder).model_id
    assert "+" not in torch_id  # caches made before runtimes existed stay valid
    assert SentenceEncoder(tiny_encoder_folder, runtime="onnx").model_id == torch_id + "+onnx"


def test_onnx_runtime_without_its_packages_says_how_to_install(tiny_encoder_folder, monkeypatch):
    import sys

    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.errors import BackendError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BackendError, match=r"shouldtune\[onnx\]"):
        SentenceEncoder(tiny_encoder_folder, runtime="onnx")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"name": "hf", "model": "some-lm", "runtime": "onnx"}, "the hf backend has no setting 'runtime'.*a setting of the encoder backend"),
        ({"name": "encoder", "device": "cuda", "runtime": "onnx"}, "runtime 'onnx' runs on the CPU"),
    ],
)
def test_onnx_runtime_is_an_encoder_setting_on_the_cpu(settings, message):
    from shouldtune.backends.registry import parse_settings
    from shouldtune.errors import TaskFileError

    with pytest.raises(TaskFileError, match=message):
        parse_settings(settings)


def test_onnx_runtime_gives_the_torch_vectors(tiny_encoder_folder, one_torch_thread):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from shouldtune.backends.encoder import SentenceEncoder

    torch_encoder = SentenceEncoder(tiny_encoder_folder, batch_size=3)
    onnx_encoder = SentenceEncoder(tiny_encoder_folder, batch_size=3, runtime="onnx")
    np.testing.assert_allclose(onnx_encoder.embed(TEXTS), torch_encoder.embed(TEXTS), atol=1e-5)
