"""`shouldtune advise`: the rules table, the scoring, and the command it prints."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shouldtune.advise import BANDS, QUESTIONS, RULES, advise, band, confirm_command
from shouldtune.cli import app
from shouldtune.errors import TaskFileError


def test_every_rule_reads_a_known_question_and_answer():
    questions = {q.key: q for q in QUESTIONS}
    for rule in RULES:
        question = questions[rule.question]
        known = question.choices or tuple(name for _, name in BANDS[rule.question])
        assert set(rule.answers) <= set(known), rule
        assert rule.favours in {"prompt", "finetune", "collect-more-data"} and rule.weight > 0
        assert rule.because.endswith(".") and "\n" not in rule.because


def test_bands():
    assert [band("examples_per_class", str(n)) for n in (0, 1, 20, 21, 100, 101)] == ["none", "few", "few", "some", "some", "many"]
    assert band("requests_per_month", "10000") == "low" and band("requests_per_month", "2000000") == "high"
    assert band("deadline", "days") == "days"


def test_no_data_and_defaults_lean_to_prompting():
    # Defaults: weeks, general, no format need, 0 examples, medium budget, 10,000 requests, interactive.
    # Fired: none -> prompt +3, none -> collect +2, general -> prompt +1, low volume -> prompt +1.
    advice = advise({})
    assert advice.scores == {"prompt": 5, "finetune": 0, "collect-more-data": 2}
    assert advice.choice == "prompt"
    assert advice.reasons[0].startswith("Labelled data (you have 0 per class, +3 for prompt)")
    assert advice.first is not None and "40 examples per class" in advice.first


def test_specialised_high_volume_realtime_leans_to_fine_tuning():
    advice = advise({"examples_per_class": 200, "knowledge": "specialised", "latency": "realtime",
                     "requests_per_month": 5_000_000, "consistent_format": "yes"})
    # some/many +2, many +1, specialised +2, format +2, high volume +2, realtime +2 = 11.
    assert advice.scores["finetune"] == 11 and advice.choice == "finetune"
    assert advice.first is None


def test_a_tie_between_the_tracks_is_either():
    # 50 per class (finetune +2), general (prompt +1), low volume (prompt +1): 2 against 2.
    assert advise({"examples_per_class": 50}).choice == "either"


def test_confirm_command_sizes_follow_the_data_at_hand():
    # 100 per class, 20% held out -> a pool of 80: doubling sizes up to 80.
    command = confirm_command({"examples_per_class": "100", "requests_per_month": "50000"}, data="my data.csv")
    assert command == "shouldtune run --data 'my data.csv' --sizes 0,4,8,16,32,64,80 --seeds 3 --requests-per-month 50000"


def test_bad_answers_are_input_errors():
    with pytest.raises(TaskFileError, match="--latency must be one of"):
        advise({"latency": "fast"})
    with pytest.raises(TaskFileError, match="whole number"):
        advise({"examples_per_class": "-3"})


def test_cli_by_flags_without_a_terminal():
    result = CliRunner().invoke(app, ["advise", "--examples-per-class", "200", "--knowledge", "specialised", "--json"])
    assert result.exit_code == 0, result.output
    advice = json.loads(result.output)
    assert advice["choice"] == "finetune" and advice["command"].startswith("shouldtune run --data labelled.csv")
    plain = CliRunner().invoke(app, ["advise", "--no-input", "--deadline", "days"])
    assert plain.exit_code == 0 and "Prior recommendation: prompt" in plain.output and "shouldtune run" in plain.output
    bad = CliRunner().invoke(app, ["advise", "--no-input", "--budget", "huge"])
    assert bad.exit_code == 2 and "--budget must be one of" in bad.output


def test_answers_piped_on_stdin_are_read_one_a_line():
    # Questions not given as flags are answered in order; a blank line keeps the default.
    given = CliRunner().invoke(app, ["advise", "--json", "--deadline", "days"], input="specialised\n\n200\n")
    assert given.exit_code == 0, given.output
    answers = json.loads(given.stdout)["answers"]
    assert answers["deadline"] == "days" and answers["knowledge"] == "specialised"
    assert answers["consistent_format"] == "no" and answers["examples_per_class"] == "200"


def test_a_bad_piped_answer_is_one_line():
    bad = CliRunner().invoke(app, ["advise"], input="dayz\n")
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.exit_code == 2 and len(lines) == 1
    assert "stdin: line 1 answers 'deadline' with 'dayz'" in lines[0] and "Fix: answer days or weeks or months" in lines[0]
    extra = CliRunner().invoke(app, ["advise"], input="\n" * (len(QUESTIONS) + 1))
    assert extra.exit_code == 2 and "questions are left to answer" in extra.stderr
