"""How long ``camcanary`` takes to start, ours (lazy registry) against the naive peer.

    .venv/bin/python bench/cli_startup.py [--runs N]

Each run is a fresh interpreter executing ``from monitor.cli import main; main()``
with the command's arguments, timed from spawn to exit (wall clock, median of N).
The naive peer is the same invocation after importing every command module first
(each entry of ``monitor.cli.COMMANDS``, plus ``monitor.judge``, which the old root
module imported for ``classify``): what every command paid before the registry.
Ours and the peer alternate run by run, so both see the same machine noise.

Cases: ``--help``; ``config check examples/camcanary.yaml`` with the four secrets it
names set in the environment (exit 0, so the whole file is validated); ``render`` of
a 320x180 frame (small, so the row shows start-up rather than drawing). The first
row is a bare interpreter, for scale.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from monitor.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
EAGER = sorted({entry.target.partition(":")[0] for entry in COMMANDS.values()} | {"monitor.judge"})
OURS = "from monitor.cli import main; main(prog_name='camcanary')"
NAIVE = "; ".join(f"import {module}" for module in EAGER) + "; " + OURS
SECRETS = {
    "CAMCANARY_SECRET": "bench deployment secret",
    "CANARY_LOBBY_TOKEN": "bench-lobby-token",
    "CANARY_NURSERY_TOKEN": "bench-nursery-token",
    "CAMCANARY_KILLSWITCH_SECRET": "bench kill switch secret",
}


def once(code: str, args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603  # this interpreter, our own CLI
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()

    env = os.environ | SECRETS | {"PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="camcanary-bench-") as tmp:
        frame = str(Path(tmp) / "frame.png")
        cases = {
            "--help": ["--help"],
            "config check examples/camcanary.yaml": ["config", "check", "examples/camcanary.yaml"],
            "render (320x180)": ["render", "--secret", "s", "--canary", "a", "--size", "320x180",
                                 "-o", frame],
        }  # fmt: skip
        bare = statistics.median(once("pass", [], env) for _ in range(options.runs))
        rows = []
        for name, args in cases.items():
            ours, naive = [], []
            for _ in range(options.runs):
                ours.append(once(OURS, args, env))
                naive.append(once(NAIVE, args, env))
            rows.append((name, statistics.median(ours), statistics.median(naive)))

    print(
        f"camcanary start-up, median of {options.runs} runs (wall clock, spawn to exit); "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"naive peer imports first: {', '.join(EAGER)}")
    print()
    print(f"{'command':<38} {'ours':>8} {'naive':>8} {'naive/ours':>11}")
    print(f"{'(bare interpreter: python -c pass)':<38} {bare:>7.3f}s")
    for name, ours_s, naive_s in rows:
        print(f"{name:<38} {ours_s:>7.3f}s {naive_s:>7.3f}s {naive_s / ours_s:>10.1f}x")


if __name__ == "__main__":
    main()
