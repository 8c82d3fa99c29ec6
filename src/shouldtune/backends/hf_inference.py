"""Asking a causal LM: label log-likelihoods and greedy generation, batched, for the base model
and for a LoRA-adapted one alike.

Sequences are left-padded with explicit position ids, so a batch gives the same numbers as
one example at a time (up to floating-point summation order), and only the last positions'
logits are computed, so a large vocabulary costs memory for the answer, not the prompt.
`lm` is the object that owns the tokenizer, device, batch size, progress and token usage
(`HFCausalLM`, or a `LoRAModel` that lends its base's).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from shouldtune.errors import BackendError


def encode_pairs(lm: Any, prompts: Sequence[str], continuations: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """Return (prompt ids, continuation ids) per pair, split where the whole text's tokens split.

    Tokenising prompt + continuation together, then cutting at the prompt's length, keeps the
    tokens at the boundary as they are in running text (as lm-evaluation-harness does).
    """
    pairs = []
    for prompt, continuation in zip(prompts, continuations):
        whole = lm.encode(prompt + continuation)
        context = lm.encode(prompt)
        split = 0
        while split < min(len(whole), len(context)) and whole[split] == context[split]:
            split += 1
        split = min(split, len(whole) - 1)  # at least one token to score, even if merged into the prompt
        pairs.append((whole[:split], whole[split:]))
    return pairs


def left_padded(sequences: Sequence[Sequence[int]], pad_id: int, device: str) -> tuple[Any, Any, Any]:
    """Return input ids, attention mask and position ids for sequences padded on the left."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            ids[row, width - len(sequence) :] = torch.tensor(list(sequence), dtype=torch.long)
            mask[row, width - len(sequence) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


def continuation_logprobs(model: Any, pairs: Sequence[tuple[list[int], list[int]]], pad_id: int, device: str) -> list[Any]:
    """Return, per pair, the log-probability of each continuation token given what precedes it.

    Only the logits of the last positions are computed (`logits_to_keep`), so a large
    vocabulary does not cost memory for every prompt token. Gradients flow when enabled.
    """
    sequences = [context + continuation for context, continuation in pairs]
    ids, mask, positions = left_padded(sequences, pad_id, device)
    keep = max(len(continuation) for _, continuation in pairs)
    # A peft model passes keyword arguments on to its base model: ask the base what it takes.
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    accepted = inspect.signature(base.forward).parameters
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    if "position_ids" in accepted or "kwargs" in accepted:
        kwargs["position_ids"] = positions
    if "logits_to_keep" in accepted:
        kwargs["logits_to_keep"] = keep + 1
    logits = model(**kwargs).logits[:, -(keep + 1) :, :]
    # Position j of the kept logits predicts the token after it; a continuation of length c
    # sits in the last c places, so its predictions are kept positions keep-c .. keep-1.
    log_probs = logits.float().log_softmax(dim=-1)
    result = []
    for row, (_, continuation) in enumerate(pairs):
        count = len(continuation)
        target = ids.new_tensor(continuation)
        predicted = log_probs[row, keep - count : keep, :]
        result.append(predicted.gather(1, target[:, None])[:, 0])
    return result


def _is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def in_batches(items: Sequence[Any], batch_size: int, run: Callable[[list[Any]], list[Any]], progress: Any, description: str) -> list[Any]:
    """Return run(batch) for every batch, concatenated; on out-of-memory, retry with half the batch."""
    results: list[Any] = []
    task = progress.add_task(description, total=len(items)) if progress is not None and items else None
    start, size = 0, batch_size
    try:
        while start < len(items):
            batch = list(items[start : start + size])
            try:
                results += run(batch)
            except (RuntimeError, MemoryError) as err:
                if not _is_out_of_memory(err) or size == 1:
                    raise _backend_error(err) from None
                size //= 2
                _empty_cache()
                continue
            start += len(batch)
            if task is not None:
                progress.advance(task, len(batch))
    finally:
        if task is not None:
            progress.remove_task(task)
    return results


def _backend_error(err: BaseException) -> BackendError:
    if _is_out_of_memory(err):
        return BackendError(
            "the model ran out of memory on a single example; use a smaller model, --dtype bfloat16, or shorter prompts (fewer demonstrations)"
        )
    return BackendError(f"the model failed: {type(err).__name__}: {err}"[:400])


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextmanager
def _inference() -> Iterator[None]:
    import torch

    with torch.inference_mode():
        yield


def score_continuations(model: Any, lm: Any, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
    """Return summed log-probabilities of each continuation after its prompt, under `model`."""
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
    if not prompts:
        return np.zeros(0)
    pairs = encode_pairs(lm, prompts, continuations)
    # Longest first: similar lengths share a batch, and memory runs out (if it does) at once.
    order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
    distinct = {prompt: len(context) for prompt, (context, _) in zip(prompts, pairs)}
    lm.usage.requests += len(distinct)
    lm.usage.prompt_tokens += sum(distinct.values())
    lm.usage.output_tokens += sum(len(continuation) for _, continuation in pairs)

    def run(batch: list[int]) -> list[float]:
        with _inference():
            values = continuation_logprobs(model, [pairs[i] for i in batch], lm.tokenizer.pad_token_id, lm.device)
        return [float(v.sum()) for v in values]

    scored = in_batches(order, lm.batch_size, run, lm.progress, "scoring")
    result = np.empty(len(pairs))
    result[order] = scored
    return result


def generate_greedy(model: Any, lm: Any, prompts: Sequence[str], max_new_tokens: int, stop: Sequence[str]) -> list[str]:
    """Return each prompt's greedy continuation, decoded, cut before the first stop sequence."""
    from transformers import GenerationConfig, StoppingCriteriaList

    if not prompts:
        return []
    tokenizer = lm.tokenizer
    encoded = [lm.encode(prompt) for prompt in prompts]
    eos = model.generation_config.eos_token_id if model.generation_config.eos_token_id is not None else tokenizer.eos_token_id
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos
    )
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    lm.usage.requests += len(prompts)
    lm.usage.prompt_tokens += sum(len(ids) for ids in encoded)

    def run(batch: list[int]) -> list[str]:
        ids, mask, _ = left_padded([encoded[i] for i in batch], tokenizer.pad_token_id, lm.device)
        criteria = StoppingCriteriaList([StopAfterText(tokenizer, ids.shape[1], stop)]) if stop else None
        with _inference():
            output = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, stopping_criteria=criteria)
        new = output[:, ids.shape[1] :]
        texts = []
        for row in new.tolist():
            row = _until_eos(row, eos, tokenizer.pad_token_id)
            lm.usage.output_tokens += len(row)
            texts.append(cut_at_stop(tokenizer.decode(row, skip_special_tokens=True), stop))
        return texts

    generated = in_batches(order, lm.batch_size, run, lm.progress, "generating")
    result = [""] * len(prompts)
    for index, text in zip(order, generated):
        result[index] = text
    return result


def _until_eos(row: list[int], eos: int | list[int] | None, pad: int) -> list[int]:
    ends = set(eos if isinstance(eos, list) else [eos]) | {pad}
    for position, token in enumerate(row):
        if token in ends:
            return row[:position]
    return row


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Return `text` up to the first stop sequence after its leading whitespace, stripped."""
    body = text.lstrip()
    cut = min((index for index in (body.find(s) for s in stop if s) if index >= 0), default=len(body))
    return body[:cut].strip()


class StopAfterText:
    """Stops a sequence once its new text, after leading whitespace, holds a stop sequence."""

    def __init__(self, tokenizer: Any, prompt_length: int, stop: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.stop = [s for s in stop if s]

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        done = [any(s in text.lstrip() for s in self.stop) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
