"""The production contracts of a node, and the modules that define them.

`CONTRACT_MODULES` maps each contract name to the module that defines it
(as a module-level `CONTRACT`). It is computed WITHOUT importing those
modules (governance included), so the genesis tooling can hash their sources
(`genesis/contract_pins.py`) even when a module under development does not
import yet; `default_registry()` imports them, checks each `CONTRACT` is the
one named, and builds the registry.

A contract module that is not in the tree yet (the invoices contract is being
written) is left out by looking for its file (`find_spec`), never by catching
ImportError: a module that exists but fails to import must fail loudly, not
leave a node running without it.

Later versions of a contract (docs/upgrades.md) are listed in
`CONTRACT_UPGRADES` as (contract name, version, module); the genesis version
stays in `CONTRACT_MODULES` for good, since old blocks replay with it.
`load_contract_code` imports one and computes the SHA-256 of its source,
which is what an upgrade proposal pins and what the transition compares
before running it.

This is the one module of contracts/ that may import `importlib` (allowed by
tests/contracts/test_determinism_ast.py); it runs when a node starts, never
inside a transaction.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util

from contracts.engine import Contract, ContractCode, ContractRegistry

#: Every contract a production node may run, in the order they are assembled.
PRODUCTION_CONTRACTS: tuple[tuple[str, str], ...] = (
    ("governance", "contracts.governance"),
    ("invoices", "contracts.invoices"),
    ("factoring", "contracts.factoring"),
    ("dynamic_discounting", "contracts.dynamic_discounting"),
    ("warehouse_receipts", "contracts.warehouse_receipts"),
    ("pledge", "contracts.pledge"),
    ("prepayment", "contracts.prepayment"),
    ("payables", "contracts.payables"),
    ("risk", "contracts.risk"),
)
#: The only contracts that may write system records (members, keys, params).
PRIVILEGED = frozenset({"governance"})


def _present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


#: Contract name -> module name, for the contracts present in this tree.
CONTRACT_MODULES: dict[str, str] = {
    name: module for name, module in PRODUCTION_CONTRACTS if _present(module)
}


#: Later versions a production node carries: (contract name, version, module).
#: Each module's CONTRACT must carry that name and version; what it imports
#: from contracts/ must be code genesis pins (genesis/contract_pins.py).
CONTRACT_UPGRADES: tuple[tuple[str, int, str], ...] = ()


def load_contract(name: str, module: str) -> Contract:
    """Imports `module` and returns its `CONTRACT`, checking it is the one named."""
    contract = getattr(importlib.import_module(module), "CONTRACT", None)
    if not isinstance(contract, Contract):
        raise ValueError(f"{module} defines no CONTRACT (a contracts.engine.Contract)")
    if contract.name != name:
        raise ValueError(f"{module}.CONTRACT is named {contract.name!r}, expected {name!r}")
    if contract.privileged != (name in PRIVILEGED):
        raise ValueError(f"{module}.CONTRACT: only {', '.join(sorted(PRIVILEGED))} is privileged")
    return contract


def load_contract_code(name: str, version: int, module: str) -> ContractCode:
    """A later version: `module`'s CONTRACT, checked to be `name` at `version`,
    with the SHA-256 (hex) of the module's source file."""
    contract = load_contract(name, module)
    if contract.version != version:
        raise ValueError(f"{module}.CONTRACT is version {contract.version}, expected {version}")
    return ContractCode(contract, module, module_source_sha256(module))


def module_source_sha256(module: str) -> str:
    """The SHA-256 (hex) of a module's source file, as genesis/contract_pins.py
    computes it (read through the import system, which found the file)."""
    spec = importlib.util.find_spec(module)
    loader = None if spec is None else spec.loader
    if spec is None or spec.origin is None or not hasattr(loader, "get_data"):
        raise ValueError(f"{module}: no source file")
    return hashlib.sha256(loader.get_data(spec.origin)).hexdigest()  # type: ignore[union-attr]


def default_registry() -> ContractRegistry:
    """The registry of every production contract present (governance is
    privileged), with the later versions this node carries."""
    return ContractRegistry((load_contract(name, module)
                             for name, module in sorted(CONTRACT_MODULES.items())),
                            (load_contract_code(name, version, module)
                             for name, version, module in CONTRACT_UPGRADES))
