"""Every LLM strategy through one shared suite, then LoRA's own promises, on a tiny random LM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.registry import LLM_STRATEGIES, build, default_strategies, strategy_class

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# The strategies a local model runs (hosted-finetune needs an API's fine-tuning jobs).
HF_STRATEGIES = [name for name in LLM_STRATEGIES if name in default_strategies("hf")]

TEXTS = (
    "Where is the Eiffel Tower ?",
    "What city hosts the Louvre ?",
    "Who wrote Hamlet ?",
    "Who painted the Mona Lisa ?",
    "How many legs does a spider have ?",
    "How far is the Moon ?",
)
TRAIN = TrainingSet(TEXTS, ("LOC", "LOC", "HUM", "HUM", "NUM", "NUM"), ("HUM", "LOC", "NUM"))
TEST_TEXTS = ["Where is Rome ?", "Who invented the telephone ?"]
GENERATION = TrainingSet(
    ("name[Alimentum], area[city centre]", "name[Aromi], eatType[pub]", "name[Zizzi], food[Italian]"),
    ("Alimentum is in the city centre.", "Aromi is a pub.", "Zizzi serves Italian food."),
    (),
)
# A few optimiser steps keep LoRA fast here; the search budget keeps prompt-search fast.
FAST = {
    "lora": {"max_steps": 1, "batch_size": 4},
    "lora+few-shot": {"max_steps": 1, "batch_size": 4, "k": 2},
    "prompt-search": {"budget": 8},
    "few-shot": {"k": 2},
    "few-shot-knn": {"k": 2},
}


def make(name: str, llm, encoder=None, seed: int = 0, task_type: str = "classification", **params):
    context = StrategyContext(encoder=encoder, llm=llm, task_type=task_type, seed=seed)
    return build(name, context, {**FAST.get(name, {}), **params}, backend="hf")


@pytest.mark.parametrize("name", HF_STRATEGIES)
def test_fit_returns_self_predicts_labels_and_repeats_with_the_same_seed(name, tiny_llm, encoder):
    first = make(name, tiny_llm, encoder, seed=3)
    assert first.fit(TRAIN) is first
    predicted = first.predict(TEST_TEXTS)
    assert len(predicted) == len(TEST_TEXTS) and set(predicted) <= set(TRAIN.label_set)
    assert isinstance(first.describe(), dict)
    assert first.predict([]) == []
    assert make(name, tiny_llm, encoder, seed=3).fit(TRAIN).predict(TEST_TEXTS) == predicted


@pytest.mark.parametrize("name", HF_STRATEGIES)
def test_generation_gives_one_text_per_input(name, tiny_llm, encoder):
    predicted = make(name, tiny_llm, encoder, task_type="generation").fit(GENERATION).predict(["name[Blue Spice]"])
    assert len(predicted) == 1 and isinstance(predicted[0], str) and "\n" not in predicted[0]


@pytest.mark.parametrize("name", HF_STRATEGIES)
def test_predict_before_fit_raises_and_init_only_stores(name, tiny_llm):
    strategy = make(name, tiny_llm)
    assert [attr for attr in vars(strategy) if attr.endswith("_")] == []
    with pytest.raises(RuntimeError, match="not fitted"):
        strategy.predict(TEST_TEXTS)


@pytest.mark.parametrize("name", [n for n in HF_STRATEGIES if strategy_class(n, "hf").needs_examples])
def test_strategies_that_need_examples_refuse_none(name, tiny_llm):
    from shouldtune.errors import InputError

    with pytest.raises(InputError, match="needs labelled examples"):
        make(name, tiny_llm).fit(TrainingSet((), (), ("HUM", "LOC", "NUM")))


def test_prompts_name_the_labels_and_show_the_demonstrations(tiny_llm, encoder):
    zero = make("zero-shot", tiny_llm).fit(TRAIN)
    assert "HUM, LOC, NUM" in zero.prompts(["Where is Rome ?"])[0]
    knn = make("few-shot-knn", tiny_llm, encoder, k=1).fit(TRAIN)
    (prompt,) = knn.prompts(["Who discovered penicillin ?"])
    # The most similar training question is a "who" question, shown right before the input.
    shown = prompt.split("Input: ")[1]
    assert shown.startswith("Who ") and "Output: HUM" in prompt


def test_prompt_search_stays_within_its_budget(tiny_llm):
    strategy = make("prompt-search", tiny_llm, budget=8, instructions=("Label the question.",)).fit(TRAIN)
    described = strategy.describe()
    assert described["search_calls"] <= 8
    assert described["chosen"] in described["validation_scores"]
    assert "user 1" in described["validation_scores"] or len(described["validation_scores"]) * 1 <= 8
    assert described["search_calls"] == described["validated_on"] * len(described["validation_scores"])


def test_prompt_search_asks_the_model_for_rewrites_within_the_budget(tiny_llm):
    strategy = make("prompt-search", tiny_llm, budget=10, propose_rewrites=2).fit(TRAIN)
    described = strategy.describe()
    # Two rewrite requests, then at least one validation answer per candidate, all within 10 calls.
    assert 2 + len(described["validation_scores"]) <= described["search_calls"] <= 10


# LoRA ------------------------------------------------------------------------------------


def _target_log_likelihood(model, strategy, train: TrainingSet) -> float:
    prompts = strategy.prompts(list(train.texts))
    return float(np.mean(model.score(prompts, [model.answer_prefix + y for y in train.labels])))


def test_lora_lowers_the_training_loss_and_changes_predictions(tiny_llm):
    before = make("zero-shot", tiny_llm, task_type="generation").fit(GENERATION)
    lora = make("lora", tiny_llm, task_type="generation", max_steps=24, batch_size=3, learning_rate=2e-2, epochs=30)
    lora.fit(GENERATION)
    losses = lora.tuned_.losses
    assert len(losses) == 24 and np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.5
    # The training outputs became more likely under the tuned model than under the base model.
    assert _target_log_likelihood(lora.tuned_, lora, GENERATION) > _target_log_likelihood(tiny_llm, before, GENERATION) + 1.0
    assert lora.predict(list(GENERATION.texts)) != before.predict(list(GENERATION.texts))


def test_lora_leaves_the_shared_model_as_it_was(tiny_llm):
    prompts, continuations = ["Input: name[Aromi]\nOutput:"], [" Aromi is a pub."]
    plain = tiny_llm.score(prompts, continuations)
    lora = make("lora", tiny_llm, task_type="generation", max_steps=3, learning_rate=5e-2).fit(GENERATION)
    tuned = lora.tuned_.score(prompts, continuations)
    assert abs(float(tuned[0] - plain[0])) > 1e-3
    np.testing.assert_allclose(tiny_llm.score(prompts, continuations), plain, atol=1e-5)
    assert tiny_llm.loaded_adapter is None
    np.testing.assert_allclose(lora.tuned_.score(prompts, continuations), tuned, atol=1e-5)


def test_adapter_survives_save_and_load(tiny_llm, tiny_lm_folder: Path, tmp_path: Path):
    from shouldtune.backends.hf import HFCausalLM
    from shouldtune.backends.hf_lora import LoRAModel

    lora = make(
        "lora", tiny_llm, task_type="generation", max_steps=4, learning_rate=5e-2, save_adapter_to=str(tmp_path)
    ).fit(GENERATION)
    folder = Path(lora.describe()["adapter"])
    assert (folder / "adapter_model.safetensors").is_file() and (folder / "adapter_config.json").is_file()
    assert not list(folder.glob("*.bin"))
    # A fresh process's view: the base model loaded again, the adapter read from its files.
    reloaded = LoRAModel(HFCausalLM(str(tiny_lm_folder), device="cpu", max_new_tokens=6), folder, [])
    prompts = lora.prompts(list(GENERATION.texts))
    continuations = [" " + y for y in GENERATION.labels]
    np.testing.assert_allclose(reloaded.score(prompts, continuations), lora.tuned_.score(prompts, continuations), atol=1e-5)
    assert reloaded.generate(prompts, stop=("\n",)) == lora.tuned_.generate(prompts, stop=("\n",))


def test_lora_few_shot_trains_with_demonstrations(tiny_llm):
    strategy = make("lora+few-shot", tiny_llm).fit(TRAIN)
    shown = strategy._training_demonstrations(TRAIN)
    assert all(len(demos) == 2 for demos in shown)
    # An example is never its own demonstration.
    assert all(TRAIN.texts[i] not in [x for x, _ in demos] for i, demos in enumerate(shown))
    assert strategy.describe()["k"] == 2


# Six questions about places and two about people: an unweighted fit learns mostly "LOC".
IMBALANCED = TrainingSet(
    TEXTS[:2] + ("Where is Rome ?", "Where is the Nile ?", "What country is Lima in ?", "Where was Mozart born ?")
    + TEXTS[2:4],
    ("LOC",) * 6 + ("HUM",) * 2,
    ("HUM", "LOC"),
)


def _rare_label_margin(strategy) -> float:
    """Return the mean log-probability of the rare label "HUM" minus that of "LOC" over the training prompts."""
    prompts = strategy.prompts(list(IMBALANCED.texts))
    prefix = strategy.tuned_.answer_prefix
    return float(np.mean(strategy.tuned_.score(prompts, [prefix + "HUM"] * len(prompts))
                         - strategy.tuned_.score(prompts, [prefix + "LOC"] * len(prompts))))


def test_lora_weighs_a_rare_label_as_much_as_a_common_one(tiny_llm, monkeypatch):
    from shouldtune.strategies.llm import lora

    settings = {"max_steps": 12, "batch_size": 4, "learning_rate": 2e-2, "epochs": 6}
    weighted = make("lora", tiny_llm, **settings).fit(IMBALANCED)
    assert weighted.class_weights_ == pytest.approx([8 / (2 * 2), 8 / (2 * 6)])  # label_set order: HUM, LOC
    monkeypatch.setattr(lora, "balanced_class_weights", lambda targets, classes: None)
    unweighted = make("lora", tiny_llm, **settings).fit(IMBALANCED)
    assert _rare_label_margin(weighted) > _rare_label_margin(unweighted) + 1.0


def test_lora_trains_balanced_labels_without_weights(tiny_llm, monkeypatch):
    passed = {}
    fine_tune = tiny_llm.fine_tune

    def spy(*args, **kwargs):
        passed.update(kwargs)
        return fine_tune(*args, **kwargs)

    monkeypatch.setattr(tiny_llm, "fine_tune", spy)
    strategy = make("lora", tiny_llm).fit(TRAIN)  # two of each label
    assert strategy.class_weights_ is None and passed["weights"] is None and passed["held_back_weights"] is None
    make("lora", tiny_llm, task_type="generation").fit(GENERATION)  # no labels: nothing to weigh
    assert passed["weights"] is None
