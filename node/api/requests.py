"""Reading what a client sent: bodies, path and query parameters, strictly.

Every helper raises LedgerError(BAD_REQUEST or UNSUPPORTED_MEDIA_TYPE) with
a message naming the parameter, so handlers stay one line per input.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ledger import codec
from ledger.errors import Code, LedgerError

if TYPE_CHECKING:
    from node.service import Node

NODE: web.AppKey[Any] = web.AppKey("node")
MSGPACK = "application/msgpack"
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_DECIMAL = re.compile(r"[0-9]{1,19}")
JSON = "application/json"
#: A request body must arrive within this many seconds (8 MiB at about 1 Mbit/s);
#: a client trickling it slower would hold a connection and a handler forever.
BODY_TIMEOUT_S = 60.0


def node_of(request: web.Request) -> Node:
    node: Node = request.app[NODE]
    return node


def bad_request(message: str) -> LedgerError:
    return LedgerError(Code.BAD_REQUEST, message)


def content_kind(request: web.Request) -> str:
    kind = request.content_type
    if kind in (MSGPACK, "application/x-msgpack", "application/vnd.msgpack"):
        return MSGPACK
    if kind == JSON:
        return JSON
    raise LedgerError(Code.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {kind!r}: send {MSGPACK} "
                      f"(the canonical encoding) or {JSON}")


async def read_body(request: web.Request) -> bytes:
    """The whole body (aiohttp enforces the size limit), within `BODY_TIMEOUT_S`."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await request.read()
    except TimeoutError:
        raise bad_request(f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request)
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise bad_request(f"the body is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise bad_request("the JSON body must be an object")
    return value


def bytes_field(document: dict[str, Any], name: str) -> bytes:
    """`name` as lowercase hex, or `name_base64` as standard base64."""
    if name in document:
        text = document[name]
        if not isinstance(text, str):
            raise bad_request(f"{name}: a hex string")
        return parse_hex(text, name)
    encoded = document.get(f"{name}_base64")
    if isinstance(encoded, str):
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"{name}_base64: not base64") from None
    raise bad_request(f"the JSON body needs {name!r} (hex) or '{name}_base64'")


def msgpack_byte_list(raw: bytes, max_items: int) -> list[bytes]:
    value = codec.decode(raw, max_size=len(raw))
    if not isinstance(value, list) or not all(type(item) is bytes for item in value):
        raise bad_request("the msgpack body must be an array of byte strings (signed transactions)")
    if len(value) > max_items:
        raise bad_request(f"at most {max_items} transactions per batch, got {len(value)}")
    return value


def hex_path(request: web.Request, name: str, size: int | None = 32) -> bytes:
    value = parse_hex(request.match_info[name], name)
    if size is not None and len(value) != size:
        raise bad_request(f"{name}: {size} bytes ({2 * size} hex digits)")
    return value


def parse_hex(text: str, name: str) -> bytes:
    """Hex digits only, in pairs (bytes.fromhex would also skip whitespace)."""
    if _HEX.fullmatch(text) is None:
        raise bad_request(f"{name}: hex digits, two per byte")
    return bytes.fromhex(text)


def parse_decimal(text: str, name: str) -> int:
    """ASCII digits only (str.isdigit is also true for '²' and '١')."""
    if _DECIMAL.fullmatch(text) is None:
        raise bad_request(f"{name}: a non-negative integer")
    return int(text)


def int_param(text: str | None, name: str, *, default: int | None = None,
              low: int = 0, high: int = 2**63 - 1) -> int:
    if text is None:
        if default is None:
            raise bad_request(f"{name}: required")
        return default
    value = parse_decimal(text, name)
    if not low <= value <= high:
        raise bad_request(f"{name}: from {low} to {high}")
    return value


def flag_param(request: web.Request, name: str) -> bool:
    text = request.query.get(name)
    if text in (None, "0", "false"):
        return False
    if text in ("", "1", "true"):
        return True
    raise bad_request(f"{name}: 1 or 0")
