"""demo_board version 2 (a test fixture for upgrades, not a product).

The record layout changes: post n is now the map {"author", "edits", "text",
"words"}, where `words` counts the space-separated words of `text` and
`edits` how often its author changed it. Texts may be 256 bytes, and
`edit(post_id, text)` is new (the author only, else FORBIDDEN).

Migration `count_words` rewrites every version 1 post (1 .. next_post - 1)
into the new layout, once, at the activation height.
"""

from __future__ import annotations

from typing import Any

from contracts.engine import Contract, MethodSpec
from ledger import codec
from ledger.contract_api import CallContext, MigrationContext
from ledger.errors import Code, LedgerError
from ledger.state import Namespace
from ledger.structure import Int, Str

NAME = "demo_board"
NEXT_POST = b"next_post"
TEXT = Str(max_bytes=256)


def post_key(post_id: int) -> bytes:
    return b"post/" + post_id.to_bytes(8, "big")


def word_count(text: str) -> int:
    return len([word for word in text.split(" ") if word])


def _record(author: str, text: str, edits: int) -> bytes:
    return codec.encode({"author": author, "edits": edits, "text": text,
                         "words": word_count(text)})


def _next_post(state: Namespace) -> int:
    data = state.get(NEXT_POST)
    return 1 if data is None else int(codec.decode(data))  # type: ignore[call-overload]


def _read(state: Namespace, post_id: int) -> dict[str, Any] | None:
    data = state.get(post_key(post_id))
    return None if data is None else dict(codec.decode(data))  # type: ignore[call-overload]


def _post(ctx: CallContext, args: dict[str, Any]) -> None:
    post_id = _next_post(ctx.state)
    ctx.state.put(NEXT_POST, codec.encode(post_id + 1))
    ctx.state.put(post_key(post_id), _record(ctx.sender.member_id, args["text"], 0))
    ctx.emit("demo_board.posted", {"post_id": post_id, "version": 2,
                                   "subjects": [f"member:{ctx.sender.member_id}"]})


def _edit(ctx: CallContext, args: dict[str, Any]) -> None:
    post_id = args["post_id"]
    post = _read(ctx.state, post_id)
    if post is None:
        raise LedgerError(Code.INVALID_ARGUMENT, f"post_id: no post {post_id}")
    if post["author"] != ctx.sender.member_id:
        raise LedgerError(Code.FORBIDDEN, f"only {post['author']} edits post {post_id}")
    ctx.state.put(post_key(post_id), _record(post["author"], args["text"], post["edits"] + 1))
    ctx.emit("demo_board.edited", {"post_id": post_id,
                                   "subjects": [f"member:{ctx.sender.member_id}"]})


def count_words(ctx: MigrationContext) -> None:
    """Version 1 posts {"author", "text"} -> version 2 posts, in post order."""
    for post_id in range(1, _next_post(ctx.state)):
        old = _read(ctx.state, post_id)
        if old is None:
            raise LedgerError(Code.INVALID_STATE_TRANSITION, f"post {post_id} is missing")
        ctx.state.put(post_key(post_id), _record(old["author"], old["text"], 0))


CONTRACT = Contract(NAME, 2, (
    MethodSpec("post", _post, (("text", TEXT),)),
    MethodSpec("edit", _edit, (("post_id", Int(1)), ("text", TEXT))),
), migrations=(("count_words", count_words),))
