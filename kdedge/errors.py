"""One exception family for errors a user can act on.

The CLI maps every :class:`KdedgeError` to a one-line message and exit code 2;
anything else is a bug and keeps its traceback.
"""


class KdedgeError(Exception):
    """Base class for errors caused by the user's input, not by a bug."""


class ConfigError(KdedgeError):
    """A flag or config value is invalid. The message names the flag."""


class DataError(KdedgeError):
    """A data file is missing or malformed. The message names the file and line."""


class StageInputError(KdedgeError):
    """A stage's input folder is missing files that the previous stage writes."""


class RetentionError(KdedgeError):
    """A student ``.tflite`` fell below ``--min-retention`` of the float student's accuracy."""


class DeviceError(KdedgeError):
    """adb, the Android device or the on-device tool failed; the message says which and how."""
