"""SetFit's pair loss with each distinct text embedded once: the library's loss and gradients, fewer rows."""

from __future__ import annotations

from pathlib import Path

import pytest

TEXTS = ["what is the capital of peru", "how far is the moon", "who wrote hamlet", "a longer question about the tallest mountain on earth"]


def _batch(model, left: list[str], right: list[str]):
    return [model.preprocess(left), model.preprocess(right)]


@pytest.fixture
def tiny_model(tiny_encoder_folder: Path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_encoder_folder), device="cpu")
    model.eval()  # no dropout: the two losses must then agree exactly
    return model


def _loss_and_gradients(loss, features, labels):
    loss.model.zero_grad()
    value = loss(features, labels)
    value.backward()
    return float(value.detach()), [p.grad.clone() for p in loss.model.parameters() if p.grad is not None]


def test_same_loss_and_gradients_as_the_library_with_fewer_texts_through_the_model(tiny_model):
    import torch
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    from shouldtune.strategies.finetune.distinct_texts import DistinctTextsCosineSimilarityLoss

    # 8 pairs, 16 texts, 4 distinct: how a batch looks when a fold has few examples.
    left = [TEXTS[i % 4] for i in range(8)]
    right = [TEXTS[(i * 3 + 1) % 4] for i in range(8)]
    labels = torch.tensor([1.0 if a == b else 0.0 for a, b in zip(left, right)])
    seen: list[int] = []
    hook = tiny_model[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]["input_ids"].shape[0]))

    expected, expected_gradients = _loss_and_gradients(CosineSimilarityLoss(tiny_model), _batch(tiny_model, left, right), labels)
    rows_library = sum(seen)
    seen.clear()
    value, gradients = _loss_and_gradients(DistinctTextsCosineSimilarityLoss(tiny_model), _batch(tiny_model, left, right), labels)
    hook.remove()

    assert value == pytest.approx(expected, rel=1e-5)
    assert len(gradients) == len(expected_gradients)
    for got, want in zip(gradients, expected_gradients):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert rows_library == 16
    assert sum(seen) == 4


def test_a_batch_of_distinct_texts_scores_as_the_library_does(tiny_model):
    import torch
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    from shouldtune.strategies.finetune.distinct_texts import DistinctTextsCosineSimilarityLoss

    left, right = TEXTS[:2], TEXTS[2:]
    labels = torch.tensor([0.0, 1.0])
    with torch.no_grad():
        expected = CosineSimilarityLoss(tiny_model)(_batch(tiny_model, left, right), labels)
        value = DistinctTextsCosineSimilarityLoss(tiny_model)(_batch(tiny_model, left, right), labels)
    assert float(value) == pytest.approx(float(expected), rel=1e-5)


def test_grouped_by_length_same_loss_and_gradients_with_less_padding(tiny_model, monkeypatch):
    import torch
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    import shouldtune.strategies.finetune.length_groups as length_groups
    from shouldtune.strategies.finetune.distinct_texts import DistinctTextsCosineSimilarityLoss

    long_text = " ".join(["a much longer question that goes on about mountains and rivers"] * 4)
    texts = [*TEXTS[:3], long_text]
    left = [texts[i % 4] for i in range(8)]
    right = [texts[(i * 3 + 1) % 4] for i in range(8)]
    labels = torch.tensor([1.0 if a == b else 0.0 for a, b in zip(left, right)])
    padded: list[int] = []
    hook = tiny_model[0].register_forward_pre_hook(lambda module, args: padded.append(args[0]["input_ids"].numel()))

    expected, expected_gradients = _loss_and_gradients(CosineSimilarityLoss(tiny_model), _batch(tiny_model, left, right), labels)
    padded.clear()
    monkeypatch.setattr(length_groups, "GROUP_OVERHEAD_TOKENS", 1)  # every length its own group
    loss = DistinctTextsCosineSimilarityLoss(tiny_model)
    value, gradients = _loss_and_gradients(loss, _batch(tiny_model, left, right), labels)
    hook.remove()

    assert value == pytest.approx(expected, rel=1e-5)
    for got, want in zip(gradients, expected_gradients):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    lengths = [len(tiny_model.tokenizer(text)["input_ids"]) for text in texts]
    assert len(padded) > 1  # several calls through the encoder
    assert sum(padded) == sum(lengths)  # and not one padding token among them
