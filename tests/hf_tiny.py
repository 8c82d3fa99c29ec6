"""Tiny, randomly initialised causal LMs and their tokenizers, built offline in a folder.

A byte-level BPE tokenizer trained on a few sentences (so any text can be encoded) and a
two-layer Llama with hidden size 32: small enough that a forward pass takes milliseconds and
LoRA training a few seconds, real enough that every loading, scoring, generation and peft
code path runs as it does on a released checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DATA = Path(__file__).parent / "data"

# A simple chat template in the common ChatML shape (as Qwen's).
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _corpus() -> list[str]:
    """Return sentences to train the tokenizer on: prompt words and the test data slices."""
    lines = [
        "Classify the input. Answer with one of these labels: yes, no.",
        "Input: Output: Examples: Write the output for the input. Extract the fields.",
        "the quick brown fox jumps over the lazy dog; key: value | slot: name",
        *["Output: yes. Output: no. yes no"] * 20,  # single tokens for the labels tests score
    ]
    for path in sorted(DATA.glob("*.jsonl")):
        lines += path.read_text(encoding="utf-8").splitlines()
    return lines


def build_tokenizer(corpus: Iterable[str] | None = None, *, chat_template: bool = False):
    """Return a PreTrainedTokenizerFast with <pad>, <s>, </s> (and ChatML tokens), byte-level BPE."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus or _corpus()), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="<|im_end|>" if chat_template else "</s>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"] if chat_template else [],
    )
    if chat_template:
        fast.chat_template = CHATML
    return fast


def build_model(tokenizer, seed: int = 0):
    """Return a randomly initialised two-layer Llama sized for `tokenizer`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # Ten times the usual init scale: with hidden size 32 the usual one caps every logit
        # near 0.6, so no fine-tune could make an answer much more likely than another.
        initializer_range=0.2,
    )
    return LlamaForCausalLM(config).eval()


def save(model, tokenizer, folder: Path) -> Path:
    """Write model (safetensors) and tokenizer to `folder`; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_lm(folder: Path, *, chat_template: bool = False, seed: int = 0) -> Path:
    """Build and save a tiny random causal LM with its tokenizer in `folder`; return the folder."""
    tokenizer = build_tokenizer(chat_template=chat_template)
    return save(build_model(tokenizer, seed), tokenizer, folder)


def build_constant_lm(folder: Path, favoured: str, logit: float = 6.0) -> Path:
    """Build an LM whose next-token distribution is the same everywhere: `favoured`'s token has
    logit `logit`, every other token 0.

    Every token embeds to the same vector and both layers add nothing (their output
    projections are zero), so the final hidden state h is the same at every position; the
    output row of the favoured token is h * logit / |h|^2 and every other row is zero. Then
    log P(favoured) = logit - log(e^logit + V - 1) and log P(other) = -log(e^logit + V - 1).
    """
    import torch

    tokenizer = build_tokenizer()
    model = build_model(tokenizer)
    (token_id,) = tokenizer(favoured, add_special_tokens=False).input_ids
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.ones_like(model.model.embed_tokens.weight))
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        hidden = model.model.norm(torch.ones(1, 1, model.config.hidden_size))[0, 0]
        model.lm_head.weight.zero_()
        model.lm_head.weight[token_id] = hidden * logit / hidden.dot(hidden)
    return save(model, tokenizer, folder)
