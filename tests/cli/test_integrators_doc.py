"""The example in docs/integrators.md runs, as written, against a real node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Localnet

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"


def test_the_integrator_example_runs_against_a_real_node(localnet: Localnet) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/integrators.md should hold one python example"
    env = {**os.environ, "SCF_NODE": localnet.url, "SCF_KEYS": str(localnet.directory / "keys")}
    result = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "accepted 50, rejected 0" in result.stdout
    assert "receipt OK" in result.stdout
    assert re.search(r"registered at height \d+ certified by 1 validators", result.stdout)
