"""Errors of the vendor's gateway, in front of every model: documented on the vendor's sibling
pages (an older Sora 2 Pro page, the Seedance gateway docs, read 2026-12), not on the create
page whose spec the mock serves. Their `type` is the vendor's; their `code` is not published
for this model, so the mock chooses one (listed in openapi/FIDELITY.md)."""

from __future__ import annotations

from ..spec import CREATE, DocumentedError

GATEWAY_ERRORS: dict[int, DocumentedError] = {
    413: DocumentedError(
        413,
        "request_too_large",
        "Request body too large",
        "request_too_large_error",
    ),
    502: DocumentedError(
        502,
        "upstream_error",
        "Upstream model service unavailable, please try again later",
        "upstream_error",
    ),
    503: DocumentedError(
        503,
        "service_unavailable",
        "Service temporarily unavailable, please retry after 30 seconds",
        "service_unavailable_error",
    ),
}

#: Seconds a 503 asks the caller to wait (`Retry-After`), as the vendor's message says.
RETRY_AFTER_503 = 30


def gateway_statuses(operation: str) -> frozenset[int]:
    """The gateway statuses an operation can answer: a body too large only where there is one."""
    return frozenset(GATEWAY_ERRORS) if operation == CREATE else frozenset({502, 503})
