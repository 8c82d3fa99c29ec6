"""A `shouldtune run` in a process of its own, as a terminal starts it, and the trials its store holds."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path


def start(task_file: Path, folder: Path, *extra: str) -> subprocess.Popen:
    """Start `shouldtune run TASK` with its store and output in `folder`; `extra` flags are passed on."""
    return subprocess.Popen(
        [sys.executable, "-m", "shouldtune.cli", "run", str(task_file), "--store", str(folder / "store.db"),
         "--out", str(folder / "out"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A terminal's Ctrl-C reaches a process that has not ignored SIGINT; a test started in the
        # background inherits it ignored (a shell ignores SIGINT for its background jobs).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def saved_trials(store: Path) -> int:
    """Return the trials saved in `store` so far (0 before the store or its tables exist)."""
    if not store.exists():
        return 0
    db = sqlite3.connect(store, timeout=30)
    try:
        return db.execute("SELECT count(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:  # tables not made yet
        return 0
    finally:
        db.close()
