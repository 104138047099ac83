"""The consensus core is pure: no clock, randomness, sockets, threads or files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONSENSUS = Path(__file__).resolve().parents[2] / "node" / "consensus"
FORBIDDEN = {"asyncio", "time", "random", "socket", "threading", "os", "pathlib", "io",
             "aiohttp", "plyvel", "multiprocessing", "subprocess", "datetime"}


@pytest.mark.parametrize("path", sorted(CONSENSUS.glob("*.py")), ids=lambda p: p.name)
def test_module_imports_nothing_impure(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "print", "input"}, f"{path.name}: {node.func.id}()"
            continue
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", sorted(CONSENSUS.glob("*.py")), ids=lambda p: p.name)
def test_module_validates_without_assert(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    assert not any(isinstance(node, ast.Assert) for node in ast.walk(tree)), path.name
