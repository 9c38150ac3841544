class PhaselogError(Exception):
    """An error the user can fix: its message names the file, field or run and what to do."""


class StoreHeld(PhaselogError):
    """Another process holds the store file past the writer's wait: the message names it."""


class DataError(PhaselogError):
    """Input text or data that cannot be used for training, with the file that caused it."""
