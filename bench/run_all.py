"""Run every benchmark in turn (`make bench`); each prints its own JSON lines and table.

    scripts/env.sh .venv/bin/python bench/run_all.py [--quick]

Run it on a quiet machine: the figures in docs/BENCHMARKS.md were taken at load average ~1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ORDER = (
    "bench_producer.py",
    "bench_sink.py",
    "bench_scoring.py",
    "bench_validation.py",
    "bench_dag.py",
    "bench_latency.py",
)


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = []
    for name in ORDER:
        args = [sys.executable, str(BENCH / name)]
        if quick:
            args += {
                "bench_producer.py": ["--quick"],
                "bench_sink.py": ["--quick"],
                "bench_scoring.py": ["--repeat", "1"],
                "bench_validation.py": ["20000"],
                "bench_dag.py": ["--rows", "5000"],
                "bench_latency.py": ["--quick"],
            }[name]
        print(f"\n=== {name} {' '.join(args[2:])}".rstrip(), flush=True)
        if subprocess.run(args).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
