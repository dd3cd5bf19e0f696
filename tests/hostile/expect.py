"""The check every hostile case shares: a clear, typed error (each adapter's own types are
its driver's ``transport_errors`` and ``timeout_errors``, tests/driver.py)."""

from __future__ import annotations

from tests.driver import Outcome


def assert_typed_error(outcome: Outcome, *types: type[BaseException]) -> BaseException:
    """``outcome`` ended with an exception of one of ``types`` whose message says
    something (not a bare re-raise from deep inside a dependency)."""
    error = outcome.error
    assert error is not None, f"expected one of {[t.__name__ for t in types]}, got {outcome!r}"
    assert isinstance(error, types), (
        f"expected one of {[t.__name__ for t in types]}, got {type(error).__module__}."
        f"{type(error).__name__}: {error}"
    )
    # The caller's own timeout (asyncio's bare TimeoutError, trio.TooSlowError) carries no
    # message; every error the library or its transport raises must say what happened.
    if type(error).__name__ not in ("TimeoutError", "TooSlowError") and not _httpx_own(error):
        assert str(error).strip(), f"{type(error).__name__} has an empty message"
    return error


def _httpx_own(error: BaseException) -> bool:
    """httpx's own error for a connection reset under asyncio, which the httpx adapters
    pass through as httpx raised it (their users catch httpx's types): httpx on anyio
    raises ``ReadError('')`` from anyio's ``BrokenResourceError()``, neither with a
    message, with or without the adapter."""
    if type(error).__name__ != "ReadError":
        return False
    chain: BaseException | None = error
    while chain is not None:
        if type(chain).__name__ == "BrokenResourceError":
            return True
        chain = chain.__cause__ or chain.__context__
    return False
