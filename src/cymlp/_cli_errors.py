"""The command line's error type and exit statuses (standard library only).

``cli`` and every ``_cli_*`` module import these from here, so that the command
modules never import ``cli`` back (``cli`` imports them lazily to run a command).
"""

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An error to report in one line (exit status 2)."""
