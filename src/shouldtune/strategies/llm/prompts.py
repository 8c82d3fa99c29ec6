"""Prompts for a causal LM and reading its answers: one format for every LLM strategy.

A prompt is the instruction, then any demonstrations, then the input, each as
`Input: ...` / `Output: ...` lines; the model writes the output. With a chat model the whole
prompt is the user's turn and the answer is the assistant's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shouldtune.strategies.prompt.descriptions import readable
from shouldtune.strategies.prompt.zero_shot import fill

Demonstration = tuple[str, str]  # (input, output)


def default_instruction(task_type: str, label_set: Sequence[str], label_descriptions: Mapping[str, str]) -> str:
    """Return the instruction used when the task gives none: the task, and the labels or output format."""
    if task_type == "classification":
        text = f"Classify the input. Answer with exactly one of these labels: {', '.join(label_set)}."
        described = [f"- {label}: {label_descriptions.get(label) or readable(label)}" for label in label_set]
        if label_descriptions:
            text += "\nWhat the labels mean:\n" + "\n".join(described)
        return text
    if task_type == "extraction":
        return "Extract the fields from the input. Answer on one line as `key: value | key: value`, with the text of each value as it appears in the input."
    return "Write the output for the input. Answer with the output only."


def render(instruction: str, template: str, demonstrations: Sequence[Demonstration], text: str) -> str:
    """Return the prompt text (before any chat template) for one input."""
    lines = [instruction, ""]
    for example_input, example_output in demonstrations:
        lines += [f"Input: {fill(template, example_input)}", f"Output: {example_output}", ""]
    lines += [f"Input: {fill(template, text)}", "Output:"]
    return "\n".join(lines)


def stop_sequences(outputs: Sequence[str]) -> tuple[str, ...]:
    """Return where a generated answer ends: at a new line, or at a blank line if outputs span lines."""
    return ("\n\n",) if any("\n" in output for output in outputs) else ("\n",)


def parse_label(text: str, label_set: Sequence[str]) -> str:
    """Return the label a generated answer names: exact match, else the first label it mentions,
    else the most similar label, else the first label."""
    answer = text.strip().strip(".!\"'`*").strip()
    by_folded = {label.casefold(): label for label in label_set}
    if answer.casefold() in by_folded:
        return by_folded[answer.casefold()]
    found = []
    for label in label_set:
        match = re.search(rf"(?<!\w){re.escape(label.casefold())}(?!\w)", answer.casefold())
        if match:
            found.append((match.start(), -len(label), label))
    if found:
        return min(found)[2]
    close = difflib.get_close_matches(answer.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else label_set[0]


def answer(
    lm: Any,
    prompts: Sequence[str],
    *,
    task_type: str,
    label_set: Sequence[str],
    classify_by: str = "likelihood",
    stop: Sequence[str] = ("\n",),
) -> list[str]:
    """Return the model's answer to each formatted prompt.

    Classification by likelihood scores every label as the continuation of the prompt and
    takes the most likely (ties: the first label), so the answer is always a label; by
    generation, the model writes an answer and `parse_label` reads it. A prompt that occurs
    more than once (an input with several reference outputs) is answered once.
    """
    if not prompts:
        return []
    distinct = list(dict.fromkeys(prompts))
    if task_type == "classification" and hasattr(lm, "classify"):
        # An API model reads labels its own way: logprobs where the server has them, else
        # constrained generation; an answer naming no label comes back "" and counts as wrong.
        answers = lm.classify(distinct, label_set, by=classify_by)
    elif task_type == "classification" and classify_by == "likelihood":
        labels = list(label_set)
        repeated = [prompt for prompt in distinct for _ in labels]
        continuations = [lm.answer_prefix + label for _ in distinct for label in labels]
        scores = lm.score(repeated, continuations).reshape(len(distinct), len(labels))
        answers = [labels[int(row.argmax())] for row in scores]
    else:
        answers = lm.generate(distinct, stop=stop)
        if task_type == "classification":
            answers = [parse_label(text, label_set) for text in answers]
    by_prompt = dict(zip(distinct, answers))
    return [by_prompt[prompt] for prompt in prompts]
