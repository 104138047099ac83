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
| 07     | stale-since version ‖ node key        | (empty): pruning index         |
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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ledger.smt import NodeKey

FORMAT_VERSION = 1

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


def stale_node(stale_since_version: int, node_key: NodeKey) -> bytes:
    version, depth, path = node_key
    return b"".join((STALE_NODE, stale_since_version.to_bytes(8, "big"),
                     version.to_bytes(8, "big"), depth.to_bytes(2, "big"), path))


# A block writes thousands of tree nodes and stale records: the two functions
# below give the same keys as `state_node` and `stale_node`, a few times
# faster, reusing the bytes of the versions they share.
_DEPTH = [depth.to_bytes(2, "big") for depth in range(257)]


def state_node_keys(node_keys: Iterable[NodeKey]) -> Iterator[bytes]:
    """`state_node(key)` for each key, in order."""
    version, prefix = -1, b""
    for node_version, depth, path in node_keys:
        if node_version != version:
            version, prefix = node_version, STATE_NODE + node_version.to_bytes(8, "big")
        yield prefix + _DEPTH[depth] + path


def stale_node_keys(stale: Iterable[tuple[int, NodeKey]]) -> Iterator[bytes]:
    """`stale_node(since, key)` for each (since, key), in order."""
    since, prefix = -1, b""
    for stale_since, (version, depth, path) in stale:
        if stale_since != since:
            since, prefix = stale_since, STALE_NODE + stale_since.to_bytes(8, "big")
        yield b"".join((prefix, version.to_bytes(8, "big"), _DEPTH[depth], path))


def node_key_of_stale(key: bytes) -> tuple[int, bytes]:
    """(stale-since version, state_node key) of a STALE_NODE key."""
    return read_u64(key[1:9]), STATE_NODE + key[9:]


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
