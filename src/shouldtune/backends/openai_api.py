"""The openai backend: a chat model behind an OpenAI-compatible API (OpenAI, or a local vLLM,
llama.cpp server, Ollama or LM Studio), prompted through chat completions and, where the
server offers it, fine-tuned through the fine-tuning jobs API.

Every call goes through `APIChatModel._complete_many`:

    requests ─► hash ─► response cache (the store) ─► spending cap ─► thread pool (concurrency)
             ─► retries (408/409/429/5xx, timeouts, dropped connections, malformed bodies;
                Retry-After honoured) ─► usage, latency and dollars counted ─► cache

401/403/404 stop at once (APIAccessError: one line, exit 2). The API key is read from an
environment variable when the backend opens and is never written anywhere: not in the cache
key, the store, results or any message (every message is scrubbed of it).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shouldtune.backends.openai_labels import label_from_logprobs, parse_label_strictly
from shouldtune.backends.openai_prices import ModelPrices, prices_for
from shouldtune.backends.registry import BackendSpec, OpenBackend
from shouldtune.errors import APIAccessError, BackendError, SpendingCapReached, TaskFileError

if TYPE_CHECKING:
    from shouldtune.store import Store

RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx
FATAL_STATUSES = {
    401: ("the server refused the API key", "check the key in ${env} (a local server accepts any non-empty value)"),
    403: ("the key has no access to this model or endpoint", "check the project's permissions and the model's availability"),
    404: ("the server knows no such model or endpoint", "check `model` (see the server's /v1/models) and `base_url`"),
}
MAX_RETRY_AFTER_SECONDS = 120.0
TOP_LOGPROBS = 20  # OpenAI's most


@dataclass
class APIUsage:
    """Running totals: answers (cached or not) and their tokens, and what reaching them took."""

    requests: int = 0  # answers returned (each distinct prompt once), cached or fresh
    prompt_tokens: int = 0
    output_tokens: int = 0
    training_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the provider served from its prompt cache
    reasoning_tokens: int = 0
    calls: int = 0  # HTTP calls that returned an answer (what was paid for)
    cache_hits: int = 0  # answers read from the store's response cache (paid for once, before)
    retries: int = 0
    unparseable_answers: int = 0  # classification answers that named no label: counted wrong


def request_hash(base_url: str, body: dict[str, Any]) -> str:
    """Return the cache key of a request: a hash of the server and the body (never the key)."""
    canonical = json.dumps({"base_url": base_url, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def estimated_tokens(text: str) -> int:
    """Return a rough token count of `text` (about four characters a token, as in English)."""
    return max(1, (len(text) + 3) // 4)


@dataclass
class APIChatModel:
    """A chat model behind an OpenAI-compatible API, with the methods LLM strategies call."""

    model: str
    base_url: str
    api_key: str = field(repr=False)
    api_key_env: str = "OPENAI_API_KEY"
    store: Store | None = None
    max_new_tokens: int = 64
    seed: int = 0
    concurrency: int = 4
    max_retries: int = 6
    timeout_seconds: float = 60.0
    retry_base_seconds: float = 1.0
    max_spend: float | None = None
    prices: ModelPrices | None = None
    price_table: str | None = None  # the YAML table `prices` came from (None: the shipped one)
    poll_seconds: float = 10.0
    say: Callable[[str], None] = print
    usage: APIUsage = field(default_factory=APIUsage)
    spent: float = 0.0  # dollars of fresh calls this run (cache hits cost nothing)
    latencies: list[float] = field(default_factory=list)  # seconds of each answer, cached ones as first measured
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)  # client, probes and spend, shared by tuned copies

    answer_prefix = ""  # a chat answer starts right after the user's turn

    @property
    def model_id(self) -> str:
        return self.model

    @property
    def client(self) -> Any:
        if "client" not in self._shared:
            import openai

            # The SDK's own retries are off: ours add malformed bodies and say what happened.
            self._shared["client"] = openai.OpenAI(
                api_key=self.api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_seconds
            )
        return self._shared["client"]

    # what the strategies call ----------------------------------------------------------
    def chat_format(self, text: str) -> str:
        """Return the prompt as the user's turn (the server applies the chat template)."""
        return text

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Return an estimate of each prompt's tokens (the API reports the real counts per call)."""
        return [estimated_tokens(text) for text in texts]

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> Any:
        """Return each continuation's log-probability after its prompt, as far as the top-20
        alternatives along the model's own answer show it (-inf where they do not)."""
        import numpy as np

        distinct = list(dict.fromkeys(prompts))
        wanted: dict[str, list[str]] = {prompt: [] for prompt in distinct}
        for prompt, continuation in zip(prompts, continuations):
            wanted[prompt].append(continuation)
        responses = self._complete_many([self._logprob_body(p, max(wanted[p], key=len)) for p in distinct])
        scores: dict[tuple[str, str], float] = {}
        for prompt, response in zip(distinct, responses):
            found = label_from_logprobs(_logprob_content(response), wanted[prompt])
            for continuation in wanted[prompt]:
                scores[(prompt, continuation)] = found.get(continuation, float("-inf"))
        return np.array([scores[(p, c)] for p, c in zip(prompts, continuations)], dtype=float)

    def classify(self, prompts: Sequence[str], label_set: Sequence[str], by: str = "likelihood") -> list[str]:
        """Return one label per prompt, or "" for an answer that names none (it counts as wrong).

        By likelihood: the label most probable along the model's answer (its logprobs), when
        the server returns logprobs (probed once); otherwise, and by generation: an answer
        constrained to the labels (structured output, where the server supports it), parsed.
        """
        labels = list(label_set)
        if by == "likelihood" and self.logprobs_work():
            longest = max(labels, key=len)
            responses = self._complete_many([self._logprob_body(prompt, longest) for prompt in prompts])
            answers = []
            for response in responses:
                scores = label_from_logprobs(_logprob_content(response), labels)
                best = max(scores.items(), key=lambda item: item[1], default=None)
                answers.append(best[0] if best else self._parsed(_content(response), labels))
            return answers
        bodies = [self._constrained_body(prompt, labels) for prompt in prompts]
        if bodies and self._shared.get("structured") is None:
            self._shared["structured"] = self._probe(bodies[0])
        if not self._shared["structured"]:
            bodies = [self._body(prompt, self._label_tokens(labels)) for prompt in prompts]
        answers = []
        for response in self._complete_many(bodies):
            text = _content(response)
            if self._shared["structured"]:
                try:
                    text = str(json.loads(text).get("label", ""))
                except (ValueError, AttributeError):
                    pass  # parsed as text below
            answers.append(self._parsed(text, labels))
        return answers

    def generate(self, prompts: Sequence[str], max_new_tokens: int | None = None, stop: Sequence[str] = ()) -> list[str]:
        """Return the model's answer to each prompt (temperature 0, seeded), cut before a stop sequence."""
        bodies = [self._body(prompt, max_new_tokens or self.max_new_tokens, stop) for prompt in prompts]
        answers = []
        for response in self._complete_many(bodies):
            text = _content(response)
            for sequence in stop:
                text = text.split(sequence)[0] if sequence else text
            answers.append(text.strip())
        return answers

    def warm_up(self) -> None:
        """Nothing to load; the first call is answered like any other."""

    def logprobs_work(self) -> bool:
        """Return whether the server returns token logprobs (asked once per run, and cached)."""
        if "logprobs" not in self._shared:
            body = {**self._body("Reply with the word OK.", 1), "logprobs": True, "top_logprobs": 2}
            self._shared["logprobs"] = self._probe(body, check=lambda response: bool(_logprob_content(response)))
            if not self._shared["logprobs"]:
                self.say(f"{self.model}: the server returns no logprobs; labels are generated under a constraint and parsed")
        return bool(self._shared["logprobs"])

    def with_model(self, model: str, prices: ModelPrices | None = None) -> APIChatModel:
        """Return this client answering with another model (a fine-tuned one): same server, cache, usage and cap."""
        copy = APIChatModel(**{**{f: getattr(self, f) for f in self.__dataclass_fields__ if not f.startswith("_")}, "model": model})
        copy.prices = prices or self.prices
        copy.usage, copy.latencies, copy._shared = self.usage, self.latencies, self._shared
        return copy

    def tuned_prices(self, tuned_model: str | None = None) -> ModelPrices:
        """Return what serving a fine-tune of this model costs (`tuned_model`: its id, when known),
        from the same price table as this model's own prices."""
        return prices_for(tuned_model or f"ft:{self.model}", self.price_table)

    def fine_tune_hosted(self, prompts: Sequence[str], targets: Sequence[str], **settings: Any) -> Any:
        """Return a hosted fine-tune of this model on prompt -> target (see `openai_finetune`)."""
        from shouldtune.backends.openai_finetune import fine_tune_hosted

        return fine_tune_hosted(self, prompts, targets, **settings)

    def close(self) -> None:
        client = self._shared.pop("client", None)
        if client is not None:
            client.close()

    # requests ----------------------------------------------------------------------------
    def _body(self, prompt: str, max_tokens: int, stop: Sequence[str] = ()) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "seed": self.seed,
            self._max_tokens_field: max_tokens,
        }
        if stop:
            body["stop"] = list(stop)[:4]
        return body

    @property
    def _max_tokens_field(self) -> str:
        # OpenAI's own API prefers the newer name (its reasoning models refuse the old one);
        # local servers all read max_tokens.
        return "max_completion_tokens" if "api.openai.com" in self.base_url else "max_tokens"

    def _label_tokens(self, labels: Sequence[str]) -> int:
        return max(estimated_tokens(label) for label in labels) * 2 + 4

    def _logprob_body(self, prompt: str, longest: str) -> dict[str, Any]:
        return {**self._body(prompt, estimated_tokens(longest) * 2 + 2, ("\n",)), "logprobs": True, "top_logprobs": TOP_LOGPROBS}

    def _constrained_body(self, prompt: str, labels: Sequence[str]) -> dict[str, Any]:
        schema = {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": list(labels)}},
            "required": ["label"],
            "additionalProperties": False,
        }
        return {
            **self._body(prompt, self._label_tokens(labels) + 8),
            "response_format": {"type": "json_schema", "json_schema": {"name": "label", "strict": True, "schema": schema}},
        }

    def _parsed(self, text: str, labels: Sequence[str]) -> str:
        label = parse_label_strictly(text, labels)
        if label is None:
            self.usage.unparseable_answers += 1
            return ""
        return label

    def _probe(self, body: dict[str, Any], check: Callable[[dict[str, Any]], bool] = lambda response: True) -> bool:
        """Return whether the server accepts `body` (a 400 means it does not) and `check` holds."""
        try:
            return check(self._complete_many([body])[0])
        except _Refused:
            return False

    def _complete_many(self, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return one response per body: from the cache, else from the server, within the cap."""
        keys = [request_hash(self.base_url, body) for body in bodies]
        memory: dict[str, tuple[dict[str, Any], float]] = self._shared.setdefault("memory", {})
        missing = [key for key in dict.fromkeys(keys) if key not in memory]
        if missing and self.store is not None:
            memory.update(self.store.get_api_responses(missing))
        by_key = dict(zip(keys, bodies))
        to_call = [key for key in dict.fromkeys(keys) if key not in memory]
        self.usage.cache_hits += len(set(keys)) - len(to_call)
        if to_call:
            self._call_within_cap([(key, by_key[key]) for key in to_call], memory)
        responses = []
        for key in dict.fromkeys(keys):
            response, latency = memory[key]
            self._count(response)
            self.latencies.append(latency)
        by_answer = {key: memory[key][0] for key in keys}
        responses = [by_answer[key] for key in keys]
        return responses

    def _count(self, response: dict[str, Any]) -> None:
        usage = response.get("usage") or {}
        self.usage.requests += 1
        self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.usage.output_tokens += int(usage.get("completion_tokens") or 0)
        self.usage.cached_tokens += int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        self.usage.reasoning_tokens += int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)

    def _estimate(self, body: dict[str, Any]) -> float:
        """Return the most dollars a call can cost: its prompt, and every token it may answer with."""
        prompt = sum(estimated_tokens(message["content"]) + 4 for message in body["messages"])
        return self._prices.call_cost(prompt, int(body.get(self._max_tokens_field) or self.max_new_tokens))

    @property
    def _prices(self) -> ModelPrices:
        if self.prices is None:
            self.prices = prices_for(self.model)
        return self.prices

    def _call_within_cap(self, calls: list[tuple[str, dict[str, Any]]], memory: dict[str, tuple[dict[str, Any], float]]) -> None:
        """Make the calls, `concurrency` at a time, never starting one that could cross the cap."""
        spend = self._shared.setdefault("spend", {"spent": 0.0})
        pending = list(calls)
        running: dict[Future[tuple[dict[str, Any], float]], tuple[str, float]] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai") as pool:
            try:
                while pending or running:
                    while pending and len(running) < self.concurrency:
                        key, body = pending[0]
                        estimate = self._estimate(body)
                        reserved = spend["spent"] + sum(cost for _, cost in running.values())
                        if self.max_spend is not None and reserved + estimate > self.max_spend:
                            break
                        pending.pop(0)
                        running[pool.submit(self._call, body)] = (key, estimate)
                    if not running:  # the next call alone would cross the cap
                        raise SpendingCapReached(
                            f"stopped before the spending cap: ${spend['spent']:.4f} spent of ${self.max_spend:.4f}, "
                            f"and the next call may cost up to ${self._estimate(pending[0][1]):.4f} "
                            f"({len(pending)} calls of this step left); the answers so far are cached"
                        )
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        key, _ = running.pop(future)
                        response, latency = future.result()
                        memory[key] = (response, latency)
                        if self.store is not None:
                            self.store.put_api_response(key, response, latency)
                        usage = response.get("usage") or {}
                        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
                        cost = self._prices.call_cost(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), cached)
                        spend["spent"] += cost
                        self.spent = spend["spent"]
                        self.usage.calls += 1
            except BaseException:
                for future in running:
                    future.cancel()
                raise

    def _call(self, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """Return one call's parsed response and latency, retrying what may succeed on a retry."""
        import openai

        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.retries += 1
            start = time.perf_counter()
            delay: float | None = None
            try:
                raw = self.client.chat.completions.with_raw_response.create(**body)
                text = raw.http_response.text
                latency = time.perf_counter() - start
                response = json.loads(text)
                if not isinstance(response, dict) or not response.get("choices"):
                    raise ValueError("the response has no choices")
                _content(response)
                return response, latency
            except openai.APIStatusError as err:
                status = err.status_code
                if status in FATAL_STATUSES:
                    problem, fix = FATAL_STATUSES[status]
                    raise APIAccessError(
                        self._scrub(f"{problem} ({status} from {self.base_url}, model {self.model!r})"),
                        fix=fix.replace("${env}", f"${self.api_key_env}"),
                    ) from None
                if status not in RETRY_STATUSES and status < 500:
                    raise _Refused(self._scrub(f"{status}: {_error_message(err)}")) from None
                last = f"{status}: {_error_message(err)}"
                delay = _retry_after(err.response.headers)
            except openai.APIConnectionError as err:  # timeouts, refused and dropped connections, cut bodies
                last = f"{type(err).__name__}: {err}"
            except (ValueError, KeyError, TypeError, AttributeError) as err:  # malformed or truncated JSON
                last = f"a malformed response ({type(err).__name__}: {err})"
            if attempt < self.max_retries:
                backoff = min(self.retry_base_seconds * 2**attempt, 60.0) * random.uniform(0.5, 1.5)
                time.sleep(max(delay, backoff * 0.1) if delay is not None else backoff)
        raise BackendError(self._scrub(f"{self.base_url}: a call failed {self.max_retries + 1} times; last: {last}"[:400]))

    def _scrub(self, text: str) -> str:
        """Return `text` without the API key in it."""
        return text.replace(self.api_key, "***") if self.api_key else text


class _Refused(BackendError):
    """The server refused a request it will always refuse (400, 422): a probe's "no"."""


def _error_message(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message") if isinstance(body.get("error"), dict) else body.get("message")
        if message:
            return str(message)[:200]
    return str(getattr(err, "message", err))[:200]


def _retry_after(headers: Any) -> float | None:
    """Return the seconds a Retry-After (or retry-after-ms) header asks for, if any."""
    try:
        if headers.get("retry-after-ms"):
            return min(float(headers["retry-after-ms"]) / 1000, MAX_RETRY_AFTER_SECONDS)
        if headers.get("retry-after"):
            return min(float(headers["retry-after"]), MAX_RETRY_AFTER_SECONDS)
    except (TypeError, ValueError):
        return None  # an HTTP date: fall back to our own backoff
    return None


def _content(response: dict[str, Any]) -> str:
    return str(response["choices"][0]["message"].get("content") or "")


def _logprob_content(response: dict[str, Any]) -> list[dict[str, Any]]:
    logprobs = response["choices"][0].get("logprobs") or {}
    return list(logprobs.get("content") or [])


class OpenAISettings(BaseModel):
    """The openai backend: a chat model behind an OpenAI-compatible API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["openai"] = "openai"
    model: str = Field(description="pass --model NAME, e.g. gpt-4o-mini, or the name a local server gives its model")
    base_url: str | None = Field(default=None, description="The API's address, e.g. http://127.0.0.1:8000/v1; default: $OPENAI_BASE_URL, else OpenAI's.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="The environment variable holding the key (a task file never holds a key).")
    max_new_tokens: int = Field(default=64, ge=1, description="Longest generated answer, in tokens.")
    seed: int = Field(default=0, description="Sent with every request, with temperature 0.")
    concurrency: int = Field(default=4, ge=1, le=64, description="Requests in flight at once.")
    max_retries: int = Field(default=6, ge=0, description="Retries of a call that failed in a way a retry may fix.")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Seconds one call may take.")
    retry_base_seconds: float = Field(default=1.0, ge=0, description="The first retry's wait; doubled each time, with jitter.")
    max_spend: float | None = Field(default=None, ge=0, description="Dollars this run may spend on calls; it stops, resumable, before crossing them.")
    prices: str | None = Field(default=None, description="A YAML price table like the shipped one; default: shouldtune's.")
    poll_seconds: float = Field(default=10.0, gt=0, description="Seconds between looks at a fine-tuning job.")


OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def open_openai(settings: OpenAISettings, store: Store | None, progress: Any = None) -> OpenBackend:
    """Return the openai backend opened: the API's chat model and the bundled encoder few-shot-knn uses."""
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder

    key = os.environ.get(settings.api_key_env, "")
    if not key:
        raise TaskFileError(
            f"the environment variable {settings.api_key_env} holding the API key is not set",
            column="backend.api_key_env",
            fix=f"export {settings.api_key_env}=... (a local server accepts any value, e.g. `local`), "
            "or name the variable that holds your key with api_key_env",
        )
    base_url = (settings.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL).rstrip("/")
    say = progress.console.print if progress is not None and hasattr(progress, "console") else (lambda line: None)
    llm = APIChatModel(
        model=settings.model,
        base_url=base_url,
        api_key=key,
        api_key_env=settings.api_key_env,
        store=store,
        max_new_tokens=settings.max_new_tokens,
        seed=settings.seed,
        concurrency=settings.concurrency,
        max_retries=settings.max_retries,
        timeout_seconds=settings.timeout_seconds,
        retry_base_seconds=settings.retry_base_seconds,
        max_spend=settings.max_spend,
        prices=prices_for(settings.model, settings.prices),
        price_table=settings.prices,
        poll_seconds=settings.poll_seconds,
        say=say,
    )
    encoder = CachedEncoder(SentenceEncoder(progress=progress), store)
    model_id = settings.model if base_url == OPENAI_DEFAULT_URL else f"{settings.model}@{base_url}"
    backend = OpenBackend(alias="openai", spec=SPEC, model_id=model_id, encoder=encoder, llm=llm, device="api")
    return backend


SPEC = BackendSpec(
    kind="openai",
    settings=OpenAISettings,
    capabilities=frozenset({"embed", "score", "generate", "hosted-fine-tune"}),
    family="language-model",
    charges="tokens",
    open=open_openai,
    summary="a chat model behind an OpenAI-compatible API (OpenAI, vLLM, llama.cpp, Ollama, LM Studio)",
    not_outputs=frozenset({
        "api_key_env", "concurrency", "max_retries", "timeout_seconds", "retry_base_seconds", "max_spend", "prices", "poll_seconds",
    }),
)
