"""What the PyInstaller bundle holds: read by ``lumboplan.spec`` and by tests/test_installer.py.

Plain Python (no PyInstaller import), so the fast tests can check the bundle's contents without
building it: the package data the app reads (the shipped model with its ONNX export, the demo
case, the style sheet), every ``lumboplan_app`` module as a hidden import (commands import their
modules inside functions), and the excluded packages. PyTorch and MONAI are excluded: the shipped
app segments with ONNX Runtime (``lumboplan_app/segmentation/inference.py``), and torch alone was
630 MB of a 1.8 GB test bundle (issue 20).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "lumboplan_app"
#: The folder PyInstaller writes (``dist/LumboPlan/``) and the two executables inside it.
BUNDLE_NAME = "LumboPlan"
CLI_NAME = "lumboplan"
GUI_NAME = "lumboplan-gui"
#: Model files shipped from model_weights/: the same patterns as setup.py's MODEL_FILES.
MODEL_FILES = ("*.safetensors", "*.json", "*.onnx")
#: VTK modules no path of the app uses: VTK-m accelerators (86 MB of Viskores libraries),
#: readers of simulation and geodata formats (Exodus, IOSS, CGNS, NetCDF, HDF5, ...), VR, web,
#: parallel and testing modules. PyInstaller would collect all 154 of VTK's modules because
#: pyvista's ``_vtk.py`` holds ``from vtk import *`` (under ``TYPE_CHECKING``, which the
#: analysis does not evaluate). None of those kept needs one of these: tests/test_installer.py
#: imports every kept module with these blocked, and runs the app's VTK paths the same way.
VTK_UNUSED = (
    "AcceleratorsVTKmCore",
    "AcceleratorsVTKmDataModel",
    "AcceleratorsVTKmFilters",
    "DomainsChemistry",
    "DomainsChemistryOpenGL2",
    "FiltersAMR",
    "FiltersParallelDIY2",
    "FiltersParallelImaging",
    "FiltersParallelStatistics",
    "GeovisCore",
    "InfovisLayout",
    "IOAMR",
    "IOAsynchronous",
    "IOAvmesh",
    "IOCesium3DTiles",
    "IOCGNSReader",
    "IOChemistry",
    "IOCityGML",
    "IOCONVERGECFD",
    "IOEngys",
    "IOEnSight",
    "IOERF",
    "IOExodus",
    "IOFDS",
    "IOFLUENTCFF",
    "IOGeoJSON",
    "IOH5part",
    "IOH5Rage",
    "IOHDF",
    "IOInfovis",
    "IOIOSS",
    "IOLANLX3D",
    "IOLSDyna",
    "IOMINC",
    "IOMotionFX",
    "IOMovie",
    "IONetCDF",
    "IOOggTheora",
    "IOOMF",
    "IOParallel",
    "IOParallelExodus",
    "IOParallelLSDyna",
    "IOParallelXML",
    "IOPIO",
    "IOSegY",
    "IOSQL",
    "IOTecplotTable",
    "IOTRUCHAS",
    "IOVeraOut",
    "IOVideo",
    "IOVPIC",
    "IOXdmf2",
    "RenderingLICOpenGL2",
    "RenderingParallel",
    "RenderingVolumeAMR",
    "RenderingVR",
    "RenderingVRModels",
    "RenderingWebXR",
    "SerializationManager",
    "TestingRendering",
    "TestingSerialization",
    "ViewsInfovis",
    "WebCore",
    "WebGLExporter",
)
#: Training, export and development packages, other Qt bindings, and Tk: none is on the
#: shipped app's paths. ``lumboplan train`` and ``export-onnx`` need a ``lumboplan[train]``
#: install, not the bundle.
EXCLUDES = (
    "torch",
    "torchvision",
    "monai",
    "safetensors",
    "onnx",
    "onnxscript",
    "sympy",
    "networkx",
    "tensorboard",
    "pytest",
    "hypothesis",
    "IPython",
    "jupyter",
    "trame",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "tkinter",
    "_tkinter",
    *(f"vtkmodules.vtk{name}" for name in VTK_UNUSED),
)

#: Imported only inside functions of third-party code, or chosen at run time (qtpy picks its Qt
#: binding then): the native 3-D pane (pyvistaqt's QtInteractor, a QOpenGLWidget).
THIRD_PARTY_HIDDEN_IMPORTS = ("pyvistaqt", "qtpy", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets")

#: Files of the analysis left out of the bundle: Qt's GTK 3 platform theme links the system's
#: GTK 3, which a target may lack (ldd "not found") and which PyInstaller would otherwise half
#: copy (cairo, pango, gdk-pixbuf); without it Qt draws its own file dialogs, in the app's
#: Fusion style.
EXCLUDED_BINARIES = ("PySide6/Qt/plugins/platformthemes/libqgtk3.so",)
#: System libraries that only the GTK 3 theme brought in (checked with objdump -p: NEEDED).
GTK_ONLY_LIBRARIES = (
    "libatk-1.0.so",
    "libcairo.so",
    "libcairo-gobject.so",
    "libgdk_pixbuf-2.0.so",
    "libpango-1.0.so",
    "libpangocairo-1.0.so",
    "libpangoft2-1.0.so",
    "libfribidi.so",
    "libharfbuzz.so",
    "libgraphite2.so",
    "libdatrie.so",
    "libthai.so",
    "libepoxy.so",
    "libpixman-1.so",
)


def keep_binary(destination: str) -> bool:
    """Return whether the analysis' binary ``destination`` (its path in the bundle) is kept."""
    if destination in EXCLUDED_BINARIES:
        return False
    name = destination.rsplit("/", 1)[-1]
    return not any(name.startswith(library) for library in GTK_ONLY_LIBRARIES)


def package_modules(root: Path = ROOT) -> list[str]:
    """Return every module of ``lumboplan_app`` by name, from the checkout's files."""
    names = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def package_data(root: Path = ROOT) -> list[tuple[str, str]]:
    """Return the package data as PyInstaller ``datas``: (source, folder in the bundle).

    The folders are those ``lumboplan_app/shipped.py`` looks in first, as in an installed
    wheel: ``lumboplan_app/model_weights/`` and ``lumboplan_app/resources/``.
    """
    datas = []
    for pattern in MODEL_FILES:
        for path in sorted((root / "model_weights").glob(pattern)):
            datas.append((str(path), f"{PACKAGE}/model_weights"))
    datas.append((str(root / "resources"), f"{PACKAGE}/resources"))
    for path in sorted((root / PACKAGE / "gui" / "ui").glob("*.qss")):
        datas.append((str(path), f"{PACKAGE}/gui/ui"))
    return datas
