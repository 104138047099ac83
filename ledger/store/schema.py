"""Every storage key of a node, built here and nowhere else.

Keys start with one prefix byte naming the table; heights, versions and
indices follow as fixed-width big-endian integers, so LevelDB's bytewise
order is numeric order and a table is one prefix scan. `FORMAT_VERSION` is
stored in the metadata; a change to any layout here bumps it, and a node
refuses a store of another format instead of misreading it.

| prefix | key                                   | value                          |
|--------|---------------------------------------|--------------------------------|
| 00     | "meta/" name                          | chain id, format, genesis hash, head height |
| 01     | height                                | Block                          |
| 02     | block hash                            | height                         |
| 03     | height                                | Commit that finalised the block |
| 04     | tx id                                 | height ‖ index                 |
| 05     | height ‖ index                        | Receipt                        |
| 06     | version ‖ depth ‖ path                | state tree node                |
| 07     | stale-since version                   | node keys (pruning index)      |
| 08     | state key                             | latest value (head state)      |
| 09     | u16 len ‖ subject ‖ height ‖ tx ‖ event | tx id (event index by subject) |

Table 09 indexes the events of successful receipts by each string of their
`subjects` attribute ("invoice:<fp hex>", "member:SUPPLIER-01", ...), so a
member's or an invoice's history is one prefix scan, in chain order. Its
key is the subject's UTF-8 length (u16) and bytes (1..256), then height
(u64), tx index (u32) and event index (u32); the length prefix keeps
"member:A" from matching "member:AB". Adding this table
changed no existing layout; a store written before it has no entries for
its earlier blocks (rebuild by replaying them into a fresh store).

Table 07 holds one record per version v that made tree nodes stale: the
keys of every node the tree of v no longer reaches, each as version (u64)
‖ depth (u16) ‖ path (ceil(depth / 8) bytes, so the depth fixes where the
next key starts), concatenated. These are the 06 keys without the prefix;
pruning at k reads the records of versions <= k and deletes what they
name. Format 1 wrote one record per stale node instead (key: since ‖ node
key, empty value), a LevelDB put each, as many as the new nodes: format 2
packs them. There is no deployed chain, so a format-1 store is refused
(STORE_FORMAT_MISMATCH), not migrated: re-sync it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ledger.errors import Code, LedgerError
from ledger.smt import NodeKey

FORMAT_VERSION = 2

META = b"\x00meta/"
BLOCK = b"\x01"
BLOCK_HEIGHT_BY_HASH = b"\x02"
COMMIT = b"\x03"
TX_LOCATION = b"\x04"
RECEIPT = b"\x05"
STATE_NODE = b"\x06"
STALE_NODE = b"\x07"
LATEST_STATE = b"\x08"
EVENT_INDEX = b"\x09"

MAX_SUBJECT_BYTES = 256


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def read_u64(data: bytes) -> int:
    return int.from_bytes(data[:8], "big")


def meta(name: str) -> bytes:
    return META + name.encode()


HEAD = meta("head")
CHAIN_ID = meta("chain_id")
FORMAT = meta("format_version")
GENESIS_HASH = meta("genesis_hash")
PRUNED_BELOW = meta("pruned_below")


def block(height: int) -> bytes:
    return BLOCK + u64(height)


def block_height_by_hash(block_hash: bytes) -> bytes:
    return BLOCK_HEIGHT_BY_HASH + block_hash


def commit(height: int) -> bytes:
    return COMMIT + u64(height)


def tx_location(tx_id: bytes) -> bytes:
    return TX_LOCATION + tx_id


def tx_location_value(height: int, index: int) -> bytes:
    return u64(height) + u32(index)


def read_tx_location(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[:8], "big"), int.from_bytes(data[8:12], "big")


def receipt(height: int, index: int) -> bytes:
    return RECEIPT + u64(height) + u32(index)


def receipts_of(height: int) -> bytes:
    return RECEIPT + u64(height)


def state_node(node_key: NodeKey) -> bytes:
    version, depth, path = node_key
    return b"".join((STATE_NODE, version.to_bytes(8, "big"), depth.to_bytes(2, "big"), path))


def read_state_node(key: bytes) -> NodeKey:
    """The NodeKey of a STATE_NODE key."""
    return NodeKey(read_u64(key[1:9]), int.from_bytes(key[9:11], "big"), key[11:])


# A block writes thousands of tree nodes: `state_node_keys` gives the same
# keys as `state_node`, a few times faster, reusing the bytes of the version
# they share (all of a block's new nodes have one).
_DEPTH = [depth.to_bytes(2, "big") for depth in range(257)]


def state_node_keys(node_keys: Iterable[NodeKey]) -> Iterator[bytes]:
    """`state_node(key)` for each key, in order."""
    version, prefix = -1, b""
    for node_version, depth, path in node_keys:
        if node_version != version:
            version, prefix = node_version, STATE_NODE + node_version.to_bytes(8, "big")
        yield prefix + _DEPTH[depth] + path


def stale_nodes(stale_since_version: int) -> bytes:
    """The key of the record of the nodes that became stale at this version."""
    return STALE_NODE + u64(stale_since_version)


def read_stale_since(key: bytes) -> int:
    """The stale-since version of a STALE_NODE key."""
    return read_u64(key[1:9])


def pack_node_keys(node_keys: Iterable[NodeKey]) -> bytes:
    """The value of a STALE_NODE record: each key as in `state_node`, without the prefix."""
    parts: list[bytes] = []
    extend = parts.extend
    version, head = -1, b""
    for node_version, depth, path in node_keys:
        if node_version != version:
            version, head = node_version, node_version.to_bytes(8, "big")
        extend((head, _DEPTH[depth], path))
    return b"".join(parts)


def unpack_state_node_keys(data: bytes) -> list[bytes]:
    """The `state_node` keys a STALE_NODE record names, in order; STORE_CORRUPTED
    if it is not a whole number of node keys."""
    keys = []
    at, end = 0, len(data)
    while at < end:
        depth = int.from_bytes(data[at + 8:at + 10], "big")
        stop = at + 10 + (depth + 7) // 8
        if depth > 256 or stop > end:
            raise LedgerError(Code.STORE_CORRUPTED,
                              f"a stale-node record breaks off at byte {at} of {end}")
        keys.append(STATE_NODE + data[at:stop])
        at = stop
    return keys


def latest_state(state_key: bytes) -> bytes:
    return LATEST_STATE + state_key


def event_subject(subject: str) -> bytes:
    """The prefix of every index entry of one subject (see `is_indexable_subject`)."""
    data = subject.encode("utf-8")
    return EVENT_INDEX + len(data).to_bytes(2, "big") + data


def event_index(subject: str, height: int, tx_index: int, event_index: int) -> bytes:
    return event_subject(subject) + u64(height) + u32(tx_index) + u32(event_index)


def read_event_index(key: bytes) -> tuple[int, int, int]:
    """(height, tx index, event index) of an EVENT_INDEX key."""
    tail = key[-16:]
    return (int.from_bytes(tail[:8], "big"), int.from_bytes(tail[8:12], "big"),
            int.from_bytes(tail[12:], "big"))


def is_indexable_subject(subject: object) -> bool:
    """A str of 1 to MAX_SUBJECT_BYTES UTF-8 bytes (others are not indexed)."""
    if type(subject) is not str:
        return False
    try:
        size = len(subject.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return 0 < size <= MAX_SUBJECT_BYTES
