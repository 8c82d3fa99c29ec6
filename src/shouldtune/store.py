"""SQLite store: runs, trials, predictions and the embedding cache.

One file (default `.shouldtune/store.db`), WAL mode so a reader never blocks a writer.
Each trial is committed on its own when it finishes, so an interrupted run loses at most
the trial in flight, and running the same command again reuses what is there. Every write
is one short transaction, so two runs can share a store.

The schema is versioned: `meta.schema_version` says which `MIGRATIONS` a store has had.
Opening a store brings it up to date in one transaction (a new store is created at
version 1 and migrated like any other); a store from a newer shouldtune is refused.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shouldtune.errors import StoreError
from shouldtune.records import TrialRecord

# The tables as schema version 1 made them. Never edit: change the schema with a migration.
_SCHEMA_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    task_json TEXT NOT NULL,
    results_json TEXT
)""",
    """CREATE TABLE trials (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    strategy TEXT NOT NULL,
    n_per_class INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    trial_json TEXT NOT NULL,
    predictions_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, strategy, n_per_class, seed)
)""",
    """CREATE TABLE embeddings (
    model_id TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_hash)
)""",
)


def _v2_run_name_and_owner(db: sqlite3.Connection) -> None:
    # `shouldtune runs` lists names, and tells a run still going from one that was killed.
    db.execute("ALTER TABLE runs ADD COLUMN name TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN host TEXT")
    for run_id, task_json in db.execute("SELECT run_id, task_json FROM runs").fetchall():
        db.execute("UPDATE runs SET name=? WHERE run_id=?", (str(json.loads(task_json).get("name", "")), run_id))


def _v3_run_error(db: sqlite3.Connection) -> None:
    # A run whose trial raised is `failed`, and `show` says which trial and why.
    db.execute("ALTER TABLE runs ADD COLUMN error TEXT")


def _v4_trial_identity(db: sqlite3.Connection) -> None:
    # A finished trial is found by what determines its outputs, from any run: another metric,
    # size, seed or strategy reuses it. Trials stored before have no identity and are found
    # only by their own run, as before.
    db.execute("ALTER TABLE trials ADD COLUMN trial_key TEXT")
    db.execute("CREATE INDEX trials_by_key ON trials (trial_key)")


def _v5_api_responses(db: sqlite3.Connection) -> None:
    # An API backend's answers, by a hash of the request: a resumed or repeated run pays for
    # no call twice. Only successful responses are kept; the API key is never part of a request.
    db.execute(
        "CREATE TABLE api_responses (request_hash TEXT PRIMARY KEY, response_json TEXT NOT NULL,"
        " latency_seconds REAL NOT NULL, created_at REAL NOT NULL)"
    )


#: schema version -> the step that brings a store from the version before to it, in order.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _v2_run_name_and_owner,
    3: _v3_run_error,
    4: _v4_trial_identity,
    5: _v5_api_responses,
}
SCHEMA_VERSION = max(MIGRATIONS)

@dataclass(frozen=True)
class StoredTrial:
    """One finished trial as stored: its record and its predictions."""

    record: TrialRecord
    predictions: list[str]
    trial_key: str | None = None  # its identity (planning.trial_key); None in stores written before keys


@dataclass(frozen=True)
class StoredRun:
    """One run as stored: its task, where it stands, and its results document once finished."""

    run_id: str
    name: str
    created_at: float
    finished_at: float | None
    status: str  # "running" | "finished" | "interrupted" (stopped, or its process is gone) | "failed"
    trials: int  # finished trials saved so far
    task: dict[str, Any]
    results: dict[str, Any] | None
    error: str | None = None  # a failed run: which trial raised, and what


def _process_gone(pid: int | None, host: str | None) -> bool:
    """Return True if the process that started a run is known to have ended."""
    if pid is None or host != socket.gethostname():
        return False  # another machine's run (or an old store): no way to tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by another user
        return False
    return False


class Store:
    """The SQLite store; open with `Store(path)`, close with `close()` or a `with` block.

    `create=False` opens only an existing store (for commands that read runs), so a mistyped
    --store path is an error rather than a new, empty store.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(
                "no store here",
                file=self.path,
                fix="pass --store PATH of the store `shouldtune run` wrote (default .shouldtune/store.db)",
            )
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0)
        except (sqlite3.Error, OSError) as err:
            raise self._open_error(err) from None
        try:
            self._version()  # refuses a file that is not a store before anything is written to it
            self._use_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
        except (sqlite3.Error, OSError) as err:
            self._db.close()
            raise self._open_error(err) from None
        except StoreError:
            self._db.close()
            raise

    def _use_wal(self, patience_seconds: float = 30.0) -> None:
        """Switch the file to WAL mode (it stays so), retrying while another process holds a lock.

        Changing the journal mode does not wait on SQLite's busy timeout: under load, two
        processes opening one store at once could see "database is locked" here at once.
        """
        import time

        deadline = time.monotonic() + patience_seconds
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _open_error(self, err: Exception) -> StoreError:
        return StoreError(
            f"cannot open the store ({err})",
            file=self.path,
            fix="pass --store PATH: a store shouldtune wrote, or a new file in a folder you can write to",
        )

    def _version(self) -> int | None:
        """Return the store's schema version; None for a new, empty file; raise StoreError for anything else.

        A file is a store only if it is empty or has our `meta` table: another program's
        SQLite database must never get our tables added to it.
        """
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            if not tables:
                return None
            shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
            raise StoreError(
                f"is an SQLite database but not a shouldtune store (it holds tables {shown})",
                file=self.path,
                fix="pass --store PATH of a new file or of a store shouldtune wrote; this file is left as it is",
            )
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or not str(row[0]).strip().isdigit():
            found = "no schema version" if row is None else f"schema version {row[0]!r}, not a number"
            raise StoreError(
                f"the store's meta table has {found}: it was damaged or edited",
                file=self.path,
                fix="restore the store from a backup, or pass --store PATH for a new store",
            )
        return int(row[0])

    def _upgrade(self) -> None:
        """Create the tables or apply the missing migrations, all in one transaction."""
        if self._version() == SCHEMA_VERSION:
            return  # the usual case: no write, so readers never wait for the lock
        # IMMEDIATE takes the write lock first; the version is read again under it, so two
        # processes opening an old store at once migrate it once.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._version()
            if version is None:
                for statement in _SCHEMA_V1:
                    self._db.execute(statement)
                version = 1
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store was written by a newer shouldtune (schema {version}; this one reads up to {SCHEMA_VERSION})",
                    file=self.path,
                    fix="upgrade shouldtune (pip install -U shouldtune), or pass --store PATH for a new store",
                )
            for target, migrate in MIGRATIONS.items():
                if target > version:
                    migrate(self._db)
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise

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
        except sqlite3.Error as err:
            raise StoreError(
                f"cannot write the store ({err})",
                file=self.path,
                fix="check the folder is writable and the disk has room, or pass --store PATH",
            ) from None

    # runs -----------------------------------------------------------------------------
    def start_run(self, run_id: str, task: dict[str, Any]) -> None:
        """Record a run as started by this process (keeps an existing run's trials for resuming)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (run_id, created_at, status, task_json, name, pid, host)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?)"
                " ON CONFLICT(run_id) DO UPDATE SET status='running', pid=excluded.pid, host=excluded.host, error=NULL",
                (run_id, time.time(), json.dumps(task), str(task.get("name", "")), os.getpid(), socket.gethostname()),
            )

    def finish_run(self, run_id: str, results: dict[str, Any]) -> None:
        """Record a run as finished, with its results document."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status='finished', finished_at=?, results_json=? WHERE run_id=?",
                (time.time(), json.dumps(results), run_id),
            )

    def fail_run(self, run_id: str, error: str) -> None:
        """Record a run as failed: one of its trials raised `error` (its finished trials are kept)."""
        with self._write() as db:
            db.execute("UPDATE runs SET status='failed', error=? WHERE run_id=?", (error, run_id))

    def forget_trials(self, run_id: str) -> int:
        """Delete a run's trials (for --fresh); return how many were deleted."""
        with self._write() as db:
            return db.execute("DELETE FROM trials WHERE run_id=?", (run_id,)).rowcount

    def runs(self) -> list[StoredRun]:
        """Return every run, newest first."""
        rows = self._db.execute(
            "SELECT run_id, name, created_at, finished_at, status, pid, host, task_json, results_json,"
            " (SELECT count(*) FROM trials WHERE trials.run_id = runs.run_id), error"
            " FROM runs ORDER BY created_at DESC, run_id"
        ).fetchall()
        return [
            StoredRun(
                run_id=r[0],
                name=r[1],
                created_at=r[2],
                finished_at=r[3],
                status="interrupted" if r[4] == "running" and _process_gone(r[5], r[6]) else r[4],
                trials=r[9],
                task=json.loads(r[7]),
                results=json.loads(r[8]) if r[8] else None,
                error=r[10],
            )
            for r in rows
        ]

    def find_run(self, reference: str, *, finished: bool = False) -> StoredRun:
        """Return the run whose id is `reference` or starts with it; raise StoreError if none or several.

        With `finished`, a run that has not finished is an error too (it has no results yet).
        """
        runs = self.runs()
        exact = [run for run in runs if run.run_id == reference]
        matches = exact or [run for run in runs if reference and run.run_id.startswith(reference)]
        if len(matches) == 1:
            if finished and matches[0].status == "failed":
                raise StoreError(
                    f"run {matches[0].run_id} failed: {matches[0].error} ({matches[0].trials} trials saved)",
                    file=self.path,
                    fix="the same command would fail the same way: change the setting or data that trial needs, "
                    "then run it again (the finished trials are reused)",
                )
            if finished and matches[0].results is None:
                raise StoreError(
                    f"run {matches[0].run_id} has not finished ({matches[0].status}, {matches[0].trials} trials saved)",
                    file=self.path,
                    fix="finish it by running the same `shouldtune run` command again",
                )
            return matches[0]
        if not runs:
            raise StoreError(
                "the store holds no runs",
                file=self.path,
                fix="run `shouldtune run` first, or pass --store PATH of the store it wrote",
            )
        if matches:
            raise StoreError(
                f"run id {reference!r} is the start of {len(matches)} runs: {', '.join(r.run_id for r in matches[:5])}",
                file=self.path,
                fix="give more characters of the run id",
            )
        ids = [run.run_id for run in runs]
        close = difflib.get_close_matches(reference, ids, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listed = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise StoreError(
            f"no run {reference!r}",
            file=self.path,
            fix=f"{hint}runs in this store: {listed} (see `shouldtune runs`)",
        )

    # trials ---------------------------------------------------------------------------
    def save_trial(self, run_id: str, record: TrialRecord, predictions: list[str], trial_key: str | None = None) -> None:
        """Commit one finished trial atomically; `trial_key` is its identity (see `find_trials`)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO trials"
                " (run_id, strategy, n_per_class, seed, trial_json, predictions_json, created_at, trial_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    record.strategy,
                    record.n_per_class,
                    record.seed,
                    json.dumps(record.to_json()),
                    json.dumps(predictions),
                    time.time(),
                    trial_key,
                ),
            )

    def find_trials(self, trial_keys: Iterable[str]) -> dict[str, StoredTrial]:
        """Return the finished trials with these identities, from any run (one each)."""
        keys = list(dict.fromkeys(trial_keys))
        found: dict[str, StoredTrial] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of parameters
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT trial_key, trial_json, predictions_json FROM trials WHERE trial_key IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for key, record, predictions in rows:
                found.setdefault(key, StoredTrial(TrialRecord.from_json(json.loads(record)), json.loads(predictions), key))
        return found

    def trials(self, run_id: str) -> dict[tuple[str, int, int], StoredTrial]:
        """Return a run's finished trials keyed by (strategy, n_per_class, seed)."""
        rows = self._db.execute(
            "SELECT strategy, n_per_class, seed, trial_json, predictions_json, trial_key FROM trials WHERE run_id=?",
            (run_id,),
        ).fetchall()
        return {
            (r[0], r[1], r[2]): StoredTrial(TrialRecord.from_json(json.loads(r[3])), json.loads(r[4]), r[5]) for r in rows
        }

    def predictions(self, run_id: str) -> dict[tuple[str, int, int], list[str]]:
        """Return a run's stored test predictions by trial: the evidence a decision is made from afresh."""
        return {key: trial.predictions for key, trial in self.trials(run_id).items()}

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

    # API response cache -----------------------------------------------------------------
    def get_api_responses(self, request_hashes: Iterable[str]) -> dict[str, tuple[dict[str, Any], float]]:
        """Return the cached (response, latency seconds) of those requests that have one."""
        found: dict[str, tuple[dict[str, Any], float]] = {}
        hashes = list(request_hashes)
        for start in range(0, len(hashes), 500):  # SQLite caps bound parameters
            chunk = hashes[start : start + 500]
            rows = self._db.execute(
                f"SELECT request_hash, response_json, latency_seconds FROM api_responses WHERE request_hash IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for request_hash, response, latency in rows:
                found[request_hash] = (json.loads(response), float(latency))
        return found

    def put_api_response(self, request_hash: str, response: dict[str, Any], latency_seconds: float) -> None:
        """Cache one successful response by its request's hash."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO api_responses VALUES (?, ?, ?, ?)",
                (request_hash, json.dumps(response), float(latency_seconds), time.time()),
            )
