"""Where the files LumboPlan ships live: the model and the demo case.

In an installed wheel they lie inside the package (``lumboplan_app/model_weights/`` and
``lumboplan_app/resources/``: ``setup.py`` copies them there when the wheel is built); in a
checkout (and an editable install) they are the top-level ``model_weights/`` and
``resources/`` folders beside the package. The window's style sheet is ordinary package data
(``lumboplan_app/gui/ui/``). See docs/architecture.md, "Package data".
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_folder(name: str) -> Path:
    """Return the shipped folder ``name``: inside the installed package, else the checkout's."""
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


#: The shipped model's weights (its card ``.json`` and ONNX export ``.onnx`` beside them).
SHIPPED_WEIGHTS = shipped_folder("model_weights") / "lumboplan_unet.safetensors"
#: The demo case's scan (a phantom as a DICOM series): ``lumboplan run`` or the window opens it.
DEMO_SCAN = shipped_folder("resources") / "demo" / "case_00057" / "dicom"
