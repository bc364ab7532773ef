"""Rules of the house that code review alone would not keep (DESIGN.md, "Layout")."""

import pkgutil
import subprocess
import sys
from pathlib import Path

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


def module_imports(module: str) -> set[str]:
    """The LumboPlan modules ``module`` imports at module level, type-checking imports included.

    Imports inside functions (deferred on purpose, to keep start-up light) do not count.
    """
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    statements = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            statements.extend(node.body)
        else:
            statements.append(node)
    names = set()
    for node in statements:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.add(node.module)
    return {name for name in names if name in ALL_MODULES and name != module}


ALL_MODULES = {m.name for m in pkgutil.walk_packages(lumboplan_app.__path__, "lumboplan_app.")} | {
    "lumboplan_app"
}
KNOWN_CYCLES: list[set[str]] = []


def test_modules_do_not_import_each_other() -> None:
    graph = {module: module_imports(module) for module in sorted(ALL_MODULES)}
    reaches = {module: set(imports) for module, imports in graph.items()}
    changed = True
    while changed:  # transitive closure: the graph has well under a hundred modules
        changed = False
        for reached in reaches.values():
            more = set().union(*(reaches[other] for other in reached)) - reached
            if more:
                reached |= more
                changed = True
    in_cycles = {module for module, reached in reaches.items() if module in reached}
    cycles = {
        frozenset({m} | {o for o in in_cycles if m in reaches[o] and o in reaches[m]})
        for m in in_cycles
    }
    assert [set(cycle) for cycle in cycles if not any(cycle <= k for k in KNOWN_CYCLES)] == []


#: Modules under gui/ allowed over GUI_MODULE_LINES, each with its reason (issue 19, item 3).
LONG_GUI_MODULES = {
    # One widget: the slice and its overlay, widget <-> voxel mapping, the channel, brush,
    # crosshair and letters painted, and the mouse and keys (cursor, window drag, hover).
    "views/slice_view.py": 600,
    # One chart: the map's cells, axes, reference line, the poses marked, legend, picking.
    "panels/feasibility_chart.py": 600,
}
GUI_MODULE_LINES = 500


def test_gui_modules_stay_short_or_say_why() -> None:
    gui = Path(lumboplan_app.__file__).parent / "gui"
    lengths = {
        path.relative_to(gui).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in gui.rglob("*.py")
    }
    too_long = {
        name: lines
        for name, lines in lengths.items()
        if lines > LONG_GUI_MODULES.get(name, GUI_MODULE_LINES)
    }
    assert too_long == {}
