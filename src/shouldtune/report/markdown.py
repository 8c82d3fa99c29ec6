"""report.md: the decision, the curves as a table, and every strategy's numbers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def curve_table(results: dict[str, Any], metric: str) -> tuple[list[int], dict[tuple[str, str], dict[int, dict[str, Any]]]]:
    """Return the sizes and, per (track, strategy), its curve points by size."""
    rows: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for point in results["curves"]:
        if point["metric"] == metric:
            rows[(point["track"], point["strategy"])][point["n_per_class"]] = point
    sizes = sorted({n for by_size in rows.values() for n in by_size})
    order = {"baseline": 0, "prompt": 1, "finetune": 2}
    return sizes, dict(sorted(rows.items(), key=lambda item: (order.get(item[0][0], 3), item[0][1])))


def strategy_costs(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return each strategy's mean fit seconds and ms per prediction at its largest size."""
    largest: dict[str, int] = {}
    for trial in results["trials"]:
        largest[trial["strategy"]] = max(largest.get(trial["strategy"], 0), trial["n_per_class"])
    costs: dict[str, dict[str, float]] = {}
    for name, size in largest.items():
        trials = [t for t in results["trials"] if t["strategy"] == name and t["n_per_class"] == size]
        fit = sum(t["fit_seconds"] for t in trials) / len(trials)
        per_request = sum(t["predict_seconds"] / max(1, results["data"]["test_size"]) for t in trials) / len(trials)
        costs[name] = {"n_per_class": size, "fit_seconds": fit, "ms_per_request": per_request * 1000}
    return costs


def render_markdown(results: dict[str, Any]) -> str:
    """Return report.md for a results.json document."""
    task = results["task"]
    metric = task["metric"]
    recommendation = results["recommendation"]
    data = results["data"]
    lines = [
        f"# shouldtune: {task['name']}",
        "",
        f"**Recommendation: {recommendation['choice']}** — {recommendation['summary']}",
        "",
        *[f"- {reason}" for reason in recommendation["reasons"]],
        "",
        "## Data",
        "",
        f"- Training pool: {data['train_size']} examples, {len(data['labels'])} labels; test: {data['split']} ({data['test_size']} examples).",
        f"- Sizes (examples per class): {', '.join(map(str, data['sizes']))}; seeds: {task['seeds']}.",
        f"- Backend: {results['backend']['name']} ({results['backend']['model']}).",
    ]
    lines += [f"- Warning: {warning}" for warning in data["warnings"]]
    sizes, rows = curve_table(results, metric)
    lines += [
        "",
        f"## Learning curves ({metric}, mean over seeds, 95% CI)",
        "",
        "| track | strategy | " + " | ".join(f"n={n}" for n in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for (track, name), by_size in rows.items():
        cells = [
            f"{by_size[n]['mean']:.3f} ({by_size[n]['ci_low']:.3f}–{by_size[n]['ci_high']:.3f})" if n in by_size else "·"
            for n in sizes
        ]
        lines.append(f"| {track} | {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Strategies that use no labelled examples (zero-shot, the majority baseline) have one point, at n=0: "
        "their score does not change with n.",
        "",
        "## Cost and speed (largest size, mean over seeds)",
        "",
        "| strategy | n per class | fit seconds | ms per prediction |",
        "|---|---|---|---|",
    ]
    for name, cost in strategy_costs(results).items():
        lines.append(f"| {name} | {cost['n_per_class']} | {cost['fit_seconds']:.2f} | {cost['ms_per_request']:.2f} |")
    lines += [
        "",
        "Times are charged as if there were no embedding cache: texts a strategy read from the cache "
        "cost the encoder's measured time per text.",
        "",
        f"Run `{results['run_id']}`; {len(results['trials'])} trials ({results.get('reused_trials', 0)} reused from the store).",
        "",
    ]
    return "\n".join(lines)
