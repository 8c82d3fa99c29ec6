"""SQLite store: runs, trials, predictions and the embedding cache.

One file (default `.shouldtune/store.db`), WAL mode so a reader never blocks a writer.
Each trial is committed on its own when it finishes, so an interrupted run loses at most
the trial in flight, and running the same command again reuses what is there.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shouldtune.errors import StoreError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    task_json TEXT NOT NULL,
    results_json TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    strategy TEXT NOT NULL,
    n_per_class INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    trial_json TEXT NOT NULL,
    predictions_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, strategy, n_per_class, seed)
);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_hash)
);
"""


@dataclass(frozen=True)
class StoredTrial:
    """One finished trial as stored: its record (a results.json trial) and its predictions."""

    record: dict[str, Any]
    predictions: list[str]


class Store:
    """The SQLite store; open with `Store(path)`, close with `close()` or a `with` block."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        except (sqlite3.Error, OSError) as err:
            raise StoreError(
                f"cannot open the store ({err})",
                file=self.path,
                fix="pass --store PATH in a folder you can write to",
            ) from None
        version = int(self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store was written by a newer shouldtune (schema {version}, this one reads {SCHEMA_VERSION})",
                file=self.path,
                fix="upgrade shouldtune, or pass --store PATH for a new store",
            )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._db:
                yield self._db
        except sqlite3.OperationalError as err:
            raise StoreError(
                f"cannot write the store ({err})",
                file=self.path,
                fix="check the folder is writable and the disk has room, or pass --store PATH",
            ) from None

    # runs -----------------------------------------------------------------------------
    def start_run(self, run_id: str, task: dict[str, Any]) -> None:
        """Record a run as started (keeps an existing run's trials for resuming)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (run_id, created_at, status, task_json) VALUES (?, ?, 'running', ?)"
                " ON CONFLICT(run_id) DO UPDATE SET status='running'",
                (run_id, time.time(), json.dumps(task)),
            )

    def finish_run(self, run_id: str, results: dict[str, Any]) -> None:
        """Record a run as finished, with its results document."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status='finished', finished_at=?, results_json=? WHERE run_id=?",
                (time.time(), json.dumps(results), run_id),
            )

    def forget_trials(self, run_id: str) -> int:
        """Delete a run's trials (for --fresh); return how many were deleted."""
        with self._write() as db:
            return db.execute("DELETE FROM trials WHERE run_id=?", (run_id,)).rowcount

    def runs(self) -> list[dict[str, Any]]:
        """Return every run, newest first, with its status and results document if finished."""
        rows = self._db.execute(
            "SELECT run_id, created_at, finished_at, status, task_json, results_json FROM runs"
            " ORDER BY created_at DESC"
        ).fetchall()
        return [
            {
                "run_id": r[0],
                "created_at": r[1],
                "finished_at": r[2],
                "status": r[3],
                "task": json.loads(r[4]),
                "results": json.loads(r[5]) if r[5] else None,
            }
            for r in rows
        ]

    # trials ---------------------------------------------------------------------------
    def save_trial(self, run_id: str, record: dict[str, Any], predictions: list[str]) -> None:
        """Commit one finished trial atomically."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    record["strategy"],
                    record["n_per_class"],
                    record["seed"],
                    json.dumps(record),
                    json.dumps(predictions),
                    time.time(),
                ),
            )

    def trials(self, run_id: str) -> dict[tuple[str, int, int], StoredTrial]:
        """Return a run's finished trials keyed by (strategy, n_per_class, seed)."""
        rows = self._db.execute(
            "SELECT strategy, n_per_class, seed, trial_json, predictions_json FROM trials WHERE run_id=?",
            (run_id,),
        ).fetchall()
        return {
            (r[0], r[1], r[2]): StoredTrial(json.loads(r[3]), json.loads(r[4])) for r in rows
        }

    # embedding cache ------------------------------------------------------------------
    def get_embeddings(self, model_id: str, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Return the cached vectors of those texts that have one."""
        found: dict[str, np.ndarray] = {}
        hashes = list(text_hashes)
        for start in range(0, len(hashes), 500):  # SQLite caps bound parameters
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for text_hash, blob in self._db.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model_id=? AND text_hash IN ({marks})",
                (model_id, *chunk),
            ):
                found[text_hash] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_embeddings(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        """Cache vectors by text hash for one model."""
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                [(model_id, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()],
            )
