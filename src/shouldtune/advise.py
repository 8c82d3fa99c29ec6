"""Advice before any data: a prior recommendation from a few answers, and the run that would test it.

The advice is a table of rules (`RULES`), each one row: the question it reads, the answers
it fires on, the choice it leans to, its weight, and its one-line justification. `advise()`
adds the weights of the rules that fire and takes the heaviest choice; nothing else decides.
A measured run (`shouldtune run`) replaces this prior with evidence.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from shouldtune.errors import TaskFileError


@dataclass(frozen=True)
class Question:
    """One question the decision turns on."""

    key: str
    text: str
    choices: tuple[str, ...]  # empty: the answer is a whole number
    default: str


@dataclass(frozen=True)
class Rule:
    """One row of the advice table."""

    question: str
    answers: tuple[str, ...]  # the answers (or number bands) it fires on
    favours: str  # prompt | finetune | collect-more-data
    weight: int
    because: str  # its justification, one line


QUESTIONS: tuple[Question, ...] = (
    Question("deadline", "How soon do you need results?", ("days", "weeks", "months"), "weeks"),
    Question("knowledge", "Does the task rest on general knowledge or on specialised knowledge (your domain's jargon, rules, labels)?",
             ("general", "specialised"), "general"),
    Question("consistent_format", "Must every answer follow one consistent style or format?", ("yes", "no"), "no"),
    Question("examples_per_class", "How many labelled examples per class do you have now?", (), "0"),
    Question("budget", "What budget is there for labelling and training compute?", ("low", "medium", "high"), "medium"),
    Question("requests_per_month", "How many requests a month do you expect?", (), "10000"),
    Question("latency", "How fast must one answer be? (relaxed: seconds; interactive: under a second; realtime: under 100 ms)",
             ("relaxed", "interactive", "realtime"), "interactive"),
)

#: Number answers fall into named bands (upper bound inclusive), so rules match them like choices.
BANDS: dict[str, tuple[tuple[float, str], ...]] = {
    "examples_per_class": ((0, "none"), (20, "few"), (100, "some"), (math.inf, "many")),
    "requests_per_month": ((10_000, "low"), (1_000_000, "medium"), (math.inf, "high")),
}

RULES: tuple[Rule, ...] = (
    # question              answers                    favours               weight  because
    Rule("examples_per_class", ("none",), "prompt", 3,
         "with no labelled examples only prompting can start now; fine-tuning needs examples to learn from."),
    Rule("examples_per_class", ("none", "few"), "collect-more-data", 2,
         "under about 20 labelled examples per class a test set cannot resolve a gap of a few points, so label 30 to 50 per class to decide on evidence."),
    Rule("examples_per_class", ("some", "many"), "finetune", 2,
         "from about 20 labelled examples per class a fine-tuned classifier (SetFit, a linear probe) usually matches or beats a prompt."),
    Rule("examples_per_class", ("many",), "finetune", 1,
         "over 100 labelled examples per class is enough for fine-tuning to pull clearly ahead on most classification tasks."),
    Rule("deadline", ("days",), "prompt", 2,
         "results within days favour prompting: a prompt is changed and re-scored in seconds, one fine-tune cycle takes minutes to hours."),
    Rule("deadline", ("months",), "finetune", 1,
         "with months available, the one-time work of labelling and fine-tuning has time to pay back."),
    Rule("knowledge", ("specialised",), "finetune", 2,
         "specialised knowledge is where prompts plateau and training on examples keeps improving (the knowledge gap)."),
    Rule("knowledge", ("general",), "prompt", 1,
         "general knowledge is already in a pretrained model, so describing the labels well is often enough."),
    Rule("consistent_format", ("yes",), "finetune", 2,
         "a consistent style or format is learned reliably from examples, while prompt wordings often differ by 5 to 20 points."),
    Rule("budget", ("low",), "prompt", 1,
         "a low budget favours prompting: no training compute, and labelling only a test set of about 100 examples."),
    Rule("budget", ("high",), "finetune", 1,
         "a high budget covers labelling and training, which pay back in quality and in cost per request."),
    Rule("requests_per_month", ("high",), "finetune", 2,
         "above 1,000,000 requests a month a small fine-tuned model's lower cost per request repays its one-time cost quickly."),
    Rule("requests_per_month", ("low",), "prompt", 1,
         "at 10,000 requests a month or fewer, cheaper requests rarely repay the one-time cost of fine-tuning."),
    Rule("latency", ("realtime",), "finetune", 2,
         "under 100 ms per answer favours a small fine-tuned model over long prompts with demonstrations on a large model."),
    Rule("latency", ("relaxed",), "prompt", 1,
         "seconds per answer leave room for long prompts with demonstrations on a large model."),
)

CHOICES = ("prompt", "finetune", "collect-more-data")
NAMES = {
    "deadline": "Deadline", "knowledge": "Knowledge", "consistent_format": "Consistent format",
    "examples_per_class": "Labelled data", "budget": "Budget", "requests_per_month": "Volume", "latency": "Latency",
}


@dataclass(frozen=True)
class Advice:
    """A prior recommendation: the choice, the weight each choice got, the reasons, the run to confirm it."""

    choice: str  # prompt | finetune | either | collect-more-data
    scores: dict[str, int]
    reasons: tuple[str, ...]
    command: str
    answers: dict[str, str]
    first: str | None = None  # what to do before the command can run, if anything


def band(question: str, answer: str) -> str:
    """Return the band a number answer falls in, or the answer itself for a choice question."""
    if question not in BANDS:
        return answer
    value = int(answer)
    return next(name for upper, name in BANDS[question] if value <= upper)


def check_answers(answers: Mapping[str, str | int | None]) -> dict[str, str]:
    """Return every question's answer as text, defaults filled in; raise TaskFileError for a bad one."""
    checked = {}
    for question in QUESTIONS:
        raw = answers.get(question.key)
        answer = question.default if raw is None else str(raw).strip().lower()
        flag = "--" + question.key.replace("_", "-")
        if question.choices and answer not in question.choices:
            raise TaskFileError(f"{flag} must be one of {', '.join(question.choices)}; got {answer!r}", column=flag,
                                fix=f"e.g. {flag} {question.default}")
        if not question.choices and not (answer.isdigit()):
            raise TaskFileError(f"{flag} takes a whole number of 0 or more; got {answer!r}", column=flag,
                                fix=f"e.g. {flag} {question.default}")
        checked[question.key] = answer
    return checked


def advise(answers: Mapping[str, str | int | None], data: str = "labelled.csv") -> Advice:
    """Return the prior recommendation for the answers (defaults for those left out)."""
    checked = check_answers(answers)
    scores = dict.fromkeys(CHOICES, 0)
    fired = []
    for rule in RULES:
        answer = checked[rule.question]
        if band(rule.question, answer) in rule.answers:
            scores[rule.favours] += rule.weight
            fired.append(rule)
    choice = _choose(scores)
    # The heaviest rules first, so the reasons read in order of importance.
    reasons = tuple(
        f"{NAMES[rule.question]} ({_said(rule.question, checked[rule.question])}, {'+' if rule.weight > 0 else ''}{rule.weight} "
        f"for {rule.favours}): {rule.because}"
        for rule in sorted(fired, key=lambda r: -r.weight)
    )
    have = int(checked["examples_per_class"])
    first = None
    if have < 10:
        first = (f"Label about 40 examples per class first (you have {have}); the run holds out 20% as its test set "
                 "and draws the learning curve from the rest.")
    return Advice(choice, scores, reasons, confirm_command(checked, data), checked, first)


def _choose(scores: Mapping[str, int]) -> str:
    prompt, finetune, collect = scores["prompt"], scores["finetune"], scores["collect-more-data"]
    if collect > max(prompt, finetune):
        return "collect-more-data"
    if prompt == finetune:
        return "either"
    return "prompt" if prompt > finetune else "finetune"


def _said(question: str, answer: str) -> str:
    if question == "examples_per_class":
        return f"you have {int(answer):,} per class"
    if question == "requests_per_month":
        return f"{int(answer):,} requests a month"
    return answer


def confirm_command(answers: Mapping[str, str], data: str = "labelled.csv") -> str:
    """Return the `shouldtune run` command that would measure what the advice assumes."""
    have = int(answers["examples_per_class"])
    # A stratified 20% of the data is held out as the test set, so the pool is ~80% of it.
    pool = max(int(have * 0.8), 0)
    largest = pool if pool >= 8 else 32  # too little yet: the sizes to aim for once labelled
    sizes = [0] + [n for n in (4, 8, 16, 32, 64, 128, 256) if n < largest] + [largest]
    parts = ["shouldtune", "run", "--data", data, "--sizes", ",".join(map(str, sorted(set(sizes)))), "--seeds", "3",
             "--requests-per-month", answers["requests_per_month"]]
    return " ".join(shlex.quote(part) for part in parts)
