"""Learning curves per strategy and per track (the track's best strategy at each size)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CurveRow:
    """One strategy's mean score over seeds at one size, with its 95% interval."""

    strategy: str
    track: str
    n_per_class: int
    mean: float
    ci_low: float
    ci_high: float
    seeds: int


@dataclass(frozen=True)
class TrackPoint:
    """A track's best strategy for a labelled set of `n_per_class` examples per class."""

    n_per_class: int
    strategy: str
    measured_at: int  # the size its score comes from: 0 for a strategy that needs no examples
    mean: float
    ci_low: float
    ci_high: float


def curve_rows(curves: Iterable[Mapping[str, Any]], metric: str) -> tuple[CurveRow, ...]:
    """Return the results.json curve points of one metric as rows, by track, strategy and size."""
    rows = [
        CurveRow(p["strategy"], p["track"], int(p["n_per_class"]), float(p["mean"]), float(p["ci_low"]),
                 float(p["ci_high"]), int(p.get("seeds", 1)))
        for p in curves
        if p["metric"] == metric
    ]
    return tuple(sorted(rows, key=lambda r: (r.track, r.strategy, r.n_per_class)))


def best_of_track(rows: Sequence[CurveRow], track: str, n_per_class: int) -> TrackPoint | None:
    """Return the track's best strategy using at most `n_per_class` examples per class.

    Each strategy counts with its largest measured size not above `n_per_class`, so a
    zero-shot prompt (measured at 0) competes at every size. Ties go to the strategy that
    used fewer examples, then to the one whose curve scored higher at the smaller sizes (the
    mean of its earlier points: more evidence of the same kind), then to the name, so the
    choice is deterministic. Exact ties are common on small test sets, where a metric takes
    few distinct values.
    """
    latest = latest_rows(rows, track, n_per_class)
    if not latest:
        return None

    def earlier(row: CurveRow) -> float:
        scores = [r.mean for r in rows if r.strategy == row.strategy and r.track == track and r.n_per_class < row.n_per_class]
        return sum(scores) / len(scores) if scores else 0.0

    best = min(latest.values(), key=lambda r: (-r.mean, r.n_per_class, -earlier(r), r.strategy))
    return TrackPoint(n_per_class, best.strategy, best.n_per_class, best.mean, best.ci_low, best.ci_high)


def latest_rows(rows: Sequence[CurveRow], track: str, n_per_class: int) -> dict[str, CurveRow]:
    """Return each strategy of the track with its row at its largest measured size not above `n_per_class`."""
    latest: dict[str, CurveRow] = {}
    for row in rows:
        if row.track == track and row.n_per_class <= n_per_class:
            if row.strategy not in latest or row.n_per_class > latest[row.strategy].n_per_class:
                latest[row.strategy] = row
    return latest


def track_curve(rows: Sequence[CurveRow], track: str, sizes: Iterable[int]) -> tuple[TrackPoint, ...]:
    """Return the track's best strategy at each size (sizes where the track has none are left out)."""
    points = (best_of_track(rows, track, n) for n in sorted(set(sizes)))
    return tuple(point for point in points if point is not None)


def strategy_curve(rows: Sequence[CurveRow], strategy: str) -> tuple[CurveRow, ...]:
    """Return one strategy's points, smallest size first."""
    return tuple(sorted((r for r in rows if r.strategy == strategy), key=lambda r: r.n_per_class))
