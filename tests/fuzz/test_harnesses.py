"""Every peer-input harness, run for a bounded number of inputs.

Under hypothesis always (derandomized: the same inputs every run), and under
atheris when it is installed: one child process per harness with a run count,
a per-input timeout, a memory limit and an overall timeout, so a crash, a
hang or a memory blow-up fails the test. `make fuzz` runs them for longer.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.inputs import fuzz_inputs
from tests.fuzz.run import HARNESSES, ROOT

HYPOTHESIS_EXAMPLES = 150
ATHERIS_RUNS = 3_000
ATHERIS_RSS_LIMIT_MB = 1_024
ATHERIS_INPUT_TIMEOUT_S = 10
ATHERIS_PROCESS_TIMEOUT_S = 120


def harness(name: str) -> ModuleType:
    return importlib.import_module(f"tests.fuzz.{name}")


@pytest.mark.parametrize("name", HARNESSES)
def test_the_seeds_pass_their_harness(name: str) -> None:
    module = harness(name)
    seeds = module.seeds()
    assert len(seeds) >= 5 and len(set(seeds)) == len(seeds)
    for seed in seeds:
        module.TestOneInput(seed)


@pytest.mark.parametrize("name", HARNESSES)
def test_the_harness_under_hypothesis(name: str) -> None:
    module = harness(name)

    @settings(max_examples=HYPOTHESIS_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fuzz_inputs(module.seeds()))
    def run(data: bytes) -> None:
        module.TestOneInput(data)

    run()


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("name", HARNESSES)
def test_the_harness_under_atheris(name: str, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    command = [sys.executable, "-m", "tests.fuzz.run", name, f"-runs={ATHERIS_RUNS}",
               f"-rss_limit_mb={ATHERIS_RSS_LIMIT_MB}", f"-timeout={ATHERIS_INPUT_TIMEOUT_S}",
               f"-artifact_prefix={artifacts}/", "-seed=1", str(tmp_path / "corpus")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            timeout=ATHERIS_PROCESS_TIMEOUT_S)
    crashes = sorted(path.name for path in artifacts.iterdir())
    assert result.returncode == 0 and not crashes, (
        f"{name} failed (exit {result.returncode}, inputs {crashes}; replay with "
        f"`python -m tests.fuzz.run {name} <input>`):\n{result.stderr[-6000:]}")
    assert f"Done {ATHERIS_RUNS} runs" in result.stderr, result.stderr[-2000:]
