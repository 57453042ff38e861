"""Who may read what faxgate writes: private by default (umask 077), shared only where an administrator says so."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077
"""Set at server start: the data folder, the database (raw mails, faxes), archives and work files are the owner's."""
PRIVATE_FOLDER = 0o700


def file_mode(folder_mode: int) -> int:
    """The mode of files in a folder of `folder_mode`: the same read/write bits, never executable."""
    return folder_mode & 0o666


def make_folders(path: Path, mode: int) -> None:
    """mkdir -p in which every folder created gets `mode` whatever the umask; existing folders keep theirs."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, mode)


def private_data_dir(path: Path) -> None:
    """Create the data folder (or take an existing one) as 0700: nobody else reads the spool."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_FOLDER)
