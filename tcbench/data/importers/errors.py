"""The error every importer raises for bad input: the message names the file and what would be valid."""


class RawDataError(ValueError):
    """A raw input is missing, of the wrong format or truncated; the message names the file."""
