"""Rules of the house that code review alone would not keep (DESIGN.md, "Layout")."""

import pkgutil
import subprocess
import sys

import lumboplan_app

CORE_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(lumboplan_app.__path__, "lumboplan_app.")
    if not m.name.startswith("lumboplan_app.gui")
)


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(result.stdout.split())


def test_core_never_imports_qt() -> None:
    assert "lumboplan_app.io" in CORE_MODULES
    assert "lumboplan_app.cli" in CORE_MODULES
    modules = imported_after("; ".join(f"import {name}" for name in CORE_MODULES))
    assert not {m for m in modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyvistaqt")}


def test_command_line_starts_without_heavy_modules() -> None:
    modules = imported_after("import lumboplan_app.cli")
    heavy = {
        "torch",
        "vtk",
        "vtkmodules",
        "pyvista",
        "reportlab",
        "SimpleITK",
        "pydicom",
        "PySide6",
    }
    assert not heavy & {m.split(".")[0] for m in modules}
