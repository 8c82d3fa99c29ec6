"""The terminal summary: the decision on top, then every strategy's curve."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from shouldtune.report.markdown import curve_table, strategy_costs

_COLOURS = {"prompt": "cyan", "finetune": "magenta", "either": "green", "collect-more-data": "yellow"}


def print_summary(console: Console, results: dict[str, Any]) -> None:
    """Print the recommendation panel and the learning-curve table."""
    recommendation = results["recommendation"]
    metric = results["task"]["metric"]
    colour = _COLOURS.get(recommendation["choice"], "white")
    body = f"[bold]{recommendation['summary']}[/]\n\n" + "\n".join(f"• {reason}" for reason in recommendation["reasons"])
    console.print(Panel(body, title=f"[bold {colour}]Recommendation: {recommendation['choice']}[/]", border_style=colour))

    sizes, rows = curve_table(results, metric)
    costs = strategy_costs(results)
    table = Table(title=f"{metric} by examples per class (mean over seeds; 95% CI below)", title_justify="left")
    table.add_column("strategy", no_wrap=True)
    for n in sizes:
        table.add_column(f"n={n}", justify="right", no_wrap=True)
    table.add_column("fit s", justify="right")
    table.add_column("ms/pred", justify="right")
    previous_track = None
    for (track, name), by_size in rows.items():
        if previous_track is not None and track != previous_track:
            table.add_section()
        previous_track = track
        cells = [
            f"{by_size[n]['mean']:.3f}\n[dim]{by_size[n]['ci_low']:.2f}–{by_size[n]['ci_high']:.2f}[/]" if n in by_size else "[dim]·[/]"
            for n in sizes
        ]
        cost = costs.get(name, {})
        table.add_row(
            f"[{_COLOURS.get(track, 'white')}]{name}[/]\n[dim]{track}[/]", *cells,
            f"{cost.get('fit_seconds', 0):.2f}", f"{cost.get('ms_per_request', 0):.2f}",
        )
    console.print(table)
    for warning in results["data"]["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
