"""Error types shared by loaders, computations and the CLI.

An :class:`InputError` is a problem with what the user gave us (a file, a
parameter, a name). The CLI prints its message and exits with status 1; the
database is left as it was because every loader runs in one transaction.
"""


class RestoreDbError(Exception):
    """Base class of all errors restore-db reports to the user."""

    exit_code = 3


class InputError(RestoreDbError):
    """Bad input: a file, layer, code or parameter that cannot be used."""

    exit_code = 1


class DatabaseError(RestoreDbError):
    """The database is unreachable, lacks an extension, or is not migrated."""

    exit_code = 3
