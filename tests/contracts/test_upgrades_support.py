"""Helpers for the contract upgrade tests (this module holds no test).

`UpgradeChain` is tests/contracts/support.py's `ContractChain` (the example
consortium, real blocks: build, re-validate with `apply_block`, commit)
running governance and the `demo_board` test contract
(contracts/versions/demo_board_v1.py as genesis code). `UPGRADED` also
carries version 2 (demo_board_v2.py, with its real source SHA-256); `OLD`
does not: a node that was never given the new code.

Operators CORE-01, BANK-A, BANK-B and AUDITOR-01, quorum 3: `schedule`
proposes as CORE-01 and approves as BANK-A and BANK-B.
"""

from __future__ import annotations

import hashlib
from typing import Any

from contracts import governance
from contracts.engine import ContractCode, ContractRegistry
from contracts.governance import get_proposal
from contracts.registry import load_contract, load_contract_code
from contracts.upgrades import MIN_ACTIVATION_DELAY
from ledger import codec
from ledger.contract_api import contract_prefix
from ledger.state import StateReader
from ledger.types import Receipt
from tests.contracts.support import Call, ContractChain

BOARD = "demo_board"
V1 = load_contract(BOARD, "contracts.versions.demo_board_v1")
V2 = load_contract_code(BOARD, 2, "contracts.versions.demo_board_v2")
OLD = ContractRegistry([governance.CONTRACT, V1])
UPGRADED = ContractRegistry([governance.CONTRACT, V1], [V2])


def upgraded_with(*versions: ContractCode) -> ContractRegistry:
    return ContractRegistry([governance.CONTRACT, V1], versions)


def upgrade_params(activation_height: int, *, code: ContractCode = V2,
                   migration: str | None = "count_words", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "contract": BOARD, "version": code.contract.version, "module": code.module,
        "source_sha256": code.source_sha256, "activation_height": activation_height}
    if migration is not None:
        params["migration"] = migration
    return {**params, **overrides}


class UpgradeChain(ContractChain):
    """A fresh chain of the example consortium running `registry`."""

    def __init__(self, registry: ContractRegistry = UPGRADED) -> None:
        super().__init__()
        self.registry = registry

    @property
    def height(self) -> int:
        return self.store.height

    def call(self, member: str, contract: str, method: str, **args: Any) -> Receipt:
        """One transaction in its own block; its receipt (may have failed)."""
        return self.run([Call(member, method, args, contract)])[0]

    def ok(self, member: str, contract: str, method: str, **args: Any) -> Receipt:
        receipt = self.call(member, contract, method, **args)
        assert receipt.code == "OK", (method, receipt.code, receipt.message)
        return receipt

    def post(self, member: str, text: str) -> Receipt:
        return self.call(member, BOARD, "post", text=text)

    def propose(self, action: str, params: dict[str, Any], member: str = "CORE-01") -> Receipt:
        return self.call(member, "governance", "propose", action=action, params=params)

    def last_proposal_id(self) -> int:
        proposal_id = 1
        while get_proposal(self.state, proposal_id + 1) is not None:
            proposal_id += 1
        return proposal_id

    def pass_proposal(self, action: str, params: dict[str, Any]) -> int:
        """Proposed by CORE-01, approved by BANK-A and BANK-B: executed. Its id."""
        self.ok("CORE-01", "governance", "propose", action=action, params=params)
        proposal_id = self.last_proposal_id()
        self.ok("BANK-A", "governance", "approve", proposal_id=proposal_id)
        self.ok("BANK-B", "governance", "approve", proposal_id=proposal_id)
        proposal = get_proposal(self.state, proposal_id)
        assert proposal is not None and proposal.status == "executed"
        return proposal_id

    def schedule(self, activation_height: int | None = None, **options: Any) -> int:
        """Schedules demo_board version 2 (by default MIN_ACTIVATION_DELAY + 5
        blocks after the executing block); returns the activation height."""
        if activation_height is None:
            activation_height = self.height + 3 + MIN_ACTIVATION_DELAY + 5
        self.pass_proposal("upgrade", upgrade_params(activation_height, **options))
        return activation_height

    def advance_to(self, height: int) -> None:
        """Empty blocks until the chain's head is at `height`."""
        assert self.height <= height
        while self.height < height:
            self.run([])


def board_post(state: StateReader, post_id: int) -> Any:
    data = state.get(contract_prefix(BOARD) + b"post/" + post_id.to_bytes(8, "big"))
    return None if data is None else codec.decode(data)


def scenario_digest() -> str:
    """Posts, an upgrade with a migration crossing its activation height,
    edits after it: the final state root and every block hash, as hex."""
    chain = UpgradeChain()
    for number in range(3):
        chain.post("SUPPLIER-01", f"hello board number {number}")
    chain.post("CORE-01", "a second author")
    activation = chain.schedule()
    chain.advance_to(activation - 2)
    chain.post("BANK-A", "the last version one post")
    chain.advance_to(activation - 1)
    chain.post("SUPPLIER-01", "the first post under version two " + "x" * 80)
    chain.ok("SUPPLIER-01", BOARD, "edit", post_id=1, text="edited after the upgrade")
    hashes = [chain.store.block_hash(h).hex() for h in range(1, chain.height + 1)]
    return " ".join([chain.root.hex(), *hashes])


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
