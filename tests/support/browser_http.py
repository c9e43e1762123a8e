"""An HTTP client session that resends as a browser does.

A kept-alive connection may be closed by the server at any moment (an nginx
reload closes its old workers' idle ones); a request sent on it at that
instant is reset before the server read it. Browsers send such a request again
on a new connection (RFC 9112, 9.3.1). ``resending_session`` does the same for
GETs, once, and records each resend so a test can bound them; a status, a
timeout or a second error still fails.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def resending_session(resent: list[str]) -> requests.Session:
    """A session whose GETs are sent once more after a connection reset; each resend is appended to ``resent``."""

    class ResendOnce(Retry):
        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            resent.append(repr(error))
            return super().increment(method, url, response, error, _pool, _stacktrace)

    session = requests.Session()
    retry = ResendOnce(total=1, connect=0, read=1, status=0, redirect=0, other=0, allowed_methods={"GET"}, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


def only_resets(resent: list[str], most: int) -> bool:
    """Every resend followed a connection closed before an answer, and there were at most ``most``."""
    return all("Connection aborted" in e for e in resent) and len(resent) <= most
