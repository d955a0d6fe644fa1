"""The pipeline's own failures: bad input a user can fix. A stage prints them as one line naming
the culprit (``stage.run``); anything else is a bug and keeps its traceback."""

from __future__ import annotations

import errno


class PipelineError(Exception):
    """Base of every failure that is the input's fault, not the code's."""


class ParamsError(PipelineError, ValueError):
    """A missing, unknown, mistyped or out-of-range parameter; the message names the key."""


class DataError(PipelineError, ValueError):
    """Data that cannot be used as it is: a changed test split, no readable image, a leak."""


class MissingInputError(PipelineError, FileNotFoundError):
    """A file an earlier stage writes is not there."""


class UsageError(PipelineError, ValueError):
    """A command line or environment variable the pipeline cannot use."""


class CheckpointError(PipelineError, ValueError):
    """A checkpoint that does not belong to this run."""


class NonFiniteLossError(PipelineError, RuntimeError):
    """The training loss became NaN or infinite: the settings (a learning rate, say) diverge."""


class StorageError(PipelineError, OSError):
    """The machine stops the stage: a full disk, a read-only folder, a file it may not read."""


class ArchiveError(PipelineError):
    """The archive is unreadable or holds a member that must not be extracted."""


# An OSError with these is the machine's, not the archive's.
STORAGE_ERRNOS = {errno.ENOSPC: "no space left on the device",
                  errno.EDQUOT: "the disk quota is exceeded",
                  errno.EROFS: "the file system is read-only",
                  errno.EACCES: "permission denied",
                  errno.EPERM: "operation not permitted",
                  errno.EISDIR: "a folder stands where a file is to be written",
                  errno.ENOTDIR: "a file stands where a folder is needed"}


def storage_error(error: OSError, doing: str) -> StorageError | None:
    """The one-line error for an OSError that the machine, not the code, caused; else None."""
    reason = STORAGE_ERRNOS.get(error.errno)
    if reason is None:
        return None
    where = f" ({error.filename})" if error.filename else ""
    return StorageError(f"{doing}{where}: {reason}")
