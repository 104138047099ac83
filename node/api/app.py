"""The client API application: routes, limits and the error shape.

Routes are listed once in `ROUTES` (a test checks them against docs/api.yaml).
Limits: the body size per request (`api.max_body_bytes`), a token bucket per
client address for every /v1 route but the peer channel (429 RATE_LIMITED
with Retry-After), the batch size, the number of event streams, and the page
sizes of the routes that list.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ledger.errors import Code
from node.api import chain, events, txs
from node.api.errors import Handler, error_middleware, error_response
from node.api.rate_limit import RateLimiter
from node.api.requests import NODE
from node.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from node.service import Node

ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/txs", txs.post_tx),
    ("POST", "/v1/txs/batch", txs.post_batch),
    ("GET", "/v1/txs/{tx_id}", txs.get_tx),
    ("GET", "/v1/blocks/latest", chain.get_latest_block),
    ("GET", "/v1/blocks/{height}", chain.get_block),
    ("GET", "/v1/blocks/{height}/raw", chain.get_raw_entry),
    ("GET", "/v1/commits/{height}", chain.get_commit),
    ("GET", "/v1/status", chain.get_status),
    ("GET", "/v1/state/{key}", chain.get_state),
    ("GET", "/v1/accounts/{public_key}", chain.get_account),
    ("GET", "/v1/members/{member_id}", chain.get_member_route),
    ("GET", "/v1/invoices/{fingerprint}", chain.get_invoice_route),
    ("GET", "/v1/events", events.get_events),
    ("GET", "/v1/subjects/{subject}/events", events.get_subject_events),
)
UNLIMITED_PATHS = ("/v1/peer", "/metrics")

class _MalformedRequestsFilter(logging.Filter):
    """aiohttp logs a malformed request head (a line too long, bad syntax) as an
    error with a traceback. It is the client's mistake, and one client sending
    many must not fill the log with tracebacks: it becomes one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = f"{record.msg}: malformed request: %s"
            detail = next((line.strip() for line in str(error.message).splitlines() if line.strip()),
                          type(error).__name__)
            record.args = (*(record.args or ()), detail[:200])  # type: ignore[misc]
            record.exc_info, record.exc_text = None, None
        return True


HTTP_SERVER_LOG = logging.getLogger("scf.node.http")
HTTP_SERVER_LOG.addFilter(_MalformedRequestsFilter())

#: aiohttp server settings (`web.AppRunner` keyword arguments) bounding what one
#: connection may hold. aiohttp has no separate timeout for reading a request
#: head: `keepalive_timeout` closes a connection that has no request in hand
#: for that long, counted from its opening or from its last answer, which is
#: what ends a slow-loris client trickling its headers (aiohttp's own default
#: is an hour). The head itself is bounded in size (a long request line:
#: /v1/events takes up to 64 filters of 256 characters), and a malformed one
#: is logged as one line (`HTTP_SERVER_LOG`).
SERVER_SETTINGS: dict[str, Any] = {
    "keepalive_timeout": 10.0,
    "max_line_size": 32 * 1024,
    "max_field_size": 8 * 1024,
    "logger": HTTP_SERVER_LOG,
}


def build_app(node: Node, peer_routes: Iterable[web.RouteDef]) -> web.Application:
    limiter = RateLimiter(node.config.api.rate_per_s, node.config.api.burst)

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in UNLIMITED_PATHS:
            wait = limiter.check(request.remote or "unknown", time.monotonic())
            if wait is not None:
                return error_response(Code.RATE_LIMITED, "too many requests from this client",
                                      retry_after_s=max(1, math.ceil(wait)))
        return await handler(request)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=node.metrics.registry.render().encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    app = web.Application(middlewares=[error_middleware, rate_limit],
                          client_max_size=node.config.api.max_body_bytes)
    app[NODE] = node
    app.router.add_routes([web.route(method, path, handler) for method, path, handler in ROUTES])
    app.router.add_get("/metrics", metrics)
    app.router.add_routes(list(peer_routes))
    return app
