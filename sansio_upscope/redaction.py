"""Keeping secrets out of logs (rule 9): the library's second line of defence.

The library builds its log lines from values that hold no secret. For text that might
hold one (a URL with ``code=`` in its query, a request body, a header value):

* ``redact(text)``: ``text`` with credentials and secret-named fields replaced by
  ``REDACTED``.
* ``redact_headers(pairs)``: (name, value) pairs with the whole value of credential
  headers (``Authorization``, ``Cookie``, ...) replaced.
* ``RedactingFilter``: a ``logging.Filter`` for a handler that redacts every record
  passing through it.

Every logger of the library lives under ``ROOT_LOGGER`` (``"sansio_upscope"``). See
docs/logging.md.
"""

from ._log import REDACTED, ROOT_LOGGER, RedactingFilter, redact, redact_headers

__all__ = ["REDACTED", "ROOT_LOGGER", "RedactingFilter", "redact", "redact_headers"]
