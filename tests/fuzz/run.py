"""Runs the peer-input harnesses under atheris (libFuzzer with Python coverage).

    python -m tests.fuzz.run HARNESS [libFuzzer flags] [CORPUS_DIR ... | CRASH_FILE ...]
    python -m tests.fuzz.run --all --seconds 120 [--workdir DIR]

With a harness name, this process becomes the fuzzer: the ledger, node and
harness modules are instrumented for coverage, the harness's seeds are written
to the first corpus directory (a fresh temporary one if none is given), and
libFuzzer takes the rest of the flags (`-runs=N`, `-max_total_time=S`,
`-rss_limit_mb=M`, `-timeout=S`, `-artifact_prefix=DIR/`). A crash prints the
Python traceback and saves the input as `crash-<sha1>`; pass that file instead
of a corpus directory to replay it. Exit status 0 means no crash, no timeout
and no memory limit hit.

With `--all`, each harness runs in a child process for `--seconds`, its corpus
kept under `--workdir` (so later runs start from what earlier runs found),
and the exit status is 1 if any of them failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESSES = ("fuzz_frame", "fuzz_handshake", "fuzz_consensus", "fuzz_sync", "fuzz_txs")
INSTRUMENTED = ["ledger", "node", "tests.fuzz", "tests.support"]
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "scf-fuzz"
#: libFuzzer flags for `--all`: memory per process, seconds per input.
RSS_LIMIT_MB = 2048
INPUT_TIMEOUT_S = 10


def fuzz(harness: str, flags: list[str]) -> None:
    """Runs libFuzzer in this process on `harness` (never returns)."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        import importlib

        module = importlib.import_module(f"tests.fuzz.{harness}")
    paths = [arg for arg in flags if not arg.startswith("-")]
    if not paths:
        paths = [tempfile.mkdtemp(prefix=f"scf-{harness}-")]
        flags = [*flags, paths[0]]
    corpus = Path(paths[0])
    if corpus.is_dir() or not corpus.exists():
        write_seeds(corpus, module.seeds())
    atheris.Setup([sys.argv[0], *flags], module.TestOneInput)
    atheris.Fuzz()


def write_seeds(corpus: Path, seeds: list[bytes]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)


def fuzz_all(seconds: int, workdir: Path) -> int:
    failed = []
    for harness in HARNESSES:
        corpus, artifacts = workdir / "corpus" / harness, workdir / "crashes" / harness
        artifacts.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "tests.fuzz.run", harness,
                   f"-max_total_time={seconds}", f"-rss_limit_mb={RSS_LIMIT_MB}",
                   f"-timeout={INPUT_TIMEOUT_S}", f"-artifact_prefix={artifacts}/",
                   "-print_final_stats=1", str(corpus)]
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                timeout=seconds + 120)
        elapsed = time.monotonic() - started
        stats = [line for line in result.stderr.splitlines()
                 if line.startswith(("stat::number_of_executed_units", "stat::peak_rss_mb"))]
        print(f"{harness}: exit {result.returncode} in {elapsed:.0f} s; "
              + ", ".join(line.removeprefix("stat::") for line in stats), flush=True)
        if result.returncode != 0:
            failed.append(harness)
            print(result.stderr[-4000:], file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)} (inputs under {workdir / 'crashes'})", file=sys.stderr)
    return 1 if failed else 0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in HARNESSES:
        os.chdir(ROOT)
        fuzz(sys.argv[1], sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", required=True,
                        help=f"run every harness in turn: {', '.join(HARNESSES)}")
    parser.add_argument("--seconds", type=int, default=120, help="per harness")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="corpus and crashes (default: %(default)s)")
    args = parser.parse_args()
    sys.exit(fuzz_all(args.seconds, args.workdir))


if __name__ == "__main__":
    main()
