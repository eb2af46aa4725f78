"""Start-up of a manage.py command: `manage.py help` in fresh processes, the median of several runs.

Every command pays this before it does anything (Django set-up, the apps' models and admin). Beside it,
Python alone and Python importing numpy, for scale. Prints figures; asserts nothing.
Run: make bench  (or .venv/bin/python bench/bench_startup.py)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_HELP_S = 0.7


def run_seconds(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of ``runs`` fresh processes."""
    env = {**os.environ, "LIQ_TESTING": os.environ.get("LIQ_TESTING", "1")}
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import numpy'", [sys.executable, "-c", "import numpy"]),
        ("manage.py help", [sys.executable, "manage.py", "help"]),
    ]
    # CPU time is what a process costs on an idle core; wall time on a shared machine adds whatever
    # else runs. Both are printed.
    print(f"start-up of fresh processes, {args.runs} runs each (seconds)")
    median_help = 0.0
    for label, argv in cases:
        wall, cpu = run_seconds(argv, args.runs)
        median = statistics.median(wall)
        print(
            f"  {label:<28} wall median {median:.3f} (min {min(wall):.3f}, max {max(wall):.3f})   "
            f"CPU median {statistics.median(cpu):.3f}"
        )
        if label == "manage.py help":
            median_help = median
    verdict = "OK" if median_help <= TARGET_HELP_S else "MISSED"
    print(f"manage.py help, wall median {median_help:.2f} s   target <= {TARGET_HELP_S} s   {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
