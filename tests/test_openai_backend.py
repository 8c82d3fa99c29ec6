"""The openai backend against a fake OpenAI-compatible server on 127.0.0.1: a whole comparison
through the CLI, faults survived, refusals in one line, the response cache, the spending cap,
hosted fine-tuning, and the key never written anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shouldtune.backends.openai_api import APIChatModel
from shouldtune.backends.openai_labels import label_from_logprobs, parse_label_strictly
from shouldtune.backends.openai_prices import prices_for
from shouldtune.testing.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
KEY = "sk-shouldtune-SECRET-4242"
LABELS = ["card_arrival", "card_linking", "other"]
PROMPT = "Classify the input. Answer with exactly one of these labels: card_arrival, card_linking, other.\n\nInput: {}\nOutput:"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with FakeOpenAI(key=KEY) as fake:
        yield fake


@pytest.fixture
def runner_app():
    from typer.testing import CliRunner

    from shouldtune.cli import app

    return CliRunner(), app


def client(server: FakeOpenAI, **settings) -> APIChatModel:
    return APIChatModel(model="fake-1", base_url=server.url, api_key=KEY, retry_base_seconds=0.01, **settings)


def task_file(tmp_path: Path, server: FakeOpenAI, strategies: str, **backend) -> Path:
    settings = {"name": "openai", "model": "fake-1", "base_url": server.url, "retry_base_seconds": 0.01, "poll_seconds": 0.01, **backend}
    path = tmp_path / "task.yaml"
    path.write_text(
        f"data: {DATA / 'trec_small_train.jsonl'}\ntest: {DATA / 'trec_small_test.jsonl'}\n"
        f"sizes: [0, 2]\nseeds: 1\nexhaustive: true\nstrategies: [{strategies}]\n"
        f"backend: {json.dumps(settings)}\nstrategy_params: {{few-shot: {{k: 2}}, hosted-finetune: {{n_epochs: 2}}}}\n"
    )
    return path


def assert_key_nowhere(*places: Path | str) -> None:
    for place in places:
        if isinstance(place, Path):
            files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
            for file in files:
                assert KEY.encode() not in file.read_bytes(), file
        else:
            assert KEY not in place


# --- reading labels ------------------------------------------------------------------------


def test_a_label_is_parsed_exactly_then_loosely_then_by_closeness_else_not_at_all():
    assert parse_label_strictly("card_linking", LABELS) == "card_linking"
    assert parse_label_strictly(" Card Linking. ", LABELS) == "card_linking"
    assert parse_label_strictly("card_arival", LABELS) == "card_arrival"
    assert parse_label_strictly("I cannot tell", LABELS) is None


def test_labels_sharing_a_first_token_are_told_apart_where_they_part():
    content = [
        {"token": "card", "logprob": -0.1, "top_logprobs": [{"token": "card", "logprob": -0.1}, {"token": "other", "logprob": -2.5}]},
        {"token": "_lin", "logprob": -0.2, "top_logprobs": [{"token": "_lin", "logprob": -0.2}, {"token": "_arr", "logprob": -1.9}]},
        {"token": "king", "logprob": -0.01, "top_logprobs": [{"token": "king", "logprob": -0.01}]},
    ]
    scores = label_from_logprobs(content, LABELS)
    assert max(scores, key=scores.get) == "card_linking"
    assert scores["card_arrival"] == pytest.approx(-2.0) and scores["other"] == pytest.approx(-2.5)


@pytest.mark.parametrize("logprobs, structured", [(True, True), (False, True), (False, False)])
def test_classification_works_with_logprobs_with_structured_output_and_with_neither(monkeypatch, logprobs, structured):
    with FakeOpenAI(key=KEY, logprobs=logprobs, structured=structured) as fake:
        lm = client(fake)
        assert lm.classify([PROMPT.format("my card linking failed")], LABELS) == ["card_linking"]
        assert lm.logprobs_work() is logprobs
        if not logprobs:
            assert lm._shared["structured"] is structured


def test_an_answer_naming_no_label_is_counted_and_scored_wrong(server):
    lm = client(server)
    assert lm._parsed("no idea at all", LABELS) == "" and lm.usage.unparseable_answers == 1
    from shouldtune.analysis.metrics import LabelScoring

    scoring = LabelScoring(LABELS)
    statistics = scoring.statistics(["other", "other"], ["other", ""])
    assert scoring.evaluate(statistics.sum(axis=0))["accuracy"][0] == 0.5


# --- calls: retries, refusals, cache, cap ------------------------------------------------------


def test_retries_survive_429_500_503_timeouts_dropped_connections_and_cut_or_malformed_bodies(server):
    lm = client(server, timeout_seconds=0.3, max_retries=8)
    server.slow_seconds = 1.0  # past the client's timeout
    server.faults += ["429", "500", "503", "slow", "drop", "truncate", "malformed"]
    assert lm.generate([PROMPT.format("my card linking failed")]) == ["card_linking"]
    # Seven failures, seven retries, one answer paid for: the slow one's late answer is not counted.
    assert lm.usage.retries == 7 and lm.usage.calls == 1


def test_retries_end_with_one_line_naming_the_last_failure(server):
    lm = client(server, max_retries=1)
    server.faults += ["500", "500"]
    from shouldtune.errors import BackendError

    with pytest.raises(BackendError, match="failed 2 times; last: 500"):
        lm.generate(["hello"])


def test_a_bad_key_stops_at_once_and_the_message_never_holds_it(server):
    from shouldtune.errors import APIAccessError

    lm = APIChatModel(model="fake-1", base_url=server.url, api_key=KEY + "-wrong", retry_base_seconds=0.01)
    with pytest.raises(APIAccessError) as raised:
        lm.generate(["hello"])
    assert "refused the API key (401" in str(raised.value) and "\n" not in str(raised.value)
    assert KEY not in str(raised.value) and len(server.requests) == 0  # rejected before a chat was read


def test_the_response_cache_in_the_store_answers_a_second_client_without_calls(server, tmp_path):
    from shouldtune.store import Store

    with Store(tmp_path / "s.db") as store:
        prompts = [PROMPT.format(text) for text in ("my card linking failed", "where is my card", "hello")]
        first = client(server, store=store).generate(prompts)
        calls = server.chat_calls
        second = client(server, store=store)
        assert second.generate(prompts) == first and server.chat_calls == calls
        assert second.usage.cache_hits == 3 and second.usage.requests == 3 and second.usage.prompt_tokens > 0
    assert_key_nowhere(tmp_path / "s.db")


def test_errors_are_never_cached(server, tmp_path):
    from shouldtune.store import Store

    with Store(tmp_path / "s.db") as store:
        server.faults += ["500"]
        with pytest.raises(Exception):
            client(server, store=store, max_retries=0).generate(["hello"])
        assert client(server, store=store).generate(["hello"]) == ["hello"]


def test_the_spending_cap_stops_before_a_call_that_could_cross_it(server):
    from shouldtune.errors import SpendingCapReached

    lm = client(server, max_spend=0.0005, concurrency=2)  # placeholder prices: ~$0.0003 a call at most
    with pytest.raises(SpendingCapReached, match="stopped before the spending cap"):
        lm.generate([PROMPT.format(f"question {i}") for i in range(10)])
    assert 1 <= server.chat_calls < 10 and lm.spent <= 0.0005


def test_prices_come_from_the_table_with_their_date_else_are_flagged_placeholders(tmp_path):
    known = prices_for("gpt-4o-mini-2024-07-18")
    assert not known.placeholder and "as of 2025-06-01" in known.source
    assert prices_for("llama-3-8b").placeholder
    mine = tmp_path / "prices.yaml"
    mine.write_text("as_of: today\nsource: my contract\nmodels:\n  llama-3-8b: {input_per_million: 0.05, output_per_million: 0.1}\n")
    assert prices_for("llama-3-8b", mine).input_per_million == 0.05


# --- whole runs through the CLI --------------------------------------------------------------


def test_a_whole_comparison_through_the_cli_survives_faults_and_a_rerun_pays_nothing(server, tmp_path, runner_app):
    runner, app = runner_app
    task = task_file(tmp_path, server, "zero-shot, few-shot, few-shot-knn, linear-probe@encoder")
    server.faults += ["429", "500", "drop", "truncate"]
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "API spend, at most" in result.output and "PLACEHOLDER" in result.output
    results = json.loads((out / "results.json").read_text())
    assert {t["strategy"] for t in results["trials"]} == {"zero-shot", "few-shot", "few-shot-knn", "linear-probe@encoder"}
    api = [t for t in results["trials"] if t["backend"] == "openai"]
    assert all(t["charged_by"] == "tokens" and t["tokens"]["prompt_per_request"] > 0 for t in api)
    calls = server.chat_calls
    again = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "again"), "--fresh"])
    assert again.exit_code == 0, again.output
    assert server.chat_calls == calls  # every answer from the response cache
    assert_key_nowhere(tmp_path / "s.db", out, tmp_path / "again", result.output, again.output)


def test_a_bad_key_is_one_line_and_exit_2(server, tmp_path, runner_app, monkeypatch):
    runner, app = runner_app
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "-wrong")
    result = runner.invoke(app, ["run", str(task_file(tmp_path, server, "zero-shot")), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2
    assert "refused the API key" in result.output and "Traceback" not in result.output
    assert KEY not in result.output


@pytest.mark.parametrize("given_test", [True, False], ids=["hold-out", "cross-validated"])
def test_the_spend_plan_counts_the_calls_the_run_then_makes(server, tmp_path, runner_app, given_test):
    runner, app = runner_app
    task = task_file(tmp_path, server, "few-shot, prompt-search")
    text = task.read_text().replace("sizes: [0, 2]", "sizes: [0, 2, 4]")
    if not given_test:  # 36 examples: 2-fold fits at 2 and 4 per class, each fold's inputs answered by its own model
        text = text.replace(f"test: {DATA / 'trec_small_test.jsonl'}\n", "")
    task.write_text(text)
    plan = runner.invoke(app, ["run", str(task), "--plan"])
    assert plan.exit_code == 0, plan.output
    planned = sum(int(calls.replace(",", "")) for calls in re.findall(r"([\d,]+) calls", plan.output))
    result = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert planned == server.chat_calls  # the latency probes are answered from the response cache


def test_plan_prints_calls_tokens_and_money_and_calls_nothing(server, tmp_path, runner_app):
    runner, app = runner_app
    result = runner.invoke(app, ["run", str(task_file(tmp_path, server, "zero-shot, few-shot, prompt-search")), "--plan"])
    assert result.exit_code == 0, result.output
    assert "few-shot" in result.output and "calls" in result.output and "~$" in result.output
    assert server.chat_calls == 0 and not server.requests


def test_max_spend_stops_the_run_and_the_rerun_resumes(server, tmp_path, runner_app):
    runner, app = runner_app
    task = task_file(tmp_path, server, "zero-shot, few-shot")
    store = ["--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "out")]
    stopped = runner.invoke(app, ["run", str(task), *store, "--max-spend", "0.001"])
    assert stopped.exit_code == 3, stopped.output
    assert "stopped before the spending cap" in stopped.output and "--max-spend" in stopped.output
    first = server.chat_calls
    assert first > 0
    resumed = runner.invoke(app, ["run", str(task), *store, "--max-spend", "1"])
    assert resumed.exit_code == 0, resumed.output
    total_distinct = len({json.dumps(body, sort_keys=True) for body in server.requests})
    assert server.chat_calls == total_distinct  # nothing paid for twice
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {t["strategy"] for t in results["trials"]} == {"zero-shot", "few-shot"}


def test_hosted_fine_tuning_trains_once_and_a_rerun_re_attaches(server, tmp_path, runner_app):
    runner, app = runner_app
    task = task_file(tmp_path, server, "zero-shot, hosted-finetune")
    store = ["--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["run", str(task), *store])
    assert result.exit_code == 0, result.output
    assert server.jobs_created == 1  # one size with examples (2 per class), one seed
    (job,) = server.jobs.values()
    assert job["hyperparameters"]["n_epochs"] == 2 and job["seed"] == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    tuned = next(t for t in results["trials"] if t["strategy"] == "hosted-finetune")
    assert tuned["tokens"]["training"] > 0 and tuned["track"] == "finetune"
    again = runner.invoke(app, ["run", str(task), *store, "--fresh"])
    assert again.exit_code == 0, again.output
    assert server.jobs_created == 1 and "re-attached" in again.output


def test_a_hosted_fine_tune_is_costed_at_its_tuned_rate_from_the_backends_own_table(server, tmp_path, runner_app):
    runner, app = runner_app
    table = tmp_path / "prices.yaml"
    table.write_text(
        "as_of: '2026-11-01'\nsource: our contract\nmodels:\n"
        "  fake-1: {input_per_million: 1.0, output_per_million: 2.0, training_per_million: 8.0}\n"
        "  ft:fake-1: {input_per_million: 3.0, output_per_million: 6.0}\n"
    )
    task = task_file(tmp_path, server, "zero-shot, hosted-finetune", prices=str(table))
    result = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    timings = {t["strategy"]: t for t in results["analysis"]["timings"]}
    costs = {c["strategy"]: c for c in results["recommendation"]["costs"]}

    def per_1000(timing, input_rate, output_rate):
        return 1000 * (timing["prompt_tokens_per_request"] * input_rate + timing["output_tokens_per_request"] * output_rate) / 1e6

    prompted, tuned = timings["zero-shot"], timings["hosted-finetune"]
    assert costs["zero-shot"]["per_1000_requests"] == pytest.approx(per_1000(prompted, 1.0, 2.0))
    assert costs["hosted-finetune"]["per_1000_requests"] == pytest.approx(per_1000(tuned, 3.0, 6.0))
    assert costs["hosted-finetune"]["one_time"] == pytest.approx(tuned["training_tokens"] * 8.0 / 1e6)
    assumptions = results["recommendation"]["assumptions"]
    assert not assumptions["placeholder_prices"] and "our contract" in assumptions["prices_file"]
    assert "ft:fake-1" in (tmp_path / "out" / "report.md").read_text()


def test_a_fine_tuning_refusal_is_one_line(tmp_path, runner_app, monkeypatch):
    runner, app = runner_app
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(key=KEY, fine_tuning=False) as fake:
        result = runner.invoke(app, ["run", str(task_file(tmp_path, fake, "hosted-finetune")), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2 and "fine-tuning refused (403" in result.output and "2027-01-06" in result.output


def test_a_fine_tuning_job_that_could_cross_the_cap_is_never_created(server):
    from shouldtune.errors import SpendingCapReached

    lm = client(server, max_spend=0.0001)
    with pytest.raises(SpendingCapReached, match="no job was created"):
        lm.fine_tune_hosted([PROMPT.format(f"question {i}") for i in range(50)], ["other"] * 50, n_epochs=3, seed=0)
    assert server.jobs_created == 0 and not server.files
