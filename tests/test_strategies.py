"""One shared suite of checks, run against every strategy (as scikit-learn's parametrize_with_checks)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.registry import STRATEGIES, build, strategy_class

# Two topics no encoder confuses, so every learning strategy must get them right.
SPORT = [
    "The striker scored twice in the second half.",
    "Our team won the basketball final last night.",
    "The tennis match went to a fifth set.",
    "He ran the marathon in under three hours.",
    "The goalkeeper saved a penalty in extra time.",
    "She swam the 200 metres freestyle for gold.",
]
FOOD = [
    "Simmer the tomato sauce for twenty minutes.",
    "Knead the bread dough until it is smooth.",
    "Add a pinch of salt to the boiling pasta water.",
    "Roast the vegetables with olive oil and garlic.",
    "Whisk the eggs and sugar until pale.",
    "Slice the onions thinly and fry them slowly.",
]
TRAIN = TrainingSet(
    tuple(SPORT[:4] + FOOD[:4]), ("sport",) * 4 + ("cooking",) * 4, ("cooking", "sport")
)
TEST_TEXTS = SPORT[4:] + FOOD[4:]
TEST_LABELS = ["sport"] * 2 + ["cooking"] * 2
# Small training budgets so the whole suite stays fast on a CPU.
FAST = {"setfit": {"max_steps": 4, "batch_size": 8}, "full": {"max_steps": 6, "batch_size": 8}}


def make(name: str, encoder, seed: int = 0):
    return build(name, StrategyContext(encoder=encoder, seed=seed), FAST.get(name))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_fit_returns_self_and_predicts_known_labels(name, encoder):
    strategy = make(name, encoder)
    assert strategy.fit(TRAIN) is strategy
    predicted = strategy.predict(TEST_TEXTS)
    assert isinstance(predicted, list) and len(predicted) == len(TEST_TEXTS)
    assert set(predicted) <= set(TRAIN.label_set)
    assert all(isinstance(label, str) for label in predicted)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_predict_before_fit_raises(name, encoder):
    with pytest.raises(RuntimeError, match="not fitted"):
        make(name, encoder).predict(TEST_TEXTS)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_empty_input_gives_empty_output(name, encoder):
    assert make(name, encoder).fit(TRAIN).predict([]) == []


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_same_seed_same_predictions(name, encoder):
    first = make(name, encoder, seed=3).fit(TRAIN).predict(TEST_TEXTS)
    second = make(name, encoder, seed=3).fit(TRAIN).predict(TEST_TEXTS)
    assert first == second


@pytest.mark.parametrize("name", [n for n in STRATEGIES if strategy_class(n).track != "baseline"])
def test_learns_an_easy_task(name, encoder):
    predicted = make(name, encoder).fit(TRAIN).predict(TEST_TEXTS)
    assert np.mean([p == g for p, g in zip(predicted, TEST_LABELS)]) >= 0.75


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_init_only_stores_hyperparameters(name, encoder):
    strategy = make(name, encoder)
    learned = [attr for attr in vars(strategy) if attr.endswith("_")]
    assert learned == []


@pytest.mark.parametrize("name", [n for n in STRATEGIES if strategy_class(n).needs_examples])
def test_strategies_that_need_examples_refuse_none(name, encoder):
    from shouldtune.errors import InputError

    with pytest.raises(InputError, match="needs labelled examples"):
        make(name, encoder).fit(TrainingSet((), (), ("cooking", "sport")))


@pytest.mark.parametrize("name", ["setfit", "full"])
def test_fine_tuning_leaves_the_shared_encoder_untouched(name, encoder):
    before = encoder.encoder.embed(TEST_TEXTS)
    strategy = make(name, encoder).fit(TRAIN)
    after = encoder.encoder.embed(TEST_TEXTS)
    np.testing.assert_allclose(before, after, atol=1e-6)
    # ...while its own copy did change: it embeds the same texts differently.
    body = strategy.model_ if name == "full" else strategy.model_.model_body
    tuned = body.encode(TEST_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.abs(tuned - before).max() > 1e-4


@pytest.mark.parametrize("name", ["linear-probe", "setfit", "full"])
def test_fine_tunes_find_the_minority_class_of_imbalanced_data(name, encoder):
    # 14 ham and 2 spam messages, as a user who labels what arrives has them: without class
    # weights every one of these fine-tunes answers "ham" to all 15 spam messages of the test slice.
    from shouldtune.data.load import read_examples

    data = Path(__file__).parent / "data"
    train, test = read_examples(data / "sms_small_train.jsonl"), read_examples(data / "sms_small_test.jsonl")
    texts, labels, test_texts, test_labels = train.texts, train.labels, list(test.texts), test.labels
    assert (labels.count("ham"), labels.count("spam")) == (14, 2)
    fast = {"setfit": {"max_steps": 4, "min_steps": 0, "batch_size": 8}, "full": {"max_steps": 8, "batch_size": 8}}
    strategy = build(name, StrategyContext(encoder=encoder), fast.get(name))
    predicted = strategy.fit(TrainingSet(texts, labels, ("ham", "spam"))).predict(test_texts)
    found = sum(p == g == "spam" for p, g in zip(predicted, test_labels))
    assert found >= 5, f"{name} found {found} of {test_labels.count('spam')} spam messages"
    assert np.mean([p == g for p, g in zip(predicted, test_labels)]) > 0.75


def test_class_weights_are_inverse_to_the_counts_and_absent_on_balanced_data():
    from shouldtune.strategies.class_weights import balanced_class_weights

    assert balanced_class_weights([0, 0, 0, 1], 2) == [4 / 6, 4 / 2]
    assert balanced_class_weights([2, 2, 0], 3) == [1.5, 1.0, 0.75]  # label 1 has no example: weight 1
    assert balanced_class_weights([0, 1, 1, 0], 2) is None  # balanced: the plain loss
    assert balanced_class_weights([], 2) is None


def test_full_fine_tune_weighs_an_imbalanced_loss_only(encoder):
    fast = {"max_steps": 2, "batch_size": 8}
    assert build("full", StrategyContext(encoder=encoder), fast).fit(TRAIN).class_weights_ is None
    uneven = TrainingSet(TRAIN.texts[:7], TRAIN.labels[:7], TRAIN.label_set)  # 4 sport, 3 cooking
    weights = build("full", StrategyContext(encoder=encoder), fast).fit(uneven).class_weights_
    assert weights == pytest.approx([7 / 6, 7 / 8])  # label_set order: cooking, sport


def test_full_fine_tune_lowers_its_training_loss(encoder):
    strategy = build("full", StrategyContext(encoder=encoder), {"max_steps": 12, "batch_size": 8}).fit(TRAIN)
    assert np.mean(strategy.losses_[-3:]) < np.mean(strategy.losses_[:3])


def test_full_fine_tune_starts_from_the_linear_probe_head(encoder):
    import torch

    from shouldtune.strategies.finetune.linear_probe import LinearProbe

    # A label the examples never show ("weather") must never be the answer, as a probe never gives it.
    train = TrainingSet(TRAIN.texts, TRAIN.labels, ("cooking", "sport", "weather"))
    still = {"max_steps": 1, "learning_rate": 1e-12, "head_learning_rate": 1e-12, "batch_size": 8}
    started = build("full", StrategyContext(encoder=encoder), {**still, "head_init": "linear-probe"}).fit(train)
    probe = LinearProbe(StrategyContext(encoder=encoder)).fit(train)
    texts = list(TRAIN.texts) + TEST_TEXTS
    assert started.predict(texts) == probe.predict(texts)
    with torch.inference_mode():
        logits = started._logits(texts)
    probabilities = torch.softmax(logits, dim=1)[:, :2].numpy()  # cooking, sport: the probe's two classes
    assert np.allclose(probabilities, probe.head_.predict_proba(encoder.embed(texts)), atol=1e-3)
    assert float(torch.softmax(logits, dim=1)[:, 2].max()) < 1e-3  # weather
    # The default start, the head torch draws at random, is another function of the same vectors.
    drawn = build("full", StrategyContext(encoder=encoder), still).fit(train)
    with torch.inference_mode():
        assert not torch.allclose(drawn._logits(texts), logits, atol=1e-2)


def test_zero_shot_uses_given_descriptions(encoder):
    context = StrategyContext(encoder=encoder, label_descriptions={"sport": "cooking food recipes", "cooking": "sports games athletes"})
    swapped = build("zero-shot", context).fit(TRAIN).predict(TEST_TEXTS)
    # Descriptions swapped on purpose: zero-shot must follow them, so it gets every example wrong.
    assert swapped == ["cooking", "cooking", "sport", "sport"]


def test_prompt_search_reports_its_choice(encoder):
    strategy = build("prompt-search", StrategyContext(encoder=encoder)).fit(TRAIN)
    described = strategy.describe()
    assert described["chosen"] in described["validation_scores"]
    assert set(described["label_descriptions"]) == {"cooking", "sport"}


def test_a_saved_prompt_search_keeps_what_its_wordings_were_scored_on(encoder, tmp_path):
    strategy = build("prompt-search", StrategyContext(encoder=encoder)).fit(TRAIN)
    strategy.save(tmp_path)
    loaded = type(strategy).load(tmp_path, StrategyContext(encoder=encoder)).describe()
    assert 0 < strategy.describe()["wording_spread_p"] <= 1
    for key in ("validation_scores", "validated_on", "wording_spread_p"):
        assert loaded[key] == strategy.describe()[key]


def test_majority_picks_the_most_frequent_label():
    train = TrainingSet(("a", "b", "c"), ("x", "y", "y"), ("x", "y"))
    assert build("majority", StrategyContext(encoder=None)).fit(train).predict(["q", "r"]) == ["y", "y"]


def test_readable_label_names():
    from shouldtune.strategies.prompt.descriptions import readable

    assert readable("card_arrival") == "card arrival"
    assert readable("TopUpFailed") == "top up failed"
    assert readable("reverted_card_payment?") == "reverted card payment"


def test_setfit_training_prints_nothing_of_its_own(encoder, capsys):
    # The run shows its own progress bar; the libraries' logs and dicts would break it.
    make("setfit", encoder).fit(TRAIN)
    captured = capsys.readouterr()
    assert captured.out == "" and "train_runtime" not in captured.err


def _every_strategy() -> list[tuple[str, str]]:
    from shouldtune.strategies.registry import default_strategies

    return [(backend, name) for backend in ("encoder", "hf") for name in default_strategies(backend)]


@pytest.mark.parametrize(("backend", "name"), _every_strategy(), ids=lambda value: str(value))
def test_every_numeric_setting_declares_its_range(backend: str, name: str):
    # The ranges live in each strategy's __init__ signature; check_params refuses a value outside
    # them before any work, naming strategy_params.<strategy>.<setting>.
    import inspect
    import typing

    from shouldtune.errors import TaskFileError
    from shouldtune.strategies.registry import check_params, strategy_class

    cls = strategy_class(name, backend)
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    for setting, parameter in list(inspect.signature(cls.__init__).parameters.items())[2:]:
        assert setting in hints, f"{name}.{setting} has no type"
        if isinstance(parameter.default, (int, float)) and not isinstance(parameter.default, bool):
            assert check_params(name, {setting: parameter.default}, backend) == {setting: parameter.default}
            with pytest.raises(TaskFileError, match=rf"strategy_params\.{re.escape(name)}\.{setting}"):
                check_params(name, {setting: -1}, backend)


def test_settings_are_converted_to_their_declared_types():
    from shouldtune.strategies.registry import check_params

    # YAML reads 1e-5 as a string; the strategy gets the float it declares.
    assert check_params("setfit", {"body_learning_rate": "1e-5", "max_steps": 20}) == {"body_learning_rate": 1e-5, "max_steps": 20}
