"""Know the bill before it starts: the calls, tokens and dollars each API strategy will cost.

`estimate_spend(task)` reads the data and makes the splits as a run would, then counts, for
every contestant on a backend charged by tokens, the calls its trials make (every test input
once per trial: under cross-validation each fold's model answers its own fold's; prompt-search's
validation answers in every fit, one per fold; zero-shot's prompts are the same at every size,
so the response cache answers them after the first trial) and their tokens (about four
characters a token), priced from the backend's price table. These are upper bounds for the
whole grid (`--exhaustive`); the adaptive plan usually runs fewer trials.
"""

from __future__ import annotations

from dataclasses import dataclass

from shouldtune.task import TaskConfig


@dataclass(frozen=True)
class StrategySpend:
    """One API strategy's share of a run's bill."""

    strategy: str
    model: str
    trials: int
    calls: int
    prompt_tokens: int
    output_tokens: int
    training_tokens: int
    dollars: float
    prices: str  # where the prices come from (a table and its date, or "placeholder prices ...")
    placeholder: bool


def estimate_spend(task: TaskConfig) -> list[StrategySpend]:
    """Return the estimated calls, tokens and dollars of each contestant on a tokens-charged backend."""
    from shouldtune.backends.openai_api import estimated_tokens
    from shouldtune.backends.openai_prices import prices_for
    from shouldtune.backends.registry import backend_spec
    from shouldtune.data.splits import largest_size
    from shouldtune.planning import plan_sizes, prepare, training_set
    from shouldtune.schedule import Schedule
    from shouldtune.strategies.llm.prompts import default_instruction
    from shouldtune.strategies.llm.search import most_candidates, search_calls
    from shouldtune.strategies.registry import strategy_class

    contestants = [c for c in task.contestants() if backend_spec(c.kind).charges == "tokens"]
    if not contestants:
        return []
    prepared = prepare(task)
    label_set, splits = prepared.label_set, prepared.splits
    sizes, _ = plan_sizes(task.sizes, largest_size(splits, label_set))
    classes = {c.name: strategy_class(c.strategy, c.kind) for c in contestants}
    schedule = Schedule(tuple(classes), sizes, prepared.seeds, classes, prepared.scoring, task.metric, {}, {}, lambda name, n: 0.0)
    texts = list(prepared.train.texts)
    text_tokens = sum(estimated_tokens(t) for t in texts) / max(len(texts), 1)
    label_tokens = sum(estimated_tokens(label) for label in prepared.train.labels) / max(len(texts), 1)
    instruction = task.instruction or default_instruction(task.task_type, label_set, task.label_descriptions)
    split = splits[0]
    variants = sum(1 for variant in task.prompt_variants if variant.get("instruction"))
    plans = []
    probed: set[str] = set()  # backends whose logprobs probe is counted (one call per run)
    for contestant in contestants:
        params = task.params_of(contestant)
        settings = contestant.settings
        prices = prices_for(settings.model, getattr(settings, "prices", None))
        max_new = getattr(settings, "max_new_tokens", 64)
        output = int(label_tokens * 2 + 2) if task.task_type == "classification" else max_new
        grid = [(n, seed) for name, n, seed in schedule.grid() if name == contestant.name]
        k = int(params.get("k", 4))
        calls = prompt = trained = 0
        if task.task_type == "classification" and task.classify_by == "likelihood" and contestant.backend not in probed:
            probed.add(contestant.backend)
            calls, prompt = 1, 16  # "does the server return logprobs?", asked once per run
        for n, seed in grid:
            shown = 0 if contestant.strategy in ("zero-shot", "majority") else k
            if contestant.strategy == "majority":
                continue
            if contestant.strategy == "zero-shot" and (n, seed) != grid[0]:
                continue  # the same prompts: answered by the response cache
            per_prompt = estimated_tokens(instruction) + shown * (text_tokens + label_tokens + 4) + text_tokens + 8
            folds = split.folds_at(n, bool(label_set))
            # Each fold's model answers its fold's inputs, a repeated one once (the response cache).
            trial_calls = sum(len(set(split.test.subset(fold.test_positions).texts)) for fold in folds)
            examples = len(training_set(folds[0].pool, label_set, "prompt", n, seed).texts)
            if contestant.strategy == "prompt-search":  # each fold's fit searches on its own training part
                rewrites = int(params.get("propose_rewrites", 0))
                candidates = most_candidates(len(params.get("instructions", ())), variants, rewrites)
                trial_calls += len(folds) * search_calls(examples, candidates, int(params.get("budget", 200)), rewrites)
            if contestant.strategy == "hosted-finetune":  # one job per fold the size is fitted on
                per_job = examples * (estimated_tokens(instruction) + text_tokens + label_tokens + 12) * int(params.get("n_epochs", 3))
                trained += int(per_job * len(folds))
                per_prompt = estimated_tokens(instruction) + text_tokens + 8
            calls += trial_calls
            prompt += int(trial_calls * per_prompt)
        outputs = calls * output
        dollars = prices.call_cost(prompt, outputs) + prices.training_cost(trained)
        plans.append(StrategySpend(contestant.name, settings.model, len(grid), calls, prompt, outputs, trained, dollars, prices.source, prices.placeholder))
    return plans


def describe_spend(plans: list[StrategySpend], max_spend: float | None = None) -> list[str]:
    """Return the lines that print an API run's plan."""
    lines = ["API spend, at most (every trial of the grid; cached answers cost nothing):"]
    for plan in plans:
        training = f", {plan.training_tokens:,} training tokens" if plan.training_tokens else ""
        lines.append(
            f"  {plan.strategy:<18} {plan.trials:>3} trials  {plan.calls:>7,} calls  {plan.prompt_tokens:>10,} prompt + "
            f"{plan.output_tokens:,} output tokens{training}  ~${plan.dollars:,.4f}"
        )
    total = sum(plan.dollars for plan in plans)
    lines.append(f"  total ~${total:,.4f}" + (f"; the run stops before spending more than ${max_spend:,.4f}" if max_spend is not None else ""))
    for source in dict.fromkeys(plan.prices for plan in plans):
        flagged = any(plan.placeholder and plan.prices == source for plan in plans)
        lines.append(f"  prices: {'PLACEHOLDER ' if flagged else ''}{source}")
    return lines
