"""What a hosted model's tokens cost: a user-editable YAML price table (dollars per million tokens).

The shipped table (`openai_prices.yaml`) carries the date and source of its prices. A model
found in no table gets `PLACEHOLDER` prices, marked `placeholder=True`, so that plans and
reports can say the money figures are not real rates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from shouldtune.errors import TaskFileError

SHIPPED = "openai_prices.yaml"
KEYS = ("input_per_million", "cached_input_per_million", "output_per_million", "training_per_million")


@dataclass(frozen=True)
class ModelPrices:
    """Dollars per million tokens of one model, and where they come from."""

    model: str
    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None  # None: cached prompt tokens cost the full input rate
    training_per_million: float = 0.0
    source: str = ""  # "TABLE (as of DATE, SOURCE)", or why these are placeholders
    placeholder: bool = False

    def call_cost(self, prompt_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """Return the dollars one call costs."""
        cached_rate = self.input_per_million if self.cached_input_per_million is None else self.cached_input_per_million
        fresh = max(prompt_tokens - cached_tokens, 0)
        return (fresh * self.input_per_million + cached_tokens * cached_rate + output_tokens * self.output_per_million) / 1e6

    def training_cost(self, trained_tokens: int) -> float:
        return trained_tokens * self.training_per_million / 1e6


#: Prices for a model no table lists: round numbers meant to be noticed, not real rates.
PLACEHOLDER = {"input_per_million": 1.0, "output_per_million": 4.0, "training_per_million": 10.0}


def load_table(path: str | Path | None = None) -> dict[str, Any]:
    """Return a price table: the shipped one, or the YAML file at `path`."""
    import yaml

    where = str(path) if path else f"shouldtune/backends/{SHIPPED}"
    try:
        text = Path(path).read_text(encoding="utf-8") if path else files("shouldtune.backends").joinpath(SHIPPED).read_text(encoding="utf-8")
        table = yaml.safe_load(text) or {}
    except OSError as err:
        raise TaskFileError(f"cannot read the price table ({err.strerror})", file=where, fix="check the path of `prices:`") from None
    except yaml.YAMLError as err:
        raise TaskFileError(f"cannot parse the price table: {err}"[:300], file=where, fix="fix the YAML") from None
    models = table.get("models") if isinstance(table, dict) else None
    if not isinstance(models, dict):
        raise TaskFileError("the price table has no `models:` mapping", file=where, fix="write `models: {NAME: {input_per_million: 0.15, ...}}`")
    for name, entry in models.items():
        unknown = set(entry or {}) - set(KEYS) if isinstance(entry, dict) else {"(not a mapping)"}
        if unknown:
            raise TaskFileError(f"model {name!r} has unknown price keys {sorted(unknown)}", file=where, fix=f"use: {', '.join(KEYS)}")
    return {**table, "where": where}


def prices_for(model: str, path: str | Path | None = None) -> ModelPrices:
    """Return the prices of `model` from the table (a dated snapshot or fine-tune of a listed model
    counts as it), else placeholder prices."""
    table = load_table(path)
    models: dict[str, dict[str, float]] = table["models"]
    for name in _candidates(model):
        if name in models:
            entry = models[name]
            return ModelPrices(
                model=model,
                input_per_million=float(entry.get("input_per_million", 0.0)),
                output_per_million=float(entry.get("output_per_million", 0.0)),
                cached_input_per_million=entry.get("cached_input_per_million"),
                training_per_million=float(entry.get("training_per_million", 0.0)),
                source=f"{table['where']} (as of {table.get('as_of', 'an unknown date')}; {table.get('source', 'no source given')})",
            )
    return ModelPrices(
        model=model, **PLACEHOLDER, placeholder=True,
        source=f"placeholder prices: {model!r} is not in {table['where']}; add it there or pass prices: FILE",
    )


def _candidates(model: str) -> list[str]:
    """Return the names to look `model` up by: itself, without a date suffix, and a fine-tune's base."""
    undated = re.compile(r"-\d{4}-\d{2}-\d{2}$")
    names = [model, undated.sub("", model)]
    if model.startswith("ft:"):
        base = model.split(":")[1]
        names += [f"ft:{base}", "ft:" + undated.sub("", base)]
    return list(dict.fromkeys(names))
