"""Step-up authorization for httpx: ``UpscopeAuth``, an ``httpx.Auth``.

::

    client = httpx.AsyncClient(auth=upscope_httpx.UpscopeAuth(tokens))
    response = upscope_httpx.raise_for_step_up(await client.get("https://api.example/files"))
"""

from _upscope_io._httpx import HttpxTokenSource, raise_for_step_up

from ._auth import UpscopeAuth

__all__ = ["HttpxTokenSource", "UpscopeAuth", "raise_for_step_up"]
