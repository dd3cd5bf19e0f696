"""Step-up authorization for httpx2: ``UpscopeAuth``, an ``httpx2.Auth``.

::

    client = httpx2.AsyncClient(auth=upscope_httpx2.UpscopeAuth(tokens))
    response = upscope_httpx2.raise_for_step_up(await client.get("https://api.example/files"))
"""

from _upscope_io._httpx import HttpxTokenSource, raise_for_step_up

from ._auth import UpscopeAuth

__all__ = ["HttpxTokenSource", "UpscopeAuth", "raise_for_step_up"]
