"""Write a run's files into its output folder, whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from shouldtune.errors import StoreError


def _write_atomically(path: Path, text: str) -> None:
    # A reader never sees half a file: write beside it, then rename over it.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_outputs(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write results.json and report.md into `out_dir`; return their paths."""
    from shouldtune.report.markdown import render_markdown

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = {"results": out / "results.json", "report": out / "report.md"}
        _write_atomically(paths["results"], json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        _write_atomically(paths["report"], render_markdown(results))
    except OSError as err:
        raise StoreError(
            f"cannot write the output folder ({err.strerror})",
            file=out,
            fix="pass --out DIR in a folder you can write to",
        ) from None
    return paths
