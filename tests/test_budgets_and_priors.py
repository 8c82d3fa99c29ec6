"""Training budgets that follow the data, and a prompt search that respects the user's prompt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shouldtune.strategies.base import StrategyContext, TrainingSet
from shouldtune.strategies.finetune.full import FullFineTune
from shouldtune.strategies.finetune.setfit_strategy import SetFit
from shouldtune.strategies.prompt.search import PromptSearch, wording_spread_p

DATA = Path(__file__).parent / "data"


def test_setfit_steps_follow_the_data_as_the_library_defaults_do():
    assert SetFit(StrategyContext(encoder=None)).planned_steps([4] * 6) == 100  # the default floor keeps accuracy
    setfit = SetFit(StrategyContext(encoder=None), min_steps=0)
    # SetFit's oversampling: 6 labels x 4 examples have 36 positive and 240 negative distinct pairs;
    # twice the larger, 480 pairs, in batches of 16: 30 steps. 6 of each: 2 x 540 pairs, 68 steps.
    assert setfit.planned_steps([4] * 6) == 30 and setfit.planned_steps([6] * 6) == 68
    assert setfit.planned_steps([64] * 6) == 100 == SetFit(StrategyContext(encoder=None)).max_steps  # capped
    assert SetFit(StrategyContext(encoder=None), num_iterations=5, min_steps=0).planned_steps([8, 8]) == 10
    assert setfit.work(24, classes=6) == 30 * 24  # per step, the distinct texts of 16 pairs: all 24
    assert setfit.work(384, classes=6) == 100 * 32  # 16 pairs, 32 texts, from 384


def test_full_trains_by_epochs_between_a_floor_and_a_cap():
    full = FullFineTune(StrategyContext(encoder=None))
    assert full.training_steps(24) == 4 * 2 and full.training_steps(384) == 4 * 24
    assert FullFineTune(StrategyContext(encoder=None), max_steps=50).training_steps(384) == 50
    floored = FullFineTune(StrategyContext(encoder=None), min_steps=25)
    # 4 epochs of 24 examples are 8 steps: the floor of 25 holds; 384 examples train their 4 epochs.
    assert floored.training_steps(24) == 25 and floored.training_steps(384) == 4 * 24
    assert FullFineTune(StrategyContext(encoder=None), min_steps=400).training_steps(384) == 300  # the cap wins
    # What a fit puts through the model: each example once an epoch, however the batches fall.
    assert full.work(12) == 4 * 12 and full.work(24) == 4 * 24 and full.work(384) == 4 * 384
    assert FullFineTune(StrategyContext(encoder=None), max_steps=50).work(384) == 50 * 16
    assert floored.work(12) == 25 * 12
    assert floored.work(24) == 12 * 24 + 16  # 25 steps: 12 epochs of 2 batches, then one batch of 16


def test_full_steps_with_fused_adamw_where_torch_has_it_and_the_update_is_the_same():
    import torch

    from shouldtune.strategies.finetune.full import adamw

    torch.manual_seed(0)
    start, gradient = torch.randn(64, 8), torch.randn(64, 8)
    updated = {}
    for device_type in ("cpu", "mps"):  # the CPU has fused kernels; a device without them gets the loop
        weight = torch.nn.Parameter(start.clone())
        optimiser = adamw([{"params": [weight], "lr": 1e-2}], device_type)
        assert bool(optimiser.defaults["fused"]) is (device_type == "cpu")
        for _ in range(3):
            weight.grad = gradient.clone()
            optimiser.step()
        updated[device_type] = weight.detach()
    assert not torch.equal(updated["cpu"], start)
    torch.testing.assert_close(updated["cpu"], updated["mps"])


def _trec(per_label: int) -> TrainingSet:
    rows = [json.loads(line) for line in (DATA / "trec_small_train.jsonl").read_text().splitlines()]
    labels = sorted({row["label"] for row in rows})
    chosen = [row for label in labels for row in [r for r in rows if r["label"] == label][:per_label]]
    return TrainingSet(tuple(r["text"] for r in chosen), tuple(r["label"] for r in chosen), tuple(labels))


class Scripted:
    """A prompt whose answers are scripted: right on every held-back example but `misses` of them."""

    def __init__(self, misses: int) -> None:
        self.misses = misses

    def predict(self, texts):
        answers = {text: label for text, label in zip(TRAIN.texts, TRAIN.labels)}
        wrong = {label: next(other for other in TRAIN.label_set if other != label) for label in TRAIN.label_set}
        return [wrong[answers[t]] if i < self.misses else answers[t] for i, t in enumerate(texts)]

    def describe(self) -> dict:
        return {}


TRAIN = _trec(8)


def scripted_search(monkeypatch, given_misses: int, other_misses: int) -> PromptSearch:
    """Return a search over two candidates, the user's and one other, whose held-back answers are scripted."""
    descriptions = {label: f"about {label}" for label in TRAIN.label_set}
    search = PromptSearch(StrategyContext(encoder=None, label_descriptions=descriptions, seed=0))
    candidates = search._candidates()[:2]  # "given | {text}" (the user's) and "readable | {text}"
    monkeypatch.setattr(PromptSearch, "_candidates", lambda self: candidates)
    monkeypatch.setattr(PromptSearch, "_zero_shot", lambda self, candidate, train: Scripted(
        given_misses if candidate.descriptions == "given" else other_misses))
    return search.fit(TRAIN)


def test_prompt_search_keeps_the_users_prompt_within_the_noise_of_a_few_examples(monkeypatch):
    # 24 held-back answers (two folds of 12): the other candidate is right on 2 more, +0.08: within the noise.
    search = scripted_search(monkeypatch, given_misses=1, other_misses=0)
    assert search.chosen_.name == "given | {text}"
    scores, margin = search.describe()["validation_scores"], search.describe()["margin_to_replace_yours"]
    assert scores["readable | {text}"] > scores["given | {text}"] and margin > scores["readable | {text}"] - scores["given | {text}"]
    assert search.describe()["validated_on"] == 24  # what the report says the wordings were scored on


def test_prompt_search_replaces_a_users_prompt_that_is_clearly_worse(monkeypatch):
    search = scripted_search(monkeypatch, given_misses=12, other_misses=0)
    assert search.chosen_.name == "readable | {text}"


def test_prompt_search_says_whether_its_wordings_differ_by_more_than_chance(monkeypatch):
    # Right on 2 more of 24 held-back examples: a shuffle of the two answers per example often does as much.
    close = scripted_search(monkeypatch, given_misses=1, other_misses=0).describe()["wording_spread_p"]
    # Right on 12 more: only the arrangement measured (or its mirror) gives a spread that wide.
    far = scripted_search(monkeypatch, given_misses=12, other_misses=0).describe()["wording_spread_p"]
    assert close > 0.4 and far < 0.01


def test_the_wording_spread_test_reads_only_where_the_candidates_differ():
    agree = np.ones((200, 3))  # every candidate right everywhere: nothing to shuffle
    assert wording_spread_p(agree, seed=0) == 1.0
    one_better = np.zeros((40, 3))
    one_better[:, 0] = 1.0  # one candidate right on all 40, the others on none
    assert wording_spread_p(one_better, seed=0) == pytest.approx(1 / 1001)
    drawn = np.random.default_rng(1).integers(0, 2, size=(30, 4)).astype(float)  # four candidates answering at random
    p = wording_spread_p(drawn, seed=0)
    assert p > 0.05 and p == wording_spread_p(np.vstack([drawn, np.ones((500, 4))]), seed=0)  # agreeing rows change nothing
