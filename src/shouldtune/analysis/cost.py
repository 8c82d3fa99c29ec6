"""What each strategy costs to set up and to run, under prices the user supplies.

No price here is a fact: the defaults are placeholders (one dollar per machine hour,
free API tokens) meant to be replaced by a prices file with the user's own rates.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from shouldtune.errors import TaskFileError


@dataclass(frozen=True)
class TokenRates:
    """One hosted model's dollars per million tokens."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0
    training_per_million: float = 0.0


@dataclass(frozen=True)
class Prices:
    """User-editable prices; the defaults are placeholders, not real rates."""

    compute_per_hour: float = 1.0  # $ per hour of the machine that runs local models
    input_per_million: float = 0.0  # $ per million API prompt tokens
    output_per_million: float = 0.0  # $ per million API output tokens
    training_per_million: float = 0.0  # $ per million API fine-tuning training tokens
    #: Each hosted model's own rates, by model id; "ft:ID" is the rate of serving ID's fine-tunes
    #: (OpenAI bills a fine-tuned model above its base). A model not listed pays the rates above.
    models: dict[str, TokenRates] = field(default_factory=dict)

    def rates(self, model: str, tuned: bool = False) -> TokenRates:
        """Return what serving `model` (its fine-tune, when `tuned`) costs per million tokens, and
        what training it costs: its own rates where listed (a fine-tune not listed: its base's),
        else the flat token rates."""
        flat = TokenRates(self.input_per_million, self.output_per_million, self.training_per_million)
        base = self._listed(model) or flat
        serving = (self._listed(f"ft:{model}") or base) if tuned else base
        return TokenRates(serving.input_per_million, serving.output_per_million, base.training_per_million)

    def _listed(self, model: str) -> TokenRates | None:
        """Return the rates listed for `model`, by its full id or the id without its `@server` part."""
        if not model:
            return None
        return self.models.get(model) or self.models.get(model.split("@", 1)[0])


@dataclass(frozen=True)
class StrategyCost:
    """What one strategy consumed: measured times and token counts."""

    fit_seconds: float
    predict_seconds_per_request: float
    prompt_tokens_per_request: float = 0.0
    output_tokens_per_request: float = 0.0
    training_tokens: float = 0.0
    #: How its backend is paid for: "compute" (a local model: the machine's time; its tokens
    #: cost nothing more) or "tokens" (an API: its bill; the time is the provider's).
    charged_by: str = "compute"
    model: str = ""  # the model it was run on, for its own token rates
    tuned: bool = False  # served by a fine-tune of `model` (billed at the fine-tuned rate)


@dataclass(frozen=True)
class CostProfile:
    """Dollars paid once (to fit) and dollars per 1000 requests served."""

    one_time: float
    per_1000_requests: float


@dataclass(frozen=True)
class Latency:
    """Seconds per request."""

    p50: float
    p95: float
    mean: float


def load_prices(path: Path | None) -> Prices:
    """Return prices read from a YAML or JSON file, or the placeholder defaults when path is None.

    Keys left out of the file keep their defaults. `models:` maps a hosted model's id (or
    "ft:ID" for its fine-tunes) to its own `input_per_million`, `output_per_million` and
    `training_per_million`.
    """
    if path is None:
        return Prices()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TaskFileError(
            f"cannot read the prices file ({error.strerror})",
            fix="check the path, or leave the prices option out to use placeholder prices",
            file=path,
        ) from error
    data = _parse(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TaskFileError(
            f"expected a mapping of price names to numbers, found {type(data).__name__}",
            fix=f"write one 'key: number' line per price; keys: {', '.join(_price_keys())}",
            file=path,
        )
    models = data.pop("models", None) or {}
    if not isinstance(models, dict) or not all(isinstance(rates, dict) for rates in models.values()):
        raise TaskFileError(
            "`models:` must map each model id to its rates",
            fix="write `models: {gpt-4o-mini: {input_per_million: 0.15, output_per_million: 0.6}}`",
            file=path,
        )
    return Prices(
        **{key: _price(path, key, value) for key, value in data.items()},
        models={str(model): TokenRates(**{key: _price(path, key, value, TokenRates, f" of model {model!r}") for key, value in rates.items()})
                for model, rates in models.items()},
    )


def cost_profile(cost: StrategyCost, prices: Prices) -> CostProfile:
    """Return one-time and per-1000-request dollars for a strategy under the given prices."""
    if cost.charged_by == "tokens":
        rates = prices.rates(cost.model, cost.tuned)
        one_time = cost.training_tokens / 1e6 * rates.training_per_million
        per_request = (
            cost.prompt_tokens_per_request / 1e6 * rates.input_per_million
            + cost.output_tokens_per_request / 1e6 * rates.output_per_million
        )
        return CostProfile(one_time=float(one_time), per_1000_requests=float(1000 * per_request))
    per_hour = prices.compute_per_hour / 3600
    one_time = cost.fit_seconds * per_hour
    per_request = cost.predict_seconds_per_request * per_hour
    return CostProfile(one_time=float(one_time), per_1000_requests=float(1000 * per_request))


def monthly_cost(profile: CostProfile, requests_per_month: float) -> float:
    """Return the dollars a month of serving costs; the one-time cost is NOT included."""
    return float(profile.per_1000_requests * requests_per_month / 1000)


def total_cost(profile: CostProfile, requests_per_month: float, months: float = 1) -> float:
    """Return the one-time cost plus ``months`` of serving ``requests_per_month`` a month."""
    return float(profile.one_time + months * monthly_cost(profile, requests_per_month))


def break_even_requests(finetune: CostProfile, prompt: CostProfile) -> float | None:
    """Return the request count from which fine-tuning is cheaper in total than prompting.

    0 when fine-tuning costs no more up front and no more per request; None when it is
    never cheaper per request, so more traffic never pays back its one-time cost.
    """
    saved_per_1000 = prompt.per_1000_requests - finetune.per_1000_requests
    extra_one_time = finetune.one_time - prompt.one_time
    if extra_one_time <= 0 and saved_per_1000 >= 0:
        return 0.0
    if saved_per_1000 <= 0:
        return None
    return float(1000 * extra_one_time / saved_per_1000)


def latency_percentiles(seconds_per_request: ArrayLike) -> Latency:
    """Return the median, 95th percentile (linear interpolation) and mean seconds per request."""
    seconds = np.asarray(seconds_per_request, dtype=float)
    if seconds.ndim != 1 or seconds.size == 0:
        raise ValueError(f"seconds_per_request must be a non-empty 1-D sequence, got shape {seconds.shape}")
    p50, p95 = np.percentile(seconds, [50, 95], method="linear")
    return Latency(p50=float(p50), p95=float(p95), mean=float(seconds.mean()))


def _parse(path: Path, text: str) -> object:
    """Return the parsed prices file: JSON for a .json file, YAML otherwise."""
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise TaskFileError(
                f"cannot parse the prices file as JSON: {error}", fix="fix the file's syntax", file=path
            ) from error
    import yaml  # only needed when a YAML prices file is given

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TaskFileError(
            f"cannot parse the prices file as YAML: {error}", fix="fix the file's syntax", file=path
        ) from error


def _price_keys(kind: type = Prices) -> list[str]:
    """Return the names a prices file may use (in a `models:` entry, for kind=TokenRates)."""
    return [field.name for field in fields(kind)]


def _price(path: Path, key: object, value: object, kind: type = Prices, where: str = "") -> float:
    """Return one validated price, or raise TaskFileError naming the key (`where` it is) and the fix."""
    keys = _price_keys(kind)
    if key not in keys:
        close = difflib.get_close_matches(str(key), keys, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TaskFileError(
            f"unknown price {key!r}{where}", fix=f"{hint}valid keys: {', '.join(keys)}", file=path
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TaskFileError(
            f"price {key!r}{where} is {value!r}, not a number", fix=f"set {key} to a number such as 0.5", file=path
        )
    if value < 0:
        raise TaskFileError(f"price {key!r}{where} is negative ({value})", fix=f"set {key} to 0 or more", file=path)
    return float(value)


def pareto_front(costs: Sequence[float], qualities: Sequence[float]) -> tuple[int, ...]:
    """Return the indices of the points no other point dominates, cheapest first.

    A point is dominated when another costs no more and scores no less, and is strictly
    better in one of the two. Equal points are all kept.
    """
    if len(costs) != len(qualities):
        raise ValueError(f"{len(costs)} costs but {len(qualities)} qualities")
    points = list(zip(costs, qualities))
    front = [
        i for i, (cost, quality) in enumerate(points)
        if not any(
            other_cost <= cost and other_quality >= quality and (other_cost < cost or other_quality > quality)
            for other_cost, other_quality in points
        )
    ]
    return tuple(sorted(front, key=lambda i: (points[i][0], -points[i][1])))
