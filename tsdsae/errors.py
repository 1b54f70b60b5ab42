"""The one exception type the library raises for bad input.

Every problem a user can cause (a missing soundfont, audio at the wrong sample
rate, a truncated checkpoint, an unknown preset …) is reported as a
:class:`TsdsaeError` whose message is a single line naming the problem and,
where there is one, the fix. The command line prints that line and exits 2.
"""

from __future__ import annotations


class TsdsaeError(ValueError):
    """A user-facing error whose message is one line that names the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class FolderBusyError(TsdsaeError):
    """Another living process holds the folder (:func:`tsdsae.io.folder_lock`): a sweep skips it."""
