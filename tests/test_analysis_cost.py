import json

import pytest

from shouldtune.analysis.cost import (
    CostProfile,
    Prices,
    StrategyCost,
    TokenRates,
    break_even_requests,
    cost_profile,
    latency_percentiles,
    load_prices,
    monthly_cost,
    total_cost,
)
from shouldtune.errors import TaskFileError


def test_default_prices_are_the_documented_placeholders():
    assert load_prices(None) == Prices(1.0, 0.0, 0.0, 0.0)


def test_load_prices_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text("compute_per_hour: 2.5\ninput_per_million: 0.15\n")
    assert load_prices(yaml_file) == Prices(compute_per_hour=2.5, input_per_million=0.15)
    json_file = tmp_path / "prices.json"
    json_file.write_text(json.dumps({"output_per_million": 0.6, "training_per_million": 3}))
    assert load_prices(json_file) == Prices(output_per_million=0.6, training_per_million=3.0)


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("compute_per_hr: 2\n")
    with pytest.raises(TaskFileError, match="did you mean 'compute_per_hour'"):
        load_prices(path)


@pytest.mark.parametrize("body", ["input_per_million: -1\n", "input_per_million: cheap\n", "- 1\n- 2\n", "a: [\n"])
def test_bad_prices_raise_task_file_error(tmp_path, body):
    path = tmp_path / "prices.yaml"
    path.write_text(body)
    with pytest.raises(TaskFileError):
        load_prices(path)


def test_missing_prices_file_raises_task_file_error(tmp_path):
    with pytest.raises(TaskFileError, match="cannot read"):
        load_prices(tmp_path / "nope.yaml")


def test_cost_profile_hand_computed():
    prices = Prices(compute_per_hour=2.0, input_per_million=0.15, output_per_million=0.6, training_per_million=3.0)
    measured = dict(
        fit_seconds=1800,
        predict_seconds_per_request=0.036,
        prompt_tokens_per_request=500,
        output_tokens_per_request=20,
        training_tokens=2e6,
    )
    # A local model is paid by the machine's time; its tokens cost nothing more.
    # one-time: 1800 s / 3600 * $2/h = $1.00; per request: 0.036 s / 3600 * $2/h = $0.00002 -> per 1000 $0.02
    local = cost_profile(StrategyCost(**measured, charged_by="compute"), prices)
    assert local.one_time == pytest.approx(1.0)
    assert local.per_1000_requests == pytest.approx(0.02)
    # An API is paid by its tokens; the time is the provider's.
    # one-time: 2e6 training tokens * $3/M = $6; per request: 500 * $0.15/M + 20 * $0.60/M = $0.000087 -> $0.087
    api = cost_profile(StrategyCost(**measured, charged_by="tokens"), prices)
    assert api.one_time == pytest.approx(6.0)
    assert api.per_1000_requests == pytest.approx(0.087)


def test_each_hosted_model_is_charged_its_own_rates_and_a_fine_tune_its_tuned_rate(tmp_path):
    # Prompting gpt-4o against fine-tuning gpt-4o-mini: each pays its own model's rates, and the
    # tuned model serves at the fine-tuned rate (twice the base's), trained at the base's rate.
    path = tmp_path / "prices.yaml"
    path.write_text(
        "compute_per_hour: 2\n"
        "models:\n"
        "  gpt-4o: {input_per_million: 2.5, output_per_million: 10}\n"
        "  gpt-4o-mini: {input_per_million: 0.15, output_per_million: 0.6, training_per_million: 3}\n"
        "  ft:gpt-4o-mini: {input_per_million: 0.3, output_per_million: 1.2}\n"
    )
    prices = load_prices(path)
    assert prices.models["ft:gpt-4o-mini"] == TokenRates(0.3, 1.2, 0.0)
    tokens = dict(fit_seconds=60, predict_seconds_per_request=0.5, prompt_tokens_per_request=500,
                  output_tokens_per_request=20, charged_by="tokens")
    # 500 * $2.50/M + 20 * $10/M = $0.00145 a request -> $1.45 per 1000
    prompted = cost_profile(StrategyCost(**tokens, model="gpt-4o"), prices)
    assert prompted.per_1000_requests == pytest.approx(1.45) and prompted.one_time == 0
    # serving 500 * $0.30/M + 20 * $1.20/M = $0.000174 -> $0.174 per 1000; training 2e6 * $3/M = $6
    tuned = cost_profile(StrategyCost(**tokens, training_tokens=2e6, model="gpt-4o-mini", tuned=True), prices)
    assert tuned.per_1000_requests == pytest.approx(0.174) and tuned.one_time == pytest.approx(6.0)
    # A model served from another server is found by its id without the "@server" part.
    assert prices.rates("gpt-4o@http://127.0.0.1:8000/v1") == TokenRates(2.5, 10.0, 0.0)
    # A model the file does not list pays the flat token rates (here the placeholders, $0).
    assert cost_profile(StrategyCost(**tokens, model="llama-3-8b"), prices).per_1000_requests == 0


@pytest.mark.parametrize("body, message", [
    ("models: [gpt-4o]\n", "must map each model id"),
    ("models: {gpt-4o: {input_per_milion: 2.5}}\n", "unknown price 'input_per_milion' of model 'gpt-4o'"),
    ("models: {gpt-4o: {output_per_million: -1}}\n", "negative"),
])
def test_bad_model_rates_name_the_model_and_the_fix(tmp_path, body, message):
    path = tmp_path / "prices.yaml"
    path.write_text(body)
    with pytest.raises(TaskFileError, match=message):
        load_prices(path)


def test_monthly_and_total_cost():
    # 30,000 requests at $0.50 per 1000 = $15 a month; 3 months plus $12 once = $57.
    profile = CostProfile(one_time=12.0, per_1000_requests=0.5)
    assert monthly_cost(profile, 30_000) == pytest.approx(15.0)
    assert total_cost(profile, 30_000, months=3) == pytest.approx(57.0)


def test_break_even_hand_computed():
    # Fine-tuning costs $12 more up front and saves $2.00 - $0.50 = $1.50 per 1000 requests:
    # 12 / 1.50 * 1000 = 8,000 requests.
    finetune = CostProfile(one_time=12.0, per_1000_requests=0.5)
    prompt = CostProfile(one_time=0.0, per_1000_requests=2.0)
    assert break_even_requests(finetune, prompt) == pytest.approx(8000.0)


def test_break_even_edge_cases():
    cheap_everywhere = CostProfile(one_time=0.0, per_1000_requests=0.1)
    pricier_per_request = CostProfile(one_time=5.0, per_1000_requests=3.0)
    prompt = CostProfile(one_time=1.0, per_1000_requests=2.0)
    assert break_even_requests(cheap_everywhere, prompt) == 0.0
    assert break_even_requests(pricier_per_request, prompt) is None
    # Cheaper up front but dearer per request: more traffic never favours fine-tuning.
    assert break_even_requests(CostProfile(0.0, 3.0), prompt) is None


def test_latency_percentiles_linear():
    # Sorted 1..5: p50 = 3; p95 at position 0.95 * 4 = 3.8 -> 4 + 0.8 * (5 - 4) = 4.8; mean 3.
    latency = latency_percentiles([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (latency.p50, latency.mean) == (3.0, 3.0)
    assert latency.p95 == pytest.approx(4.8)
