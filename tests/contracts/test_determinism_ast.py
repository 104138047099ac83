"""Determinism by construction: an AST walk over every module of contracts/.

Every node must compute the same receipts and state root from the same
blocks, whatever its clock, its PYTHONHASHSEED or its platform. The rules,
each reported as `contracts/<file>:<line>: <rule>: <detail>`:

* float        no float literal (or complex), no use of the name `float`,
               no `x ** -n` (a float): money is integer minor units.
* division     no true division `/` or `/=` anywhere in contracts/: use `//`
               or `divmod` with the rounding written next to it.
* import       only `__future__`, `dataclasses`, `typing`, `enum`,
               `collections.abc`, `hashlib`, `re`, `contracts.*` and
               `ledger.*` except `ledger.store` (storage I/O). One exception:
               contracts/registry.py may import `importlib` (it assembles the
               registry at node start, never inside a transaction).
* name         no use of time, datetime, random, os, sys, socket, open, print,
               input, eval, exec, compile, __import__, globals, locals,
               breakpoint (clock, randomness, I/O, dynamic code).
* global       no `global` statement (module state would outlive a
               transaction and differ between a node that restarted and one
               that did not).
* hash         no `hash(...)` (str and bytes hashes depend on PYTHONHASHSEED)
               and no `id(...)` (an address).
* order        no iteration whose order comes from a set or from a dict
               view: `for` loops and comprehensions over a set literal, a set
               comprehension, `set(...)`/`frozenset(...)`, a set operation
               (`a | b`, `a - b`, ... with a set operand), a name assigned or
               annotated as a set in the module, or `d.keys()` / `d.values()`
               / `d.items()`; nor such a value handed to an order-revealing
               call (`list`, `tuple`, `enumerate`, `iter`, `next`, `zip`,
               `map`, `filter`, `str.join`). Wrap it in `sorted(...)`. A
               generator consumed by an order-blind call (`sorted`, `sum`,
               `min`, `max`, `any`, `all`, `len`, `set`, `frozenset`) may
               range over a set, and so may a set comprehension.

Being pragmatic, the checker does not infer types: iterating a plain dict
(`for k in d`) or an attribute holding a set is not caught. Dicts built from
decoded state are key-sorted by the codec, and review covers the rest.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"

ALLOWED_MODULES = {"__future__", "dataclasses", "typing", "enum", "collections.abc", "hashlib",
                   "re"}
ALLOWED_PACKAGES = ("contracts", "ledger")
FORBIDDEN_PACKAGES = ("ledger.store",)
EXTRA_IMPORTS = {"contracts/registry.py": {"importlib", "importlib.util"}}
FORBIDDEN_NAMES = {"time", "datetime", "random", "os", "sys", "socket", "open", "print", "input",
                   "eval", "exec", "compile", "__import__", "globals", "locals", "breakpoint"}
FORBIDDEN_CALLS = {"hash": "hash() depends on PYTHONHASHSEED", "id": "id() is an address"}
SET_CALLS = {"set", "frozenset"}
DICT_VIEWS = {"keys", "values", "items"}
ORDER_REVEALING = {"list", "tuple", "enumerate", "iter", "next", "zip", "map", "filter"}
ORDER_BLIND = {"sorted", "sum", "min", "max", "any", "all", "len", "set", "frozenset"}


def _is_allowed_import(module: str, extra: set[str]) -> bool:
    if module in ALLOWED_MODULES or module in extra:
        return True
    if any(module == p or module.startswith(p + ".") for p in FORBIDDEN_PACKAGES):
        return False
    return any(module == p or module.startswith(p + ".") for p in ALLOWED_PACKAGES)


class _Checker(ast.NodeVisitor):
    def __init__(self, filename: str, tree: ast.AST) -> None:
        self.filename = filename
        self.extra_imports = EXTRA_IMPORTS.get(filename, set())
        self.problems: list[str] = []
        self.set_names = _set_names(tree)
        self.blind: set[int] = set()  # comprehensions consumed by an order-blind call

    def report(self, node: ast.AST, rule: str, detail: str) -> None:
        self.problems.append(f"{self.filename}:{getattr(node, 'lineno', 0)}: {rule}: {detail}")

    # -- floats and division ---------------------------------------------------

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, (float, complex)):
            self.report(node, "float", f"literal {node.value!r}")

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Div):
            self.report(node, "division", "true division `/` (use // or divmod)")
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.UnaryOp) and \
                isinstance(node.right.op, ast.USub):
            self.report(node, "float", "a negative power is a float")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.Div):
            self.report(node, "division", "true division `/=` (use //= or divmod)")
        self.generic_visit(node)

    # -- imports, names, calls -------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not _is_allowed_import(alias.name, self.extra_imports):
                self.report(node, "import", f"{alias.name} is not on the allow-list")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "contracts" if node.level else (node.module or "")
        if not _is_allowed_import(module, self.extra_imports):
            self.report(node, "import", f"{module} is not on the allow-list")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self.report(node, "name", f"{node.id} (clock, randomness, I/O or dynamic code)")
        elif node.id == "float":
            self.report(node, "float", "the name float")

    def visit_Global(self, node: ast.Global) -> None:
        self.report(node, "global", f"global {', '.join(node.names)}")

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in FORBIDDEN_CALLS:
            self.report(node, "hash", FORBIDDEN_CALLS[name])
        if name in ORDER_BLIND and node.args and isinstance(
                node.args[0], (ast.GeneratorExp, ast.ListComp, ast.SetComp)):
            self.blind.add(id(node.args[0]))
        revealing = name in ORDER_REVEALING or (
            isinstance(node.func, ast.Attribute) and node.func.attr == "join")
        if revealing:
            for arg in node.args:
                self._check_unordered(arg, f"{name or 'join'}(...)")
        self.generic_visit(node)

    # -- iteration order -------------------------------------------------------

    def visit_For(self, node: ast.For) -> None:
        self._check_unordered(node.iter, "for")
        self.generic_visit(node)

    def _visit_comprehension(self, node: ast.ListComp | ast.GeneratorExp | ast.DictComp) -> None:
        if id(node) not in self.blind:
            for generator in node.generators:
                self._check_unordered(generator.iter, "comprehension")
        self.generic_visit(node)

    visit_ListComp = _visit_comprehension
    visit_GeneratorExp = _visit_comprehension
    visit_DictComp = _visit_comprehension

    def _check_unordered(self, node: ast.expr, where: str) -> None:
        reason = _unordered(node, self.set_names)
        if reason is not None:
            self.report(node, "order", f"{where} over {reason}; wrap it in sorted(...)")


def _unordered(node: ast.expr, set_names: set[str]) -> str | None:
    """Why iterating `node` has no deterministic order, or None."""
    if isinstance(node, (ast.Set, ast.SetComp)):
        return "a set"
    if isinstance(node, ast.Name) and node.id in set_names:
        return f"the set {node.id}"
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in SET_CALLS:
            return f"{func.id}(...)"
        if isinstance(func, ast.Attribute) and func.attr in DICT_VIEWS and not node.args:
            return f"a dict view .{func.attr}()"
    if isinstance(node, ast.BinOp) and isinstance(
            node.op, (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)):
        left, right = _unordered(node.left, set_names), _unordered(node.right, set_names)
        return left or right
    return None


def _set_names(tree: ast.AST) -> set[str]:
    """Names the module assigns a set expression to, or annotates as a set."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _unordered(node.value, set()) is not None:
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            annotation = ast.unparse(node.annotation)
            if annotation.split("[")[0] in {"set", "frozenset", "Set", "FrozenSet", "AbstractSet"} \
                    or (node.value is not None and _unordered(node.value, set()) is not None):
                names.add(node.target.id)
    return names


def check_source(source: str, filename: str = "snippet.py") -> list[str]:
    """Every rule broken by `source`, as "file:line: rule: detail"."""
    tree = ast.parse(source, filename=filename)
    checker = _Checker(filename, tree)
    checker.visit(tree)
    return checker.problems


def _contract_files() -> list[Path]:
    return sorted(CONTRACTS.rglob("*.py"))


def test_contracts_directory_is_not_empty() -> None:
    names = {path.name for path in _contract_files()}
    assert {"engine.py", "governance.py", "registry.py"} <= names


@pytest.mark.parametrize("path", _contract_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_contract_module_is_deterministic_by_construction(path: Path) -> None:
    problems = check_source(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert not problems, "\n".join(problems)


# -- the checker itself: each rule fires on a forbidden pattern -------------

FORBIDDEN = [
    ("x = 0.5", "float"),
    ("x = 1e3", "float"),
    ("x = float(y)", "float"),
    ("def f(x: float) -> int: ...", "float"),
    ("x = 2 ** -1", "float"),
    ("x = a / b", "division"),
    ("x /= 2", "division"),
    ("import time", "import"),
    ("import datetime as dt", "import"),
    ("from random import randint", "import"),
    ("import collections", "import"),
    ("from ledger.store.leveldb import LevelDBStore", "import"),
    ("import importlib", "import"),
    ("import json", "import"),
    ("x = time.time()", "name"),
    ("x = open('f').read()", "name"),
    ("print(x)", "name"),
    ("eval('1')", "name"),
    ("exec('x = 1')", "name"),
    ("__import__('os')", "name"),
    ("x = os.environ", "name"),
    ("x = sys.argv", "name"),
    ("global counter", "global"),
    ("x = hash(b'a')", "hash"),
    ("x = id(y)", "hash"),
    ("for x in {1, 2}: pass", "order"),
    ("for x in set(y): pass", "order"),
    ("for x in frozenset(y): pass", "order"),
    ("for x in {a for a in y}: pass", "order"),
    ("for x in set(a) - set(b): pass", "order"),
    ("for k, v in d.items(): pass", "order"),
    ("for k in d.keys(): pass", "order"),
    ("xs = [v for v in d.values()]", "order"),
    ("xs = {k: 1 for k in set(y)}", "order"),
    ("s = set(y)\nfor x in s: pass", "order"),
    ("s: set[str] = make()\nfor x in s: pass", "order"),
    ("xs = list(set(y))", "order"),
    ("xs = tuple(d.items())", "order"),
    ("x = ','.join({a, b})", "order"),
    ("for i, x in enumerate(frozenset(y)): pass", "order"),
]

ALLOWED = [
    "from __future__ import annotations\nimport hashlib\nimport re",
    "from dataclasses import dataclass\nfrom typing import Any\nfrom enum import StrEnum",
    "from collections.abc import Iterable\nfrom ledger.errors import Code",
    "from contracts import engine\nfrom contracts.engine import Contract",
    "from . import engine",
    "q, r = divmod(a, b)\nx = a // b + (2 * r >= b)",
    "for x in sorted({1, 2}): pass",
    "for k, v in sorted(d.items()): pass",
    "xs = sorted(x for x in set(y))",
    "ok = any(x > 1 for x in frozenset(y))",
    "n = sum(v for v in d.values())",
    "s = {x for x in set(y)}",
    "allowed = frozenset({'a'})\nok = 'a' in allowed",
    "x = ctx.time_ms // 86_400_000",
    "x = len(set(y))",
    "x = 2 ** 63 - 1",
]


@pytest.mark.parametrize("source,rule", FORBIDDEN, ids=[s for s, _ in FORBIDDEN])
def test_checker_flags_each_forbidden_pattern(source: str, rule: str) -> None:
    problems = check_source(source, "contracts/example.py")
    assert problems, f"not flagged: {source!r}"
    assert any(f": {rule}: " in p for p in problems), problems
    assert problems[0].startswith("contracts/example.py:")


@pytest.mark.parametrize("source", ALLOWED)
def test_checker_allows_deterministic_code(source: str) -> None:
    assert check_source(source, "contracts/example.py") == []


def test_registry_alone_may_import_importlib() -> None:
    assert check_source("import importlib.util", "contracts/registry.py") == []
    assert check_source("import importlib.util", "contracts/invoices.py") != []


def test_problem_names_the_line() -> None:
    assert check_source("x = 1\n\ny = a / b\n", "contracts/x.py") == [
        "contracts/x.py:3: division: true division `/` (use // or divmod)"]
