"""Texts through the encoder in groups of like length: the same embeddings and gradients, less padding."""

from __future__ import annotations

from pathlib import Path

import pytest

from shouldtune.strategies.finetune.length_groups import length_groups

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [
    "who wrote hamlet",
    " ".join(["a much longer question that goes on about mountains and rivers"] * 4),
    "how far is the moon",
    " ".join(["a long question about the tallest mountain on earth"] * 2),
    "why",
]


def test_texts_of_like_length_go_through_the_encoder_together():
    lengths = [40, 6, 7, 38, 5, 41, 6, 39]
    # Cheap groups: the short texts and the long ones apart, shortest first.
    assert length_groups(lengths, overhead_tokens=10) == [[4, 1, 6, 2], [3, 7, 0, 5]]
    # A group costs more than the padding it saves: one group, as the library pads.
    assert length_groups(lengths, overhead_tokens=10_000) == [[4, 1, 6, 2, 3, 7, 0, 5]]
    assert length_groups([], overhead_tokens=10) == []


@pytest.fixture
def tiny_model(tiny_encoder_folder: Path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_encoder_folder), device="cpu")
    model.eval()  # no dropout: grouped and one padded call must then agree exactly
    return model


def test_grouped_embeddings_and_gradients_are_one_padded_calls_in_the_rows_order(tiny_model):
    import torch

    from shouldtune.strategies.finetune.length_groups import embed_in_length_groups

    features = tiny_model.preprocess(TEXTS)
    rows = torch.tensor([3, 0, 1, 4])  # some rows, out of order, as the setfit loss asks for its distinct texts
    tokens: list[int] = []
    hook = tiny_model[0].register_forward_pre_hook(lambda module, args: tokens.append(args[0]["input_ids"].numel()))

    tiny_model.zero_grad()
    expected = tiny_model(features)["sentence_embedding"][rows]
    expected.pow(2).sum().backward()
    expected_gradients = [p.grad.clone() for p in tiny_model.parameters() if p.grad is not None]
    tokens.clear()
    tiny_model.zero_grad()
    grouped = embed_in_length_groups(tiny_model, features, rows, overhead_tokens=1)
    grouped.pow(2).sum().backward()
    hook.remove()

    torch.testing.assert_close(grouped, expected, rtol=1e-4, atol=1e-5)
    for got, want in zip([p.grad for p in tiny_model.parameters() if p.grad is not None], expected_gradients):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert len(tokens) == 4  # every length its own call
    assert sum(tokens) == int(features["attention_mask"][rows].sum())  # not one padding token among them


def test_a_batch_padded_on_the_left_goes_through_as_it_came(tiny_model):
    import torch

    from shouldtune.strategies.finetune.length_groups import embed_in_length_groups

    tiny_model.tokenizer.padding_side = "left"
    features = tiny_model.preprocess(TEXTS)
    assert int(features["attention_mask"][0, 0]) == 0  # the short first text starts with padding
    calls: list[int] = []
    hook = tiny_model[0].register_forward_pre_hook(lambda module, args: calls.append(args[0]["input_ids"].shape[0]))
    with torch.no_grad():
        grouped = embed_in_length_groups(tiny_model, features, torch.arange(len(TEXTS)), overhead_tokens=1)
        hook.remove()
        torch.testing.assert_close(grouped, tiny_model(features)["sentence_embedding"], rtol=1e-4, atol=1e-5)
    assert calls == [len(TEXTS)]


def test_full_trains_and_predicts_on_the_same_logits_as_one_padded_batch(tiny_encoder_folder: Path):
    import torch

    from shouldtune.backends.encoder import SentenceEncoder
    from shouldtune.strategies.base import StrategyContext, TrainingSet
    from shouldtune.strategies.registry import build

    train = TrainingSet(tuple(TEXTS), ("a", "b", "a", "b", "a"), ("a", "b"))
    strategy = build("full", StrategyContext(encoder=SentenceEncoder(tiny_encoder_folder)), {"max_steps": 2, "batch_size": 5}).fit(train)
    calls: list[int] = []
    hook = strategy.model_[0].register_forward_pre_hook(lambda module, args: calls.append(args[0]["input_ids"].shape[1]))
    with torch.no_grad():
        grouped = strategy._logits(TEXTS)
        hook.remove()
        one_batch = strategy.head_(strategy.model_(strategy.model_.preprocess(TEXTS))["sentence_embedding"])
    torch.testing.assert_close(grouped, one_batch, rtol=1e-4, atol=1e-5)
    assert len(calls) > 1 and min(calls) < max(calls)  # the short texts went through without the long one's padding
