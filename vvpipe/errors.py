"""The pipeline's own failures: bad input a user can fix. A stage prints them as one line naming
the culprit (``stage.run``); anything else is a bug and keeps its traceback."""


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


class StorageError(PipelineError, OSError):
    """The machine stops the stage: a full disk, a read-only folder, a file it may not read."""
