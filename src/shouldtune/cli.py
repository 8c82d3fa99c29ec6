"""The `shouldtune` command: parse flags, call the library, print with Rich. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from shouldtune.errors import BackendError, InputError, TaskFileError

app = typer.Typer(
    help="Should you prompt-engineer or fine-tune? Measure both on your own data and get a decision with the numbers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

DEFAULT_STORE = Path(".shouldtune/store.db")


def _int_list(value: str | None, flag: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise TaskFileError(
            f"{flag} takes whole numbers separated by commas; got {value!r}", column=flag, fix=f"e.g. {flag} 0,8,32"
        ) from None


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """Return KEY=VALUE flag values as a dict (the value may itself contain '=')."""
    pairs = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise TaskFileError(f"{flag} takes KEY=VALUE; got {value!r}", column=flag, fix=f"e.g. {flag} refund='wants money back'")
        pairs[key.strip()] = rest
    return pairs


def _strategy_params(values: list[str] | None) -> dict[str, dict[str, Any]] | None:
    """Return `--param setfit.max_steps=20` flags as {"setfit": {"max_steps": 20}}."""
    params: dict[str, dict[str, Any]] = {}
    for key, raw in _pairs(values, "--param").items():
        strategy, dot, setting = key.partition(".")
        if not dot or not setting:
            raise TaskFileError(f"--param takes STRATEGY.SETTING=VALUE; got {key!r}", column="--param", fix="e.g. --param setfit.max_steps=20")
        params.setdefault(strategy, {})[setting] = _value(raw)
    return params or None


def _value(raw: str) -> Any:
    """Return a flag value as a number when it reads as one (YAML alone keeps '1e-5' a string)."""
    import yaml

    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return yaml.safe_load(raw) if raw else raw


def _names(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(part.strip() for part in value.split(",") if part.strip())


def _fail(message: str, code: int) -> None:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _execute(task: Any, out: Path | None, store: Path, fresh: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shouldtune.experiment import run_experiment
    from shouldtune.report import write_outputs
    from shouldtune.report.terminal import print_summary

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:
        result = run_experiment(
            task, store_path=store, fresh=fresh, say=progress.console.print, progress=progress
        )
    results = result.to_json()
    out_dir = out or Path("runs") / result.run_id
    paths = write_outputs(results, out_dir)
    print_summary(console, results)
    console.print(f"\nwrote {paths['results']} and {paths['report']}")


def _guarded(action: Any) -> None:
    """Run `action`; bad input is one line and exit 2, Ctrl-C says how to resume."""
    try:
        action()
    except InputError as err:
        _fail(str(err), 2)
    except BackendError as err:
        _fail(str(err), 1)
    except KeyboardInterrupt:
        errors.print(
            "interrupted: finished trials are saved in the store; run the same command again to resume."
        )
        raise typer.Exit(130) from None


@app.command()
def run(
    task_file: Annotated[Optional[Path], typer.Argument(help="TASK.yaml; flags override its settings.", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Labelled training data: CSV, TSV, JSONL or Parquet.")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", help="A separate test set; default: a stratified hold-out.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text [default: text].", show_default=False)] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the label [default: label].", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder [default: runs/<run_id>].", show_default=False)] = None,
    sizes: Annotated[Optional[str], typer.Option(help="Examples per class on the learning curve [default: 0,4,8,16,32,64].", show_default=False)] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per size, each a different subset [default: 3].", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="First seed [default: 0].", show_default=False)] = None,
    strategies: Annotated[Optional[str], typer.Option(help="Comma-separated strategies [default: all].", show_default=False)] = None,
    metric: Annotated[Optional[str], typer.Option(help="accuracy or macro_f1: the metric the decision uses [default: macro_f1].", show_default=False)] = None,
    test_fraction: Annotated[Optional[float], typer.Option(help="Hold-out share when no --test [default: 0.2].", show_default=False)] = None,
    template: Annotated[Optional[str], typer.Option(help="Input template with {text} [default: {text}].", show_default=False)] = None,
    backend: Annotated[Optional[str], typer.Option(help="Backend [default: encoder].", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option(help="Model folder for the backend [default: bundled all-MiniLM-L6-v2].", show_default=False)] = None,
    store: Annotated[Path, typer.Option(help="SQLite store of runs, trials and the embedding cache.")] = DEFAULT_STORE,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard this run's finished trials and start over.")] = False,
    name: Annotated[Optional[str], typer.Option(help="A name for the task, shown in reports.", show_default=False)] = None,
    label_description: Annotated[Optional[list[str]], typer.Option("--label-description", help="LABEL=TEXT, repeatable: what a label means, for the prompt track.", show_default=False)] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="STRATEGY.SETTING=VALUE, repeatable, e.g. setfit.max_steps=20.", show_default=False)] = None,
) -> None:
    """Measure the prompt track against the fine-tune track on your data and recommend one."""

    def action() -> None:
        from shouldtune.task import load_task

        backend_settings = None
        if backend is not None or model is not None:
            backend_settings = {"name": backend or "encoder", "model": model}
        task = load_task(
            task_file,
            data=str(data) if data else None,
            test=str(test) if test else None,
            text_column=text_column,
            label_column=label_column,
            sizes=_int_list(sizes, "--sizes"),
            seeds=seeds,
            seed=seed,
            strategies=_names(strategies),
            metric=metric,
            test_fraction=test_fraction,
            template=template,
            backend=backend_settings,
            name=name,
            label_descriptions=_pairs(label_description, "--label-description") or None,
            strategy_params=_strategy_params(param),
        )
        _execute(task, out, store, fresh)

    _guarded(action)


@app.command()
def demo(
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder [default: runs/<run_id>].", show_default=False)] = None,
    store: Annotated[Path, typer.Option(help="SQLite store of runs, trials and the embedding cache.")] = DEFAULT_STORE,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard the demo's finished trials and start over.")] = False,
) -> None:
    """Run the comparison on bundled Banking77 data (10 card intents; a few minutes on a laptop CPU)."""

    def action() -> None:
        from shouldtune.demo import demo_task

        console.print("[bold]shouldtune demo[/]: Banking77, 10 card-related intents (CC BY 4.0, PolyAI)")
        _execute(demo_task(), out, store, fresh)

    _guarded(action)


def main() -> None:
    """Entry point of the `shouldtune` script."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before a command's own handler is in place
        sys.exit(130)


if __name__ == "__main__":
    main()
