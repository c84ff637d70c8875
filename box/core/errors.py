"""The SafetyBox exception hierarchy; each error is also the builtin it behaves like.

The CLI turns these into one-line messages; the web layer into 4xx JSON bodies.
"""


class SafetyBoxError(Exception):
    """Base class of every error SafetyBox raises on purpose."""


class ConfigError(SafetyBoxError, ValueError):
    """A config document is invalid; the message names file, line, field path, value and reason."""


class KeyFileError(SafetyBoxError, PermissionError):
    """A key file is missing, malformed or readable by others."""


class StoreError(SafetyBoxError, RuntimeError):
    """The encrypted store cannot be opened or written."""


class DriverError(SafetyBoxError, RuntimeError):
    """A driver cannot be loaded or configured."""


class FrameError(SafetyBoxError, ValueError):
    """A frame received from a device is malformed."""


class DriverOffline(SafetyBoxError, ConnectionError):
    """A device or bus does not answer."""


class BoxNotRunning(SafetyBoxError, ConnectionError):
    """No running box answers at the configured status address."""


class CommandRefused(SafetyBoxError, ValueError):
    """A command (ack, reset, shelve, ...) that does not apply now; the message says why."""
