"""Does a node's certified header at a height carry the state root an auditor replayed?"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from genesis.document import Genesis
from ledger.errors import Code, LedgerError
from ledger.replay import ReplayReport
from ledger.types import BlockHeader
from node.chain_source import check_node_chain
from node.client import ApiError, NodeClient


class Agreement(StrEnum):
    MATCH = "match"              # same state root at the replayed height
    DIFFERS = "differs"          # another state root, or a malformed answer
    OTHER_CHAIN = "other_chain"  # another chain id or genesis
    BEHIND = "behind"            # below the replayed height: not compared
    UNREACHABLE = "unreachable"
    REFUSED = "refused"          # an error answer


DISAGREEING = frozenset({Agreement.DIFFERS, Agreement.OTHER_CHAIN})


@dataclass(frozen=True, slots=True)
class NodeComparison:
    url: str
    status: Agreement
    state_root: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status.value, "state_root": self.state_root,
                "message": self.message}


def compare_with_node(url: str, genesis: Genesis, report: ReplayReport) -> NodeComparison:
    """The node's header state root at the replayed height, decoded from its raw bytes."""
    client = NodeClient(url, timeout_s=10)
    height = report.final_height

    def verdict(status: Agreement, message: str, root: str | None = None) -> NodeComparison:
        return NodeComparison(url, status, root, message)

    try:
        node_height = check_node_chain(client, genesis)
        if height == 0:
            return verdict(Agreement.MATCH, "same genesis; no block to compare yet",
                           report.final_state_root.hex())
        if node_height < height:
            return verdict(Agreement.BEHIND, f"at height {node_height}, below {height}: "
                                             "not compared")
        header = BlockHeader.decode(bytes.fromhex(client.block(height)["header"]["raw"]))
    except LedgerError as error:
        status = Agreement.OTHER_CHAIN if error.code is Code.CHAIN_MISMATCH else \
            Agreement.DIFFERS
        return verdict(status, f"{error.code.value}: {error.message}")
    except ApiError as error:
        status = Agreement.UNREACHABLE if error.status == 0 else Agreement.REFUSED
        return verdict(status, f"{error.code}: {error.message}")
    except (KeyError, TypeError, ValueError) as error:
        return verdict(Agreement.DIFFERS, f"its block {height} answer is malformed ({error!r})")
    if header.height != height:
        return verdict(Agreement.DIFFERS, f"asked for block {height}, it sent the header of "
                                          f"{header.height}")
    root = header.state_root.hex()
    if header.state_root != report.final_state_root:
        return verdict(Agreement.DIFFERS, f"its header at height {height} has another state "
                                          "root", root)
    return verdict(Agreement.MATCH, f"same state root at height {height}", root)
