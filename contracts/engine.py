"""The contract engine: declared methods, checked arguments and roles, a registry.

A contract module declares a `Contract` (name, version, methods). Each
`MethodSpec` lists its arguments with the same field kinds the ledger's own
structures use (`ledger.structure`: Int with bounds, Str with a length and
pattern, Bytes of a size, ...) and the roles allowed to call it. Before the
handler runs, the engine checks, in this order:

1. every declared argument is present (unless optional) and no other is
   given, and each value fits its kind -> else INVALID_ARGUMENT naming it;
2. the sender's member holds one of the method's roles -> else FORBIDDEN.

The handler then gets the checked arguments and may assume their shape; it
still enforces business rules (raising LedgerError with a stable code).
`ContractRegistry` implements `ledger.contract_api.Registry` for the
transition.

Versions (docs/adr/0004-contract-upgrades.md): the registry holds each
contract's genesis code and, as `ContractCode` (the contract with its module
and source SHA-256), every later version the node carries. State decides
which version runs; a later version may declare `migrations`, run once at
its activation height when the upgrade names one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.accounts import Role
from ledger.contract_api import CallContext, CodeId, Method, Migration
from ledger.errors import Code, LedgerError
from ledger.structure import Field

Handler = Callable[[CallContext, dict[str, Any]], None]


@dataclass(frozen=True)
class MethodSpec:
    """One callable method. `roles` empty means any member may call it."""

    name: str
    handler: Handler
    args: tuple[tuple[str, Field], ...] = ()
    optional: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()

    def check_args(self, args: Mapping[str, Any]) -> dict[str, Any]:
        declared = dict(self.args)
        unknown = sorted(set(args) - set(declared))
        if unknown:
            raise LedgerError(Code.INVALID_ARGUMENT, f"{unknown[0]}: not an argument of {self.name}")
        checked: dict[str, Any] = {}
        for name, kind in self.args:
            if name not in args:
                if name in self.optional:
                    continue
                raise LedgerError(Code.INVALID_ARGUMENT, f"{name}: required")
            try:
                checked[name] = kind.load(args[name], name)
            except LedgerError as error:
                raise LedgerError(Code.INVALID_ARGUMENT, error.message) from None
        return checked

    def check_role(self, ctx: CallContext) -> None:
        if self.roles and not any(ctx.sender.has_role(role) for role in self.roles):
            allowed = ", ".join(sorted(role.value for role in self.roles))
            raise LedgerError(Code.FORBIDDEN,
                              f"{self.name} needs the role {allowed}; {ctx.sender.member_id} lacks it")

    def __call__(self, ctx: CallContext, args: dict[str, Any]) -> None:
        checked = self.check_args(args)
        self.check_role(ctx)
        self.handler(ctx, checked)


@dataclass(frozen=True)
class Contract:
    """A named, versioned set of methods. `privileged` contracts may write sys/.
    `migrations`: (id, function) pairs a later version offers its upgrade."""

    name: str
    version: int
    methods: tuple[MethodSpec, ...]
    privileged: bool = False
    migrations: tuple[tuple[str, Migration], ...] = ()
    by_name: dict[str, MethodSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ValueError(f"contract {self.name}: a method is declared twice")
        if len({m for m, _ in self.migrations}) != len(self.migrations):
            raise ValueError(f"contract {self.name}: a migration is declared twice")
        object.__setattr__(self, "by_name", {m.name: m for m in self.methods})

    def migration(self, migration_id: str) -> Migration | None:
        return next((run for name, run in self.migrations if name == migration_id), None)


@dataclass(frozen=True)
class ContractCode:
    """A later version of a contract with the identity of its code: the module
    that defines it and the SHA-256 (hex) of that module's source file, as an
    upgrade proposal names them (contracts/registry.py `load_contract_code`)."""

    contract: Contract
    module: str
    source_sha256: str

    @property
    def code_id(self) -> CodeId:
        return CodeId(self.module, self.source_sha256)


class ContractRegistry:
    """The contracts a chain runs, by name, with the later versions this node
    carries (implements ledger.contract_api.Registry)."""

    def __init__(self, contracts: Iterable[Contract],
                 versions: Iterable[ContractCode] = ()) -> None:
        self._contracts: dict[str, Contract] = {}
        for contract in contracts:
            if contract.name in self._contracts:
                raise ValueError(f"contract {contract.name} registered twice")
            self._contracts[contract.name] = contract
        self._versions: dict[tuple[str, int], ContractCode] = {}
        for code in versions:
            self._add_version(code)

    def _add_version(self, code: ContractCode) -> None:
        contract = code.contract
        genesis = self._contracts.get(contract.name)
        if genesis is None:
            raise ValueError(f"version {contract.version} of {contract.name}: the registry "
                             "has no genesis code of that contract")
        if contract.version <= genesis.version:
            raise ValueError(f"version {contract.version} of {contract.name} is not above its "
                             f"genesis version {genesis.version}")
        if contract.privileged != genesis.privileged:
            raise ValueError(f"version {contract.version} of {contract.name} changes whether "
                             "it is privileged")
        key = (contract.name, contract.version)
        if key in self._versions:
            raise ValueError(f"version {contract.version} of {contract.name} registered twice")
        self._versions[key] = code

    def has_contract(self, contract: str) -> bool:
        return contract in self._contracts

    def method(self, contract: str, name: str, version: int | None = None) -> Method | None:
        found = self._contract(contract, version)
        return None if found is None else found.by_name.get(name)

    def is_privileged(self, contract: str) -> bool:
        found = self._contracts.get(contract)
        return found is not None and found.privileged

    def code(self, contract: str, version: int) -> CodeId | None:
        found = self._versions.get((contract, version))
        return None if found is None else found.code_id

    def migration(self, contract: str, version: int, migration_id: str) -> Migration | None:
        found = self._versions.get((contract, version))
        return None if found is None else found.contract.migration(migration_id)

    def _contract(self, contract: str, version: int | None) -> Contract | None:
        if version is None:
            return self._contracts.get(contract)
        found = self._versions.get((contract, version))
        return None if found is None else found.contract

    @property
    def versions(self) -> tuple[ContractCode, ...]:
        """The later versions carried, by contract name and version."""
        return tuple(self._versions[key] for key in sorted(self._versions))

    @property
    def contracts(self) -> tuple[Contract, ...]:
        return tuple(self._contracts[name] for name in sorted(self._contracts))
