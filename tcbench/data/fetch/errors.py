"""The one error a fetch raises: a single line naming the file or URL and the next step (no traceback)."""

from __future__ import annotations


class FetchError(Exception):
    """A download that cannot go on: unreachable, refused by the server, a wrong checksum, an unaccepted licence."""
