"""Output folders are checked before any work starts, so a run never ends in an unwritable folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shouldtune.errors import InputError, StoreError


def check_writable(folder: str | Path, flag: str, error: type[InputError] = StoreError) -> None:
    """Return None if `folder` exists as a writable folder or could be made; raise `error` if not.

    Nothing is left behind: a run that stops on bad input must leave no folder. Permission
    bits do not tell (root passes them, /proc and read-only mounts refuse anyway), so a
    folder is made and removed at once in the nearest folder that exists.
    """
    if not str(folder).strip():
        raise error("is empty", column=flag, fix=f"pass {flag} a folder path, e.g. {flag} runs/mine")
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
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".shouldtune-probe-", dir=existing))
    except OSError as err:
        raise error(
            f"cannot be written: {existing} does not let a folder be made in it ({err.strerror})",
            file=folder,
            fix=f"pass {flag} a folder you can write to",
        ) from None


def _umask() -> int:
    """Return the process's umask without changing it (Linux reports it; elsewhere it is set back at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: str | Path) -> None:
    """Give `path` (and, for a folder, everything in it) the mode a plain `open` or `mkdir` would have.

    Temporary files and folders are made private (0600, 0700) and some writers keep that
    mode; a file the user asked for should follow their umask like any other.
    """
    path = Path(path)
    mask = _umask()
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for each in paths:
        if not each.is_symlink():
            each.chmod((0o777 if each.is_dir() else 0o666) & ~mask)
