"""demo_board version 1 (a test fixture for upgrades, not a product).

`post(text)` stores post n (1, 2, ...) under `post/<n, 8 bytes big-endian>`
as the map {"author", "text"}; texts are at most 64 bytes. `next_post` is
the next number: the index a migration walks (state has no key scans).
"""

from __future__ import annotations

from typing import Any

from contracts.engine import Contract, MethodSpec
from ledger import codec
from ledger.contract_api import CallContext
from ledger.structure import Str

NAME = "demo_board"
NEXT_POST = b"next_post"


def post_key(post_id: int) -> bytes:
    return b"post/" + post_id.to_bytes(8, "big")


def _post(ctx: CallContext, args: dict[str, Any]) -> None:
    data = ctx.state.get(NEXT_POST)
    post_id = 1 if data is None else int(codec.decode(data))  # type: ignore[call-overload]
    ctx.state.put(NEXT_POST, codec.encode(post_id + 1))
    ctx.state.put(post_key(post_id), codec.encode({"author": ctx.sender.member_id,
                                                   "text": args["text"]}))
    ctx.emit("demo_board.posted", {"post_id": post_id, "version": 1,
                                   "subjects": [f"member:{ctx.sender.member_id}"]})


CONTRACT = Contract(NAME, 1, (
    MethodSpec("post", _post, (("text", Str(max_bytes=64)),)),
))
