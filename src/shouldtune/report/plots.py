"""The report's pictures, drawn from a results.json document as standalone SVG text.

Drawing only: every number comes from the document's `curves`, `analysis` and
`recommendation`. matplotlib is imported inside each function (never pyplot, so no global
backend is chosen) and text from the data is drawn with math parsing off, so a label such
as "$5 fee" is shown as written.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

PROMPT = "#2563eb"  # blue
FINETUNE = "#ea580c"  # orange
BASELINE = "#6b7280"  # grey
TRACK_COLOURS = {"prompt": PROMPT, "finetune": FINETUNE, "baseline": BASELINE}
_DASHES = {0: "-", 1: (0, (5, 2)), 2: (0, (1, 1.5))}  # tell thin same-colour strategy lines apart
_STYLE = {
    "svg.fonttype": "path",  # glyphs as paths: no fonts needed, nothing from the data left as markup
    "svg.hashsalt": "shouldtune",  # stable ids, so the same run draws the same file
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
}


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def learning_curves_svg(results: Mapping[str, Any]) -> str | None:
    """Return the learning curves of both tracks (bands = 95% CI), the extrapolation and the crossover."""
    import matplotlib

    analysis = results.get("analysis") or {}
    metric = results["task"]["metric"]
    prompt_curve = [p for p in analysis.get("prompt_curve", []) if p["n_per_class"] > 0]
    finetune_curve = [p for p in analysis.get("finetune_curve", []) if p["n_per_class"] > 0]
    if not prompt_curve and not finetune_curve:
        return None
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(9.6, 4.6)
        measured = sorted({p["n_per_class"] for p in prompt_curve + finetune_curve})
        largest = measured[-1]
        extrapolations = {e["track"]: e for e in analysis.get("extrapolations", []) if e.get("points")}
        reach = max([largest] + [pt["n_per_class"] for e in extrapolations.values() for pt in e["points"]])
        if reach > largest:
            axes.axvspan(largest, reach * 1.15, color="#f3f4f6", zorder=0)
            axes.text(math.sqrt(largest * reach * 1.15), 0.98, "extrapolated: an estimate", transform=axes.get_xaxis_transform(),
                      ha="center", va="top", fontsize=8.5, color=BASELINE)

        # Every strategy, thin, so the track lines can be traced to the strategy behind them.
        for strategy, points in _strategy_points(results, metric).items():
            track = points[0]["track"]
            if track == "baseline":
                continue
            colour = TRACK_COLOURS.get(track, BASELINE)
            if len(points) == 1 and points[0]["n_per_class"] == 0:
                axes.axhline(points[0]["mean"], color=colour, linewidth=1, linestyle=":", alpha=0.8,
                             label=f"{strategy} (no examples needed)")
                continue
            sized = [p for p in points if p["n_per_class"] > 0]
            axes.plot([p["n_per_class"] for p in sized], [p["mean"] for p in sized], color=colour, linewidth=1,
                      alpha=0.5, marker=".", markersize=5, linestyle=_DASHES.get(len(axes.lines) % 3), label=strategy)

        for track, curve, colour, name in (("prompt", prompt_curve, PROMPT, "prompt track (best strategy)"),
                                            ("finetune", finetune_curve, FINETUNE, "fine-tune track (best strategy)")):
            if not curve:
                continue
            xs = [p["n_per_class"] for p in curve]
            axes.fill_between(xs, [p["ci_low"] for p in curve], [p["ci_high"] for p in curve], color=colour, alpha=0.16,
                              linewidth=0)
            axes.plot(xs, [p["mean"] for p in curve], color=colour, linewidth=2.6, marker="o", markersize=5, label=name)
            extrapolation = extrapolations.get(track)
            if extrapolation:
                _draw_extrapolation(axes, curve[-1], extrapolation, colour)

        baseline = analysis.get("baseline")
        low, high = _y_limits(prompt_curve + finetune_curve)
        if baseline is not None and baseline >= low:
            axes.axhline(baseline, color=BASELINE, linewidth=1, linestyle="--", label="majority baseline")
        elif baseline is not None:  # far below: keep the axis on the curves and say where it is
            axes.annotate(f"majority baseline: {baseline:.3f} (below the axis)", (0.01, 0.02), xycoords="axes fraction",
                          fontsize=8, color=BASELINE)
        _draw_crossover(axes, analysis, largest)

        axes.set_xscale("log", base=2)
        ticks = sorted(set(measured) | {pt["n_per_class"] for e in extrapolations.values() for pt in e["points"]})
        axes.set_xticks(ticks, [str(t) for t in ticks])
        axes.minorticks_off()
        axes.set_xlim(measured[0] / 1.25, reach * 1.15 if reach > largest else largest * 1.6)
        axes.set_xlabel(f"labelled {'examples per class' if results['data'].get('labels') else 'training examples'} (log scale)")
        axes.set_ylabel(f"{metric} on the test set")
        axes.set_ylim(low, high)
        handles, names = axes.get_legend_handles_labels()
        order = sorted(range(len(names)), key=lambda i: "track" not in names[i])  # the two tracks first
        axes.legend([handles[i] for i in order], [names[i] for i in order], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    fontsize=8.5, frameon=False)
        return _svg(figure)


def _strategy_points(results: Mapping[str, Any], metric: str) -> dict[str, list[Mapping[str, Any]]]:
    points: dict[str, list[Mapping[str, Any]]] = {}
    for point in results["curves"]:
        if point["metric"] == metric:
            points.setdefault(point["strategy"], []).append(point)
    return {name: sorted(found, key=lambda p: p["n_per_class"]) for name, found in points.items()}


def _draw_extrapolation(axes: Any, last: Mapping[str, Any], extrapolation: Mapping[str, Any], colour: str) -> None:
    """Draw the fitted curve beyond the last measured size, dashed, with its interval (an estimate)."""
    import numpy as np

    points = extrapolation["points"]
    xs = [last["n_per_class"]] + [p["n_per_class"] for p in points]
    if extrapolation["model"] == "power-law" and extrapolation.get("params"):
        a, b, c = extrapolation["params"]
        grid = np.geomspace(xs[0], xs[-1], 40)
        curve = np.clip(a - b * np.power(grid, -c), 0, 1)
        # Start the dashed line at the measured point, easing into the fitted curve.
        offset = (last["mean"] - curve[0]) * np.clip(1 - np.log(grid / grid[0]) / np.log(max(xs[1] / xs[0], 1.0001)), 0, 1)
        axes.plot(grid, curve + offset, color=colour, linewidth=1.8, linestyle=(0, (4, 3)))
    else:
        axes.plot(xs, [last["mean"]] + [p["estimate"] for p in points], color=colour, linewidth=1.8, linestyle=(0, (4, 3)))
    axes.fill_between(xs, [last["ci_low"]] + [p["ci_low"] for p in points], [last["ci_high"]] + [p["ci_high"] for p in points],
                      color=colour, alpha=0.07, linewidth=0, hatch="///", edgecolor=colour)
    axes.plot([p["n_per_class"] for p in points], [p["estimate"] for p in points], linestyle="none", marker="o",
              markersize=5, markerfacecolor="white", markeredgecolor=colour)


def _draw_crossover(axes: Any, analysis: Mapping[str, Any], largest: int) -> None:
    crossover = analysis.get("crossover") or {}
    if crossover.get("reached"):
        n = crossover["n_per_class"]
        axes.axvline(n, color="#111827", linewidth=1.2, linestyle="-.")
        axes.annotate(f"crossover: fine-tuning ahead\nwith confidence from {n}/class", (n, 0.98),
                      xycoords=("data", "axes fraction"), xytext=(5, -2), textcoords="offset points", va="top",
                      fontsize=8.5, color="#111827")
    elif analysis.get("comparisons"):
        axes.annotate(f"crossover not reached\n(up to {largest}/class)", (0.01, 0.98), xycoords="axes fraction",
                      va="top", fontsize=8.5, color="#111827")


def _y_limits(points: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    low = min(p["ci_low"] for p in points)
    high = max(p["ci_high"] for p in points)
    pad = max(0.03, (high - low) * 0.12)
    return max(0.0, low - pad), min(1.0, high + pad)


def quality_cost_svg(results: Mapping[str, Any], pareto: Sequence[str]) -> str | None:
    """Return quality against cost per 1,000 requests for every strategy, the Pareto front joined up."""
    import matplotlib

    recommendation = results.get("recommendation") or {}
    costs = {c["strategy"]: c for c in recommendation.get("costs", [])}
    timings = {t["strategy"]: t for t in (results.get("analysis") or {}).get("timings", [])}
    names = [name for name, t in timings.items() if t["track"] != "baseline" and name in costs]
    if not names:
        return None
    metric = results["task"]["metric"]
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(9.6, 4.2)
        xs = [costs[name]["per_1000_all_in"] for name in names]
        positive = [x for x in xs if x > 0]
        log_scale = len(positive) == len(xs) and max(positive) / min(positive) > 8
        for name, x in zip(names, xs):
            timing = timings[name]
            colour = TRACK_COLOURS.get(timing["track"], BASELINE)
            axes.errorbar([x], [timing["mean"]], yerr=[[timing["mean"] - timing["ci_low"]], [timing["ci_high"] - timing["mean"]]],
                          fmt="o", color=colour, markersize=7, capsize=3, linewidth=1.2,
                          markerfacecolor=colour if name in pareto else "white")
            axes.annotate(f"{name} (n={timing['n_per_class']})", (x, timing["mean"]), xytext=(7, 4), textcoords="offset points",
                          fontsize=8.5, color=colour)
        front = [(costs[name]["per_1000_all_in"], timings[name]["mean"]) for name in pareto if name in timings]
        if len(front) > 1:
            axes.step([x for x, _ in front], [y for _, y in front], where="post", color="#111827", linewidth=1, alpha=0.6,
                      label="Pareto front (nothing is both cheaper and better)")
            axes.legend(loc="lower right", fontsize=8.5)
        axes.margins(x=0.25, y=0.15)
        if log_scale:
            axes.set_xscale("log")
        else:  # a linear axis starts at $0, so a small difference in cost does not look large
            axes.set_xlim(left=0, right=max(xs) * 1.3 if max(xs) > 0 else 1)
        assumptions = recommendation.get("assumptions") or {}
        volume = assumptions.get("requests_per_month")
        prices = "placeholder prices" if assumptions.get("placeholder_prices", True) else "your prices"
        axes.set_xlabel(f"$ per 1,000 requests: serving plus fit spread over a year at {volume:,}/month ({prices})"
                        if volume else "$ per 1,000 requests")
        axes.set_ylabel(f"{metric} (95% CI)")
        axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: _short_money(v)))
        return _svg(figure)


def _short_money(value: float) -> str:
    if value <= 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    decimals = min(8, 1 - math.floor(math.log10(value)))
    return f"${value:.{decimals}f}"


def confusion_svg(confusion: Mapping[str, Any]) -> str:
    """Return a confusion matrix heatmap: rows are gold labels, columns predictions; colour is the row share."""
    import matplotlib
    import numpy as np

    labels = confusion["labels"]
    counts = np.asarray(confusion["counts"], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = len(labels)
    side = min(7.5, max(3.6, 0.42 * size + 1.8))
    with matplotlib.rc_context({**_STYLE, "axes.grid": False}):
        figure, axes = _figure(side, side)
        colour = FINETUNE if confusion.get("track") == "finetune" else PROMPT
        cmap = matplotlib.colors.LinearSegmentedColormap.from_list("share", ["#ffffff", colour])
        axes.imshow(shares, cmap=cmap, vmin=0, vmax=1)
        short = [_shorten(label, 22) for label in labels]
        font = 8 if size <= 15 else max(4.5, 8 - (size - 15) * 0.06)
        axes.set_xticks(range(size), short, rotation=60, ha="right", rotation_mode="anchor", fontsize=font, parse_math=False)
        axes.set_yticks(range(size), short, fontsize=font, parse_math=False)
        if size <= 15:
            for i in range(size):
                for j in range(size):
                    if counts[i, j]:
                        axes.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7.5,
                                  color="white" if shares[i, j] > 0.55 else "#111827")
        axes.set_xlabel("predicted label")
        axes.set_ylabel("gold label")
        track = {"finetune": "fine-tune"}.get(confusion.get("track", ""), confusion.get("track", ""))
        axes.set_title(f"{confusion['strategy']} ({track}, n={confusion['n_per_class']}, "
                       f"{confusion['seeds']} seed{'s' if confusion['seeds'] != 1 else ''} summed)", fontsize=9,
                       parse_math=False)
        return _svg(figure)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
