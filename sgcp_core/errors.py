# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every error sgcp_core raises on purpose, in one place.

Each message names the file, key or option at fault and, where there is one, the fix. The
command lines turn these (and OSError) into one ``error:`` line and exit status 2.
"""

from __future__ import annotations

__all__ = ['ConfigError', 'ModelFileError', 'CheckpointMismatchError', 'EngineError',
           'DeviceFallbackWarning', 'ExportError', 'DatasetError', 'ClassGroupsError',
           'TeacherCacheError', 'CommandError', 'USER_ERRORS', 'describe_error']


class ConfigError(ValueError):
    """A config file or value is invalid; the message names the key and the file."""


class ModelFileError(ValueError):
    """A model file is unreadable, not this package's format, or its metadata is invalid."""


class CheckpointMismatchError(ModelFileError):
    """A weight file's keys or shapes do not fit the model it is loaded into."""


class EngineError(RuntimeError):
    """The engine cannot be built or run as asked (backend, device or model problem)."""


class DeviceFallbackWarning(RuntimeWarning):
    """CUDA was asked for but is not available, so the engine runs on the CPU."""


class ExportError(RuntimeError):
    """Export failed or the exported graph disagrees with PyTorch."""


class DatasetError(ValueError):
    """A dataset path, file or label value is wrong; the message names it."""


class ClassGroupsError(ValueError):
    """A class groups file cannot be used with this model; the message names the problem."""


class TeacherCacheError(ValueError):
    """The teacher does not fit the student's data (classes, frame sizes)."""


class CommandError(Exception):
    """A user-facing failure of a command line: printed as one ``error:`` line, exit 2."""


# What a command line reports as one line instead of a traceback: bad input, not a bug.
# (ValueError covers ConfigError, ModelFileError and the library's own argument checks.)
USER_ERRORS = (CommandError, ValueError, EngineError, ExportError, OSError)


def describe_error(error: BaseException) -> str:
    """One line for the user: the message, or for OS errors what failed on which path."""
    if isinstance(error, OSError) and error.strerror:
        # str() would read "[Errno 13] Permission denied: 'x'"; say it plainly.
        where = ' -> '.join(f"'{name}'" for name in (error.filename, error.filename2)
                            if name is not None)
        text = f'{error.strerror}: {where}' if where else error.strerror
    else:
        text = str(error).strip() or type(error).__name__
    return ' '.join(text.split())
