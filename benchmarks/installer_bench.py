"""The Linux installer's budgets (issue 20): bundle size, build time, install, first start.

Reads what `make installer` (build/installer/measurements.txt) and `make installer-check`
(build/installer/check.txt) measured, or runs them first with ``--build`` (CPU-minutes), and
prints one table against the issue's budgets: the bundle under 1.3 GB (1240 MiB) unpacked and
350 MB (334 MiB) compressed (the .run, a makeself archive), the installed app's first start to
the window shown under 5 s. Segmentation with ONNX Runtime against PyTorch is
`benchmarks/inference_bench.py`.
Run: `python benchmarks/installer_bench.py [--build]`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENTS = ROOT / "build/installer/measurements.txt"
CHECK = ROOT / "build/installer/check.txt"
#: The issue's budgets in decimal megabytes, and the MiB (2^20 bytes) the scripts measure in.
MIB_PER_MB = 1e6 / 2**20
#: Row -> (file, key, unit, budget or None). A budget is an upper bound.
ROWS = {
    "bundle build (PyInstaller, nice 19)": (MEASUREMENTS, "bundle_build_s", "s", None),
    "packaging (.deb and .run)": (MEASUREMENTS, "package_s", "s", None),
    "bundle unpacked": (MEASUREMENTS, "bundle_unpacked_mb", "MiB", 1300 * MIB_PER_MB),
    "the .run (compressed)": (MEASUREMENTS, "run_mb", "MiB", 350 * MIB_PER_MB),
    "the .deb (compressed)": (MEASUREMENTS, "deb_mb", "MiB", 350 * MIB_PER_MB),
    "install of the .run, no network": (CHECK, "install_s", "s", None),
    "installed": (CHECK, "installed_mb", "MiB", None),
    "installed --selftest": (CHECK, "selftest_s", "s", None),
    "installed `lumboplan run` on the demo": (CHECK, "demo_run_s", "s", None),
    "first start to window shown (1st, with Xvfb's start)": (CHECK, "window_shown_s_1", "s", 5.0),
    "start to window shown (2nd)": (CHECK, "window_shown_s_2", "s", 5.0),
    "start to window shown (3rd)": (CHECK, "window_shown_s_3", "s", 5.0),
}


def read_values(path: Path) -> dict[str, str]:
    """Return the ``key value ...`` lines of a measurements file (empty if it is missing)."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(" ")
        if rest:
            values[key] = rest.split()[0]
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", action="store_true", help="run make installer and its check")
    arguments = parser.parse_args()
    if arguments.build:
        for target in ("installer", "installer-check"):
            subprocess.run(["make", target], cwd=ROOT, check=True)
    files = {path: read_values(path) for path in (MEASUREMENTS, CHECK)}
    if not any(files.values()):
        print("Nothing measured yet: run `make installer installer-check`, or pass --build.")
        return
    print(machine_header())
    built = files[MEASUREMENTS]
    print(
        f"LumboPlan {built.get('version', '?')}; "
        f"glibc symbols up to {built.get('newest_glibc_symbol', '?')}"
    )
    print("\n| measure | value | budget | within |")
    print("|---|---|---|---|")
    for name, (path, key, unit, budget) in ROWS.items():
        raw = files[path].get(key)
        if raw is None:
            print(f"| {name} | not measured | - | - |")
            continue
        value = float(raw)
        within = "-" if budget is None else ("yes" if value <= budget else "NO")
        digits = 1 if unit == "s" else 0
        limit = "-" if budget is None else f"{budget:.{digits}f} {unit}"
        print(f"| {name} | {value:.{digits}f} {unit} | {limit} | {within} |")


if __name__ == "__main__":
    main()
