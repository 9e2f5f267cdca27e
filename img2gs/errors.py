"""Typed errors for problems a user can fix. The CLI prints them as one line and exits with code 2."""


class Img2gsError(Exception):
    """Base class: a problem with the user's input or environment, explained in the message."""


class ImageInputError(Img2gsError):
    """A photo could not be used (missing, not an image, truncated, absurd size, ...)."""


class DataFormatError(Img2gsError):
    """A posed-view folder (transforms.json) or other data file is malformed."""


class CheckpointError(Img2gsError):
    """A model checkpoint folder is missing, incomplete or incompatible."""


class OutputError(Img2gsError):
    """An output cannot be written (exists without --force, unwritable directory, NaN values)."""


class MissingDependencyError(Img2gsError):
    """An optional dependency is needed for the requested feature."""


class PresetError(Img2gsError):
    """A named preset does not exist or has unknown fields."""


class SettingError(Img2gsError):
    """An IMG2GS_* environment setting (e.g. an input limit, see img2gs.limits) is malformed."""


class StageError(Img2gsError):
    """A pipeline stage failed for a reason that is not the input's fault (a bug, or memory ran out): the
    message names the stage and the input; the original exception is chained as its cause."""
