"""Runs a child script of tests/runtime and SIGKILLs it: the crash tests' harness.

A child prints `ready` once it has opened its files, then one line per
acknowledged write. `run_and_kill` collects the complete lines (a line cut
by the kill was never acknowledged) and kills the child at the planned
moment, either counted from the spawn (so it may land while the child opens
and recovers its files) or from `ready` (so it lands among the writes). It
never leaves the child running.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class KillPlan:
    after_ready: bool    # count the delay from `ready`, else from the spawn
    delay: float

    @staticmethod
    def draw(rng: random.Random) -> KillPlan:
        """One kill in five during start-up and recovery, the others among the writes."""
        if rng.random() < 0.2:
            return KillPlan(False, rng.uniform(0.0, 0.15))
        return KillPlan(True, rng.uniform(0.005, 0.12))


def run_and_kill(module: str, target: Path, plan: KillPlan, stderr_path: Path) -> list[str]:
    """Runs `python -m module target`, SIGKILLs it as planned; its complete stdout lines."""
    lines: list[str] = []
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", module, str(target)], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
    reader = threading.Thread(target=_collect, args=(proc, lines), daemon=True)
    reader.start()
    try:
        if plan.after_ready:
            _wait_for_ready(proc, lines, stderr_path)
        time.sleep(plan.delay)
        if proc.poll() is not None:
            raise AssertionError(f"{module} exited by itself ({proc.returncode}) before the kill: "
                                 f"{stderr_path.read_text(errors='replace')[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(timeout=CHILD_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError(f"{module} ended with {proc.returncode}, not by the kill")
    return lines


def _collect(proc: subprocess.Popen[bytes], lines: list[str]) -> None:
    if proc.stdout is None:
        return
    for raw in proc.stdout:
        if raw.endswith(b"\n"):
            lines.append(raw.decode().rstrip("\n"))


def _wait_for_ready(proc: subprocess.Popen[bytes], lines: list[str], stderr_path: Path) -> None:
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while "ready" not in lines:
        if proc.poll() is not None:
            raise AssertionError(f"the child exited ({proc.returncode}) before `ready`: "
                                 f"{stderr_path.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no `ready` from the child in {CHILD_TIMEOUT_S}s")
        time.sleep(0.0005)
