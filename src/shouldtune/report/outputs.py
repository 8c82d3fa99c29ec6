"""Write a run's files into its output folder, whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from shouldtune.errors import StoreError
from shouldtune.folders import follow_umask


def _write_atomically(path: Path, text: str) -> None:
    # A reader never sees half a file: write beside it, then rename over it.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        follow_umask(temporary)  # mkstemp made it private
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_outputs(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write results.json, report.md and report.html into `out_dir`; return their paths.

    The reports are drawn from the document alone (its `analysis` and `recommendation`
    sections), so a stored results.json can be rendered again at any time; to re-decide
    under other prices or volume first pass it through `shouldtune.recommend.with_decision`.
    """
    from shouldtune.report.html import render_html
    from shouldtune.report.markdown import render_markdown

    if not results.get("analysis"):  # a document from before the analysis section: derive it (unpaired)
        from shouldtune.recommend import with_decision

        results = with_decision(results)
    out = Path(out_dir)
    markdown, html = render_markdown(results), render_html(results)  # before any file is touched
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = {"results": out / "results.json", "report": out / "report.md", "html": out / "report.html"}
        _write_atomically(paths["results"], json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        _write_atomically(paths["report"], markdown)
        _write_atomically(paths["html"], html)
    except OSError as err:
        raise StoreError(
            f"cannot write the output folder ({err.strerror})",
            file=out,
            fix="pass --out DIR in a folder you can write to",
        ) from None
    return paths
