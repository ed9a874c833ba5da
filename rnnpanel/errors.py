"""One exception type per layer, each carrying a message meant for the user.

The command line turns any :class:`RnnpanelError` into one line and exit status 2;
the app turns it into a notification. Messages name the problem *and* the remedy.
"""


class RnnpanelError(Exception):
    """Base of every error a user can cause and fix."""


class DataError(RnnpanelError):
    """A corpus, user file, download or checksum is not what it should be."""


class ModelError(RnnpanelError):
    """A model directory, config or checkpoint is missing, incomplete or inconsistent."""


class StoreError(RnnpanelError):
    """The on-disk state store is missing an entry or holds a damaged one."""


class BackendUnavailable(RnnpanelError):
    """A projection backend cannot be imported or initialised on this machine."""


class DamagedEntry(StoreError):
    """A store entry (or a map of it) whose stored bytes or metadata are damaged; the message names
    what is damaged and the command that repairs it. ``key`` is the entry's key."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key
