"""Every error answer is `{"code", "message"}` with a fitting HTTP status.

The middleware turns a LedgerError into its status (STATUS_OF), aiohttp's
own HTTP errors (unknown route, wrong method, body too large) into the same
shape, and anything else into a 500 INTERNAL_ERROR with no stack trace for
the client (the trace goes to the node's log).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ledger.errors import Code, LedgerError

log = logging.getLogger("scf.node.api")

_BY_STATUS: dict[int, tuple[Code, ...]] = {
    403: (Code.UNKNOWN_SENDER, Code.MEMBER_FROZEN, Code.FORBIDDEN),
    404: (Code.NOT_FOUND, Code.TX_NOT_FOUND, Code.BLOCK_NOT_FOUND, Code.INVOICE_NOT_FOUND,
          Code.MEMBER_NOT_FOUND, Code.STATE_VERSION_NOT_FOUND),
    405: (Code.METHOD_NOT_ALLOWED,),
    409: (Code.BAD_NONCE, Code.NONCE_TOO_FAR, Code.TX_EXPIRED),
    413: (Code.BODY_TOO_LARGE,),
    415: (Code.UNSUPPORTED_MEDIA_TYPE,),
    429: (Code.RATE_LIMITED, Code.MEMPOOL_FULL, Code.TOO_MANY_STREAMS),
    500: (Code.INTERNAL_ERROR,),
    503: (Code.NODE_UNAVAILABLE,),
    504: (Code.WAIT_TIMEOUT,),
}
STATUS_OF: dict[Code, int] = {code: status for status, codes in _BY_STATUS.items()
                              for code in codes}
_AIOHTTP_CODES = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 413: Code.BODY_TOO_LARGE,
                  415: Code.UNSUPPORTED_MEDIA_TYPE}

#: Seconds a client is told to wait after MEMPOOL_FULL.
MEMPOOL_RETRY_AFTER_S = 1


def status_of(code: Code) -> int:
    """400 for everything a client must fix in its request."""
    return STATUS_OF.get(code, 400)


def error_response(code: Code, message: str, *, retry_after_s: int | None = None
                   ) -> web.Response:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return web.json_response({"code": code.value, "message": message},
                             status=status_of(code), headers=headers)


def ledger_error_response(error: LedgerError) -> web.Response:
    retry = MEMPOOL_RETRY_AFTER_S if error.code == Code.MEMPOOL_FULL else None
    return error_response(error.code, error.message, retry_after_s=retry)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LedgerError as error:
        return ledger_error_response(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _AIOHTTP_CODES.get(error.status, Code.BAD_REQUEST)
        if error.status == 503:
            code = Code.NODE_UNAVAILABLE
        elif error.status >= 500:
            code = Code.INTERNAL_ERROR
        if code == Code.BODY_TOO_LARGE:
            message = f"the body is above this route's limit ({error.text})"
        else:
            detail = error.text if error.text and error.text != f"{error.status}: " \
                f"{error.reason}" else ""
            message = f"{error.reason}: {detail}" if detail else error.reason
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return web.json_response({"code": code.value, "message": message},
                                 status=error.status, headers=headers)
    except (ConnectionResetError, OSError) as error:
        log.info("%s %s: connection lost: %s", request.method, request.path, error)
        raise
    except Exception:  # noqa: BLE001 - a bug in the node: never a stack trace to the client
        log.exception("%s %s failed", request.method, request.path)
        return error_response(Code.INTERNAL_ERROR, "the node failed to answer; see its log")
