"""The hf backend on tiny models built in the test: loading rules, label scoring, generation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hf_tiny import build_constant_lm, build_tiny_lm
from shouldtune.backends.hf import HFCausalLM, pick_device, pick_dtype
from shouldtune.backends.hf_inference import continuation_logprobs, cut_at_stop, encode_pairs
from shouldtune.errors import TaskFileError
from shouldtune.strategies.llm.prompts import answer, parse_label

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LOGIT = 6.0


@pytest.fixture(scope="module")
def favours_yes(tmp_path_factory) -> HFCausalLM:
    return HFCausalLM(str(build_constant_lm(tmp_path_factory.mktemp("yes"), " yes", LOGIT)), device="cpu")


@pytest.fixture(scope="module")
def favours_no(tmp_path_factory) -> HFCausalLM:
    return HFCausalLM(str(build_constant_lm(tmp_path_factory.mktemp("no"), " no", LOGIT)), device="cpu")


def test_label_scores_are_the_log_likelihoods_of_a_constructed_model(favours_yes):
    # The model gives the token " yes" logit 6 and every other token logit 0 at every position,
    # so log P(" yes") = 6 - log(e^6 + V - 1) and log P(any other token) = -log(e^6 + V - 1).
    vocabulary = len(favours_yes.tokenizer)
    log_norm = math.log(math.exp(LOGIT) + vocabulary - 1)
    prompts = ["Input: is it raining\nOutput:", "Input: a much longer question about the weather today\nOutput:"]
    scores = favours_yes.score([prompts[0], prompts[0], prompts[1]], [" yes", " no", " no no"])
    assert scores[0] == pytest.approx(LOGIT - log_norm, abs=1e-4)
    assert scores[1] == pytest.approx(-log_norm, abs=1e-4)
    assert scores[2] == pytest.approx(-2 * log_norm, abs=1e-4)  # two tokens, each "other"


def test_label_scoring_picks_the_most_likely_label(favours_yes, favours_no):
    prompts = ["Input: first\nOutput:", "Input: second one\nOutput:"]
    for model, expected in ((favours_yes, "yes"), (favours_no, "no")):
        chosen = answer(model, prompts, task_type="classification", label_set=("no", "yes"))
        assert chosen == [expected, expected]


def test_classification_by_generation_reads_the_generated_label(favours_yes):
    # The constructed model writes " yes" again and again; the first label named is read.
    prompts = ["Input: first\nOutput:", "Input: first\nOutput:", "Input: other\nOutput:"]
    chosen = answer(favours_yes, prompts, task_type="classification", label_set=("no", "yes"), classify_by="generation")
    assert chosen == ["yes", "yes", "yes"]
    assert favours_yes.generate(prompts[:1], max_new_tokens=3) == ["yes yes yes"]


def test_batched_scores_equal_one_at_a_time_and_a_plain_forward_pass(tiny_llm):
    import torch

    prompts = ["Input: hello\nOutput:", "Input: the quick brown fox jumps\nOutput:", "Input: x\nOutput:"]
    continuations = [" yes", " the lazy dog", " no"]
    batched = tiny_llm.score(prompts, continuations)
    single = [tiny_llm.score([p], [c])[0] for p, c in zip(prompts, continuations)]
    np.testing.assert_allclose(batched, single, atol=1e-4)
    # Reference: one unpadded forward pass, log-softmax, the continuation tokens' entries.
    (context, continuation), = encode_pairs(tiny_llm, prompts[1:2], continuations[1:2])
    with torch.no_grad():
        logits = tiny_llm.model(torch.tensor([context + continuation])).logits[0].log_softmax(-1)
    reference = sum(float(logits[len(context) - 1 + i, token]) for i, token in enumerate(continuation))
    assert batched[1] == pytest.approx(reference, abs=1e-4)
    with torch.no_grad():
        direct = continuation_logprobs(tiny_llm.model, [(context, continuation)], tiny_llm.tokenizer.pad_token_id, "cpu")
    assert float(direct[0].sum()) == pytest.approx(reference, abs=1e-4)


def test_generation_is_greedy_deterministic_and_stops(tiny_llm):
    prompts = ["Input: name[Alimentum]\nOutput:", "Input: a second prompt\nOutput:"]
    generated_before = tiny_llm.usage.output_tokens
    first = tiny_llm.generate(prompts, max_new_tokens=5)
    assert tiny_llm.usage.output_tokens - generated_before <= 2 * 5
    assert first == tiny_llm.generate(prompts, max_new_tokens=5)
    assert first == [tiny_llm.generate([p], max_new_tokens=5)[0] for p in prompts]
    assert cut_at_stop("\n  Blue Spice is a pub.\nInput: next", ("\n",)) == "Blue Spice is a pub."
    assert cut_at_stop("a: 1 | b: 2\n\nmore", ("\n\n",)) == "a: 1 | b: 2"
    assert cut_at_stop("no stop here", ("\n",)) == "no stop here"


def test_token_usage_is_counted(tiny_llm):
    before = vars(tiny_llm.usage).copy()
    prompt = "Input: count me\nOutput:"
    tiny_llm.score([prompt, prompt], [" yes", " no"])
    after = vars(tiny_llm.usage)
    assert after["requests"] - before["requests"] == 1  # one prompt, two labels scored
    assert after["prompt_tokens"] - before["prompt_tokens"] == tiny_llm.count_tokens([prompt])[0]


def test_chat_template_is_used_when_the_tokenizer_has_one(tmp_path: Path):
    folder = build_tiny_lm(tmp_path / "chat", chat_template=True)
    chat = HFCausalLM(str(folder), device="cpu")
    assert chat.uses_chat_template and chat.answer_prefix == ""
    assert chat.chat_format("Input: hi") == "<|im_start|>user\nInput: hi<|im_end|>\n<|im_start|>assistant\n"
    assert len(chat.generate([chat.chat_format("Input: hi")], max_new_tokens=3)) == 1
    plain = HFCausalLM(str(folder), device="cpu", use_chat_template=False)
    assert not plain.uses_chat_template and plain.chat_format("Input: hi") == "Input: hi"


def test_missing_folder_and_folder_without_config(tmp_path: Path):
    with pytest.raises(TaskFileError, match="model folder not found"):
        HFCausalLM(str(tmp_path / "nowhere" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskFileError, match="no config.json"):
        HFCausalLM(str(tmp_path / "empty"))


def test_pickle_weights_need_allow_pickle(tmp_path: Path, tiny_lm_folder: Path):
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_lm_folder, folder)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    with pytest.raises(TaskFileError, match="allow-pickle"):
        HFCausalLM(str(folder))
    loaded = HFCausalLM(str(folder), device="cpu", allow_pickle=True)
    original = HFCausalLM(str(tiny_lm_folder), device="cpu")
    np.testing.assert_allclose(loaded.score(["Input: a\nOutput:"], [" b"]), original.score(["Input: a\nOutput:"], [" b"]), atol=1e-5)


def test_hub_id_not_in_the_cache_says_how_to_download(tmp_path: Path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(TaskFileError, match="--allow-download"):
        HFCausalLM("some-org/some-model-not-here")


def test_model_id_tells_different_weights_apart(tmp_path: Path, tiny_lm_folder: Path):
    other = build_tiny_lm(tmp_path / "other", seed=1)
    assert HFCausalLM(str(tiny_lm_folder)).model_id != HFCausalLM(str(other)).model_id
    assert HFCausalLM(str(tiny_lm_folder)).model_id == HFCausalLM(str(tiny_lm_folder)).model_id


def test_device_and_dtype_choice():
    import torch

    assert pick_device("cpu") == "cpu"
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert pick_device(None) == "cpu"
    assert pick_dtype("auto", "cpu") == torch.float32
    assert pick_dtype("bfloat16", "cpu") == torch.bfloat16


def test_generated_answers_are_read_as_labels():
    labels = ("HUM", "LOC", "NUM")
    assert parse_label(" loc.", labels) == "LOC"
    assert parse_label("The answer is NUM, I think", labels) == "NUM"
    assert parse_label("HUMAN", labels) == "HUM"  # the most similar label
    assert parse_label("???", labels) == "HUM"  # nothing readable: the first label
