"""Hosted fine-tuning through the OpenAI-format fine-tuning jobs API.

Training data is chat-format JSONL (the prompt as the user's turn, the wanted output as the
assistant's), uploaded once; the job has a fixed `n_epochs` (never "auto") and a `seed`.
The job's id is written to the store the moment the job exists, keyed by what it trains
(model, data, epochs, seed), so a resumed run re-attaches to a running or finished job
instead of paying for another. Ctrl-C while waiting offers to cancel the job.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shouldtune.errors import APIAccessError, BackendError

if TYPE_CHECKING:
    from shouldtune.backends.openai_api import APIChatModel

FINISHED = ("succeeded", "failed", "cancelled")


@dataclass
class HostedModel:
    """A finished hosted fine-tune: the model that answers, and what training it cost."""

    job_id: str
    model: str
    trained_tokens: int
    llm: APIChatModel  # the client answering with the tuned model


def training_jsonl(prompts: Sequence[str], targets: Sequence[str]) -> bytes:
    """Return the training file: one chat per line, the prompt as the user's turn, the target as the answer."""
    lines = [
        json.dumps({"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": t}]}, ensure_ascii=False)
        for p, t in zip(prompts, targets)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def fine_tune_hosted(
    lm: APIChatModel,
    prompts: Sequence[str],
    targets: Sequence[str],
    *,
    n_epochs: int,
    seed: int,
    suffix: str | None = None,
    on_status: Callable[[str], None] | None = None,
    ask: Callable[[str], bool] | None = None,
) -> HostedModel:
    """Return the model a fine-tuning job trained on prompt -> target, creating the job only if
    the store has none for this data, model, epochs and seed."""
    from shouldtune.backends.openai_api import request_hash

    data = training_jsonl(prompts, targets)
    identity = {"fine-tune": lm.model, "data": hashlib.sha256(data).hexdigest(), "n_epochs": n_epochs, "seed": seed, "suffix": suffix}
    key = request_hash(lm.base_url, identity)
    stored = lm.store.get_api_responses([key]).get(key) if lm.store is not None else None
    job = _guarded(lm, lambda: lm.client.fine_tuning.jobs.retrieve(stored[0]["job_id"])) if stored else None
    if job is None or job.status in ("failed", "cancelled"):
        _check_cap(lm, data, n_epochs)
        upload = _guarded(lm, lambda: lm.client.files.create(file=("train.jsonl", data), purpose="fine-tune"))
        job = _guarded(lm, lambda: lm.client.fine_tuning.jobs.create(
            model=lm.model,
            training_file=upload.id,
            seed=seed,
            suffix=suffix,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": n_epochs}}},
        ))
        if lm.store is not None:  # now: a crash or Ctrl-C from here on re-attaches instead of paying again
            lm.store.put_api_response(key, {"job_id": job.id}, 0.0)
        lm.say(f"fine-tuning job {job.id} created on {lm.model} ({len(prompts)} examples, {n_epochs} epochs)")
    else:
        lm.say(f"re-attached to fine-tuning job {job.id} ({job.status})")
    job = _wait(lm, job, on_status, ask)
    if job.status != "succeeded":
        error = getattr(job, "error", None)
        why = getattr(error, "message", None) or job.status
        raise BackendError(lm._scrub(f"fine-tuning job {job.id} ended {job.status}: {why}"[:400]))
    trained = int(job.trained_tokens or 0)
    lm.usage.training_tokens += trained
    spend = lm._shared.setdefault("spend", {"spent": 0.0})
    if not stored or stored[0].get("charged") is not True:
        spend["spent"] += lm._prices.training_cost(trained)
        if lm.store is not None:
            lm.store.put_api_response(key, {"job_id": job.id, "charged": True}, 0.0)
    tuned = lm.with_model(job.fine_tuned_model, lm.tuned_prices(job.fine_tuned_model))
    return HostedModel(job.id, job.fine_tuned_model, trained, tuned)


def _check_cap(lm: APIChatModel, data: bytes, n_epochs: int) -> None:
    """Raise SpendingCapReached if the job's estimated training cost would cross the cap."""
    from shouldtune.backends.openai_api import estimated_tokens
    from shouldtune.errors import SpendingCapReached

    if lm.max_spend is None:
        return
    spent = lm._shared.setdefault("spend", {"spent": 0.0})["spent"]
    estimate = lm._prices.training_cost(estimated_tokens(data.decode("utf-8")) * n_epochs)
    if spent + estimate > lm.max_spend:
        raise SpendingCapReached(
            f"stopped before the spending cap: ${spent:.4f} spent of ${lm.max_spend:.4f}, "
            f"and the fine-tuning job would cost about ${estimate:.4f}; no job was created"
        )


def _wait(lm: APIChatModel, job: Any, on_status: Callable[[str], None] | None, ask: Callable[[str], bool] | None) -> Any:
    """Return the job once finished, polling with a growing interval; Ctrl-C offers to cancel it."""
    interval = min(lm.poll_seconds, 2.0)
    started, shown = time.monotonic(), None
    try:
        while job.status not in FINISHED:
            if on_status is not None:
                on_status(job.status)
            if job.status != shown:  # progress: each change of state, with the time waited
                lm.say(f"fine-tuning job {job.id}: {job.status} ({time.monotonic() - started:.0f} s)")
                shown = job.status
            time.sleep(interval)
            interval = min(interval * 1.5, lm.poll_seconds * 6)
            job = _guarded(lm, lambda: lm.client.fine_tuning.jobs.retrieve(job.id))
    except KeyboardInterrupt:
        ask = ask or _ask_on_terminal
        if ask(f"cancel fine-tuning job {job.id}? It keeps running (and billing) otherwise [y/N] "):
            lm.client.fine_tuning.jobs.cancel(job.id)
            lm.say(f"cancelled job {job.id}")
        else:
            lm.say(f"job {job.id} keeps running; run the same command again to re-attach to it")
        raise
    return job


def _ask_on_terminal(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(question).strip().lower() in ("y", "yes")
    except (EOFError, KeyboardInterrupt):
        return False


def _guarded(lm: APIChatModel, call: Callable[[], Any]) -> Any:
    """Return `call()`; a refusal (no access to fine-tuning, unknown model) is one line."""
    import openai

    for attempt in range(lm.max_retries + 1):
        try:
            return call()
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as err:
            message = getattr(err, "message", str(err))
            raise APIAccessError(
                lm._scrub(f"fine-tuning refused ({err.status_code} from {lm.base_url}, model {lm.model!r}): {message}"[:300]),
                fix="check the account has fine-tuning access and the model can be fine-tuned "
                "(OpenAI closes self-serve fine-tuning to new jobs on 2027-01-06); or drop hosted-finetune from --strategies",
            ) from None
        except openai.BadRequestError as err:
            raise BackendError(lm._scrub(f"fine-tuning request refused (400): {getattr(err, 'message', err)}"[:400])) from None
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as err:
            if attempt == lm.max_retries:
                raise BackendError(lm._scrub(f"fine-tuning call failed {attempt + 1} times: {err}"[:400])) from None
            time.sleep(lm.retry_base_seconds * 2**attempt)
    raise AssertionError("unreachable")
