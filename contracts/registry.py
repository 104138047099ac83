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

This is the one module of contracts/ that may import `importlib` (allowed by
tests/contracts/test_determinism_ast.py); it runs when a node starts, never
inside a transaction.
"""

from __future__ import annotations

import importlib
import importlib.util

from contracts.engine import Contract, ContractRegistry

#: Every contract a production node may run, in the order they are assembled.
PRODUCTION_CONTRACTS: tuple[tuple[str, str], ...] = (
    ("governance", "contracts.governance"),
    ("invoices", "contracts.invoices"),
    ("factoring", "contracts.factoring"),
    ("dynamic_discounting", "contracts.dynamic_discounting"),
)
#: The only contracts that may write system records (members, keys, params).
PRIVILEGED = frozenset({"governance"})


def _present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


#: Contract name -> module name, for the contracts present in this tree.
CONTRACT_MODULES: dict[str, str] = {
    name: module for name, module in PRODUCTION_CONTRACTS if _present(module)
}


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


def default_registry() -> ContractRegistry:
    """The registry of every production contract present (governance is privileged)."""
    return ContractRegistry(load_contract(name, module)
                            for name, module in sorted(CONTRACT_MODULES.items()))
