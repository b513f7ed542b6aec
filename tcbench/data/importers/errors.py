"""What every importer shares about its inputs: the error it raises for bad input (naming the file and what would be
valid) and the record of one raw file, a plain file or a member of a zip archive."""

from __future__ import annotations

from dataclasses import dataclass


class RawDataError(ValueError):
    """A raw input is missing, of the wrong format or truncated; the message names the file."""


@dataclass(frozen=True)
class RawFile:
    """One raw input file: ``path`` of a plain file, or of a member of the zip ``archive``; ``size`` in bytes."""

    path: str
    archive: str | None
    size: int

    @property
    def where(self) -> str:
        """How error messages name the file."""
        return f"{self.archive}:{self.path}" if self.archive else self.path
