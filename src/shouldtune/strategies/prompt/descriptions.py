"""Label descriptions: readable names, and descriptions built from training examples."""

from __future__ import annotations

import re

import numpy as np


def readable(label: str) -> str:
    """Return a label name as words: 'card_arrival' -> 'card arrival', 'TopUp' -> 'top up'."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label)
    words = re.sub(r"[_\-./:]+", " ", words)
    words = re.sub(r"[^\w\s']", " ", words)
    words = " ".join(words.split())
    return words.lower() if words else label


def keyword_descriptions(by_label: dict[str, list[str]], n_keywords: int = 6) -> dict[str, str]:
    """Return, per label, its readable name followed by the words that set its examples apart (TF-IDF)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    labels = [label for label, texts in by_label.items() if texts]
    if not labels:
        return {label: readable(label) for label in by_label}
    documents = [" ".join(by_label[label]) for label in labels]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, token_pattern=r"(?u)\b[a-zA-Z]{3,}\b")
    try:
        weights = vectorizer.fit_transform(documents).toarray()
    except ValueError:  # only stop words: nothing to describe with
        return {label: readable(label) for label in by_label}
    vocabulary = np.array(vectorizer.get_feature_names_out())
    result = {label: readable(label) for label in by_label}
    for row, label in enumerate(labels):
        top = [vocabulary[i] for i in np.argsort(-weights[row], kind="stable")[:n_keywords] if weights[row, i] > 0]
        if top:
            result[label] = f"{readable(label)}: {', '.join(top)}"
    return result


def medoid_descriptions(by_label: dict[str, list[str]], vectors: dict[str, np.ndarray]) -> dict[str, str]:
    """Return, per label, its most typical example (closest to the label's mean vector)."""
    result = {}
    for label, texts in by_label.items():
        if not texts:
            result[label] = readable(label)
            continue
        matrix = vectors[label]
        centre = matrix.mean(axis=0)
        result[label] = texts[int(np.argmax(matrix @ centre))]
    return result
