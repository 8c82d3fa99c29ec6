"""Output folders are checked before any work starts, so a run never ends in an unwritable folder."""

from __future__ import annotations

import os
from pathlib import Path

from shouldtune.errors import InputError, StoreError


def check_writable(folder: str | Path, flag: str, error: type[InputError] = StoreError) -> None:
    """Return None if `folder` exists as a writable folder or could be made; raise `error` if not.

    Nothing is created: a run that stops on bad input must leave no folder behind.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise error("is a file, not a folder", file=folder, fix=f"pass {flag} a folder path")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise error(
            f"cannot be created: {existing} is a file, not a folder",
            file=folder,
            fix=f"pass {flag} a path under a folder",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise error(
            f"cannot be written: no permission to write in {existing}",
            file=folder,
            fix=f"pass {flag} a folder you can write to",
        )
