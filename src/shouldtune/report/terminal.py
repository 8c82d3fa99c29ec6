"""The terminal summary: the decision on top, then every strategy's curve."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from shouldtune.report.view import build_view, curve_table

_COLOURS = {"prompt": "cyan", "finetune": "magenta", "either": "green", "collect-more-data": "yellow"}


def print_summary(console: Console, results: dict[str, Any], *, data_warnings: bool = True) -> None:
    """Print the recommendation panel, the learning-curve table, the cost table and (unless told not to) the data warnings.

    `run` says the data warnings as it starts, so it passes `data_warnings=False` rather than say them twice.
    """
    recommendation = results["recommendation"]
    metric = results["task"]["metric"]
    colour = _COLOURS.get(recommendation["choice"], "white")
    body = f"[bold]{recommendation['summary']}[/]\n\n" + "\n".join(f"• {reason}" for reason in recommendation["reasons"])
    title = recommendation["choice"] + (f" ({recommendation['confidence']})" if recommendation.get("confidence") else "")
    console.print(Panel(body, title=f"[bold {colour}]Recommendation: {title}[/]", border_style=colour))

    sizes, rows = curve_table(results, metric)
    unit = "examples per class" if results["data"]["labels"] else "training examples"
    # Two narrow tables rather than one wide one: the curves must fit an 80-column terminal.
    curves = Table(title=f"{metric} by {unit} (mean over seeds; 95% CI below)", title_justify="left")
    curves.add_column("strategy", no_wrap=True)
    for n in sizes:
        curves.add_column(f"n={n}", justify="right", no_wrap=True)
    previous_track = None
    for (track, name), by_size in rows.items():
        if previous_track is not None and track != previous_track:
            curves.add_section()
        previous_track = track
        cells = [
            f"{by_size[n]['mean']:.3f}\n[dim]{_short(by_size[n]['ci_low'])}–{_short(by_size[n]['ci_high'])}[/]"
            if n in by_size else "[dim]·[/]"
            for n in sizes
        ]
        curves.add_row(f"[{_COLOURS.get(track, 'white')}]{name}[/]\n[dim]{track}[/]", *cells)
    console.print(curves)

    # The report's numbers, from the same view: the terminal renders them, it computes none.
    costs = Table(title="cost and speed (largest size, mean over seeds)", title_justify="left")
    for heading in ("strategy", "n", "fit", "latency p50 / p95", "$ first year"):
        costs.add_column(heading, justify="left" if heading == "strategy" else "right", no_wrap=True)
    for row in build_view(results).strategies:
        costs.add_row(row.strategy, str(row.n_per_class), row.fit, row.latency, row.first_year)
    console.print(costs)
    skipped = results.get("skipped") or []
    if skipped:
        trials = sum(len(entry["n_per_class"]) * len(entry["seeds"]) for entry in skipped)
        console.print(f"[dim]the adaptive plan left out {trials} trials that could not change the decision "
                      "(listed in report.md; --exhaustive runs them)[/]")
    for warning in results["data"]["warnings"] if data_warnings else ():
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def _short(value: float) -> str:
    """Return a score in [0, 1] as '.83' (or '1.0'), to keep interval cells narrow."""
    return "1.0" if value >= 0.995 else f"{value:.2f}".lstrip("0")
