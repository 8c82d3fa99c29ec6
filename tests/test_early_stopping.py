"""Early stopping on a held-back slice, for `full` (tiny encoder) and LoRA (tiny causal LM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shouldtune.backends.early_stopping import EarlyStopping, held_back_positions
from shouldtune.errors import TaskFileError
from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.registry import build, check_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = ("cat", "dog", "sun", "rain", "car", "boat")
# 6 labels x 4 examples: one held back per label at held_back=0.1 once the threshold allows it.
TRAIN = TrainingSet(
    tuple(f"{word} number {i}" for word in WORDS for i in range(4)),
    tuple(word for word in WORDS for _ in range(4)),
    WORDS,
)
FAST = {"batch_size": 6, "epochs": 6, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def tiny_encoder(tiny_encoder_folder: Path):
    from shouldtune.backends.encoder import SentenceEncoder

    return SentenceEncoder(tiny_encoder_folder)


def test_the_slice_is_stratified_seeded_and_only_where_stopping_can_pay():
    labels = ["a"] * 40 + ["b"] * 20
    held = held_back_positions(labels, 0.1, 16, seed=0, epochs=4, patience=1, max_steps=300, batch_size=16)
    assert sum(labels[i] == "a" for i in held) == 4 and sum(labels[i] == "b" for i in held) == 2
    assert held == held_back_positions(labels, 0.1, 16, seed=0, epochs=4, patience=1, max_steps=300, batch_size=16)
    assert held != held_back_positions(labels, 0.1, 16, seed=1, epochs=4, patience=1, max_steps=300, batch_size=16)
    # Below the threshold (b has 20 < 32), nothing is held back...
    assert held_back_positions(labels, 0.1, 32, seed=0, epochs=4, patience=1, max_steps=300, batch_size=16) == ()
    assert held_back_positions(labels, 0.1, None, seed=0, epochs=4, patience=1, max_steps=300, batch_size=16) == ()
    # ...nor where the earliest stop (after epoch 2) saves no step: 54 kept = 4 steps an epoch, 8 steps = 2 epochs.
    assert held_back_positions(labels, 0.1, 1, seed=0, epochs=4, patience=1, max_steps=8, batch_size=16) == ()
    assert held_back_positions(labels, 0.1, 1, seed=0, epochs=4, patience=1, max_steps=12, batch_size=16) != ()


def test_stopping_waits_patience_epochs_after_the_best():
    stopping = EarlyStopping(patience=2)
    improved = [stopping.update(loss) for loss in (1.0, 0.8, 0.9, 0.85)]
    assert improved == [True, True, False, False] and stopping.best_epoch == 2 and stopping.should_stop


def test_full_weighs_the_held_back_loss_as_it_weighs_training(tiny_encoder):
    import torch

    strategy = build("full", StrategyContext(encoder=tiny_encoder), {**FAST, "max_steps": 1}).fit(TRAIN)
    texts, targets = list(TRAIN.texts[:4]), torch.tensor([0, 0, 0, 1])
    weights = torch.tensor([1.0, 3.0, 1.0, 1.0, 1.0, 1.0])  # weights summing to 6 over 4 texts
    with torch.inference_mode():
        each = torch.nn.functional.cross_entropy(strategy._logits(texts), targets, reduction="none")
    expected = float((weights[targets] * each).sum() / weights[targets].sum())  # the weighted mean
    assert strategy._held_back_loss(texts, targets, weights) == pytest.approx(expected, rel=1e-5)
    assert strategy._held_back_loss(texts, targets) == pytest.approx(float(each.mean()), rel=1e-5)


def test_lora_token_mean_counts_each_pairs_tokens_by_its_weight():
    import torch

    from shouldtune.backends.hf_lora import token_mean

    log_probs = [torch.tensor([-1.0, -3.0]), torch.tensor([-5.0])]
    assert float(token_mean(log_probs)) == pytest.approx(-3.0)  # (-1 - 3 - 5) / 3 tokens
    assert float(token_mean(log_probs, [1.0, 2.0])) == pytest.approx(-3.5)  # (-4 - 2 * 5) / (2 + 2)
    assert float(token_mean(log_probs, [1.0, 1.0])) == pytest.approx(float(token_mean(log_probs)))


def test_lora_weighs_the_held_back_loss_as_it_weighs_training(tiny_llm):
    import torch

    from shouldtune.backends.hf_inference import continuation_logprobs, encode_pairs
    from shouldtune.backends.hf_lora import _held_back_loss

    model = tiny_llm.model_with_adapter(None)
    pairs = encode_pairs(tiny_llm, ["Input: cat\nOutput:", "Input: dog\nOutput:", "Input: sun\nOutput:"], [" cat", " dog", " sun rain"])
    weights = [1.0, 3.0, 0.5]
    with torch.no_grad():
        each = continuation_logprobs(model, pairs, tiny_llm.tokenizer.pad_token_id, tiny_llm.device)
    sums, counts = [float(values.sum()) for values in each], [values.numel() for values in each]
    expected = -sum(w * s for w, s in zip(weights, sums)) / sum(w * n for w, n in zip(weights, counts))
    assert _held_back_loss(model, pairs, 2, tiny_llm, weights) == pytest.approx(expected, rel=1e-5)
    assert _held_back_loss(model, pairs, 2, tiny_llm) == pytest.approx(-sum(sums) / sum(counts), rel=1e-5)


def test_full_stops_when_the_held_back_loss_rises_and_keeps_the_best_epoch(tiny_encoder, monkeypatch):
    from shouldtune.strategies.finetune.full import FullFineTune

    measured = iter([1.0, 0.7, 0.9, 1.2, 1.5, 1.8])  # best after epoch 2, then it rises
    heads: list[np.ndarray] = []

    def scripted_loss(self, texts, targets, weights):
        assert len(texts) == 6  # one question of each label
        assert weights is None  # the 18 kept questions are balanced: the plain loss
        heads.append(self.head_.weight.detach().numpy().copy())
        return next(measured)

    monkeypatch.setattr(FullFineTune, "_held_back_loss", scripted_loss)
    strategy = build("full", StrategyContext(encoder=tiny_encoder), {**FAST, "early_stopping_per_class": 4}).fit(TRAIN)
    described = strategy.describe()
    assert described["epochs_run"] == 3 and described["best_epoch"] == 2 and described["stopped_early"]
    assert described["held_back_examples"] == 6 and described["steps"] == 3 * 3  # 18 kept questions, batches of 6
    np.testing.assert_array_equal(strategy.head_.weight.detach().numpy(), heads[1])  # epoch 2's weights, restored
    assert not np.array_equal(heads[1], heads[2])


@pytest.mark.parametrize("threshold", [None, 5])  # the default (never), and 4 per label < 5
def test_full_holds_nothing_back_below_the_threshold(tiny_encoder, threshold):
    settings = {**FAST, "early_stopping_per_class": threshold}
    strategy = build("full", StrategyContext(encoder=tiny_encoder), settings).fit(TRAIN)
    described = strategy.describe()
    assert described["held_back_examples"] == 0 and described["best_epoch"] is None and not described["stopped_early"]
    assert described["epochs_run"] == 6 and described["steps"] == 6 * 4 == strategy.training_steps(len(TRAIN))


def test_full_with_a_slice_repeats_with_the_same_seed(tiny_encoder):
    def fitted(seed: int):
        settings = {**FAST, "early_stopping_per_class": 4, "learning_rate": 5e-3}
        return build("full", StrategyContext(encoder=tiny_encoder, seed=seed), settings).fit(TRAIN)

    first, again = fitted(3), fitted(3)
    assert first.describe() == again.describe() and first.describe()["held_back_examples"] == 6
    assert first.predict(list(TRAIN.texts)) == again.predict(list(TRAIN.texts))
    assert first.describe()["held_back_losses"] != fitted(4).describe()["held_back_losses"]


@pytest.mark.parametrize(("name", "backend"), [("full", "encoder"), ("lora", "hf"), ("lora+few-shot", "hf")])
@pytest.mark.parametrize(("setting", "value"), [("patience", 0), ("held_back", 1.5), ("early_stopping_per_class", -1)])
def test_early_stopping_settings_are_checked(name, backend, setting, value):
    with pytest.raises(TaskFileError) as raised:
        check_params(name, {setting: value}, backend)
    assert f"strategy_params.{name}.{setting}" in str(raised.value) and "\n" not in str(raised.value)


def test_lora_stops_when_the_held_back_loss_rises_and_keeps_the_best_adapter(tiny_llm, monkeypatch, tmp_path: Path):
    from safetensors.numpy import load_file

    from shouldtune.backends import hf_lora

    measured = iter([2.0, 1.5, 1.7, 1.9, 2.5])
    adapters: list[dict[str, np.ndarray]] = []

    def scripted_loss(peft_model, pairs, batch_size, lm, weights=None):
        assert len(pairs) == 3 and weights is None  # one example of each label; balanced, so unweighted
        adapters.append({
            name.replace(".default", ""): p.detach().numpy().copy() for name, p in peft_model.named_parameters() if p.requires_grad
        })
        return next(measured)

    monkeypatch.setattr(hf_lora, "_held_back_loss", scripted_loss)
    context = StrategyContext(encoder=None, llm=tiny_llm, seed=0)
    train = TrainingSet(TRAIN.texts[:12], TRAIN.labels[:12], WORDS[:3])  # 3 labels x 4
    settings = {"epochs": 5, "max_steps": 50, "batch_size": 3, "learning_rate": 5e-2, "early_stopping_per_class": 4,
                "save_adapter_to": str(tmp_path)}
    lora = build("lora", context, settings, backend="hf").fit(train)
    described = lora.describe()
    assert described["epochs_run"] == 3 and described["best_epoch"] == 2 and described["stopped_early"]
    assert described["held_back_examples"] == 3 and described["steps"] == 3 * 3  # 9 kept examples, batches of 3
    saved = load_file(str(Path(described["adapter"]) / "adapter_model.safetensors"))
    assert saved and all(np.array_equal(saved[name], adapters[1][name]) for name in saved)
    assert any(not np.array_equal(adapters[1][name], adapters[2][name]) for name in saved)


def test_lora_holds_nothing_back_below_the_threshold(tiny_llm):
    context = StrategyContext(encoder=None, llm=tiny_llm, seed=0)
    train = TrainingSet(TRAIN.texts[:12], TRAIN.labels[:12], WORDS[:3])
    lora = build("lora", context, {"epochs": 2, "batch_size": 4, "early_stopping_per_class": 5}, backend="hf").fit(train)
    described = lora.describe()
    assert described["held_back_examples"] == 0 and described["best_epoch"] is None and described["steps"] == 2 * 3
