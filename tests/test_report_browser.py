"""A real browser opens report.html: it renders, logs nothing, shows the plots, and runs no payload.

The data of a small generated run carries `<script>` and `onerror` payloads in its texts and
labels; if any of them reached the page as markup it would retitle the page or mark the body
(`data-pwned`), and the page's Content-Security-Policy would log the blocked attempt.
Needs Debian's `chromium` (`.ci/run` installs it); skipped when it is not installed.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shouldtune.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

TITLE_PAYLOAD = "<script>document.title='pwned'</script>"
BODY_PAYLOAD = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
LABELS = {
    TITLE_PAYLOAD: ["What is the weather like in {}", "Will it rain in {} tomorrow", "How hot is it in {} today"],
    BODY_PAYLOAD: ["Which restaurant in {} serves the best pasta", "Where can I eat sushi in {}", "Recommend a bakery in {}"],
    "fees & $5 charges": ["Why was I charged a fee in {}", "How much does a transfer to {} cost", "Refund the charge from {}"],
}
CITIES = ["Paris", "Lima", "Oslo", "Cairo", "Perth", "Quito", "Osaka", "Accra"]


def _write_dataset(folder: Path) -> tuple[Path, Path]:
    train, test = [], []
    for label, patterns in LABELS.items():
        rows = []
        for i, city in enumerate(CITIES):
            text = patterns[i % len(patterns)].format(city) + "?"
            if i % 4 == 0:  # some texts carry the payloads too
                text = f"{TITLE_PAYLOAD} {BODY_PAYLOAD} {text}"
            rows.append({"text": text, "label": label})
        # Texts that fit no class well, so the strategies disagree and the examples table has rows.
        rows += [{"text": f"Tell me something about {city} {TITLE_PAYLOAD}", "label": label} for city in CITIES[:3]]
        train += [row for j, row in enumerate(rows) if j not in (3, 7, 9)]
        test += [row for j, row in enumerate(rows) if j in (3, 7, 9)]
    paths = folder / "train.jsonl", folder / "test.jsonl"
    for path, rows in zip(paths, (train, test)):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return paths


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    train, test = _write_dataset(folder)
    result = CliRunner().invoke(app, [
        "run", "--data", str(train), "--test", str(test), "--name", "hostile <b>run</b>", "--sizes", "0,2,4", "--seeds", "2",
        "--strategies", "majority,zero-shot,linear-probe", "--out", str(folder / "out"),
        "--store", str(folder / "store.db"), "--requests-per-month", "5000",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder / "out" / "report.html"


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=180,
    )


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_console_messages_are_detected(tmp_path: Path):
    # The control: a page that does log must be caught, or the next test proves nothing.
    page = tmp_path / "control.html"
    page.write_text("<!doctype html><title>c</title><script>console.error('control-error')</script>")
    completed = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    assert any("control-error" in line for line in _console(completed.stderr)), completed.stderr[-2000:]


def test_report_renders_without_errors_and_shows_the_plots(report: Path, tmp_path: Path):
    screenshot = tmp_path / "report.png"
    shot = _chromium(f"--screenshot={screenshot}", "--window-size=1280,2400", report.as_uri(), profile=tmp_path / "p1")
    assert screenshot.is_file() and screenshot.stat().st_size > 20_000, shot.stderr[-2000:]
    print(f"screenshot: {screenshot}")

    dumped = _chromium("--dump-dom", report.as_uri(), profile=tmp_path / "p2")
    assert _console(shot.stderr + dumped.stderr) == []
    dom = dumped.stdout
    assert 'id="decision"' in dom and "Recommendation" not in dom or "Why" in dom
    # Both plots are in the page, as SVG documents that parse.
    for plot in ("plot-curves", "plot-cost"):
        match = re.search(rf'<img[^>]*id="{plot}"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', dom) or re.search(
            rf'<img[^>]*src="data:image/svg\+xml;base64,([^"]+)"[^>]*id="{plot}"', dom)
        assert match, f"{plot} missing"
        svg = ElementTree.fromstring(base64.b64decode(match.group(1)))
        assert svg.tag.endswith("svg") and len(list(svg.iter())) > 50
    assert dom.count('class="plot confusion"') == 2


def test_payloads_in_texts_and_labels_do_not_run(report: Path, tmp_path: Path):
    dumped = _chromium("--dump-dom", report.as_uri(), profile=tmp_path / "p3")
    dom = dumped.stdout
    assert _console(dumped.stderr) == []
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]  # the body was not marked
    assert "<title>shouldtune: hostile &lt;b&gt;run&lt;/b&gt;</title>" in dom  # not retitled, name escaped
    assert "pwned</title>" not in dom
    # The payloads are shown as text, escaped, in the page (labels and example texts).
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"&gt;" in dom
    assert "<script" not in dom.lower()
    assert 'id="disagreements"' in dom  # example texts, with their payloads, are in the page
    assert not re.search(r"<img(?![^>]*\bsrc=\"data:image/svg\+xml;base64,)", dom)  # every image is one of our plots
