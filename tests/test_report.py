"""report.html and report.md from a results document: content, escaping, old documents."""

from __future__ import annotations

import json
from pathlib import Path

from shouldtune.recommend import with_decision
from shouldtune.report import write_outputs
from shouldtune.report.html import render_html
from shouldtune.report.markdown import render_markdown
from shouldtune.report.view import ReportView, build_view
from synthetic_runs import make_results, right_then_wrong

SCRIPT = "<script>document.title='pwned'</script>"
ONERROR = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
LABELS = (SCRIPT, ONERROR, "$5 fee | $x^2$")  # markup, and text matplotlib would read as mathtext
GOLD = [LABELS[i % 3] for i in range(30)]
TRACKS = {"zero-shot": "prompt", "knn": "prompt", "probe": "finetune", "majority": "baseline"}


def hostile_results() -> dict:
    predictions = {
        ("majority", 0, 0): [LABELS[0]] * 30,
        ("zero-shot", 0, 0): right_then_wrong(GOLD, 12, LABELS),
        ("knn", 2, 0): right_then_wrong(GOLD, 9, LABELS),
        ("knn", 4, 0): right_then_wrong(GOLD, 6, LABELS),
        ("knn", 8, 0): right_then_wrong(GOLD, 5, LABELS),
        ("probe", 2, 0): right_then_wrong(GOLD, 8, LABELS, offset=10),
        ("probe", 4, 0): right_then_wrong(GOLD, 4, LABELS, offset=10),
        ("probe", 8, 0): right_then_wrong(GOLD, 2, LABELS, offset=10),
    }
    texts = [f"{SCRIPT} row {i} | `code` *bold* {ONERROR}\nsecond line" for i in range(30)]
    results = make_results(predictions, GOLD, TRACKS, labels=LABELS, texts=texts, name=f"tickets {SCRIPT}")
    return with_decision(results, predictions)


def test_html_is_self_contained_and_escapes_every_text():
    html = render_html(hostile_results())
    assert "<script" not in html.lower()
    assert "<img src=x" not in html and "onerror=\"document" not in html
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html  # shown, as text
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert html.count('src="data:image/svg+xml;base64,') == 4  # curves, cost, two confusion matrices
    assert 'id="disagreements"' in html and "Why" in html


def test_markdown_carries_the_same_content_without_markup():
    markdown = render_markdown(hostile_results())
    for heading in ("## Recommendation:", "## Learning curves", "### Best fine-tune against best prompt",
                    "### Extrapolation", "## Quality, time and cost", "## Confusion matrix", "## Where the best prompt"):
        assert heading in markdown
    assert "<script" not in markdown and "<img" not in markdown
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ") and "row 1 " in line]
    assert table_rows and all(line.count(" | ") == 4 for line in table_rows)  # pipes in the text are escaped


def test_write_outputs_writes_three_files_and_upgrades_an_old_document(tmp_path: Path):
    old = hostile_results()
    del old["analysis"]
    old["recommendation"] = {"choice": "either", "strategy": "knn", "summary": "old", "reasons": ["old 1"]}
    paths = write_outputs(old, tmp_path / "out")
    assert set(paths) == {"results", "report", "html"} and all(p.is_file() for p in paths.values())
    written = json.loads(paths["results"].read_text())
    assert written["analysis"]["paired"] is False  # no predictions at hand: from the curve intervals
    assert written["recommendation"]["criteria"]


def test_a_run_with_one_track_still_renders():
    predictions = {("knn", 4, 0): right_then_wrong(GOLD, 6, LABELS), ("knn", 8, 0): right_then_wrong(GOLD, 3, LABELS)}
    results = with_decision(make_results(predictions, GOLD, TRACKS, labels=LABELS), predictions)
    html = render_html(results)
    assert "Only the prompt track was run" in html
    assert "Only the prompt track was run" in render_markdown(results)


def test_report_files_follow_the_umask(tmp_path: Path):
    # They are written to a private temporary file and renamed into place; the mode must be the user's.
    import os

    mask = os.umask(0o027)
    try:
        paths = write_outputs(hostile_results(), tmp_path / "out")
    finally:
        os.umask(mask)
    assert {path.stat().st_mode & 0o777 for path in paths.values()} == {0o640}


def two_label_view(wrong: dict[tuple[str, int], tuple[int, int]], **task) -> ReportView:
    """Return the report's content for a run on 40 examples of two labels, the majority baseline beside
    `wrong`: (strategy, n per class) -> (how many it answers wrong, from which example on)."""
    gold = ["A", "B"] * 20
    predictions = {("majority", 0, 0): ["A"] * 40} | {
        (strategy, n, 0): right_then_wrong(gold, count, ("A", "B"), offset=offset)
        for (strategy, n), (count, offset) in wrong.items()
    }
    results = make_results(predictions, gold, TRACKS)
    results["task"].update(task)
    return build_view(with_decision(results, predictions))


def test_the_crossover_tile_says_when_fine_tuning_first_leads_at_the_largest_size():
    view = two_label_view({("knn", 4): (14, 0), ("knn", 8): (14, 0), ("probe", 4): (12, 20), ("probe", 8): (0, 0)})
    (tile,) = [t for t in view.tiles if t.label == "Crossover"]
    assert tile.detail == "fine-tuning ahead with confidence at 8/class, the most measured, and not before"


def test_two_contestants_scored_alike_on_too_few_examples_show_no_odds_in_the_headline_or_the_odds_tile():
    # min_gain 0.03: ±0.06 cannot be shown by 40 agreeing answers (0.072).
    view = two_label_view({("knn", 8): (2, 0), ("probe", 8): (2, 0)}, min_gain=0.03)
    assert view.headline == "Too close to call (no difference measured)"
    (odds,) = [t for t in view.tiles if t.label == "Odds"]
    assert odds.value == "0% / 0%" and odds.detail.startswith("the two scored alike on every example")


def test_the_consistency_section_says_what_one_seed_and_a_few_examples_cannot_show():
    gold = ["A", "B"] * 20
    predictions = {
        ("majority", 0, 0): ["A"] * 40,
        ("knn", 8, 0): right_then_wrong(gold, 10, ("A", "B")),
        ("probe", 8, 0): right_then_wrong(gold, 6, ("A", "B")),
    }
    details = {"knn": {"validation_scores": {"plain": 0.40, "about": 0.70}, "validated_on": 16, "wording_spread_p": 0.62}}
    markdown = render_markdown(with_decision(make_results(predictions, gold, TRACKS, details=details), predictions))
    assert "knn (n=8): accuracy 0.750 on 1 seed; its spread over seeds is not measured" in markdown
    assert "over 1 seed" not in markdown  # a range of one score is no range
    assert "n=8: the 2 prompt wordings knn tried scored 0.400–0.700 on 16 held-back examples, a spread that chance " \
           "alone could give (p = 0.62 with their answers shuffled among them)" in markdown
