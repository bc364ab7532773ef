"""Run every benchmark script (benchmarks/*_bench.py) in turn; pass --quick for a smoke run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
status = 0
for script in sorted(here.glob("*_bench.py")):
    print(f"\n## {script.stem}\n", flush=True)
    status |= subprocess.run([sys.executable, str(script), *sys.argv[1:]]).returncode
sys.exit(status)
