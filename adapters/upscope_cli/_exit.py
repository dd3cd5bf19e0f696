"""Exit codes, one meaning each (documented in docs/cli.md)."""

from __future__ import annotations

__all__ = ["EXIT_NETWORK", "EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "UsageError"]

#: The request succeeded (or the parse / demo ran).
EXIT_OK = 0
#: The server refused, or the machine gave up (a ``StepUpError``, a token request refused).
EXIT_REFUSED = 1
#: Bad usage or input: an unknown option, a bad URL, a malformed header in ``--strict``.
EXIT_USAGE = 2
#: The network: the host is unreachable, the connection was refused or dropped.
EXIT_NETWORK = 3


class UsageError(Exception):
    """Bad input from the command line; the message says what and how to fix it."""
