"""Typed trial records: what one trial measured, from the trial through the store to the analysis.

JSON is made only at the edges: `TrialRecord.to_json()` is the document the store keeps and
results.json lists under `trials`; `TrialRecord.from_json()` reads it back, including records
written by earlier releases (no `backend`; a prompt search's scores under
`validation_macro_f1`). Every other module reads attributes, so a renamed field is a type
error, not an analysis that silently switches off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Latency:
    """Single-request latency: median and 95th percentile in milliseconds, over `requests` requests."""

    p50: float
    p95: float
    requests: int

    def to_json(self) -> dict[str, Any]:
        return {"p50": self.p50, "p95": self.p95, "requests": self.requests}


@dataclass(frozen=True)
class Tokens:
    """A language-model trial's tokens: mean per test request, and trained on by one fine-tune."""

    prompt_per_request: float = 0.0
    output_per_request: float = 0.0
    training: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"prompt_per_request": self.prompt_per_request, "output_per_request": self.output_per_request, "training": self.training}


@dataclass(frozen=True)
class SearchDetails:
    """What a prompt search tried: each candidate's validation score (in the task's metric) and the one kept."""

    chosen: str
    validation_scores: Mapping[str, float]


@dataclass(frozen=True)
class TrialRecord:
    """One trial: a contestant fitted on n examples per class with one seed, scored and timed."""

    strategy: str  # the contestant's name in the run ("setfit", or "setfit@encoder")
    track: str
    n_per_class: int
    seed: int
    train_examples: int
    metrics: Mapping[str, float]
    metrics_ci: Mapping[str, tuple[float, float]]
    fit_seconds: float
    predict_seconds: float
    examples_per_second: float | None
    backend: str = ""  # the backend's name in the task ("" in records from before backends were named)
    model: str = ""
    charged_by: str = "compute"  # compute time (a local model) or tokens (an API)
    folds: int = 1
    work: float | None = None  # training work of one fit (Strategy.work: texts or calls through the model); None: not recorded
    latency_ms: Latency | None = None
    tokens: Tokens | None = None
    search: SearchDetails | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # what the strategy describes for people

    def to_json(self) -> dict[str, Any]:
        """Return the record as stored and as listed in results.json's `trials`."""
        details = dict(self.details)
        if self.search is not None:
            details.update(chosen=self.search.chosen, validation_scores=dict(self.search.validation_scores))
        return {
            "strategy": self.strategy,
            "track": self.track,
            "backend": self.backend,
            "model": self.model,
            "charged_by": self.charged_by,
            "n_per_class": self.n_per_class,
            "seed": self.seed,
            "train_examples": self.train_examples,
            "folds": self.folds,
            "metrics": dict(self.metrics),
            "metrics_ci": {name: list(interval) for name, interval in self.metrics_ci.items()},
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "examples_per_second": self.examples_per_second,
            **({"work": self.work} if self.work is not None else {}),
            **({"latency_ms": self.latency_ms.to_json()} if self.latency_ms is not None else {}),
            **({"tokens": self.tokens.to_json()} if self.tokens is not None else {}),
            "details": details,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TrialRecord:
        """Return the record a store or results.json holds (any release's)."""
        details = dict(document.get("details") or {})
        scores = details.pop("validation_scores", None)
        if scores is None:
            scores = details.pop("validation_macro_f1", None)  # releases before 0.2 named it after one metric
        search = None
        if isinstance(scores, Mapping):
            search = SearchDetails(str(details.pop("chosen", "")), {str(k): float(v) for k, v in scores.items()})
        latency = document.get("latency_ms")
        tokens = document.get("tokens")
        return cls(
            strategy=document["strategy"],
            track=document["track"],
            n_per_class=int(document["n_per_class"]),
            seed=int(document["seed"]),
            train_examples=int(document.get("train_examples", 0)),
            metrics={str(k): float(v) for k, v in document["metrics"].items()},
            metrics_ci={str(k): (float(v[0]), float(v[1])) for k, v in (document.get("metrics_ci") or {}).items()},
            fit_seconds=float(document["fit_seconds"]),
            predict_seconds=float(document["predict_seconds"]),
            examples_per_second=document.get("examples_per_second"),
            backend=str(document.get("backend", "")),
            model=str(document.get("model", "")),
            charged_by=str(document.get("charged_by", "compute")),
            folds=int(document.get("folds", 1)),
            work=float(document["work"]) if document.get("work") is not None else None,
            latency_ms=Latency(float(latency["p50"]), float(latency["p95"]), int(latency.get("requests", 0)))
            if isinstance(latency, Mapping) else None,
            tokens=Tokens(
                float(tokens.get("prompt_per_request", 0.0)), float(tokens.get("output_per_request", 0.0)), float(tokens.get("training", 0.0))
            ) if isinstance(tokens, Mapping) and tokens else None,
            search=search,
            details=details,
        )
