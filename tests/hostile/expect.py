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
    if type(error).__name__ not in ("TimeoutError", "TooSlowError"):
        assert str(error).strip(), f"{type(error).__name__} has an empty message"
    return error
