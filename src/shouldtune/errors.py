"""Every error shouldtune raises on purpose.

    ShouldtuneError                 base: anything raised on purpose by shouldtune
    ├── InputError                  the user's input is wrong; the CLI prints one line, exits 2
    │   ├── DataError               a data file: missing, unreadable, bad cells, too few labels
    │   ├── TaskFileError           a task file or a setting: unknown key, bad value
    │   ├── StoreError              the store cannot be opened or written, or has no such run
    │   ├── ExportError             export or predict: no such strategy, data gone, not an export folder
    │   ├── APIAccessError          an API refused the key, the access or the model (401, 403, 404)
    │   └── ExecutorError           --executor ray: Ray missing, the cluster unreachable, workers lacking a model
    ├── BackendError                a model could not be loaded or run
    └── SpendingCapReached          the next API calls would cross --max-spend; the run stops, resumable

An ``InputError`` message is a single line that says where (file, row, column), what was
found, and the likely fix, so the CLI can print it as it is.
"""

from __future__ import annotations

from pathlib import Path


class ShouldtuneError(Exception):
    """Base class of every error shouldtune raises on purpose."""


class InputError(ShouldtuneError):
    """Bad user input: an expected event, reported as one line with exit status 2."""

    #: What `column` names for this kind of error; a name starting with "--" is always an option.
    place = "column"

    def __init__(
        self,
        problem: str,
        *,
        fix: str,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.problem = problem
        self.fix = fix
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Return ``FILE, row R, column 'C': problem. Fix: ...`` with the parts that apply ("option" for a flag, "setting" for a task key)."""
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"{'option' if self.column.startswith('--') else self.place} {self.column!r}")
        text = f"{', '.join(where)}: {self.problem}" if where else self.problem
        text = f"{text}. Fix: {self.fix}"
        return " ".join(text.split())  # always one line, whatever the data held


class DataError(InputError):
    """A data file is missing, unreadable, or holds cells shouldtune cannot use."""


class TaskFileError(InputError):
    """A task file or a setting is invalid."""

    place = "setting"


class StoreError(InputError):
    """The store cannot be opened or written, or holds no run by that id."""


class ExportError(InputError):
    """A run's strategy cannot be exported, or `predict` was given a folder or output it cannot use."""


class ExecutorError(InputError):
    """The executor cannot run the trials: Ray is not installed, the cluster is unreachable, or its workers lack what they need."""

    place = "setting"


class BackendError(ShouldtuneError):
    """A model could not be loaded or run."""


class APIAccessError(InputError):
    """An API refused the request for good: a bad key (401), no access (403), an unknown model (404)."""

    place = "setting"


class SpendingCapReached(ShouldtuneError):
    """The next API calls would cross the spending cap; what was bought so far is kept."""
