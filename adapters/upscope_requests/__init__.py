"""Step-up authorization for requests: ``UpscopeAuth`` as ``session.auth``.

::

    session = requests.Session()
    session.auth = upscope_requests.UpscopeAuth(tokens)
    response = upscope_requests.raise_for_step_up(session.get("https://api.example/files"))
"""

from ._auth import UpscopeAuth
from ._prepared import raise_for_step_up
from ._tokens import DEFAULT_OAUTH_TIMEOUT, SyncTokenSource

__all__ = ["DEFAULT_OAUTH_TIMEOUT", "SyncTokenSource", "UpscopeAuth", "raise_for_step_up"]
