"""What a report shows, read off a results.json document: formatted numbers, no drawing, no markup.

Both report.html and report.md render this one view, so they carry the same content.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shouldtune.analysis.cost import pareto_front
from shouldtune.analysis.records import from_json
from shouldtune.analysis.run import Comparison, PromptVariants
from shouldtune.recommend import TRACK_WORDS, money, toss_up, wording

HEADLINES = {
    "prompt": "Prompt-engineer",
    "finetune": "Fine-tune",
    "either": "Either — take the cheaper",
    "collect-more-data": "Collect more data before deciding",
}
TRACK_NAMES = {"prompt": "prompt", "finetune": "fine-tune", "baseline": "baseline", "neither": "neither"}


@dataclass(frozen=True)
class Tile:
    """A key number in the banner."""

    label: str
    value: str
    detail: str


@dataclass(frozen=True)
class Reason:
    """A criterion's sentence with its name and which way it leans."""

    name: str
    favours: str  # prompt | finetune | neither
    decisive: bool
    sentence: str


@dataclass(frozen=True)
class StrategyRow:
    """One strategy at its largest size: score, time, latency and money."""

    strategy: str
    track: str
    n_per_class: int
    score: str
    interval: str
    fit: str
    latency: str
    one_time: str
    per_1000: str
    first_year: str
    role: str  # "best prompt", "best fine-tune", "" ...
    recommended: bool
    pareto: bool


@dataclass
class ReportView:
    """Everything both reports show."""

    title: str
    run_id: str
    choice: str
    headline: str
    summary: str
    summary_body: str  # the summary without its leading "Decision:", which the headline already says
    strategy: str
    tiles: list[Tile]
    reasons: list[Reason]
    placeholder_prices: bool
    assumptions: str
    metric: str
    unit: str  # what a size counts: "examples per class", or "training examples" for free-text outputs
    sizes: list[int]
    curve_rows: list[tuple[str, str, list[str]]]  # (track, strategy, cells by size)
    comparisons: list[dict[str, str]]
    crossover: str
    extrapolations: list[dict[str, str]]
    strategies: list[StrategyRow]
    pareto: list[str]
    consistency: list[str]
    confusions: list[dict[str, Any]]
    disagreements: dict[str, Any] | None
    data_lines: list[str]
    notes: list[str]
    warnings: list[str] = field(default_factory=list)


def size_unit(results: Mapping[str, Any]) -> str:
    """Return what a learning-curve size counts: examples per class, or (free-text outputs, no labels) training examples."""
    return "examples per class" if results["data"].get("labels") else "training examples"


def build_view(results: Mapping[str, Any]) -> ReportView:
    """Return the report's content for a results.json document (old documents without `analysis` too)."""
    task, data = results["task"], results["data"]
    metric = task["metric"]
    recommendation = results.get("recommendation") or {}
    analysis = results.get("analysis") or {}
    assumptions = recommendation.get("assumptions") or {}
    costs = {c["strategy"]: c for c in recommendation.get("costs", [])}
    timings = {t["strategy"]: t for t in analysis.get("timings", [])}
    final = (analysis.get("comparisons") or [None])[-1]
    pareto = _pareto(timings, costs)
    choice = recommendation.get("choice", "either")
    return ReportView(
        title=task.get("name", "task"),
        run_id=results.get("run_id", ""),
        choice=choice,
        headline=headline(recommendation, final),
        summary=recommendation.get("summary", ""),
        summary_body=_body(recommendation.get("summary", "")),
        strategy=recommendation.get("strategy", ""),
        tiles=_tiles(recommendation, analysis, final, costs, timings, assumptions),
        reasons=[
            Reason(c["name"], c["favours"], c["decisive"], c["sentence"]) for c in recommendation.get("criteria", [])
        ] or [Reason("", "neither", False, reason) for reason in recommendation.get("reasons", [])],
        placeholder_prices=bool(assumptions.get("placeholder_prices", True)),
        assumptions=_assumptions(assumptions),
        metric=metric,
        unit=size_unit(results),
        sizes=sorted({p["n_per_class"] for p in results["curves"] if p["metric"] == metric}),
        curve_rows=_curve_rows(results, metric),
        comparisons=[_comparison(c) for c in analysis.get("comparisons", [])],
        crossover=(analysis.get("crossover") or {}).get("description", ""),
        extrapolations=[_extrapolation(e) for e in analysis.get("extrapolations", [])],
        strategies=_strategies(results, timings, costs, final, recommendation.get("strategy"), pareto),
        pareto=pareto,
        consistency=_consistency(analysis, metric),
        confusions=[{**c, "top": top_confusions(c)} for c in analysis.get("confusions", [])],
        disagreements=analysis.get("disagreements"),
        data_lines=_data_lines(results),
        notes=list(analysis.get("notes", [])),
        warnings=list(data.get("warnings", [])),
    )


def headline(recommendation: Mapping[str, Any], final: Mapping[str, Any] | None = None) -> str:
    """Return the decision in a few words: a lean says it is one, a baseline stop says why."""
    choice = recommendation.get("choice", "either")
    confidence = recommendation.get("confidence")
    if confidence == "leaning":
        track = TRACK_WORDS[choice]
        odds = recommendation.get("probability")
        if _scored_alike(recommendation, final):
            return "Too close to call (no difference measured)"
        if toss_up(odds):
            return f"Too close to call ({track} {odds:.0%} likely ahead)"
        return f"Lean towards {track}" + (f" ({odds:.0%} likely ahead)" if odds is not None else "")
    if confidence == "baseline":
        return "Collect more data: nothing beats the baseline yet"
    cost = next((c for c in recommendation.get("criteria", []) if c.get("name") == "cost"), None)
    if choice == "either" and cost is not None and cost.get("favours") == "neither":
        return "Either — the costs alike too"  # the summary says which is named, and why
    return HEADLINES.get(choice, choice)


def _scored_alike(recommendation: Mapping[str, Any], final: Mapping[str, Any] | None) -> bool:
    """Return True for a lean on too few examples, all scored alike (recommend: "Too close to call ... scored alike")."""
    return recommendation.get("confidence") == "leaning" and final is not None and from_json(Comparison, final).scored_alike


def _body(summary: str) -> str:
    head, _, rest = summary.partition(": ")
    return rest[:1].upper() + rest[1:] if rest and head.startswith(_SUMMARY_HEADS) else summary


_SUMMARY_HEADS = (
    "Either", "Collect more data", "Fine-tune with ", "Prompt-engineer with ", "Lean towards ", "Too close to call",
)


def top_confusions(confusion: Mapping[str, Any], limit: int = 5) -> list[tuple[str, str, int]]:
    """Return the most frequent mistakes of a confusion matrix as (gold, predicted, count)."""
    labels, counts = confusion["labels"], confusion["counts"]
    mistakes = [
        (labels[i], labels[j], counts[i][j]) for i in range(len(labels)) for j in range(len(labels)) if i != j and counts[i][j]
    ]
    return sorted(mistakes, key=lambda m: -m[2])[:limit]


def _tiles(
    recommendation: Mapping[str, Any], analysis: Mapping[str, Any], final: Mapping[str, Any] | None,
    costs: Mapping[str, Mapping[str, Any]], timings: Mapping[str, Mapping[str, Any]], assumptions: Mapping[str, Any],
) -> list[Tile]:
    if final is None:
        return []
    prompt, finetune = final["prompt"]["strategy"], final["finetune"]["strategy"]
    tiles = [Tile(
        f"Quality gap at {final['n_per_class']}/class",
        f"{final['difference']:+.3f}",
        f"fine-tune minus prompt; 95% CI {final['ci_low']:+.3f} to {final['ci_high']:+.3f}",
    )]
    if "p_finetune_ahead" in final:
        gain = final.get("min_gain", 0.0)
        alike = _scored_alike(recommendation, final)
        tiles.append(Tile(
            "Odds",
            f"{final['p_finetune_ahead']:.0%} / {final['p_prompt_ahead']:.0%}",
            "the two scored alike on every example and every resample: no difference to resample, so no odds to read"
            if alike else f"chance fine-tuning / prompting leads by more than {gain:.3f} (the rest: within it)",
        ))
    crossover = analysis.get("crossover") or {}
    if crossover.get("reached"):
        ahead = [c["n_per_class"] for c in analysis.get("comparisons", []) if c["ci_low"] > 0]
        detail = f"fine-tuning ahead with confidence at {', '.join(map(str, ahead))}/class"
        if final["ci_low"] <= 0:
            detail += f", but not at {final['n_per_class']}/class, where they cannot be told apart"
        elif ahead == [final["n_per_class"]]:
            detail += ", the most measured, and not before"
    else:
        detail = f"fine-tuning is not ahead with confidence at any size up to {final['n_per_class']}/class"
    tiles.append(Tile("Crossover", f"{crossover['n_per_class']}/class" if crossover.get("reached") else "not reached", detail))
    need = analysis.get("data_need")
    if recommendation.get("choice") == "collect-more-data" and need:
        tiles.append(Tile(
            "More labelled data (estimate)",
            f"+{need['more_per_class']}/class",
            f"about {need['more_in_all']:,} in all, to reach ~{need['n_per_class']}/class",
        ))
    if prompt in costs and finetune in costs:
        volume = assumptions.get("requests_per_month", 0)
        tiles.append(Tile(
            "First-year cost",
            f"{money(costs[prompt]['first_year'])} vs {money(costs[finetune]['first_year'])}",
            f"{prompt} vs {finetune} at {volume:,} requests/month"
            + (" (placeholder prices)" if assumptions.get("placeholder_prices", True) else ""),
        ))
    if prompt in timings and finetune in timings:
        tiles.append(Tile(
            "Latency p95",
            f"{_ms(timings[prompt]['latency_p95_ms'])} vs {_ms(timings[finetune]['latency_p95_ms'])}",
            f"{prompt} vs {finetune}, per request",
        ))
    return tiles


def _assumptions(assumptions: Mapping[str, Any]) -> str:
    if not assumptions:
        return ""
    prices = assumptions.get("prices") or {}
    source = (
        "placeholder prices (no --prices file given; not real rates)"
        if assumptions.get("placeholder_prices", True)
        else f"prices from {assumptions.get('prices_file') or 'the caller'}"
    )

    def rates(listed: Mapping[str, Any]) -> str:
        return " / ".join(money(listed.get(key, 0)) for key in ("input_per_million", "output_per_million", "training_per_million"))

    models = prices.get("models") or {}
    tokens = "; ".join(f"{model} {rates(listed)}" for model, listed in models.items()) if models else rates(prices)
    return (
        f"Costs assume {assumptions['requests_per_month']:,} requests a month over {assumptions['horizon_months']} months "
        f"and {source}: {money(prices.get('compute_per_hour', 0))} per compute hour, "
        f"{tokens} per million input / output / training tokens."
    )


def curve_table(results: Mapping[str, Any], metric: str) -> tuple[list[int], dict[tuple[str, str], dict[int, dict[str, Any]]]]:
    """Return the sizes and, per (track, strategy), its curve points by size."""
    rows: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for point in results["curves"]:
        if point["metric"] == metric:
            rows[(point["track"], point["strategy"])][point["n_per_class"]] = point
    sizes = sorted({n for by_size in rows.values() for n in by_size})
    order = {"baseline": 0, "prompt": 1, "finetune": 2}
    return sizes, dict(sorted(rows.items(), key=lambda item: (order.get(item[0][0], 3), item[0][1])))


def strategy_costs(results: Mapping[str, Any]) -> dict[str, dict[str, float]]:
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


def _curve_rows(results: Mapping[str, Any], metric: str) -> list[tuple[str, str, list[str]]]:
    sizes, rows = curve_table(results, metric)
    return [
        (TRACK_NAMES.get(track, track), name, [
            f"{by_size[n]['mean']:.3f} ({by_size[n]['ci_low']:.3f}–{by_size[n]['ci_high']:.3f})" if n in by_size else "·"
            for n in sizes
        ])
        for (track, name), by_size in rows.items()
    ]


def _comparison(comparison: Mapping[str, Any]) -> dict[str, str]:
    mcnemar = comparison.get("mcnemar") or []
    verdict = "fine-tune ahead" if comparison["ci_low"] > 0 else "prompt ahead" if comparison["ci_high"] < 0 else "cannot tell"
    return {
        "n_per_class": str(comparison["n_per_class"]),
        "prompt": f"{comparison['prompt']['strategy']} {comparison['prompt']['mean']:.3f}",
        "finetune": f"{comparison['finetune']['strategy']} {comparison['finetune']['mean']:.3f}",
        "difference": f"{comparison['difference']:+.3f}",
        "interval": f"{comparison['ci_low']:+.3f} to {comparison['ci_high']:+.3f}",
        "verdict": verdict,
        "method": "paired" if comparison.get("paired") else "unpaired",
        "mcnemar": "; ".join(
            f"seed {m['seed']}: {m['finetune_only_right']} vs {m['prompt_only_right']}, p={m['p_value']:.2g}" for m in mcnemar
        ) or "–",
    }


def _extrapolation(extrapolation: Mapping[str, Any]) -> dict[str, str]:
    points = "; ".join(
        f"n={p['n_per_class']}: {p['estimate']:.3f} ({p['ci_low']:.3f}–{p['ci_high']:.3f})" for p in extrapolation["points"]
    )
    model = {
        "power-law": "power law a − b·n^−c fitted to sizes " + ", ".join(map(str, extrapolation["measured"])),
        "flat": "flat: needs no labelled examples",
        "none": "not fitted: needs 3 sizes or more",
        "poor-fit": "not extrapolated: the power law misses the largest measured point (the curve is not saturating)",
    }.get(extrapolation["model"], extrapolation["model"])
    gain, low, high = (extrapolation.get(key) for key in ("gain_per_doubling", "gain_ci_low", "gain_ci_high"))
    interval = f" ({low:+.3f} to {high:+.3f})" if low is not None and high is not None and low != high else ""
    return {
        "track": TRACK_NAMES.get(extrapolation["track"], extrapolation["track"]),
        "strategy": extrapolation["strategy"],
        "model": model,
        "points": points or "–",
        "gain": f"{gain:+.3f}{interval}" if gain is not None else "–",
    }


def _pareto(timings: Mapping[str, Mapping[str, Any]], costs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    names = [name for name, t in timings.items() if t["track"] != "baseline" and name in costs]
    front = pareto_front([costs[n]["per_1000_all_in"] for n in names], [timings[n]["mean"] for n in names])
    return [names[i] for i in front]


def _strategies(
    results: Mapping[str, Any], timings: Mapping[str, Mapping[str, Any]], costs: Mapping[str, Mapping[str, Any]],
    final: Mapping[str, Any] | None, recommended: str | None, pareto: list[str],
) -> list[StrategyRow]:
    if not timings:  # an old document: no analysis section
        return [
            StrategyRow(name, "", int(c["n_per_class"]), "", "", f"{c['fit_seconds']:.2f} s", f"{c['ms_per_request']:.1f} ms",
                        "", "", "", "", False, False)
            for name, c in strategy_costs(results).items()
        ]
    roles = {}
    if final is not None:
        roles = {final["prompt"]["strategy"]: "best prompt", final["finetune"]["strategy"]: "best fine-tune"}
    order = {"baseline": 0, "prompt": 1, "finetune": 2}
    rows = []
    for name, t in sorted(timings.items(), key=lambda item: (order.get(item[1]["track"], 3), item[0])):
        cost = costs.get(name, {})
        rows.append(StrategyRow(
            strategy=name,
            track=TRACK_NAMES.get(t["track"], t["track"]),
            n_per_class=t["n_per_class"],
            score=f"{t['mean']:.3f}",
            interval=f"{t['ci_low']:.3f}–{t['ci_high']:.3f}",
            fit=_seconds(t["fit_seconds"]),
            latency=f"{_ms(t['latency_p50_ms'])} / {_ms(t['latency_p95_ms'])}" + ("" if t["latency_measured"] else "*"),
            one_time=money(cost["one_time"]) if cost else "",
            per_1000=money(cost["per_1000_requests"]) if cost else "",
            first_year=money(cost["first_year"]) if cost else "",
            role=roles.get(name, ""),
            recommended=name == recommended,
            pareto=name in pareto,
        ))
    return rows


def _consistency(analysis: Mapping[str, Any], metric: str) -> list[str]:
    lines = []
    for spread in analysis.get("consistency", []):
        if spread["seeds"] < 2:  # one score: how much it moves with the examples drawn is unmeasured
            lines.append(
                f"{spread['strategy']} (n={spread['n_per_class']}): {metric} {spread['high']:.3f} on 1 seed; its spread "
                f"over seeds is not measured (`--exhaustive` runs every seed)."
            )
            continue
        line = (
            f"{spread['strategy']} (n={spread['n_per_class']}): {metric} {spread['low']:.3f}–{spread['high']:.3f} over "
            f"{spread['seeds']} seeds (sd {spread['std']:.3f})"
        )
        if spread.get("agreement") is not None:
            line += f"; {spread['agreement']:.0%} of test labels the same across seeds"
        lines.append(line + ".")
    for variants in analysis.get("prompt_variants", []):
        lines.append(f"n={variants['n_per_class']}: {wording(from_json(PromptVariants, variants))}.")
    return lines


def _class_sizes(data: Mapping[str, Any]) -> str:
    """Return the data line's words on the training part's class sizes ("" when unknown)."""
    if "largest_per_class" not in data:  # written before it was recorded: sizes stopped at the smallest class
        pool = data.get("pool_per_class")
        return f"; the smallest class has {pool}" if pool is not None else ""
    smallest, largest = data["pool_per_class"], data["largest_per_class"]
    if smallest == largest:
        return f"; {largest} per class"
    return (
        f"; classes of {smallest} to {largest} examples where the trials train (a size above {smallest} per "
        f"class takes all a smaller class has; at {largest} a trial trains on all of them)"
    )


def _data_lines(results: Mapping[str, Any]) -> list[str]:
    data, task, backend = results["data"], results["task"], results.get("backend", {})
    labels = data.get("labels") or []
    if labels:
        described = [
            f"Training pool: {data['train_size']:,} examples, {len(labels)} labels" + _class_sizes(data) + ".",
            "Labels: " + ", ".join(labels[:40]) + (f" and {len(labels) - 40} more" if len(labels) > 40 else "") + ".",
        ]
    else:
        described = [f"Training pool: {data['train_size']:,} examples ({task.get('task_type', 'generation')}: free-text outputs)."]
    lines = [
        *described,
        f"Test: {data['split']}; {data['test_size']:,} examples.",
        f"Sizes ({size_unit(results)}): {', '.join(map(str, data['sizes']))}; seeds: {task['seeds']}.",
        _backends_line(backend),
        f"Run {results.get('run_id', '')}: {len(results['trials'])} trials ({results.get('reused_trials', 0)} reused from the store).",
    ]
    by_reason: dict[str, list[str]] = {}
    for entry in results.get("skipped", []):
        sizes = ", ".join(map(str, entry["n_per_class"]))
        seeds = ", ".join(map(str, entry["seeds"]))
        by_reason.setdefault(entry["reason"], []).append(f"{entry['strategy']} (n={sizes}; seeds {seeds})")
    for reason, what in by_reason.items():
        lines.append(f"Not run by the adaptive plan (--exhaustive runs them): {'; '.join(what)} — {reason}.")
    return lines


def _ms(milliseconds: float) -> str:
    return f"{milliseconds:.1f} ms" if milliseconds < 100 else f"{milliseconds:,.0f} ms"


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _backends_line(backend: Mapping[str, Any]) -> str:
    """Return the run's backends in words: one, or each by its name with its model and how it is charged."""
    used = backend.get("backends") or {}
    if len(used) <= 1:
        return f"Backend: {backend.get('name', '')} ({backend.get('model', '')})."
    listed = "; ".join(
        f"{alias}: {entry.get('kind', '')} ({entry.get('model', '')}), charged by {entry.get('charged_by', 'compute')}"
        for alias, entry in used.items()
    )
    return f"Backends: {listed}."
