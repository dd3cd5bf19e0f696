"""The ``upscope`` command: parse challenges, watch a step-up happen, make a call.

``upscope parse``, ``upscope demo`` and ``upscope request``; see docs/cli.md. This package
is a user of the library, never a part of it: the core does not import it.
"""

from __future__ import annotations

from ._exit import EXIT_NETWORK, EXIT_OK, EXIT_REFUSED, EXIT_USAGE

__all__ = ["EXIT_NETWORK", "EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE"]
