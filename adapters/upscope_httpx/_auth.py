"""``UpscopeAuth``: the shared step-up flows (``_upscope_io._httpx``) as an ``httpx.Auth``."""

from __future__ import annotations

import httpx

from _upscope_io._httpx import HttpxAuthFlows

__all__ = ["UpscopeAuth"]


class UpscopeAuth(
    HttpxAuthFlows[httpx.Request, httpx.Response, httpx.Client | httpx.AsyncClient], httpx.Auth
):
    """Answers OAuth step-up challenges for an ``httpx.Client`` or ``httpx.AsyncClient``
    (asyncio or trio): ``httpx.AsyncClient(auth=UpscopeAuth(tokens))``.

    ``tokens``: ``def tokens(request: RequestToken) -> Token`` (sync ``Client``),
    ``async def tokens(request) -> Token`` (``AsyncClient``), or an OAuth token source
    from ``sansio_upscope.oauth`` (either). An OAuth source's requests go through a
    private ``httpx.Client``/``AsyncClient`` made for each token request, or through
    ``oauth_client`` (one of the right kind, with your TLS and proxy settings), never
    through the client this auth is attached to. ``store``: an ``upscope_store`` store
    (tokens outlive the process; processes sharing it make one token request).

    One instance may serve many requests at once, from tasks or threads: they share one
    token per protected resource and one token request at a time. When the step-up
    gives up after a response, that last response is returned with the core's
    ``StepUpError`` in ``response.upscope_error``; ``raise_for_step_up(response)``
    raises it. When it gives up before anything was sent (the token request for an
    expired token failed), the ``StepUpError`` is raised from the request call.
    """

    library = httpx
