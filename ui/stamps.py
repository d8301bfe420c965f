"""Cheap cache keys for files and dataset folders: they change when the file or the folder changes.

Every cache keyed on something on disk (a checkpoint, a run's CSV, a dataset) takes one of these.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def file_stamp(path: str | os.PathLike | None) -> tuple:
    """``(modification time in ns, size)`` of a file; ``()`` when there is none (or no path)."""
    if path is None:
        return ()
    try:
        stat = Path(path).stat()
    except (OSError, TypeError):
        return ()
    return (stat.st_mtime_ns, stat.st_size)


def folder_stamp(folder: str | os.PathLike) -> tuple:
    """Modification times of a dataset folder and its sub-folders (two levels) and its ``.complete``
    marker: they change when files are added, removed or the generator finishes."""
    folder = Path(folder)
    stamp: list = []
    with contextlib.suppress(OSError):
        stamp.append(folder.stat().st_mtime_ns)
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                stamp.append((child.name, child.stat().st_mtime_ns))
                for grandchild in sorted(child.iterdir()):
                    if grandchild.is_dir():
                        stamp.append((child.name, grandchild.name, grandchild.stat().st_mtime_ns))
            elif child.name == ".complete":
                stamp.append((child.name, child.stat().st_mtime_ns))
    return tuple(stamp)
