"""Embedding throughput: plain `encode` against shouldtune's embed path and its runtimes.

Run: .venv/bin/python benchmarks/embedding_speed.py [--per-dataset 1500] [--repeats 3] [--int8]
In one process, on the same texts (the first N training texts of Banking77 and of SST-2,
from ../shared/data), each way embeds the whole list once per round, the ways taking turns, so
that a busy machine slows them alike; it prints texts/s per round and each way's ratio to
plain `SentenceTransformer.encode` on the whole list in the same round:
- plain: `model.encode(texts)` (sorts by length itself);
- embed: `SentenceEncoder.embed`, shouldtune's path (runtime torch, the default);
- embed onnx: the same with runtime onnx (only with the `onnx` extra installed);
- torch int8 (--int8; not offered): torch's dynamic int8 quantisation of the Linear layers,
  through shouldtune's embed path for the decisions.
Then the cosine of each way's embedding of each text to plain's (min, 1st percentile, mean),
and how many decisions change on Banking77 (all 77 intents; 8 training examples per class,
the first 300 test texts) for zero-shot, few-shot-knn and linear-probe.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def plain_encode(model) -> Callable[[list[str]], np.ndarray]:
    return lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


def torch_int8(model):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


class ModelEncoder:
    """An Encoder over any SentenceTransformer-like model, through shouldtune's `encode`."""

    def __init__(self, model, model_id: str) -> None:
        self.model, self.model_id = model, model_id
        self.dimension = int(model.get_embedding_dimension())

    def embed(self, texts):
        from shouldtune.backends.encoder import encode

        return encode(self.model, texts, 64)

    def close(self) -> None:
        pass


def decisions(make_encoder: Callable[[], object], rows: list[dict], test: list[dict]) -> dict[str, list[str]]:
    """Return each frozen-encoder strategy's predictions on `test` after fitting on `rows`."""
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    labels = tuple(sorted({row["label"] for row in rows}))
    train = TrainingSet(tuple(r["text"] for r in rows), tuple(r["label"] for r in rows), labels)
    context = StrategyContext(encoder=CachedEncoder(make_encoder()))
    texts = [row["text"] for row in test]
    return {name: build(name, context).fit(train).predict(texts) for name in ("zero-shot", "few-shot-knn", "linear-probe")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-dataset", type=int, default=1500, help="texts from each of Banking77 and SST-2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--int8", action="store_true", help="also measure torch's dynamic int8 (not offered)")
    args = parser.parse_args()

    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.threads import use_available_cores

    threads = use_available_cores()
    texts = [r["text"] for r in read_jsonl(DATA / "banking77" / "train.jsonl")[: args.per_dataset]]
    texts += [r["text"] for r in read_jsonl(DATA / "sst2" / "train.jsonl")[: args.per_dataset]]

    encoder = SentenceEncoder()
    ways: dict[str, Callable[[list[str]], np.ndarray]] = {"plain encode": plain_encode(encoder.model), "embed": encoder.embed}
    encoders: dict[str, Callable[[], object]] = {"torch": SentenceEncoder}
    try:
        from shouldtune.backends.onnx import onnx_runtime

        onnx_runtime()
        onnx_encoder = SentenceEncoder(runtime="onnx")
        ways["embed onnx"] = onnx_encoder.embed
        encoders["onnx"] = lambda: SentenceEncoder(runtime="onnx")
    except Exception as err:  # the extra is not installed
        print(f"(embed onnx skipped: {err})")
    if args.int8:
        quantised = torch_int8(encoder.model)
        ways["torch int8"] = plain_encode(quantised)
        encoders["torch int8"] = lambda: ModelEncoder(quantised, "int8")
    for embed in ways.values():  # warm-up (and the ONNX export)
        embed(texts[:64])

    seconds: dict[str, list[float]] = {name: [] for name in ways}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, embed in ways.items():
            start = time.perf_counter()
            vectors[name] = embed(texts)
            seconds[name].append(time.perf_counter() - start)

    print(f"{len(texts)} texts ({args.per_dataset} Banking77 + {args.per_dataset} SST-2), {args.repeats} rounds, torch threads {threads}")
    print(f"{'way':<14}{'texts/s per round':<26}{'ratio to plain per round':<28}{'median':>7}{'cos min':>10}{'cos p1':>9}{'cos mean':>10}")
    for name in ways:
        rates = " ".join(f"{len(texts) / s:6.1f}" for s in seconds[name])
        ratios = [p / s for p, s in zip(seconds["plain encode"], seconds[name])]
        cosine = np.sum(vectors[name] * vectors["plain encode"], axis=1)
        print(
            f"{name:<14}{rates:<26}{' '.join(f'{r:5.2f}' for r in ratios):<28}{statistics.median(ratios):7.2f}"
            f"{cosine.min():10.5f}{np.percentile(cosine, 1):9.5f}{cosine.mean():10.5f}"
        )

    train = read_jsonl(DATA / "banking77" / "train.jsonl")
    per_class: dict[str, list[dict]] = {}
    for row in train:
        per_class.setdefault(row["label"], [])
        if len(per_class[row["label"]]) < 8:
            per_class[row["label"]].append(row)
    rows = [row for group in per_class.values() for row in group]
    test = read_jsonl(DATA / "banking77" / "test.jsonl")[:300]
    gold = [row["label"] for row in test]
    reference = decisions(encoders["torch"], rows, test)
    print(f"\nBanking77 decisions ({len(rows)} training texts, {len(test)} test texts): changed vs torch, accuracy")
    for runtime, make_encoder in encoders.items():
        predicted = reference if runtime == "torch" else decisions(make_encoder, rows, test)
        cells = []
        for name, labels in predicted.items():
            changed = sum(a != b for a, b in zip(labels, reference[name]))
            accuracy = np.mean([a == b for a, b in zip(labels, gold)])
            cells.append(f"{name} {changed} changed, acc {accuracy:.3f}")
        print(f"  {runtime:<11} " + "; ".join(cells))


if __name__ == "__main__":
    main()
