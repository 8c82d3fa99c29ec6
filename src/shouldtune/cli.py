"""The `shouldtune` command: parse flags, call the library, print with Rich. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from shouldtune.errors import BackendError, InputError, SpendingCapReached, TaskFileError

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


def _out_path(value: str | None) -> Path | None:
    """Return --out as a path; an empty one is an error (it would silently mean the current folder)."""
    if value is not None and not value.strip():
        raise TaskFileError("is empty", column="--out", fix="pass --out a path, e.g. --out runs/mine")
    return None if value is None else Path(value)


def _names(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(part.strip() for part in value.split(",") if part.strip())


def _fail(message: str, code: int) -> None:
    # escaped: a message quotes the user's data, and "[/x]" in it would be read as markup
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _progress() -> Any:
    """Return the Rich progress display; off when stdout is not a terminal (it would only print a blank line)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True, disable=not console.is_terminal,
    )


def _execute(
    task: Any, out: str | None, store: Path, fresh: bool, requests_per_month: int | None = None, prices: Path | None = None
) -> None:
    from shouldtune.experiment import run_experiment
    from shouldtune.folders import check_writable
    from shouldtune.report import write_outputs
    from shouldtune.report.terminal import print_summary

    out_dir = _out_path(out)
    check_writable(out_dir or Path("runs"), "--out")  # before the work, not after it
    loaded_prices = _decision_options(requests_per_month, prices)  # bad options fail now, not after the run
    with _progress() as progress:
        result = run_experiment(
            task, store_path=store, fresh=fresh, say=progress.console.print, progress=progress,
            requests_per_month=requests_per_month, prices=loaded_prices, prices_file=str(prices) if prices else None,
        )
    results = result.to_json()
    out_dir = out_dir or Path("runs") / result.run_id
    paths = write_outputs(results, out_dir)
    print_summary(console, results, data_warnings=False)  # said as the run started
    console.print(f"\nwrote {paths['results']}, {paths['report']} and {paths['html']}")


RequestsOption = Annotated[Optional[int], typer.Option("--requests-per-month", help="The request volume the decision is made for (cost, break-even) \\[default: 100,000].", show_default=False)]
PricesOption = Annotated[Optional[Path], typer.Option("--prices", help="YAML or JSON prices: compute_per_hour, input_per_million, output_per_million, training_per_million \\[default: placeholder prices].", show_default=False)]


def _decision_options(requests_per_month: int | None, prices: Path | None) -> Any:
    """Return the prices file's Prices (None without one), after checking both decision options."""
    from shouldtune.analysis.cost import load_prices

    if requests_per_month is not None and requests_per_month < 0:
        raise TaskFileError(f"--requests-per-month must be 0 or more; got {requests_per_month}", column="--requests-per-month",
                            fix="e.g. --requests-per-month 100000")
    return load_prices(prices) if prices is not None else None


def _print_spend_plan(task: Any) -> None:
    """Print the calls, tokens and dollars of the task's API strategies (nothing for local models)."""
    from shouldtune.spend_plan import describe_spend, estimate_spend

    plans = estimate_spend(task)
    if plans:
        caps = [getattr(settings, "max_spend", None) for settings in task.backends_used().values()]
        for line in describe_spend(plans, next((cap for cap in caps if cap is not None), None)):
            console.print(escape(line), soft_wrap=True)


def _resume_command() -> str:
    """Return the command line that resumes this one: the same, without --fresh."""
    import shlex

    return "shouldtune " + " ".join(shlex.quote(arg) for arg in sys.argv[1:] if arg != "--fresh")


def _guarded(action: Any, *, resumable: bool = False) -> None:
    """Run `action`; bad input is one line and exit 2, Ctrl-C stops cleanly (and says how to resume)."""
    try:
        action()
    except InputError as err:
        _fail(str(err), 2)
    except BackendError as err:
        _fail(str(err), 1)
    except SpendingCapReached as err:
        errors.print(f"stopped: {err}. The finished trials and every answer are saved; to go on, raise --max-spend "
                     f"and run the same command again: {_resume_command()}", soft_wrap=True, markup=False)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        message = "interrupted."
        if resumable:
            message = (
                "interrupted: the finished trials are saved in the store. "
                f"To resume, run the same command again: {_resume_command()}"
            )
        errors.print(message, soft_wrap=True, markup=False)
        raise typer.Exit(130) from None


@app.command()
def run(
    task_file: Annotated[Optional[Path], typer.Argument(help="TASK.yaml; flags override its settings.", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Labelled training data: CSV, TSV, JSONL or Parquet.")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", help="A separate test set; default: a stratified hold-out.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text \\[default: text; input for generation and extraction].", show_default=False)] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding the label \\[default: label; output for generation and extraction].", show_default=False)] = None,
    task_type: Annotated[Optional[str], typer.Option(help="classification, generation or extraction \\[default: classification].", show_default=False)] = None,
    out: Annotated[Optional[str], typer.Option("--out", help="Output folder \\[default: runs/<run_id>].", show_default=False)] = None,
    sizes: Annotated[Optional[str], typer.Option(help="Examples per class on the learning curve (a class with fewer gives all it has; capped where a trial trains on the whole pool) \\[default: 0,4,8,16,32,64].", show_default=False)] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per size, each a different subset (cross-validated: a repeat with its own folds) \\[default: 3].", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="First seed \\[default: 0].", show_default=False)] = None,
    strategies: Annotated[Optional[str], typer.Option(help="Comma-separated strategies; NAME@BACKEND runs one on another backend, e.g. setfit@encoder \\[default: every strategy of --backend].", show_default=False)] = None,
    metric: Annotated[Optional[str], typer.Option(help="The metric the decision uses: macro_f1, accuracy; rouge_l, exact_match, token_f1, chrf, bleu; field_f1, ...; or module:function \\[default: the task type's first].", show_default=False)] = None,
    test_fraction: Annotated[Optional[float], typer.Option(help="Hold-out share when no --test \\[default: 0.2].", show_default=False)] = None,
    validation: Annotated[Optional[str], typer.Option(help="Without --test: cv (stratified k-fold: every example scored by a model that never saw it) or holdout \\[default: auto: cv below 1,000 rows].", show_default=False)] = None,
    folds: Annotated[Optional[int], typer.Option(help="Folds of the cross-validation; a size that fits in fewer folds' training parts takes fewer \\[default: 5].", show_default=False)] = None,
    min_gain: Annotated[Optional[float], typer.Option(help="The smallest difference in the decision metric that matters \\[default: 0.01].", show_default=False)] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Print the trials and their estimated time (timed on this machine), then stop.")] = False,
    exhaustive: Annotated[bool, typer.Option("--exhaustive", help="Run every strategy at every size and seed (default: skip what cannot win; extra seeds only where the decision is in doubt, or, cross-validated, for the strategies on the frozen vectors).")] = False,
    template: Annotated[Optional[str], typer.Option(help="Input template with {text} \\[default: {text}].", show_default=False)] = None,
    backend: Annotated[Optional[str], typer.Option(help="encoder (sentence encoder), hf (a Hugging Face causal LM) or a plug-in backend's kind \\[default: encoder].", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option(help="Model folder, or with --backend hf a hub id \\[default: bundled all-MiniLM-L6-v2].", show_default=False)] = None,
    instruction: Annotated[Optional[str], typer.Option(help="hf: what the model is asked to do \\[default: one per task type, naming the labels].", show_default=False)] = None,
    classify_by: Annotated[Optional[str], typer.Option(help="hf classification: likelihood (score each label) or generation (generate, then parse) \\[default: likelihood].", show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 or mps \\[default: cpu for encoder, the best available for hf].", show_default=False)] = None,
    dtype: Annotated[Optional[str], typer.Option(help="hf: auto, float32, bfloat16 or float16 \\[default: auto: bfloat16 on a GPU that has it].", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Texts per forward pass \\[default: 64]; halved automatically on out-of-memory.", show_default=False)] = None,
    runtime: Annotated[Optional[str], typer.Option(help="encoder: torch, or onnx (ONNX Runtime on the CPU: same vectors, faster; pip install 'shouldtune\\[onnx]') \\[default: torch].", show_default=False)] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="hf: longest generated answer in tokens \\[default: 64].", show_default=False)] = None,
    no_chat_template: Annotated[bool, typer.Option("--no-chat-template", help="hf: plain prompts even if the tokenizer has a chat template.")] = False,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="hf: run model code shipped with the weights (only for sources you trust).")] = False,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="hf: also load .bin/.pt weights, which can run code when loaded.")] = False,
    allow_download: Annotated[bool, typer.Option("--allow-download", help="hf: fetch a hub id that is not in the local Hugging Face cache.")] = False,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="openai: the API's address, e.g. http://127.0.0.1:8000/v1 \\[default: $OPENAI_BASE_URL, else OpenAI's].", show_default=False)] = None,
    max_spend: Annotated[Optional[float], typer.Option("--max-spend", help="openai: dollars this run may spend on API calls; it stops before crossing them, resumable.", show_default=False)] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", help="openai: API requests in flight at once \\[default: 4].", show_default=False)] = None,
    store: Annotated[Path, typer.Option(help="SQLite store of runs, trials and the embedding cache.")] = DEFAULT_STORE,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard this run's finished trials and start over.")] = False,
    executor: Annotated[Optional[str], typer.Option(help="Where trials run: local (this process) or ray (Ray tasks on a cluster; pip install 'shouldtune\\[ray]'; see docs/scale-out.md) \\[default: local].", show_default=False)] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="With --executor ray: the cluster's address \\[default: RAY_ADDRESS, else a local Ray started for the run].", show_default=False)] = None,
    ray_cpus_per_trial: Annotated[Optional[int], typer.Option(help="With --executor ray: CPUs (and torch threads) per trial \\[default: 1].", show_default=False)] = None,
    requests_per_month: RequestsOption = None,
    prices: PricesOption = None,
    name: Annotated[Optional[str], typer.Option(help="A name for the task, shown in reports.", show_default=False)] = None,
    label_description: Annotated[Optional[list[str]], typer.Option("--label-description", help="LABEL=TEXT, repeatable: what a label means, for the prompt track.", show_default=False)] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="STRATEGY.SETTING=VALUE, repeatable, e.g. setfit.max_steps=20.", show_default=False)] = None,
) -> None:
    """Measure the prompt track against the fine-tune track on your data and recommend one."""

    def action() -> None:
        from shouldtune.task import load_task

        backend_flags = {
            "name": backend,
            "model": model,
            "device": device,
            "dtype": dtype,
            "batch_size": batch_size,
            "runtime": runtime,
            "max_new_tokens": max_new_tokens,
            "use_chat_template": False if no_chat_template else None,
            "trust_remote_code": trust_remote_code or None,
            "allow_pickle": allow_pickle or None,
            "allow_download": allow_download or None,
            "base_url": base_url,
            "max_spend": max_spend,
            "concurrency": concurrency,
        }
        backend_settings = {key: value for key, value in backend_flags.items() if value is not None} or None
        task = load_task(
            task_file,
            data=str(data) if data else None,
            test=str(test) if test else None,
            text_column=text_column,
            label_column=label_column,
            task_type=task_type,
            instruction=instruction,
            classify_by=classify_by,
            sizes=_int_list(sizes, "--sizes"),
            seeds=seeds,
            seed=seed,
            strategies=_names(strategies),
            metric=metric,
            test_fraction=test_fraction,
            validation=validation,
            folds=folds,
            min_gain=min_gain,
            exhaustive=exhaustive or None,
            template=template,
            backend=backend_settings,
            name=name,
            label_descriptions=_pairs(label_description, "--label-description") or None,
            strategy_params=_strategy_params(param),
            executor=executor,
            ray_address=ray_address,
            ray_cpus_per_trial=ray_cpus_per_trial,
        )
        if plan:
            from shouldtune.plan import describe, estimate_plan

            console.print("[bold]plan[/] (nothing is run or stored):")
            for line in describe(estimate_plan(task)):
                console.print(escape(line), soft_wrap=True)
            _print_spend_plan(task)
            return
        _print_spend_plan(task)  # an API run says what it may cost before its first call
        _execute(task, out, store, fresh, requests_per_month, prices)

    _guarded(action, resumable=True)


@app.command()
def demo(
    out: Annotated[Optional[str], typer.Option("--out", help="Output folder \\[default: runs/<run_id>].", show_default=False)] = None,
    store: Annotated[Path, typer.Option(help="SQLite store of runs, trials and the embedding cache.")] = DEFAULT_STORE,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard the demo's finished trials and start over.")] = False,
    requests_per_month: RequestsOption = None,
    prices: PricesOption = None,
) -> None:
    """Run the comparison on bundled Banking77 data (10 card intents; a few minutes on a laptop CPU)."""

    def action() -> None:
        from shouldtune.demo import demo_task

        console.print("[bold]shouldtune demo[/]: Banking77, 10 card-related intents (CC BY 4.0, PolyAI)")
        _execute(demo_task(), out, store, fresh, requests_per_month, prices)

    _guarded(action, resumable=True)


RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="A run id, or its first characters (see `shouldtune runs`).", show_default=False)]
StoreOption = Annotated[Path, typer.Option("--store", help="SQLite store the run is in.")]


def _when(seconds: float | None) -> str:
    import time

    return "" if seconds is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


@app.command("runs")
def list_runs(store: StoreOption = DEFAULT_STORE) -> None:
    """List the runs in the store, newest first, with their decision."""

    def action() -> None:
        from rich.table import Table

        from shouldtune.store import Store

        with Store(store, create=False) as opened:
            stored = opened.runs()
        if not stored:
            console.print(f"no runs in {store} yet: start one with `shouldtune run`")
            return
        table = Table(title=f"runs in {store}", title_justify="left")
        # The decision is what a reader looks for: it never wraps; the creation time gives way first.
        for column in ("run id", "name", "status", "trials", "decision", "created"):
            table.add_column(
                column, no_wrap=column != "created", overflow="fold", justify="right" if column == "trials" else "left"
            )
        colours = {"finished": "green", "running": "cyan", "interrupted": "yellow", "failed": "red"}
        for run in stored:
            decision = ""
            if run.results is not None:
                recommendation = run.results["recommendation"]
                # The choice on the run's own line, the strategy below it: the table fits 80 columns.
                decision = f"{recommendation['choice']}\n{recommendation.get('strategy') or '-'}"
            status = f"[{colours.get(run.status, 'white')}]{run.status}[/]"
            table.add_row(run.run_id, escape(run.name), status, str(run.trials), escape(decision), _when(run.created_at))
        console.print(table)

    _guarded(action)


@app.command()
def show(run_id: RunArgument, store: StoreOption = DEFAULT_STORE) -> None:
    """Print a finished run's summary again: the decision, its reasons and every curve."""

    def action() -> None:
        from shouldtune.report.terminal import print_summary
        from shouldtune.store import Store

        with Store(store, create=False) as opened:
            run = opened.find_run(run_id, finished=True)
        assert run.results is not None
        console.print(f"[bold]run {run.run_id}[/] {escape(run.name)} · {_when(run.created_at)} · {run.trials} trials")
        print_summary(console, run.results)

    _guarded(action)


@app.command()
def report(
    run_id: RunArgument,
    out: Annotated[Optional[str], typer.Option("--out", help="Output folder \\[default: runs/<run_id>].", show_default=False)] = None,
    store: StoreOption = DEFAULT_STORE,
    requests_per_month: RequestsOption = None,
    prices: PricesOption = None,
) -> None:
    """Write a finished run's report files again, from the store, deciding afresh (optionally at another volume or prices)."""

    def action() -> None:
        from shouldtune.folders import check_writable
        from shouldtune.recommend import with_decision
        from shouldtune.report import write_outputs
        from shouldtune.store import Store

        loaded_prices = _decision_options(requests_per_month, prices)
        out_path = _out_path(out)
        with Store(store, create=False) as opened:
            run = opened.find_run(run_id, finished=True)
            predictions = opened.predictions(run.run_id)
        out_dir = out_path or Path("runs") / run.run_id
        check_writable(out_dir, "--out")
        # The stored trials and predictions are the evidence; the analysis and decision are
        # recomputed from them, so a report reflects this release's analysis and your prices.
        results = with_decision(
            run.results, predictions or None, requests_per_month=requests_per_month,
            prices=loaded_prices, prices_file=str(prices) if prices else None,
        )
        paths = write_outputs(results, out_dir)
        console.print(f"wrote {' and '.join(str(path) for path in paths.values())}")

    _guarded(action)


@app.command()
def export(
    run_id: RunArgument,
    out: Annotated[str, typer.Option("--out", help="A new folder for the exported strategy.", show_default=False)],
    strategy: Annotated[str, typer.Option("--strategy", help="A strategy of the run, or recommended, best-prompt, best-finetune.")] = "recommended",
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Export a strategy of a finished run (largest size, first seed) as a folder `predict` can use anywhere."""

    def action() -> None:
        from shouldtune.export import export_run

        with _progress() as progress:
            exported = export_run(store, run_id, strategy, _out_path(out) or Path(), progress=progress)
        manifest = exported.manifest
        scores = ", ".join(f"{name} {value:.3f}" for name, value in manifest.test_metrics.items())
        per = "per class" if manifest.task_type == "classification" else "in all"
        console.print(
            f"exported [bold]{manifest.strategy}[/] ({manifest.track}; {manifest.n_per_class} examples {per}, "
            f"seed {manifest.seed}) from run {manifest.run_id} to {exported.folder}\n"
            f"its test scores in the run: {scores}\n"
            f"predict with: shouldtune predict {exported.folder} INPUT --out predictions.jsonl"
        )
        if exported.mismatches:
            console.print(
                f"[yellow]warning:[/] fitted again, it predicts {exported.mismatches} test examples differently "
                "from the run's trial (a library or machine difference); its scores may differ slightly"
            )

    _guarded(action)


@app.command()
def predict(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A folder written by `shouldtune export`.", show_default=False)],
    input_file: Annotated[Path, typer.Argument(metavar="INPUT", help="Texts to label: CSV, TSV, JSONL or Parquet.", show_default=False)],
    out: Annotated[str, typer.Option("--out", help="Where to write the predictions (JSON Lines).", show_default=False)],
    text_column: Annotated[Optional[str], typer.Option(help="Column holding the text \\[default: the run's].", show_default=False)] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Column holding gold labels, if any \\[default: the run's].", show_default=False)] = None,
    store: Annotated[Optional[Path], typer.Option("--store", help="A store whose embedding cache to use (optional; not needed).", show_default=False)] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="hf strategies: the language model's folder, if it moved since the export \\[default: the manifest's].", show_default=False)] = None,
) -> None:
    """Label every text in INPUT with an exported strategy (or write its output); with gold labels, print the scores."""

    def action() -> None:
        from shouldtune.predict import predict_file

        result = predict_file(
            folder, input_file, _out_path(out) or Path(), text_column=text_column, label_column=label_column,
            store_path=store, model=model,
        )
        for warning in result.warnings:
            errors.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        console.print(f"wrote {len(result.predictions)} predictions by {result.manifest.strategy} to {out}")
        if result.metrics is not None and result.metrics_ci is not None:
            console.print(
                "; ".join(
                    f"{name} {value:.3f} (95% CI {result.metrics_ci[name][0]:.3f}–{result.metrics_ci[name][1]:.3f})"
                    for name, value in result.metrics.items()
                )
            )

    _guarded(action)


def _piped_answers(questions: list[Any], text: str) -> dict[str, str]:
    """Return answers piped on stdin: one line per question not given as a flag, in order; a blank line keeps the default."""
    lines = text.splitlines()
    if len(lines) > len(questions):
        raise TaskFileError(
            f"stdin has {len(lines)} lines but {len(questions)} questions are left to answer",
            file="stdin",
            fix=f"pipe one answer a line, in this order: {', '.join(q.key for q in questions) or '(none: every flag is given)'}",
        )
    answers = {}
    for number, (question, line) in enumerate(zip(questions, lines), start=1):
        answer = line.strip().lower()
        if not answer:
            continue
        if (answer not in question.choices) if question.choices else not answer.isdigit():
            raise TaskFileError(
                f"line {number} answers {question.key!r} with {answer!r}",
                file="stdin",
                fix=f"answer {' or '.join(question.choices) or 'a whole number'} (a blank line keeps {question.default!r})",
            )
        answers[question.key] = answer
    return answers


@app.command()
def advise(
    deadline: Annotated[Optional[str], typer.Option(help="How soon results are needed: days, weeks or months.", show_default=False)] = None,
    knowledge: Annotated[Optional[str], typer.Option(help="general or specialised knowledge.", show_default=False)] = None,
    consistent_format: Annotated[Optional[str], typer.Option(help="yes if every answer must follow one style or format, else no.", show_default=False)] = None,
    examples_per_class: Annotated[Optional[int], typer.Option(help="Labelled examples per class at hand.", show_default=False)] = None,
    budget: Annotated[Optional[str], typer.Option(help="low, medium or high budget for labelling and training.", show_default=False)] = None,
    requests_per_month: Annotated[Optional[int], typer.Option("--requests-per-month", help="Expected requests a month.", show_default=False)] = None,
    latency: Annotated[Optional[str], typer.Option(help="relaxed (seconds), interactive (under 1 s) or realtime (under 100 ms).", show_default=False)] = None,
    data: Annotated[str, typer.Option("--data", help="Your labelled data file, for the command that confirms the advice.")] = "labelled.csv",
    no_input: Annotated[bool, typer.Option("--no-input", help="Ask nothing: use the flags given and defaults for the rest. Without it, answers piped on stdin are read, one a line.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
) -> None:
    """No data yet? Answer a few questions for a prior recommendation and the run that would confirm it."""

    def action() -> None:
        import json

        from shouldtune.advise import QUESTIONS, advise as advise_on

        given: dict[str, Any] = {
            "deadline": deadline, "knowledge": knowledge, "consistent_format": consistent_format,
            "examples_per_class": examples_per_class, "budget": budget, "requests_per_month": requests_per_month,
            "latency": latency,
        }
        if not no_input and not as_json and sys.stdin.isatty():
            for question in QUESTIONS:
                while given[question.key] is None:
                    hint = f" [{'/'.join(question.choices)}]" if question.choices else " [a whole number]"
                    answer = str(typer.prompt(question.text + hint, default=question.default)).strip().lower()
                    valid = answer in question.choices if question.choices else answer.isdigit()
                    if valid:
                        given[question.key] = answer
                    else:
                        errors.print(f"please answer {' or '.join(question.choices) or 'a whole number'}", markup=False)
        elif not no_input and not sys.stdin.isatty():
            given.update(_piped_answers([q for q in QUESTIONS if given[q.key] is None], sys.stdin.read()))
        advice = advise_on(given, data)
        if as_json:
            console.print_json(json.dumps(vars(advice)))
            return
        from rich.panel import Panel

        colour = {"prompt": "cyan", "finetune": "magenta", "either": "green"}.get(advice.choice, "yellow")
        scores = ", ".join(f"{name} {weight}" for name, weight in advice.scores.items())
        body = "\n".join(f"• {escape(reason)}" for reason in advice.reasons)
        body += f"\n\n[dim]rule weights: {scores}. A prior from rules of thumb, not a measurement.[/]"
        console.print(Panel(body, title=f"[bold {colour}]Prior recommendation: {advice.choice}[/]", border_style=colour))
        if advice.first:
            console.print(escape(advice.first))
        console.print("To confirm it on your data, run:")
        console.print(f"  {escape(advice.command)}", soft_wrap=True)

    _guarded(action)


def main() -> None:
    """Entry point of the `shouldtune` script."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before a command's own handler is in place
        sys.exit(130)


if __name__ == "__main__":
    main()
