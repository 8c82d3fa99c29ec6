"""report.md: the same content as report.html, without pictures."""

from __future__ import annotations

from typing import Any


def md(text: object) -> str:
    """Return text safe inside a Markdown table cell: one line, no markup, no HTML."""
    value = " ".join(str(text).split())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for special in "\\`*_[]|#":
        value = value.replace(special, "\\" + special)
    return value


def render_markdown(results: dict[str, Any]) -> str:
    """Return report.md for a results.json document: the HTML report's content without pictures."""
    from shouldtune.report.view import build_view

    view = build_view(results)
    lines = [
        f"# shouldtune: {md(view.title)}",
        "",
        f"## Recommendation: {view.headline}"
        + (f" — {'meanwhile use' if view.choice == 'collect-more-data' else 'use'} {view.strategy}" if view.strategy else ""),
        "",
        f"**{md(view.summary)}**",
        "",
    ]
    if view.tiles:
        lines += ["| " + " | ".join(md(t.label) for t in view.tiles) + " |", "|" + "---|" * len(view.tiles),
                  "| " + " | ".join(f"**{md(t.value)}** {md(t.detail)}" for t in view.tiles) + " |", ""]
    lines += ["Why, criterion by criterion (→ shows which way a criterion leans):", ""]
    for reason in view.reasons:
        lean = "" if reason.favours == "neither" else f" → {'fine-tune' if reason.favours == 'finetune' else reason.favours}"
        name = f"**{reason.name}{lean}**: " if reason.name else ""
        lines.append(f"- {name}{reason.sentence}")
    if view.placeholder_prices:
        lines += ["", "> **Placeholder prices.** No prices file was given, so money figures use placeholder rates, not real "
                  "ones. Pass `--prices FILE` with your own rates and `--requests-per-month N` with your volume."]
    lines += ["", f"## Learning curves ({view.metric}, mean over seeds, 95% CI)", ""]
    lines += ["| track | strategy | " + " | ".join(f"n={n}" for n in view.sizes) + " |", "|---|---|" + "---|" * len(view.sizes)]
    lines += [f"| {track} | {name} | " + " | ".join(cells) + " |" for track, name, cells in view.curve_rows]
    lines += ["", "Strategies that use no labelled examples (zero-shot, the majority baseline) have one point, at n=0: "
              "their score does not change with n."]
    if view.comparisons:
        lines += ["", "### Best fine-tune against best prompt at each size", "",
                  "| n/class | best prompt | best fine-tune | fine-tune − prompt | 95% CI | verdict | McNemar on accuracy |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {c['n_per_class']} | {c['prompt']} | {c['finetune']} | {c['difference']} | {c['interval']} | "
                  f"{c['verdict']} ({c['method']}) | {c['mcnemar']} |" for c in view.comparisons]
        lines += ["", view.crossover]
    if view.extrapolations:
        lines += ["", "### Extrapolation to 2× and 4× the data (estimate, not measured)", "",
                  "| track | strategy | model | estimates (95% interval) | gain per doubling (95% interval) |", "|---|---|---|---|---|"]
        lines += [f"| {e['track']} | {e['strategy']} | {e['model']} | {e['points']} | {e['gain']} |" for e in view.extrapolations]
    lines += ["", "## Quality, time and cost (each strategy at its largest size, mean over seeds)", ""]
    if view.assumptions:
        lines += [view.assumptions, ""]
    lines += ["| strategy | track | n/class | " + md(view.metric) + " | 95% CI | fit | latency p50 / p95 | $ once | $ / 1,000 req. | $ first year |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for row in view.strategies:
        marks = [row.role] if row.role else []
        marks += ["recommended"] if row.recommended else []
        marks += ["Pareto front"] if row.pareto else []
        name = f"**{row.strategy}**" if row.recommended else row.strategy
        lines.append(f"| {name}{' (' + ', '.join(marks) + ')' if marks else ''} | {row.track} | {row.n_per_class} | {row.score} | "
                     f"{row.interval} | {row.fit} | {row.latency} | {row.one_time} | {row.per_1000} | {row.first_year} |")
    lines += ["", "Times are charged as if there were no embedding cache: texts a strategy read from the cache "
              "cost the encoder's measured time per text. Latency is timed on single requests; * marks the batch average "
              "per request (runs from before latency was measured)."]
    for confusion in view.confusions:
        lines += ["", f"## Confusion matrix: {confusion['strategy']} (n={confusion['n_per_class']}, "
                  f"{confusion['seeds']} seeds summed; rows gold, columns predicted)", ""]
        lines += _confusion_lines(confusion)
    if view.disagreements:
        d = view.disagreements
        lines += ["", "## Where the best prompt and the best fine-tune disagree", "",
                  f"Seed {d['seed']}, {d['n_per_class']} {view.unit}: {d['prompt_strategy']} and {d['finetune_strategy']} "
                  f"disagree on {d['total']} of {d['test_examples']} test examples — {d['finetune_right']} where only the "
                  f"fine-tune is right, {d['prompt_right']} where only the prompt is right, {d['neither_right']} where neither is.",
                  "", f"| # | text | gold | prompt: {d['prompt_strategy']} | fine-tune: {d['finetune_strategy']} |", "|---|---|---|---|---|"]
        lines += [f"| {e['index']} | {md(e['text'])} | {md(e['gold'])} | {_marked(e['prompt'], e['gold'])} | "
                  f"{_marked(e['finetune'], e['gold'])} |" for e in d["examples"]]
    lines += ["", "## Consistency and data", ""]
    lines += [f"- {line}" for line in view.consistency]
    lines += [f"- {md(line)}" for line in view.data_lines]
    lines += [f"- Warning: {md(warning)}" for warning in view.warnings]
    lines += [f"- Note: {note}" for note in view.notes]
    return "\n".join(lines) + "\n"


def _marked(predicted: str, gold: str) -> str:
    return f"{md(predicted)} {'✓' if predicted == gold else '✗'}"


def _confusion_lines(confusion: dict[str, Any], limit: int = 12) -> list[str]:
    """Return the matrix as a table for up to `limit` labels, else its most frequent confusions."""
    labels, counts = confusion["labels"], confusion["counts"]
    if len(labels) <= limit:
        rows = ["| gold \\ predicted | " + " | ".join(md(label) for label in labels) + " |", "|---|" + "---|" * len(labels)]
        rows += [f"| {md(label)} | " + " | ".join(str(v) if v else "·" for v in row) + " |" for label, row in zip(labels, counts)]
        return rows
    from shouldtune.report.view import top_confusions

    return [f"{len(labels)} labels: the most frequent confusions (gold → predicted: count):", ""] + [
        f"- {md(gold)} → {md(predicted)}: {count}" for gold, predicted, count in top_confusions(confusion, 15)
    ]
