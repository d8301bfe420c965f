"""Typed errors raised by seglib.

Every error a user can cause (bad folder, bad file, bad setting) is a
``SeglibError`` whose message says what was wrong, where, and what to do.
Pages catch ``SeglibError`` and show ``str(error)``; anything else is a bug.
"""

from __future__ import annotations


class SeglibError(Exception):
    """Base class of every error a user can cause."""


class ConfigError(SeglibError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class DatasetError(SeglibError):
    """A dataset folder cannot be used (missing, empty, nothing readable).

    ``problems``: the ``seglib.data.layout.Problem`` rows found on the way (empty
    when the folder itself is missing), so the caller can list them.
    """

    def __init__(self, message: str, problems=()):
        super().__init__(message)
        self.problems = list(problems)


class ImageReadError(SeglibError):
    """One image or mask file cannot be read."""


class PathNotAllowedError(SeglibError, PermissionError):
    """A path lies outside the configured data roots."""


class ModelError(SeglibError):
    """A model cannot be built or loaded (bad checkpoint, bad settings)."""


class RunError(SeglibError):
    """A run folder is missing, corrupt, or the action is not possible now."""


class NewerConfigError(ConfigError):
    """A saved config was written by a newer version of the project (a higher version, unknown fields)."""


class RunFolderWriteError(RunError):
    """The runs folder or a run's folder cannot be written (disk full, read-only, no permission).

    ``errno`` is the operating system's error number (``errno.ENOSPC`` for a full disk).
    """

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno
