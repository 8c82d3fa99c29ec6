"""Reading a label from a chat model's answer: from its token logprobs, or from its text."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any


def _folded(text: str) -> str:
    return " ".join(text.casefold().split())


def parse_label_strictly(text: str, label_set: Sequence[str]) -> str | None:
    """Return the label an answer names: exact, then ignoring case and spaces, then the closest
    (difflib, similarity 0.6 or more); None when it names none."""
    answer = text.strip().strip(".!\"'`*").strip()
    if answer in label_set:
        return answer
    by_folded = {_folded(label): label for label in label_set}
    if _folded(answer) in by_folded:
        return by_folded[_folded(answer)]
    squeezed = {label.casefold().replace(" ", "").replace("_", ""): label for label in label_set}
    key = answer.casefold().replace(" ", "").replace("_", "")
    if key in squeezed:
        return squeezed[key]
    close = difflib.get_close_matches(_folded(answer), list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


def label_from_logprobs(content: Sequence[dict[str, Any]], label_set: Sequence[str]) -> dict[str, float]:
    """Return the log-probability of each label the answer's top alternatives reach.

    Walks the model's answer token by token. At each position, an alternative token that
    continues the answer so far toward a label (or completes it) gives that label the
    log-probability of the path: the answer's tokens so far plus that alternative. A label's
    score is taken where the answer last led toward it, so labels that share a first token
    are told apart where they part. Labels no alternative leads to are left out; the
    probabilities of a label's tokens after it leaves the answer are not seen (the API shows
    the top alternatives along one answer only), so a label the answer leaves early is scored
    by the path up to where it leaves.
    """
    targets = {label: _folded(label) for label in label_set}
    scores: dict[str, float] = {}
    prefix, path = "", 0.0
    for position in content:
        alternatives = list(position.get("top_logprobs") or [])
        if not any(alt.get("token") == position.get("token") for alt in alternatives):
            alternatives.append({"token": position.get("token", ""), "logprob": position.get("logprob", 0.0)})
        for alternative in alternatives:
            reached = _folded(prefix + str(alternative.get("token", "")))
            if not reached:
                continue
            for label, target in targets.items():
                if target.startswith(reached) or (reached.startswith(target) and not reached[len(target):].strip(" .!\"'`*")):
                    scores[label] = path + float(alternative.get("logprob", 0.0))
        prefix += str(position.get("token", ""))
        path += float(position.get("logprob", 0.0))
        if _folded(prefix) and not any(target.startswith(_folded(prefix)) for target in targets.values()):
            break  # the answer has left every label
    return scores
