"""Contract source pins: genesis names the exact code every node must run.

The genesis `contracts` map holds, for each pinned module, the SHA-256 (hex)
of its source file's bytes. Two kinds of entries:

* a contract, under its contract name ("governance", "invoices"): the module
  that defines it (`contracts.registry.CONTRACT_MODULES`);
* every other module of `contracts/` that a contract imports, directly or
  through another one ("contracts.engine", "contracts.terms", ...), under its
  dotted module name. The money math and the engine decide a transaction's
  outcome as much as the contract module itself, so a change there must be
  caught too. (Contract names carry no dot, so the two cannot collide.)

A node calls `validate_contract_pins(genesis, compute_contract_pins(
CONTRACT_MODULES))` before it opens its store: if any module differs, or is
pinned on one side only, it refuses to start with CONTRACT_CODE_MISMATCH
naming every such module. Sources are read, never imported, so a pin can be
computed for a module that does not even import.

Any edit to a pinned module changes its pin: re-run
`python genesis/examples/make_consortium.py` for the example genesis.

Later versions of a contract (docs/upgrades.md) are pinned per version, not
in genesis: the governance proposal that schedules an upgrade names the
module and its source SHA-256, which `compute_version_pins` gives for the
versions a node carries ("name@version" -> sha256). The SHA-256 covers that
one file, so what a version module imports from contracts/ must be code
genesis already pins; `validate_version_imports` refuses a node that carries
a version importing anything else (its behaviour would not be pinned).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path

from genesis.document import Genesis
from ledger.errors import Code, LedgerError

PACKAGE = "contracts"


def compute_contract_pins(modules: Mapping[str, str], *,
                          dependencies: bool = True) -> dict[str, str]:
    """{contract name: sha256 hex of its module's source}, plus, if
    `dependencies`, {module name: sha256 hex} of each contracts.* module the
    contracts import (transitively). Keys are sorted."""
    pins = {name: _digest(_source_path(module)) for name, module in modules.items()}
    if dependencies:
        contract_modules = set(modules.values())
        for module in sorted(_imported_closure(sorted(contract_modules)) - contract_modules):
            pins[module] = _digest(_source_path(module))
    return {name: pins[name] for name in sorted(pins)}


def compute_node_pins() -> dict[str, str]:
    """The pins of the contracts this node's registry runs."""
    from contracts.registry import CONTRACT_MODULES

    return compute_contract_pins(CONTRACT_MODULES)


def validate_contract_pins(genesis: Genesis | Mapping[str, str], pins: Mapping[str, str]) -> None:
    """Raises CONTRACT_CODE_MISMATCH naming each module whose code differs
    from genesis, and each module pinned on only one side."""
    pinned = genesis.contracts if isinstance(genesis, Genesis) else genesis
    problems = []
    for name in sorted(set(pinned) | set(pins)):
        if name not in pins:
            problems.append(f"{name}: pinned in genesis ({pinned[name][:16]}…) but this node "
                            "does not run it")
        elif name not in pinned:
            problems.append(f"{name}: this node runs it ({pins[name][:16]}…) but genesis "
                            "does not pin it")
        elif pins[name] != pinned[name]:
            problems.append(f"{name}: source sha256 {pins[name][:16]}… differs from the "
                            f"genesis pin {pinned[name][:16]}…")
    if problems:
        raise LedgerError(Code.CONTRACT_CODE_MISMATCH,
                          f"contract code differs from genesis ({len(problems)} module"
                          f"{'s' if len(problems) > 1 else ''}): " + "; ".join(problems))


def compute_version_pins(versions: Iterable[tuple[str, int, str]]) -> dict[str, str]:
    """{"name@version": sha256 hex of the module's source} for each (contract
    name, version, module), sorted: what an upgrade proposal must name."""
    pins = {f"{name}@{version}": _digest(_source_path(module))
            for name, version, module in versions}
    return {key: pins[key] for key in sorted(pins)}


def validate_version_imports(contract_modules: Mapping[str, str],
                             versions: Iterable[tuple[str, int, str]]) -> None:
    """Raises CONTRACT_CODE_MISMATCH naming each version module that imports
    a contracts.* module outside the genesis-pinned code of `contract_modules`
    (the contract modules and everything they import)."""
    pinned = _imported_closure(sorted(set(contract_modules.values())))
    problems = []
    for name, version, module in versions:
        outside = sorted(_imported_closure([module]) - pinned - {module})
        if outside:
            problems.append(f"{name}@{version} ({module}) imports {', '.join(outside)}, "
                            "which genesis does not pin")
    if problems:
        raise LedgerError(Code.CONTRACT_CODE_MISMATCH,
                          "a later contract version depends on unpinned code: "
                          + "; ".join(problems))


def _source_path(module: str) -> Path:
    path = _module_file(module)
    if path is None:
        raise LedgerError(Code.CONTRACT_CODE_MISMATCH, f"{module}: no source file in {PACKAGE}/")
    return path


def _module_file(module: str) -> Path | None:
    """The source file of a contracts.* module, found without importing it."""
    parts = module.split(".")
    spec = importlib.util.find_spec(PACKAGE)  # imports only the package itself
    if parts[0] != PACKAGE or len(parts) < 2 or spec is None or not spec.submodule_search_locations:
        return None
    base = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _imported_closure(roots: list[str]) -> set[str]:
    """Every contracts.* module reachable by imports from `roots`, roots included."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending.extend(_contract_imports(module))
    return seen


def _contract_imports(module: str) -> list[str]:
    """The contracts.* submodules `module` imports (absolute or relative)."""
    tree = ast.parse(_source_path(module).read_bytes(), filename=module)
    package = module.rsplit(".", 1)[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
    return [name for name in found if name.startswith(PACKAGE + ".") and _module_file(name)]
