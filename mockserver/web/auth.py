"""The admin token: with `Settings.admin_token`, every `/_mock/*` route answers 401 unless the
request carries `Authorization: Bearer <token>`, except what must stay open: the health check
(CI waits on it), the result videos (clients download them with no header, as from the
vendor's CDN) and the dashboard's static shell (it holds no data and asks for the token)."""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..spec import Spec
from .errors import documented, envelope

ADMIN_PREFIX = "/_mock/"
#: Paths under /_mock/ that answer without the token, and prefixes of such paths.
OPEN_PATHS = frozenset({"/_mock/health", "/_mock/ui"})
OPEN_PREFIXES = ("/_mock/videos/", "/_mock/ui/")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def bearer_matches(authorization: bytes | None, token: bytes) -> bool:
    """Whether an Authorization header is `Bearer <token>`, compared in constant time."""
    scheme, _, value = (authorization or b"").partition(b" ")
    # compare_digest on every request, even a malformed one: the time says nothing of the token
    same = hmac.compare_digest(value.strip(), token)
    return same and scheme.lower() == b"bearer"


class AdminAuth:
    """ASGI middleware: the token check in front of the admin routes. The vendor's routes pay
    one `startswith`."""

    def __init__(self, app: ASGIApp, token: str, spec: Spec) -> None:
        self.app = app
        self.token = token.encode()
        body = envelope(
            documented(spec, None, 401),
            "Admin routes need Authorization: Bearer <the server's --admin-token>",
        )
        self.refusal = JSONResponse(
            body, status_code=401, headers={"www-authenticate": 'Bearer realm="evolink-mock"'}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(ADMIN_PREFIX) and not is_open(path):
                authorization = next(
                    (v for k, v in scope["headers"] if k == b"authorization"), None
                )
                if not bearer_matches(authorization, self.token):
                    await self.refusal(scope, receive, send)
                    return
        await self.app(scope, receive, send)
