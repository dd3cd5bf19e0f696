"""What counts as a clear, typed error for each adapter, and the checks every case shares."""

from __future__ import annotations

from .drivers import Outcome


def transport_errors(adapter: str) -> tuple[type[BaseException], ...]:
    """The adapter's documented exception for a failure below HTTP."""
    if adapter == "requests":
        import requests

        return (requests.RequestException,)
    from _upscope_io import TransportError

    return (TransportError,)


def timeout_errors(adapter: str) -> tuple[type[BaseException], ...]:
    """What the caller's own timeout raises in each framework."""
    if adapter == "requests":
        import requests

        return (requests.Timeout,)
    if adapter == "trio":
        import trio

        return (trio.TooSlowError,)
    return (TimeoutError,)


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
